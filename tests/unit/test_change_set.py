"""What one transaction writes to the outbox: one row per event type and per task, and only
the automatic steps still owed when it commits."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from config import get_settings
from models.commands import SYSTEM, Actor, automatic_event_id
from models.enums import ActorRole, ClaimEvent, ClaimStatus, ProcedureType
from service.changes import ChangeSet, ClaimState

MEMBER = Actor(id="member-1", role=ActorRole.MEMBER)


def draft(claim_id: int) -> ClaimState:
    return ClaimState(
        id=claim_id,
        status=ClaimStatus.DRAFT,
        version=1,
        user_id=MEMBER.id,
        plan_id=1,
        member_plan_id=1,
        procedure_type=ProcedureType.CONSULTATION,
        procedure_code="C10101",
        provider_name="Clinic",
        service_date=date(2026, 11, 1),
        claimed_amount=Decimal("80.00"),
        approved_amount=None,
        member_responsibility=None,
        currency="BRL",
        decision_reason_code=None,
        adjudication=None,
        next_step=None,
        submitted_at=None,
        decided_at=None,
        info_due_at=None,
    )


def submit(changes: ChangeSet, claim: ClaimState) -> None:
    changes.transition(claim, ClaimEvent.SUBMIT, event_id=uuid.uuid4(), actor=MEMBER)


def test_one_row_per_event_type_and_per_task_carries_every_claim_of_the_transaction() -> None:
    changes = ChangeSet(get_settings())
    claims = [draft(1), draft(2), draft(3)]
    for claim in claims:
        submit(changes, claim)

    rows = changes.outbox_rows()

    assert [(r["kind"], r["name"], r["item_count"], r["claim_id"]) for r in rows] == [
        ("event", "claim.submitted", 3, None),
        ("task", "plan.claims.start_review", 3, None),
    ]
    assert [e["claimId"] for e in rows[0]["payload"]["items"]] == [1, 2, 3]
    assert rows[1]["payload"]["items"] == [
        {
            "claimId": c.id,
            "step": "start_review",
            "eventId": str(automatic_event_id(c.id, "start_review", 2)),
        }
        for c in claims
    ]


def test_a_step_taken_in_the_same_transaction_is_no_longer_owed() -> None:
    changes = ChangeSet(get_settings())
    reviewed, waiting = draft(1), draft(2)
    submit(changes, reviewed)
    submit(changes, waiting)

    changes.transition(
        reviewed,
        ClaimEvent.START_REVIEW,
        event_id=automatic_event_id(reviewed.id, "start_review", reviewed.version),
        actor=SYSTEM,
    )
    rows = changes.outbox_rows()

    assert reviewed.next_step is None and waiting.next_step == "start_review"
    assert [(r["name"], r["item_count"], r["claim_id"]) for r in rows] == [
        ("claim.submitted", 2, None),
        ("claim.under_review", 1, reviewed.id),
        ("plan.claims.start_review", 1, waiting.id),
    ]


def test_claims_left_out_of_the_insert_leave_nothing_behind() -> None:
    changes = ChangeSet(get_settings())
    kept, refused = draft(1), draft(2)
    submit(changes, kept)
    submit(changes, refused)

    changes.keep_only({kept.id})

    assert {row["claim_id"] for row in changes.history} == {kept.id}
    assert [r["claim_id"] for r in changes.outbox_rows()] == [kept.id, kept.id]
