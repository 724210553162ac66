"""A claim driven along every path of the lifecycle graph, on real PostgreSQL.

Each path is applied through the service functions the tasks call (``apply_commands``,
``advance_claims``, ``expire_overdue_claims``), and once more through a real worker fed by the
relay. The history must equal exactly the transitions made and read as a valid path from
DRAFT; an event the state does not allow changes nothing, even when the caller commits.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from config import get_settings
from models.commands import SYSTEM, Actor, ClaimCommand, DocumentRef
from models.enums import ActorRole, ClaimEvent, ClaimStatus
from models.errors import ErrorCode, InvalidTransition
from models.lifecycle import TRANSITIONS, can_fire
from service.actions import record_action
from service.steps import expire_overdue_claims
from storage.unit_of_work import PlanJourneyContext
from tests.support.factories import World, make_world, submit
from tests.support.harness import Harness, admin_conninfo, wait_until
from tests.support.outbox import OUTBOX_ITEMS
from tests.support.service import advance, apply, owed_step, take_for

MEMBER = "member-1"
REVIEWER_ID = "reviewer-7"
REVIEWER = Actor(id=REVIEWER_ID, role=ActorRole.REVIEWER)
RECEIPT = DocumentRef(
    type="RECEIPT", file_name="receipt.pdf", mime_type="application/pdf", size_bytes=2048
)
HistoryRow = tuple[str, str, str, str, str]  # from, to, event, actor id, actor role

# The rows each kind of move writes (from, to, event, actor id, actor role).
SUBMITTED = ("DRAFT", "SUBMITTED", "submit", MEMBER, "member")
REVIEW_STARTED = ("SUBMITTED", "UNDER_REVIEW", "start_review", "system", "system")
INFO_REQUESTED = (
    "UNDER_REVIEW",
    "ADDITIONAL_INFO_REQUIRED",
    "request_info",
    REVIEWER_ID,
    "reviewer",
)
INFO_PROVIDED = ("ADDITIONAL_INFO_REQUIRED", "UNDER_REVIEW", "provide_info", MEMBER, "member")
APPROVED = ("UNDER_REVIEW", "APPROVED", "approve", REVIEWER_ID, "reviewer")
REJECTED = ("UNDER_REVIEW", "REJECTED", "reject", REVIEWER_ID, "reviewer")
EXPIRED = ("ADDITIONAL_INFO_REQUIRED", "EXPIRED", "expire", "system", "system")


def member_actor(user: str = MEMBER) -> Actor:
    return Actor(id=user, role=ActorRole.MEMBER)


def actor_for(event: ClaimEvent) -> Actor:
    if event in (ClaimEvent.SUBMIT, ClaimEvent.PROVIDE_INFO, ClaimEvent.CANCEL):
        return member_actor()
    if event in (ClaimEvent.START_REVIEW, ClaimEvent.EXPIRE):
        return SYSTEM
    return REVIEWER


def command(claim_id: int, event: ClaimEvent, **fields: Any) -> ClaimCommand:
    fields.setdefault("actor", actor_for(event))
    return ClaimCommand(claim_id=claim_id, event=event, event_id=uuid.uuid4(), **fields)


def expire_now(harness: Harness, claim_id: int) -> int:
    with psycopg.connect(admin_conninfo(harness.database_url), autocommit=True) as conn:
        conn.execute(
            "UPDATE plan.claims SET info_due_at = now() - interval '1 minute' WHERE id = %s",
            (claim_id,),
        )
    with PlanJourneyContext() as ctx:
        expired = expire_overdue_claims(ctx, get_settings(), limit=100)
        ctx.commit()
    return expired


def status_of(harness: Harness, claim_id: int) -> str:
    return str(harness.scalar("SELECT status FROM plan.claims WHERE id = %s", (claim_id,)))


def history_of(harness: Harness, claim_id: int) -> list[HistoryRow]:
    rows = harness.query(
        "SELECT from_status, to_status, event, actor_id, actor_role "
        "FROM plan.claim_status_history WHERE claim_id = %s ORDER BY id",
        (claim_id,),
    )
    return [
        (r["from_status"], r["to_status"], r["event"], r["actor_id"], r["actor_role"]) for r in rows
    ]


def assert_valid_path(history: list[HistoryRow]) -> None:
    edges = {
        (event.value, source.value, dest.value)
        for event, sources, dest in TRANSITIONS
        for source in sources
    }
    state = ClaimStatus.DRAFT.value
    for from_status, to_status, event, _, _ in history:
        assert from_status == state, f"history leaves {state} from {from_status}"
        assert (event, from_status, to_status) in edges, f"{event}: {from_status}->{to_status}"
        state = to_status


def claim_snapshot(harness: Harness) -> dict[str, list[dict[str, Any]]]:
    return {
        table: harness.query(f"SELECT * FROM plan.{table} ORDER BY 1, 2")
        for table in ("claims", "claim_status_history", "outbox", "documents", "coverage_usage")
    }


# --------------------------------------------------------------------------- every path


@dataclass(frozen=True)
class Path:
    """Moves made on a claim, the status after each, and the history they must leave."""

    moves: tuple[str, ...]
    statuses: tuple[str, ...]
    history: tuple[HistoryRow, ...]
    ready: bool = True
    amount: str = "150.00"  # above the auto-approval threshold: a person decides


PATHS = {
    "approved": Path(
        ("auto", "approve"),
        ("UNDER_REVIEW", "APPROVED"),
        (SUBMITTED, REVIEW_STARTED, APPROVED),
    ),
    "rejected": Path(
        ("auto", "reject"),
        ("UNDER_REVIEW", "REJECTED"),
        (SUBMITTED, REVIEW_STARTED, REJECTED),
    ),
    "info_requested_provided_approved": Path(
        ("auto", "request_info", "provide_info", "auto", "approve"),
        ("UNDER_REVIEW", "ADDITIONAL_INFO_REQUIRED", "UNDER_REVIEW", "UNDER_REVIEW", "APPROVED"),
        (SUBMITTED, REVIEW_STARTED, INFO_REQUESTED, INFO_PROVIDED, APPROVED),
    ),
    "info_requested_expired": Path(
        ("auto", "request_info", "expire"),
        ("UNDER_REVIEW", "ADDITIONAL_INFO_REQUIRED", "EXPIRED"),
        (SUBMITTED, REVIEW_STARTED, INFO_REQUESTED, EXPIRED),
    ),
    "info_requested_cancelled": Path(
        ("auto", "request_info", "cancel"),
        ("UNDER_REVIEW", "ADDITIONAL_INFO_REQUIRED", "CANCELLED"),
        (
            SUBMITTED,
            REVIEW_STARTED,
            INFO_REQUESTED,
            ("ADDITIONAL_INFO_REQUIRED", "CANCELLED", "cancel", MEMBER, "member"),
        ),
    ),
    "draft_cancelled": Path(
        ("cancel",),
        ("CANCELLED",),
        (("DRAFT", "CANCELLED", "cancel", MEMBER, "member"),),
        ready=False,
    ),
    "submitted_cancelled": Path(
        ("cancel",),
        ("CANCELLED",),
        (SUBMITTED, ("SUBMITTED", "CANCELLED", "cancel", MEMBER, "member")),
    ),
    "draft_submitted_then_cancelled": Path(
        ("submit", "cancel"),
        ("SUBMITTED", "CANCELLED"),
        (SUBMITTED, ("SUBMITTED", "CANCELLED", "cancel", MEMBER, "member")),
        ready=False,
    ),
}


def make_move(harness: Harness, claim_id: int, move: str) -> None:
    if move == "auto":
        [outcome] = advance(owed_step(harness, claim_id))
        assert outcome.status == "applied"
    elif move == "expire":
        assert expire_now(harness, claim_id) == 1
    else:
        event = ClaimEvent(move)
        documents = (RECEIPT,) if event is ClaimEvent.PROVIDE_INFO else ()
        [outcome] = apply(command(claim_id, event, documents=documents))
        assert (outcome.status, outcome.error) == ("applied", None)


@pytest.mark.parametrize("path", list(PATHS.values()), ids=list(PATHS))
def test_claim_follows_each_path_of_the_graph_and_history_records_exactly_its_moves(
    harness: Harness, path: Path
) -> None:
    world = make_world()
    claim = submit(world, MEMBER, amount=path.amount, draft=not path.ready)
    assert claim.claim_id is not None
    assert status_of(harness, claim.claim_id) == ("SUBMITTED" if path.ready else "DRAFT")

    for move, expected_status in zip(path.moves, path.statuses, strict=True):
        make_move(harness, claim.claim_id, move)
        assert status_of(harness, claim.claim_id) == expected_status, f"after {move}"

    history = history_of(harness, claim.claim_id)
    assert history == list(path.history)
    assert_valid_path(history)
    row = harness.query(
        "SELECT status, version, next_step, decided_at, info_due_at FROM plan.claims WHERE id = %s",
        (claim.claim_id,),
    )[0]
    assert row["version"] == 1 + len(history)
    if ClaimStatus(row["status"]).is_terminal:
        assert row["decided_at"] is not None
        assert row["next_step"] is None
        assert row["info_due_at"] is None
    events = harness.scalar(
        f"SELECT count(*) FROM {OUTBOX_ITEMS} "
        "WHERE kind = 'event' AND item ? 'newStatus' AND claim_id = %s",
        (claim.claim_id,),
    )
    assert events == len(history), "one domain event per transition"


def test_step_owed_before_a_cancellation_is_stale_afterwards_and_changes_nothing(
    harness: Harness,
) -> None:
    world = make_world()
    claim = submit(world, MEMBER, amount="80.00")
    assert claim.claim_id is not None
    step = owed_step(harness, claim.claim_id)
    [cancelled] = apply(command(claim.claim_id, ClaimEvent.CANCEL))
    assert cancelled.status == "applied"
    before = claim_snapshot(harness)

    [outcome] = advance(step)

    assert outcome.status == "stale"
    assert claim_snapshot(harness) == before


def test_provided_information_is_adjudicated_again_by_the_owed_step(harness: Harness) -> None:
    world = make_world()
    claim = submit(world, MEMBER, amount="80.00", receipt=False)
    assert claim.claim_id is not None
    advance(owed_step(harness, claim.claim_id))
    assert status_of(harness, claim.claim_id) == "ADDITIONAL_INFO_REQUIRED"

    apply(command(claim.claim_id, ClaimEvent.PROVIDE_INFO, documents=(RECEIPT,)))
    assert owed_step(harness, claim.claim_id).step == "adjudicate"
    advance(owed_step(harness, claim.claim_id))

    assert status_of(harness, claim.claim_id) == "APPROVED"
    assert history_of(harness, claim.claim_id) == [
        SUBMITTED,
        REVIEW_STARTED,
        ("UNDER_REVIEW", "ADDITIONAL_INFO_REQUIRED", "request_info", "system", "system"),
        INFO_PROVIDED,
        ("UNDER_REVIEW", "APPROVED", "approve", "system", "system"),
    ]
    documents = harness.scalar(
        "SELECT count(*) FROM plan.documents WHERE claim_id = %s AND type = 'RECEIPT'",
        (claim.claim_id,),
    )
    assert documents == 1


# --------------------------------------------------------------------------- invalid transitions


def claims_in_every_state(harness: Harness, world: World) -> dict[ClaimStatus, int]:
    def new(**kwargs: Any) -> int:
        claim_id = submit(world, MEMBER, amount="150.00", **kwargs).claim_id
        assert claim_id is not None
        return claim_id

    claims = {status: new(draft=status is ClaimStatus.DRAFT) for status in ClaimStatus}
    for status, claim_id in claims.items():
        if status not in (ClaimStatus.DRAFT, ClaimStatus.SUBMITTED):
            advance(owed_step(harness, claim_id))
    moves = {
        ClaimStatus.ADDITIONAL_INFO_REQUIRED: ("request_info",),
        ClaimStatus.APPROVED: ("approve",),
        ClaimStatus.REJECTED: ("reject",),
        ClaimStatus.CANCELLED: ("request_info", "cancel"),
        ClaimStatus.EXPIRED: ("request_info", "expire"),
    }
    for status, path in moves.items():
        for move in path:
            make_move(harness, claims[status], move)
    for status, claim_id in claims.items():
        assert status_of(harness, claim_id) == status.value
    return claims


def test_every_event_the_state_does_not_allow_is_refused_and_changes_nothing(
    harness: Harness,
) -> None:
    world = make_world()
    claims = claims_in_every_state(harness, world)
    invalid = [
        (status, event)
        for status in ClaimStatus
        for event in ClaimEvent
        if not can_fire(status, event)
    ]
    assert len(invalid) == 64 - 10
    before = claim_snapshot(harness)

    for status, event in invalid:
        documents = (RECEIPT,) if event is ClaimEvent.PROVIDE_INFO else ()
        refused = command(claims[status], event, documents=documents)
        # The caller commits even so: the refusal itself must have written nothing.
        [outcome] = apply(refused)
        assert outcome.status in ("refused", "stale"), (status, event, outcome)
        assert isinstance(outcome.error, InvalidTransition), (status, event, outcome.error)
        assert outcome.error.code is ErrorCode.INVALID_STATUS_TRANSITION
        assert outcome.error.code.value == "PLAN_CLAIM_BUS_INVALID_STATUS_TRANSITION"

    assert claim_snapshot(harness) == before
    for claim_id in claims.values():
        assert_valid_path(history_of(harness, claim_id))


# --------------------------------------------------------------------------- on a real worker


def record(*commands: ClaimCommand) -> None:
    """Record each command as a person's action, as the API does; the relay takes it on."""
    take_for(commands)
    for one in commands:
        with PlanJourneyContext() as ctx:
            record_action(ctx, one, get_settings())
            ctx.commit()


def test_a_real_worker_drives_claims_along_automatic_and_reviewer_paths(harness: Harness) -> None:
    world = make_world()
    approved = submit(world, MEMBER, amount="80.00").claim_id
    referred = submit(world, MEMBER, amount="150.00").claim_id
    undocumented = submit(world, MEMBER, amount="60.00", receipt=False).claim_id
    not_covered = submit(world, MEMBER, amount="60.00", procedure_type="SURGERY").claim_id
    draft = submit(world, MEMBER, amount="70.00", draft=True).claim_id
    assert None not in (approved, referred, undocumented, not_covered, draft)
    harness.start_worker()
    harness.start_relay()

    settled = {
        approved: "APPROVED",
        referred: "UNDER_REVIEW",
        undocumented: "ADDITIONAL_INFO_REQUIRED",
        not_covered: "REJECTED",
    }
    wait_until(
        lambda: all(status_of(harness, c) == s for c, s in settled.items()),
        what="the automatic decisions",
    )
    record(
        command(referred, ClaimEvent.REJECT),
        command(undocumented, ClaimEvent.PROVIDE_INFO, documents=(RECEIPT,)),
        command(draft, ClaimEvent.CANCEL),
    )
    final = {
        approved: "APPROVED",
        referred: "REJECTED",
        undocumented: "APPROVED",
        not_covered: "REJECTED",
        draft: "CANCELLED",
    }
    wait_until(
        lambda: all(status_of(harness, c) == s for c, s in final.items()),
        what="the reviewer and member commands",
    )

    automatic_approval = ("UNDER_REVIEW", "APPROVED", "approve", "system", "system")
    assert history_of(harness, approved) == [SUBMITTED, REVIEW_STARTED, automatic_approval]
    assert history_of(harness, referred) == [SUBMITTED, REVIEW_STARTED, REJECTED]
    assert history_of(harness, undocumented) == [
        SUBMITTED,
        REVIEW_STARTED,
        ("UNDER_REVIEW", "ADDITIONAL_INFO_REQUIRED", "request_info", "system", "system"),
        INFO_PROVIDED,
        automatic_approval,
    ]
    assert history_of(harness, not_covered) == [
        SUBMITTED,
        REVIEW_STARTED,
        ("UNDER_REVIEW", "REJECTED", "reject", "system", "system"),
    ]
    assert history_of(harness, draft) == [("DRAFT", "CANCELLED", "cancel", MEMBER, "member")]
    for claim_id in final:
        assert_valid_path(history_of(harness, claim_id))
    reasons = {
        r["id"]: r["decision_reason_code"]
        for r in harness.query("SELECT id, decision_reason_code FROM plan.claims")
    }
    assert reasons[not_covered] == "NOT_COVERED"
    assert reasons[approved] == "WITHIN_AUTO_APPROVAL"
