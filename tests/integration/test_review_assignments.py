"""Taking a claim for a lease: the race for one claim on real parallel connections, renewal,
release, reassignment, expiry by itself and by beat, and the activity rows and events."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import sqlalchemy as sa

from api.errors import status_for
from config import get_settings
from models.commands import Actor
from models.errors import ErrorCode, PlanError
from service import assignments, review_queries
from service.approvals import load_gate
from storage.unit_of_work import PlanJourneyContext
from tests.support.factories import make_world
from tests.support.harness import Harness, wait_until
from tests.support.review import (
    activity,
    activity_events,
    admin,
    reassign,
    release,
    reviewer,
    take,
    waiting_claim,
)
from tests.support.service import blocked_sessions, row_lock_held

MEMBER = "member-1"


def _expire_lease(harness: Harness, claim_id: int) -> None:
    harness.query(
        "UPDATE plan.claim_assignments SET taken_at = now() - interval '2 hours', "
        "expires_at = now() - interval '1 minute' WHERE claim_id = %s RETURNING claim_id",
        (claim_id,),
    )


def _refusal(call: object) -> PlanError:
    with pytest.raises(PlanError) as refused:
        call()  # type: ignore[operator]
    return refused.value


def test_two_reviewers_taking_at_once_one_wins_and_one_gets_409(harness: Harness) -> None:
    claim_id = waiting_claim(harness, make_world(), MEMBER)
    contenders = (reviewer("reviewer-1"), reviewer("reviewer-2"))
    barrier = threading.Barrier(len(contenders))

    def contender(actor: Actor) -> tuple[int, str | None]:
        with PlanJourneyContext() as ctx:
            ctx.execute(sa.text("SELECT 1"))  # its own connection, checked out before the race
            barrier.wait(timeout=10)
            try:
                assignments.take_claim(
                    ctx, claim_id=claim_id, actor=actor, settings=get_settings()
                )
                ctx.commit()
            except PlanError as refusal:
                return status_for(refusal), refusal.code.value
        return 200, None

    # Both wait on the claim row held by a gate, then go at the same moment.
    with ThreadPoolExecutor(len(contenders)) as pool:
        with row_lock_held(
            harness, "SELECT 1 FROM plan.claims WHERE id = %s FOR UPDATE", (claim_id,)
        ):
            futures = [pool.submit(contender, actor) for actor in contenders]
            wait_until(
                lambda: blocked_sessions(harness) == 2 or any(f.done() for f in futures),
                timeout=15,
                what="both takers to be blocked on the gate",
            )
            assert not any(f.done() for f in futures)
        answers = sorted(future.result(timeout=30) for future in futures)

    assert answers == [(200, None), (409, ErrorCode.ASSIGNED_TO_ANOTHER.value)]
    assert harness.scalar("SELECT count(*) FROM plan.claim_assignments") == 1
    assert [kind for kind, _, _ in activity(harness, claim_id)] == ["taken"]


def test_taking_again_renews_the_lease_and_audits_a_renewal(harness: Harness) -> None:
    claim_id = waiting_claim(harness, make_world(), MEMBER)
    first = take(claim_id, reviewer("reviewer-1"))
    again = take(claim_id, reviewer("reviewer-1"))

    assert again.reviewer_id == "reviewer-1"
    assert again.expires_at > first.expires_at
    assert again.taken_at == first.taken_at
    lease = get_settings().review_lease_minutes * 60
    assert abs((first.expires_at - first.taken_at).total_seconds() - lease) < 1
    assert [kind for kind, _, _ in activity(harness, claim_id)] == ["taken", "renewed"]


def test_a_claim_held_by_another_is_refused_until_its_lease_expires(harness: Harness) -> None:
    claim_id = waiting_claim(harness, make_world(), MEMBER)
    take(claim_id, reviewer("reviewer-1"))

    refused = _refusal(lambda: take(claim_id, reviewer("reviewer-2")))
    assert refused.code is ErrorCode.ASSIGNED_TO_ANOTHER
    assert status_for(refused) == 409
    assert "reviewer-1" in refused.message

    _expire_lease(harness, claim_id)
    taken = take(claim_id, reviewer("reviewer-2"))

    assert taken.reviewer_id == "reviewer-2"
    kinds = activity(harness, claim_id)
    assert [(kind, actor) for kind, actor, _ in kinds] == [
        ("taken", "reviewer-1"),
        ("expired", "system"),
        ("taken", "reviewer-2"),
    ]
    assert kinds[1][2] is not None and kinds[1][2]["reviewerId"] == "reviewer-1"


def test_every_read_of_a_lease_uses_the_clock_that_wrote_it(harness: Harness) -> None:
    """The take writes ``expires_at`` from the service's clock; the holder check, the
    claim's assignment and the review gate read it against that clock too, so a
    skew between service and database can neither lengthen nor shorten a lease."""
    claim_id = waiting_claim(harness, make_world(), MEMBER)
    lease = take(claim_id, reviewer("reviewer-1"))
    before, after = lease.expires_at - timedelta(seconds=1), lease.expires_at
    threshold = get_settings().four_eyes_threshold

    with PlanJourneyContext() as ctx:
        assert assignments.live_holder(ctx, claim_id, now=before) == "reviewer-1"
        assert assignments.live_holder(ctx, claim_id, now=after) is None
        assert review_queries.assignment_of(ctx, claim_id, now=before) is not None
        assert review_queries.assignment_of(ctx, claim_id, now=after) is None
        assert load_gate(ctx, [claim_id], threshold, before).holders == {claim_id: "reviewer-1"}
        assert load_gate(ctx, [claim_id], threshold, after).holders == {}


def test_beat_removes_expired_leases_and_audits_each_once(harness: Harness) -> None:
    world = make_world()
    expiring = waiting_claim(harness, world, MEMBER)
    live = waiting_claim(harness, world, MEMBER)
    take(expiring, reviewer("reviewer-1"))
    take(live, reviewer("reviewer-2"))
    _expire_lease(harness, expiring)

    for expected in (1, 0):
        with PlanJourneyContext() as ctx:
            assert assignments.expire_leases(ctx, get_settings(), limit=100) == expected
            ctx.commit()

    assert harness.query("SELECT claim_id FROM plan.claim_assignments") == [{"claim_id": live}]
    assert [kind for kind, _, _ in activity(harness, expiring)] == ["taken", "expired"]
    assert [e["type"] for e in activity_events(harness, expiring)] == [
        "claim.assigned",
        "claim.assignment_expired",
    ]


def test_only_the_holder_or_an_admin_releases(harness: Harness) -> None:
    world = make_world()
    claim_id = waiting_claim(harness, world, MEMBER)
    take(claim_id, reviewer("reviewer-1"))

    refused = _refusal(lambda: release(claim_id, reviewer("reviewer-2")))
    assert (status_for(refused), refused.code) == (403, ErrorCode.FORBIDDEN)

    release(claim_id, reviewer("reviewer-1"))
    nothing = _refusal(lambda: release(claim_id, reviewer("reviewer-1")))
    assert (status_for(nothing), nothing.code) == (409, ErrorCode.NOT_ASSIGNED)

    take(claim_id, reviewer("reviewer-2"))
    release(claim_id, admin())
    assert harness.scalar("SELECT count(*) FROM plan.claim_assignments") == 0
    assert [(kind, actor, (d or {}).get("reviewerId")) for kind, actor, d in activity(
        harness, claim_id
    )] == [
        ("taken", "reviewer-1", "reviewer-1"),
        ("released", "reviewer-1", "reviewer-1"),
        ("taken", "reviewer-2", "reviewer-2"),
        ("released", "admin-1", "reviewer-2"),
    ]


def test_an_admin_reassigns_a_claim_held_by_someone_else(harness: Harness) -> None:
    claim_id = waiting_claim(harness, make_world(), MEMBER)
    take(claim_id, reviewer("reviewer-1"))

    handed = reassign(claim_id, "reviewer-2", admin())

    assert handed.reviewer_id == "reviewer-2"
    refused = _refusal(lambda: take(claim_id, reviewer("reviewer-1")))
    assert refused.code is ErrorCode.ASSIGNED_TO_ANOTHER
    [_, reassigned] = activity(harness, claim_id)
    assert reassigned[0:2] == ("reassigned", "admin-1")
    assert reassigned[2] is not None
    assert reassigned[2]["reviewerId"] == "reviewer-2"
    assert reassigned[2]["previousReviewerId"] == "reviewer-1"


def test_refusals_of_review_work_carry_their_codes(harness: Harness) -> None:
    world = make_world(users=(MEMBER, "reviewer-9"))
    claim_id = waiting_claim(harness, world, MEMBER)
    harness.query(
        "UPDATE plan.claims SET status = 'REJECTED' WHERE id = %s RETURNING id", (claim_id,)
    )
    not_under_review = _refusal(lambda: take(claim_id, reviewer("reviewer-1")))
    own = waiting_claim(harness, world, "reviewer-9")
    own_claim = _refusal(lambda: take(own, reviewer("reviewer-9")))
    own_reassigned = _refusal(lambda: reassign(own, "reviewer-9", admin()))
    missing = _refusal(lambda: take(987654, reviewer("reviewer-1")))

    assert (status_for(not_under_review), not_under_review.code) == (
        409,
        ErrorCode.INVALID_STATUS_TRANSITION,
    )
    assert (status_for(own_claim), own_claim.code) == (403, ErrorCode.SELF_REVIEW)
    assert own_reassigned.code is ErrorCode.SELF_REVIEW
    assert (status_for(missing), missing.code) == (404, ErrorCode.CLAIM_NOT_FOUND)
    assert harness.scalar("SELECT count(*) FROM plan.claim_activity") == 0


def test_activity_is_append_only_and_each_row_is_an_event(harness: Harness) -> None:
    claim_id = waiting_claim(harness, make_world(), MEMBER)
    take(claim_id, reviewer("reviewer-1"))
    release(claim_id, reviewer("reviewer-1"))

    events = activity_events(harness, claim_id)
    assert [e["type"] for e in events] == ["claim.assigned", "claim.released"]
    rows = harness.query("SELECT event_id FROM plan.claim_activity")
    ids = {str(row["event_id"]) for row in rows}
    assert {e["eventId"] for e in events} == ids
    assert all(e["claimId"] == claim_id and e["userId"] == MEMBER for e in events)
    for statement in (
        "UPDATE plan.claim_activity SET kind = 'expired'",
        "DELETE FROM plan.claim_activity",
    ):
        with pytest.raises(Exception, match="append-only"):
            harness.query(statement)
