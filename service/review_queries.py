"""The read side of review work: the reviewer queue with its filters, a claim's activity,
its assignment and pending approval, and the queue's figures for /metrics.

A lease counts only while ``expires_at`` lies ahead, so every read here treats an expired
assignment as none, whether or not beat has removed its row yet. A claim with a person's action
queued (a decision a worker has yet to apply) waits for that worker, not for a person, so the
queue and its figures leave it out until the action is applied or refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from models.base import table_of
from models.enums import ActionStatus, ActorRole, ClaimStatus, ProcedureType
from models.errors import ErrorCode, NotFound
from models.review import ClaimActivity, ClaimAssignment, PendingApproval
from models.tables import Claim, ClaimAction, ClaimStatusHistory, Plan
from service.assignments import lease_live
from service.changes import utcnow
from service.queries import CLAIM_SUMMARY, Page, Row, page_of
from storage.unit_of_work import PlanJourneyContext

claims_t = table_of(Claim)
plans_t = table_of(Plan)
history_t = table_of(ClaimStatusHistory)
assignments_t = table_of(ClaimAssignment)
pending_t = table_of(PendingApproval)
activity_t = table_of(ClaimActivity)
actions_t = table_of(ClaimAction)

# Identities of reviewers are not shown to members: the actor of these keys is withheld.
_REVIEWER_KEYS = frozenset({"reviewerId", "previousReviewerId"})


class AssignedFilter(StrEnum):
    ME = "me"
    NONE = "none"
    OTHERS = "others"
    ANY = "any"


@dataclass(frozen=True, slots=True)
class QueueFilter:
    assigned: AssignedFilter = AssignedFilter.ANY
    awaiting_second_approval: bool | None = None
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None
    procedure_type: ProcedureType | None = None
    plan_id: int | None = None
    submitted_before: datetime | None = None


@dataclass(frozen=True, slots=True)
class QueueFigures:
    unassigned: int
    assigned: int
    awaiting_second_approval: int
    oldest_waiting_s: float


def _live_lease() -> sa.ColumnElement[bool]:
    return sa.and_(assignments_t.c.claim_id == claims_t.c.id, lease_live(utcnow()))


def _waiting_since() -> sa.ColumnElement[Any]:
    """When the claim last started waiting for a person: it entered review, or its first
    approval was recorded (then it waits for the second)."""
    entered = (
        sa.select(sa.func.max(history_t.c.occurred_at))
        .where(
            history_t.c.claim_id == claims_t.c.id,
            history_t.c.to_status == ClaimStatus.UNDER_REVIEW.value,
        )
        .scalar_subquery()
    )
    return sa.func.greatest(
        sa.func.coalesce(entered, claims_t.c.submitted_at, claims_t.c.created_at),
        pending_t.c.approved_at,
    )


def _action_queued() -> sa.Exists:
    # uq_claim_actions_queued (claim_id, partial on status = 'queued') answers this.
    return sa.exists().where(
        actions_t.c.claim_id == claims_t.c.id, actions_t.c.status == ActionStatus.QUEUED.value
    )


def _queue_base(*columns: Any) -> sa.Select[Any]:
    # The status/next_step predicate is ix_claims_review_queue's, so that index serves it.
    return (
        sa.select(*columns)
        .select_from(
            claims_t.outerjoin(assignments_t, _live_lease()).outerjoin(
                pending_t, pending_t.c.claim_id == claims_t.c.id
            )
        )
        .where(
            claims_t.c.status == ClaimStatus.UNDER_REVIEW.value,
            claims_t.c.next_step.is_(None),
            sa.not_(_action_queued()),
        )
    )


def _filtered(query: sa.Select[Any], found: QueueFilter, reviewer_id: str) -> sa.Select[Any]:
    holder = assignments_t.c.reviewer_id
    if found.assigned is AssignedFilter.ME:
        query = query.where(holder == reviewer_id)
    elif found.assigned is AssignedFilter.NONE:
        query = query.where(holder.is_(None))
    elif found.assigned is AssignedFilter.OTHERS:
        query = query.where(holder.is_not(None), holder != reviewer_id)
    if found.awaiting_second_approval is not None:
        pending = pending_t.c.claim_id.is_not(None)
        query = query.where(pending if found.awaiting_second_approval else sa.not_(pending))
    if found.min_amount is not None:
        query = query.where(claims_t.c.claimed_amount >= found.min_amount)
    if found.max_amount is not None:
        query = query.where(claims_t.c.claimed_amount <= found.max_amount)
    if found.procedure_type is not None:
        query = query.where(claims_t.c.procedure_type == found.procedure_type.value)
    if found.plan_id is not None:
        query = query.where(claims_t.c.plan_id == found.plan_id)
    if found.submitted_before is not None:
        query = query.where(claims_t.c.submitted_at < found.submitted_before)
    return query


def review_queue(
    ctx: PlanJourneyContext,
    *,
    reviewer_id: str,
    filters: QueueFilter | None = None,
    page: int = 1,
    size: int = 10,
) -> Page:
    """Claims under review that wait for a person, oldest first, each with its assignment,
    its pending approval and since when it waits."""
    query = _queue_base(
        *CLAIM_SUMMARY,
        plans_t.c.code.label("plan_code"),
        assignments_t.c.reviewer_id.label("assignment_reviewer_id"),
        assignments_t.c.expires_at.label("assignment_expires_at"),
        pending_t.c.reviewer_id.label("pending_reviewer_id"),
        pending_t.c.approved_amount.label("pending_approved_amount"),
        pending_t.c.approved_at.label("pending_at"),
        _waiting_since().label("waiting_since"),
    ).join(plans_t, plans_t.c.id == claims_t.c.plan_id)
    query = _filtered(query, filters or QueueFilter(), reviewer_id)
    query = query.order_by(claims_t.c.submitted_at, claims_t.c.id)
    return page_of(ctx, query, page=page, size=size)


def queue_figures(ctx: PlanJourneyContext) -> QueueFigures:
    """Queue depth by state (a live lease wins over a pending approval) and the age of the
    claim that has waited longest."""
    assigned = assignments_t.c.reviewer_id.is_not(None)
    pending = pending_t.c.claim_id.is_not(None)
    row = ctx.execute(
        _queue_base(
            sa.func.count().filter(sa.not_(assigned), sa.not_(pending)).label("unassigned"),
            sa.func.count().filter(assigned).label("assigned"),
            sa.func.count().filter(sa.not_(assigned), pending).label("awaiting"),
            sa.func.coalesce(
                sa.func.extract("epoch", sa.func.now() - sa.func.min(_waiting_since())), 0
            ).label("oldest"),
        )
    ).one()
    return QueueFigures(
        int(row.unassigned), int(row.assigned), int(row.awaiting), float(row.oldest)
    )


def _owned_claim(ctx: PlanJourneyContext, claim_id: int, owner: str | None) -> None:
    query = sa.select(claims_t.c.id).where(claims_t.c.id == claim_id)
    if owner is not None:
        query = query.where(claims_t.c.user_id == owner)
    if ctx.execute(query).first() is None:
        raise NotFound("No such claim", field="id", code=ErrorCode.CLAIM_NOT_FOUND)


def claim_activity(
    ctx: PlanJourneyContext, *, claim_id: int, owner: str | None
) -> list[dict[str, Any]]:
    """The claim's activity in order. For its member (``owner``) reviewers stay unnamed."""
    _owned_claim(ctx, claim_id, owner)
    rows = ctx.execute(
        sa.select(
            activity_t.c.id,
            activity_t.c.kind,
            activity_t.c.actor_id,
            activity_t.c.actor_role,
            activity_t.c.details,
            activity_t.c.occurred_at,
        )
        .where(activity_t.c.claim_id == claim_id)
        .order_by(activity_t.c.id)
    ).mappings()
    return [_shown(row, for_member=owner is not None) for row in rows]


def _shown(row: Row, *, for_member: bool) -> dict[str, Any]:
    item = dict(row)
    if for_member:
        if item["actor_role"] != ActorRole.MEMBER.value:
            item["actor_id"] = None
        if item["details"]:
            item["details"] = {
                key: value for key, value in item["details"].items() if key not in _REVIEWER_KEYS
            }
    return item


def assignment_of(
    ctx: PlanJourneyContext, claim_id: int, *, now: datetime | None = None
) -> Row | None:
    """The claim's assignment live at ``now`` (reviewer, taken, expires), or None."""
    return (
        ctx.execute(
            sa.select(
                assignments_t.c.reviewer_id, assignments_t.c.taken_at, assignments_t.c.expires_at
            ).where(assignments_t.c.claim_id == claim_id, lease_live(now or utcnow()))
        )
        .mappings()
        .one_or_none()
    )


def pending_approval_of(ctx: PlanJourneyContext, claim_id: int) -> Row | None:
    """The first approval waiting for a second reviewer, or None."""
    return (
        ctx.execute(
            sa.select(
                pending_t.c.reviewer_id,
                pending_t.c.reviewer_role,
                pending_t.c.approved_amount,
                pending_t.c.approved_at.label("at"),
            ).where(pending_t.c.claim_id == claim_id)
        )
        .mappings()
        .one_or_none()
    )


def pending_approvals_of(
    ctx: PlanJourneyContext, claim_ids: Sequence[int]
) -> dict[int, Row]:
    rows = ctx.execute(
        sa.select(pending_t).where(pending_t.c.claim_id.in_(list(claim_ids)))
    ).mappings()
    return {row["claim_id"]: row for row in rows}
