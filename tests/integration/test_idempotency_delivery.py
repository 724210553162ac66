"""One message delivered twice, in sequence or at the same moment, has the effect of one.

The worker's messages are sent by the test itself (no relay), with the same body each time,
as a redelivery or a second publication by the sweeper would carry it.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from celery import Celery

from config import get_settings
from models.commands import Actor, ClaimCommand, automatic_event_id
from models.enums import ActorRole, ClaimEvent
from service import changes
from service.actions import record_action
from service.changes import AutomaticStep, Outcome
from service.steps import sweep_overdue_steps
from storage.unit_of_work import PlanJourneyContext
from tests.support.factories import make_world, submit
from tests.support.harness import Harness, Process, wait_until
from tests.support.outbox import OUTBOX_ITEMS
from tests.support.service import advance, apply, blocked_sessions, row_lock_held, take_for

MEMBER = "member-1"
REVIEWER = Actor(id="reviewer-3", role=ActorRole.REVIEWER)
SUCCEEDED = re.compile(r"Task (plan\.claims\.\w+)\[[^\]]+\] succeeded in [^:]+: (\{.*\})")
EFFECT_TABLES = (
    "claims",
    "claim_actions",
    "claim_status_history",
    "outbox",
    "documents",
    "coverage_usage",
    "member_year_totals",
)


def effects(harness: Harness) -> dict[str, list[dict[str, Any]]]:
    """Every row a delivery can write, to compare one delivery with two."""
    return {
        table: harness.query(f"SELECT * FROM plan.{table} ORDER BY 1, 2") for table in EFFECT_TABLES
    }


def owed_item(harness: Harness, claim_id: int) -> dict[str, Any]:
    """The start_review item exactly as the relay would send it, read from the outbox."""
    [row] = harness.query(
        f"SELECT item FROM {OUTBOX_ITEMS} WHERE kind = 'task' AND claim_id = %s", (claim_id,)
    )
    item: dict[str, Any] = row["item"]
    return item


def sender(harness: Harness) -> Celery:
    return Celery("idempotency-test", broker=harness.broker_url, set_as_current=False)


def results(worker: Process) -> list[str]:
    return [match.group(2) for match in SUCCEEDED.finditer(worker.log())]


def wait_for_results(worker: Process, count: int) -> list[str]:
    return wait_until(
        lambda: len(results(worker)) >= count and results(worker),
        what=f"{count} task results in the worker log",
    )


def history_events(harness: Harness, claim_id: int) -> list[str]:
    rows = harness.query(
        "SELECT event FROM plan.claim_status_history WHERE claim_id = %s ORDER BY id", (claim_id,)
    )
    return [row["event"] for row in rows]


@contextmanager
def claim_locked(harness: Harness, claim_id: int) -> Iterator[None]:
    with row_lock_held(harness, "SELECT 1 FROM plan.claims WHERE id = %s FOR UPDATE", (claim_id,)):
        yield


def submitted_claim(amount: str = "80.00") -> int:
    claim_id = submit(make_world(), MEMBER, amount=amount).claim_id
    assert claim_id is not None
    return claim_id


# --------------------------------------------------------------------------- on a real worker


def test_start_review_delivered_twice_in_sequence_has_the_effect_of_one(harness: Harness) -> None:
    claim_id = submitted_claim()
    item = owed_item(harness, claim_id)
    worker = harness.start_worker(queues="claims")
    app = sender(harness)

    app.send_task("plan.claims.start_review", args=[[item]], queue="claims")
    assert wait_for_results(worker, 1) == ["{'applied': 1}"]
    once = effects(harness)
    app.send_task("plan.claims.start_review", args=[[item]], queue="claims")
    assert wait_for_results(worker, 2) == ["{'applied': 1}", "{'duplicate': 1}"]

    assert effects(harness) == once
    assert history_events(harness, claim_id) == ["submit", "start_review", "approve"]


def test_start_review_delivered_twice_at_the_same_moment_has_the_effect_of_one(
    harness: Harness,
) -> None:
    claim_id = submitted_claim()
    item = owed_item(harness, claim_id)
    worker = harness.start_worker(queues="claims", concurrency=2)
    app = sender(harness)

    with claim_locked(harness, claim_id):
        app.send_task("plan.claims.start_review", args=[[item]], queue="claims")
        app.send_task("plan.claims.start_review", args=[[item]], queue="claims")
        # Both pool processes hold a copy and wait for the claim's row lock together.
        wait_until(lambda: blocked_sessions(harness) == 2, what="both deliveries in flight")

    assert sorted(wait_for_results(worker, 2)) == ["{'applied': 1}", "{'duplicate': 1}"]
    assert history_events(harness, claim_id) == ["submit", "start_review", "approve"]
    usage = harness.query("SELECT limit_used FROM plan.coverage_usage")
    assert [str(row["limit_used"]) for row in usage] == ["80.00"]
    totals = harness.query("SELECT out_of_pocket_paid FROM plan.member_year_totals")
    assert [str(row["out_of_pocket_paid"]) for row in totals] == ["16.00"]
    domain_events = harness.scalar(
        f"SELECT count(*) FROM {OUTBOX_ITEMS} "
        "WHERE kind = 'event' AND item ? 'newStatus' AND claim_id = %s", (claim_id,)
    )
    assert domain_events == 3


def test_reviewer_action_delivered_twice_to_the_worker_is_applied_once(harness: Harness) -> None:
    claim_id = referred_claim(harness)
    approval = ClaimCommand(
        claim_id=claim_id, event=ClaimEvent.APPROVE, event_id=uuid.uuid4(), actor=REVIEWER
    )
    take_for([approval])
    with PlanJourneyContext() as ctx:
        recorded = record_action(ctx, approval, get_settings())
        ctx.commit()
    worker = harness.start_worker(queues="reviews")
    app = sender(harness)
    message = [str(recorded.action_id)]  # what the relay sends: the action's id, nothing else

    app.send_task("plan.claims.approve", args=[message], queue="reviews")
    assert wait_for_results(worker, 1) == ["{'applied': 1}"]
    once = effects(harness)
    app.send_task("plan.claims.approve", args=[message], queue="reviews")
    assert wait_for_results(worker, 2) == ["{'applied': 1}", "{'duplicate': 1}"]

    assert effects(harness) == once
    assert history_events(harness, claim_id) == ["submit", "start_review", "approve"]
    [row] = harness.query(
        "SELECT a.status, h.actor_id FROM plan.claim_status_history h JOIN plan.claim_actions a "
        "ON a.id = h.event_id WHERE h.claim_id = %s",
        (claim_id,),
    )
    assert row == {"status": "applied", "actor_id": REVIEWER.id}


# --------------------------------------------------------------------------- the service itself


def referred_claim(harness: Harness) -> int:
    """A claim waiting in UNDER_REVIEW for a reviewer."""
    claim_id = submitted_claim("150.00")
    advance(AutomaticStep.from_message(owed_item(harness, claim_id)))
    return claim_id


def test_same_command_applied_twice_is_a_duplicate_and_changes_nothing(harness: Harness) -> None:
    claim_id = referred_claim(harness)
    approval = ClaimCommand(
        claim_id=claim_id, event=ClaimEvent.APPROVE, event_id=uuid.uuid4(), actor=REVIEWER
    )
    [first] = apply(approval)
    assert first.status == "applied"
    once = effects(harness)

    [second] = apply(ClaimCommand.model_validate(approval.to_message()))

    assert (second.status, second.error) == ("duplicate", None)
    assert effects(harness) == once


def test_same_command_twice_in_one_batch_is_applied_once(harness: Harness) -> None:
    claim_id = referred_claim(harness)
    approval = ClaimCommand(
        claim_id=claim_id, event=ClaimEvent.APPROVE, event_id=uuid.uuid4(), actor=REVIEWER
    )

    outcomes = apply(approval, approval)

    assert [o.status for o in outcomes] == ["applied"]
    assert history_events(harness, claim_id) == ["submit", "start_review", "approve"]


def run_twice_at_once(harness: Harness, claim_id: int, deliver: Callable[[], Outcome]) -> list[str]:
    """Deliver in two threads, each on its own connection, both blocked on the claim's lock."""
    barrier = threading.Barrier(2)

    def delivery() -> Outcome:
        barrier.wait(timeout=10)
        return deliver()

    with ThreadPoolExecutor(2) as pool, claim_locked(harness, claim_id):
        futures = [pool.submit(delivery) for _ in range(2)]
        wait_until(lambda: blocked_sessions(harness) == 2, what="both deliveries in flight")
    return sorted(future.result(timeout=30).status for future in futures)


def test_same_step_advanced_from_two_threads_at_once_applies_once(harness: Harness) -> None:
    claim_id = submitted_claim()
    item = owed_item(harness, claim_id)

    statuses = run_twice_at_once(
        harness, claim_id, lambda: advance(AutomaticStep.from_message(item))[0]
    )

    assert statuses == ["applied", "duplicate"]
    assert history_events(harness, claim_id) == ["submit", "start_review", "approve"]
    assert [str(r["limit_used"]) for r in harness.query("SELECT * FROM plan.coverage_usage")] == [
        "80.00"
    ]


def test_same_command_applied_from_two_threads_at_once_applies_once(harness: Harness) -> None:
    claim_id = referred_claim(harness)
    rejection = ClaimCommand(
        claim_id=claim_id, event=ClaimEvent.REJECT, event_id=uuid.uuid4(), actor=REVIEWER
    )

    statuses = run_twice_at_once(harness, claim_id, lambda: apply(rejection)[0])

    assert statuses == ["applied", "duplicate"]
    assert history_events(harness, claim_id) == ["submit", "start_review", "reject"]


def test_unique_event_id_stops_a_second_application_the_read_check_missed(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The constraint, not the read before it, is the guard: the whole batch rolls back."""
    claim_id = referred_claim(harness)
    other_id = referred_claim(harness)
    approval = ClaimCommand(
        claim_id=claim_id, event=ClaimEvent.APPROVE, event_id=uuid.uuid4(), actor=REVIEWER
    )
    apply(approval)
    # Valid in the claim's state, and carrying the id of an event already in the history.
    replay = ClaimCommand(
        claim_id=other_id, event=ClaimEvent.REJECT, event_id=approval.event_id, actor=REVIEWER
    )
    take_for([replay])
    before = effects(harness)
    monkeypatch.setattr(changes, "applied_event_ids", lambda ctx, ids: {})
    fresh = ClaimCommand(
        claim_id=claim_id, event=ClaimEvent.APPROVE, event_id=uuid.uuid4(), actor=REVIEWER
    )

    with pytest.raises(Exception) as refused:
        apply(replay, fresh)

    assert "uq_claim_status_history_event_id" in violated_constraints(refused.value)
    assert effects(harness) == before


def violated_constraints(error: BaseException | None) -> set[str]:
    """Constraint names anywhere in an error's chain (driver error, or a domain error from it)."""
    names: set[str] = set()
    while error is not None:
        driver_error = getattr(error, "orig", error)
        name = getattr(getattr(driver_error, "diag", None), "constraint_name", None)
        if name:
            names.add(name)
        error = error.__cause__ or error.__context__
    return names


def test_step_event_ids_are_derived_so_every_publication_carries_the_same_id(
    harness: Harness,
) -> None:
    claim_id = submitted_claim()
    item = owed_item(harness, claim_id)
    assert item == {
        "claimId": claim_id,
        "step": "start_review",
        "eventId": str(automatic_event_id(claim_id, "start_review", 2)),
    }
    with PlanJourneyContext() as ctx:
        ctx.execute(sa.text("UPDATE plan.claims SET next_step_due_at = now() - interval '1 s'"))
        assert sweep_overdue_steps(ctx, get_settings(), limit=10) == 1
        ctx.commit()
    items = [
        row["item"]
        for row in harness.query(
            f"SELECT item FROM {OUTBOX_ITEMS} WHERE kind = 'task' AND claim_id = %s", (claim_id,)
        )
    ]
    assert items == [item, item]
