"""A person's action is applied exactly once, whatever happens to its messages.

The worker is caught between the action's record and its application without a hook in the
product: a gate connection holds the claim's row, which applying the action must lock first.
"""

from __future__ import annotations

import signal
import uuid

import pytest
import redis

from config import get_settings
from models.commands import Actor, ClaimCommand
from models.enums import ActorRole, ClaimEvent
from service.actions import RecordedAction, record_action
from service.steps import sweep_overdue_steps
from storage.unit_of_work import PlanJourneyContext
from tests.support.factories import make_world, submit
from tests.support.harness import Harness, wait_until
from tests.support.outbox import OUTBOX_ITEMS
from tests.support.service import advance, blocked_sessions, owed_step, row_lock_held, take_for

MEMBER = "member-1"
REVIEWER = Actor(id="reviewer-5", role=ActorRole.REVIEWER)


@pytest.fixture
def sweeper_after_one_second(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWEEPER_STALE_AFTER_S", "1")
    get_settings.cache_clear()


def referred_claim(harness: Harness) -> int:
    claim_id = submit(make_world(), MEMBER, amount="150.00").claim_id
    assert claim_id is not None
    advance(owed_step(harness, claim_id))
    return claim_id


def record_approval(claim_id: int) -> RecordedAction:
    approval = ClaimCommand(
        claim_id=claim_id, event=ClaimEvent.APPROVE, event_id=uuid.uuid4(), actor=REVIEWER
    )
    take_for([approval])  # only the holder decides
    with PlanJourneyContext() as ctx:
        recorded = record_action(ctx, approval, get_settings())
        ctx.commit()
    return recorded


def sweep_now() -> int:
    with PlanJourneyContext() as ctx:
        swept = sweep_overdue_steps(ctx, get_settings(), limit=100)
        ctx.commit()
    return swept


def action_status(harness: Harness, action_id: uuid.UUID) -> str:
    return str(harness.scalar("SELECT status FROM plan.claim_actions WHERE id = %s", (action_id,)))


def assert_applied_once(harness: Harness, claim_id: int, action_id: uuid.UUID) -> None:
    approvals = harness.query(
        "SELECT event_id, actor_id FROM plan.claim_status_history "
        "WHERE claim_id = %s AND event = 'approve'",
        (claim_id,),
    )
    assert approvals == [{"event_id": action_id, "actor_id": REVIEWER.id}]
    events = harness.scalar(
        f"SELECT count(*) FROM {OUTBOX_ITEMS} "
        "WHERE kind = 'event' AND item ? 'newStatus' AND claim_id = %s "
        "AND item->>'type' = 'claim.approved'",
        (claim_id,),
    )
    assert events == 1
    assert harness.scalar("SELECT status FROM plan.claims WHERE id = %s", (claim_id,)) == "APPROVED"
    assert harness.scalar("SELECT count(*) FROM plan.coverage_usage") == 1


@pytest.mark.chaos
def test_worker_killed_between_record_and_apply_the_action_is_applied_once(
    harness: Harness, sweeper_after_one_second: None
) -> None:
    claim_id = referred_claim(harness)

    recorded = record_approval(claim_id)  # no worker yet: the action waits, queued
    with row_lock_held(harness, "SELECT 1 FROM plan.claims WHERE id = %s FOR UPDATE", (claim_id,)):
        first = harness.start_worker(queues="reviews", concurrency=1)
        harness.start_relay()
        wait_until(lambda: blocked_sessions(harness) == 1, what="the worker to wait on the claim")
        first.kill(signal.SIGKILL)  # main process and child at once: the message stays unacked
        first.popen.wait(10)
    assert action_status(harness, recorded.action_id) == "queued"
    assert redis.Redis.from_url(harness.broker_url).hlen("unacked") >= 1
    harness.start_worker(queues="reviews", concurrency=1)

    wait_until(
        lambda: sweep_now() >= 0 and action_status(harness, recorded.action_id) == "applied",
        timeout=60,
        what="the sweeper to re-publish the action and a worker to apply it",
    )
    assert_applied_once(harness, claim_id, recorded.action_id)
    view = harness.query(
        "SELECT claim_status, applied_at, error_code FROM plan.claim_actions WHERE id = %s",
        (recorded.action_id,),
    )[0]
    assert (view["claim_status"], view["error_code"]) == ("APPROVED", None)
    assert view["applied_at"] is not None


def test_the_sweeper_republishes_only_actions_still_queued_after_their_due_time(
    harness: Harness, sweeper_after_one_second: None
) -> None:
    claim_id = referred_claim(harness)
    recorded = record_approval(claim_id)
    harness.query("UPDATE plan.outbox SET published_at = now() RETURNING 1")  # the broker lost it

    wait_until(lambda: sweep_now() >= 1, timeout=10, what="the action to be overdue and swept")
    republished = harness.query(
        "SELECT name, destination, payload FROM plan.outbox WHERE published_at IS NULL"
    )
    assert republished == [
        {
            "name": "plan.claims.approve",
            "destination": "reviews",
            "payload": {"items": [str(recorded.action_id)]},
        }
    ]
    # Due again only after another SWEEPER_STALE_AFTER_S, like an automatic step.
    assert harness.scalar(
        "SELECT due_at > now() FROM plan.claim_actions WHERE id = %s", (recorded.action_id,)
    )

    harness.start_worker(queues="reviews")
    harness.start_relay()
    wait_until(lambda: action_status(harness, recorded.action_id) == "applied", what="applied")
    assert_applied_once(harness, claim_id, recorded.action_id)
    assert sweep_now() == 0  # an applied action is never re-published
    assert harness.scalar("SELECT count(*) FROM plan.outbox WHERE published_at IS NULL") == 0
