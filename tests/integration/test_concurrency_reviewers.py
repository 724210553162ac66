"""Conflicting decisions taken at the same moment, on real parallel PostgreSQL connections.

A gate connection holds the contested row lock while both contenders start, and the test waits
until PostgreSQL shows both of them blocked on it: the two attempts really overlap, every run.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import sqlalchemy as sa

from config import get_settings
from models.commands import Actor, ClaimCommand, DocumentRef
from models.enums import ActorRole, ClaimEvent, ProcedureType
from models.errors import ErrorCode, InvalidTransition
from service.actions import apply_commands
from service.changes import Outcome
from storage.unit_of_work import PlanJourneyContext
from tests.support.factories import make_world, submit
from tests.support.harness import Harness, wait_until
from tests.support.outbox import OUTBOX_ITEMS
from tests.support.service import (
    advance,
    apply,
    blocked_sessions,
    owed_step,
    row_lock_held,
    take_for,
)

MEMBER = "member-1"
RECEIPT = DocumentRef(
    type="RECEIPT", file_name="receipt.pdf", mime_type="application/pdf", size_bytes=2048
)


def actor_for(event: ClaimEvent, number: int) -> Actor:
    if event in (ClaimEvent.PROVIDE_INFO, ClaimEvent.CANCEL):
        return Actor(id=MEMBER, role=ActorRole.MEMBER)
    # Only the holder decides: the racing decisions are the holder's (a double submission).
    return Actor(id="reviewer-1", role=ActorRole.REVIEWER)


def command(claim_id: int, event: ClaimEvent, number: int) -> ClaimCommand:
    documents = (RECEIPT,) if event is ClaimEvent.PROVIDE_INFO else ()
    return ClaimCommand(
        claim_id=claim_id,
        event=event,
        event_id=uuid.uuid4(),
        actor=actor_for(event, number),
        documents=documents,
    )


def start_review(harness: Harness, claim_id: int) -> None:
    [outcome] = advance(owed_step(harness, claim_id))
    assert outcome.status == "applied"






def race(
    harness: Harness, gate_sql: str, gate_params: tuple[object, ...], *commands: ClaimCommand
) -> list[Outcome]:
    """Apply each command in a thread of its own, all blocked on the gate, then let them go."""
    take_for(commands)
    barrier = threading.Barrier(len(commands))

    def contender(cmd: ClaimCommand) -> Outcome:
        with PlanJourneyContext() as ctx:
            ctx.execute(sa.text("SELECT 1"))  # its own connection, checked out before the race
            barrier.wait(timeout=10)
            [outcome] = apply_commands(ctx, [cmd], get_settings())
            ctx.commit()
        return outcome

    with ThreadPoolExecutor(len(commands)) as pool:
        with row_lock_held(harness, gate_sql, gate_params):
            futures = [pool.submit(contender, cmd) for cmd in commands]
            wait_until(
                lambda: (
                    blocked_sessions(harness) == len(commands) or any(f.done() for f in futures)
                ),
                timeout=15,
                what="every contender to be blocked on the gate",
            )
            assert not any(f.done() for f in futures), "a contender did not wait for the lock"
        return [future.result(timeout=30) for future in futures]


CONFLICTS = {
    "approve_vs_reject": ("UNDER_REVIEW", ClaimEvent.APPROVE, ClaimEvent.REJECT),
    "approve_vs_approve": ("UNDER_REVIEW", ClaimEvent.APPROVE, ClaimEvent.APPROVE),
    "reject_vs_request_info": ("UNDER_REVIEW", ClaimEvent.REJECT, ClaimEvent.REQUEST_INFO),
    "provide_info_vs_cancel": (
        "ADDITIONAL_INFO_REQUIRED",
        ClaimEvent.PROVIDE_INFO,
        ClaimEvent.CANCEL,
    ),
}


@pytest.mark.parametrize(("status", "first", "second"), CONFLICTS.values(), ids=list(CONFLICTS))
def test_two_conflicting_decisions_at_once_exactly_one_wins(
    harness: Harness, status: str, first: ClaimEvent, second: ClaimEvent
) -> None:
    world = make_world()
    claim_id = submit(world, MEMBER, amount="150.00").claim_id
    assert claim_id is not None
    start_review(harness, claim_id)
    if status == "ADDITIONAL_INFO_REQUIRED":
        apply(command(claim_id, ClaimEvent.REQUEST_INFO, 9))
    assert harness.scalar("SELECT status FROM plan.claims WHERE id = %s", (claim_id,)) == status
    history_before = harness.scalar(
        "SELECT count(*) FROM plan.claim_status_history WHERE claim_id = %s", (claim_id,)
    )
    version_before = harness.scalar("SELECT version FROM plan.claims WHERE id = %s", (claim_id,))
    commands = (command(claim_id, first, 1), command(claim_id, second, 2))

    outcomes = race(
        harness, "SELECT 1 FROM plan.claims WHERE id = %s FOR UPDATE", (claim_id,), *commands
    )

    applied = [o for o in outcomes if o.status == "applied"]
    refused = [o for o in outcomes if o.status != "applied"]
    assert len(applied) == 1, outcomes
    assert len(refused) == 1, outcomes
    assert refused[0].status == "refused"
    assert isinstance(refused[0].error, InvalidTransition)
    assert refused[0].error.code is ErrorCode.INVALID_STATUS_TRANSITION
    winner = next(c for c in commands if c.event_id == applied[0].event_id)

    decisions = harness.query(
        "SELECT event_id, event, from_status, to_status, actor_id FROM plan.claim_status_history "
        "WHERE claim_id = %s ORDER BY id OFFSET %s",
        (claim_id, history_before),
    )
    assert len(decisions) == 1, decisions
    assert decisions[0]["event_id"] == winner.event_id
    assert decisions[0]["event"] == winner.event.value
    assert decisions[0]["from_status"] == status
    assert decisions[0]["actor_id"] == winner.actor.id
    claim = harness.query("SELECT status, version FROM plan.claims WHERE id = %s", (claim_id,))[0]
    assert claim == {"status": decisions[0]["to_status"], "version": version_before + 1}
    decision_events = harness.query(
        f"SELECT item FROM {OUTBOX_ITEMS} WHERE kind = 'event' AND claim_id = %s "
        "AND item->>'previousStatus' = %s",
        (claim_id, status),
    )
    assert [e["item"]["eventId"] for e in decision_events] == [str(winner.event_id)]


def test_two_claims_racing_for_the_last_of_an_annual_limit_never_exceed_it(
    harness: Harness,
) -> None:
    limit = Decimal("150.00")
    world = make_world(consultation_limit=limit)
    claim_ids = [submit(world, MEMBER, amount="120.00").claim_id or 0 for _ in range(2)]
    for claim_id in claim_ids:
        start_review(harness, claim_id)  # above the auto-approval threshold: waits for a person
    member_plan_id = world.members[MEMBER]
    assert (
        harness.scalar(
            "SELECT count(*) FROM plan.claims "
            "WHERE status = 'UNDER_REVIEW' AND member_plan_id = %s",
            (member_plan_id,),
        )
        == 2
    )

    harness.query(
        "INSERT INTO plan.member_year_totals (member_plan_id, year) "
        "SELECT member_plan_id, extract(year FROM service_date) FROM plan.claims "
        "WHERE id = %s ON CONFLICT DO NOTHING RETURNING 1",
        (claim_ids[0],),
    )
    outcomes = race(
        harness,
        "SELECT 1 FROM plan.member_year_totals WHERE member_plan_id = %s FOR UPDATE",
        (member_plan_id,),
        command(claim_ids[0], ClaimEvent.APPROVE, 1),
        command(claim_ids[1], ClaimEvent.APPROVE, 2),
    )

    assert [o.status for o in outcomes] == ["applied", "applied"]
    used = harness.scalar(
        "SELECT limit_used FROM plan.coverage_usage WHERE member_plan_id = %s AND coverage_id = %s",
        (member_plan_id, world.coverage_ids[ProcedureType.CONSULTATION]),
    )
    eligible = sorted(
        Decimal(row["eligible"])
        for row in harness.query(
            "SELECT adjudication->'breakdown'->>'eligible' AS eligible FROM plan.claims "
            "WHERE member_plan_id = %s",
            (member_plan_id,),
        )
    )
    # What the approvals counted against the limit never passes it, and the usage row holds
    # all of it (a lost update would show a smaller row than the decisions spent).
    assert sum(eligible) <= limit
    assert used == sum(eligible)
    # The first approval takes 120.00; the second gets only what the first left of the limit.
    assert eligible == [Decimal("30.00"), Decimal("120.00")]
