"""Only the holder decides, and four eyes for large approvals (DOMAIN.md section 1a).

A ``ReviewGate`` is loaded for the claims of one batch of person's decisions, after their rows
are locked: it knows each claim's live lease and pending first approval. The action code asks
it to check a decision (``check``), what an approval of an amount means (``approval``), and
tells it what was applied (``first_approval``, ``decided``); ``write`` then drops and records
pending approvals and frees the decided claims' assignments, with their activity rows and
events in the caller's change set.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from models.base import table_of
from models.commands import Actor, ClaimCommand
from models.enums import ActivityKind, ActorRole, ClaimEvent
from models.errors import ErrorCode, ReviewConflict
from models.review import ClaimAssignment, PendingApproval
from service.assignments import lease_live, release_decided
from service.changes import ChangeSet, ClaimOfActivity
from storage.bulk import in_array
from storage.unit_of_work import PlanJourneyContext

assignments_t = table_of(ClaimAssignment)
pending_t = table_of(PendingApproval)

REVIEWER_DECISIONS = frozenset({ClaimEvent.APPROVE, ClaimEvent.REJECT, ClaimEvent.REQUEST_INFO})


class Approval(Enum):
    """What an approval does: decide at once, wait for a second reviewer, or confirm one."""

    SINGLE = "single"
    FIRST = "first"
    SECOND = "second"


@dataclass(frozen=True, slots=True)
class Pending:
    claim_id: int
    reviewer_id: str
    reviewer_role: ActorRole
    approved_amount: Decimal
    reason_code: str | None
    note: str | None
    approved_at: datetime

    def as_details(self) -> dict[str, Any]:
        return {
            "reviewerId": self.reviewer_id,
            "role": self.reviewer_role.value,
            "approvedAmount": f"{self.approved_amount:.2f}",
            "at": self.approved_at.isoformat(),
        }


def is_reviewer_decision(command: ClaimCommand) -> bool:
    return not command.is_automatic and command.event in REVIEWER_DECISIONS


@dataclass(slots=True)
class ReviewGate:
    threshold: Decimal
    holders: dict[int, str]
    pending: dict[int, Pending]
    firsts: list[tuple[ClaimOfActivity, Pending, uuid.UUID]] = field(default_factory=list)
    freed: list[tuple[ClaimOfActivity, Actor]] = field(default_factory=list)

    def check(self, claim_id: int, command: ClaimCommand) -> None:
        """Refuse a person's decision on a claim they do not hold, or a second approval by
        the first approver. Checked when the request comes and again when it is applied."""
        if not is_reviewer_decision(command):
            return
        holder = self.holders.get(claim_id)
        if holder != command.actor.id:
            raise ReviewConflict(
                f"Take claim {claim_id} before deciding it"
                + (f": {holder} holds it" if holder is not None else ""),
                code=ErrorCode.NOT_ASSIGNED,
            )
        pending = self.pending.get(claim_id)
        if (
            command.event is ClaimEvent.APPROVE
            and pending is not None
            and pending.reviewer_id == command.actor.id
        ):
            raise ReviewConflict(
                f"You approved {pending.approved_amount:.2f} already: a second, different "
                "reviewer must confirm it",
                code=ErrorCode.SECOND_APPROVER_REQUIRED,
            )

    def approval(self, claim_id: int, amount: Decimal) -> Approval:
        """An approval of ``amount``: below the threshold it decides; at or above it, it
        confirms a pending approval of the same amount or becomes a first approval."""
        if amount < self.threshold:
            return Approval.SINGLE
        pending = self.pending.get(claim_id)
        if pending is not None and pending.approved_amount == amount:
            return Approval.SECOND
        return Approval.FIRST

    def first_approval(
        self, claim: ClaimOfActivity, command: ClaimCommand, amount: Decimal, now: datetime
    ) -> None:
        pending = Pending(
            claim_id=claim.id,
            reviewer_id=command.actor.id,
            reviewer_role=command.actor.role,
            approved_amount=amount,
            reason_code=None if command.reason_code is None else str(command.reason_code),
            note=command.note,
            approved_at=now,
        )
        self.firsts.append((claim, pending, command.event_id))
        self.freed.append((claim, command.actor))

    def decided(self, claim: ClaimOfActivity, actor: Actor) -> None:
        """A person's decision was applied: the claim leaves review, pending approval and all."""
        self.freed.append((claim, actor))

    def write(self, ctx: PlanJourneyContext, changes: ChangeSet) -> None:
        ids = sorted({claim.id for claim, _ in self.freed})
        if ids:
            ctx.execute(pending_t.delete().where(in_array(pending_t.c.claim_id, ids)))
        for claim, pending, action_id in self.firsts:
            ctx.execute(insert(pending_t).values(**_pending_row(pending)))
            # The action's id: a second application of the same action breaks the unique
            # event id and rolls back, as a transition's history row would.
            changes.activity(
                claim,
                ActivityKind.APPROVAL_PENDING,
                event_id=action_id,
                actor=Actor(id=pending.reviewer_id, role=pending.reviewer_role),
                details={
                    "reviewerId": pending.reviewer_id,
                    "approvedAmount": f"{pending.approved_amount:.2f}",
                },
            )
        firsts = {claim.id for claim, _, _ in self.firsts}
        approved_once = [(c, a) for c, a in self.freed if c.id in firsts]
        release_decided(ctx, changes, approved_once, reason="first_approval")
        release_decided(ctx, changes, [(c, a) for c, a in self.freed if c.id not in firsts])


def _pending_row(pending: Pending) -> dict[str, Any]:
    return {
        "claim_id": pending.claim_id,
        "reviewer_id": pending.reviewer_id,
        "reviewer_role": pending.reviewer_role.value,
        "approved_amount": pending.approved_amount,
        "reason_code": pending.reason_code,
        "note": pending.note,
        "approved_at": pending.approved_at,
    }


def load_gate(
    ctx: PlanJourneyContext,
    claim_ids: list[int],
    threshold: Decimal,
    now: datetime,
) -> ReviewGate:
    """The leases live at ``now`` and the pending approvals of the claims (whose rows the
    caller locked)."""
    ids = sorted(set(claim_ids))
    if not ids:
        return ReviewGate(threshold, {}, {})
    holders = {
        row.claim_id: row.reviewer_id
        for row in ctx.execute(
            sa.select(assignments_t.c.claim_id, assignments_t.c.reviewer_id).where(
                in_array(assignments_t.c.claim_id, ids),
                lease_live(now),
            )
        )
    }
    pending = {
        row.claim_id: Pending(
            claim_id=row.claim_id,
            reviewer_id=row.reviewer_id,
            reviewer_role=ActorRole(row.reviewer_role),
            approved_amount=row.approved_amount,
            reason_code=row.reason_code,
            note=row.note,
            approved_at=row.approved_at,
        )
        for row in ctx.execute(sa.select(pending_t).where(in_array(pending_t.c.claim_id, ids)))
    }
    return ReviewGate(threshold, holders, pending)
