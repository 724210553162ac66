"""The read side: claims, the reviewer queue, plans and enrolments, as Core selects of the
columns the answers carry.

Every function takes the caller's PlanJourneyContext and keyword arguments. ``owner`` narrows
claims to one user's: a claim of someone else is answered as missing, never as forbidden, so
that claim ids cannot be probed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa

from models.enums import ClaimStatus
from models.errors import ErrorCode, NotFound
from models.tables import (
    Benefit,
    Claim,
    ClaimAction,
    ClaimStatusHistory,
    Coverage,
    Document,
    MemberPlan,
    OutboxMessage,
    Plan,
)
from storage.unit_of_work import PlanJourneyContext

claims_t = Claim.__table__
history_t = ClaimStatusHistory.__table__
documents_t = Document.__table__
plans_t = Plan.__table__
member_plans_t = MemberPlan.__table__
coverages_t = Coverage.__table__
benefits_t = Benefit.__table__
outbox_t = OutboxMessage.__table__
actions_t = ClaimAction.__table__

Row = sa.RowMapping

CLAIM_SUMMARY = (  # a claim as every list shows it
    claims_t.c.id,
    claims_t.c.status,
    claims_t.c.user_id,
    claims_t.c.plan_id,
    claims_t.c.member_plan_id,
    claims_t.c.procedure_type,
    claims_t.c.procedure_code,
    claims_t.c.service_date,
    claims_t.c.claimed_amount,
    claims_t.c.approved_amount,
    claims_t.c.currency,
    claims_t.c.submitted_at,
    claims_t.c.decided_at,
    claims_t.c.created_at,
)
_CLAIM_DETAIL = (
    *CLAIM_SUMMARY,
    claims_t.c.diagnosis_code,
    claims_t.c.provider_name,
    claims_t.c.member_responsibility,
    claims_t.c.decision_reason_code,
    claims_t.c.adjudication,
    claims_t.c.notes,
    claims_t.c.info_due_at,
    claims_t.c.version,
    claims_t.c.updated_at,
)
_DOCUMENT = (
    documents_t.c.id,
    documents_t.c.type,
    documents_t.c.file_name,
    documents_t.c.mime_type,
    documents_t.c.size_bytes,
    documents_t.c.sha256,
    documents_t.c.storage_key,
    documents_t.c.verification_status,
    documents_t.c.uploaded_at,
)
_HISTORY = (
    history_t.c.id,
    history_t.c.event,
    history_t.c.from_status,
    history_t.c.to_status,
    history_t.c.actor_id,
    history_t.c.actor_role,
    history_t.c.reason_code,
    history_t.c.note,
    history_t.c.details,
    history_t.c.occurred_at,
    history_t.c.hash,
)
_PLAN = (
    plans_t.c.id,
    plans_t.c.code,
    plans_t.c.name,
    plans_t.c.description,
    plans_t.c.type,
    plans_t.c.tier,
    plans_t.c.monthly_premium,
    plans_t.c.currency,
    plans_t.c.annual_deductible,
    plans_t.c.out_of_pocket_max,
    plans_t.c.coinsurance_percent,
    plans_t.c.effective_from,
    plans_t.c.effective_to,
    plans_t.c.active,
)


@dataclass(frozen=True, slots=True)
class Page:
    """One page of rows; ``has_more`` comes from reading one row past the page, not a count."""

    items: Sequence[Row]
    page: int
    size: int
    has_more: bool


@dataclass(frozen=True, slots=True)
class ClaimView:
    claim: Row
    documents: Sequence[Row]
    history: Sequence[Row]


@dataclass(frozen=True, slots=True)
class PlanView:
    plan: Row
    coverages: Sequence[Row]
    benefits: Sequence[Row]


def page_of(ctx: PlanJourneyContext, query: sa.Select[Any], *, page: int, size: int) -> Page:
    rows = ctx.execute(query.limit(size + 1).offset((page - 1) * size)).mappings().all()
    return Page(items=rows[:size], page=page, size=size, has_more=len(rows) > size)


def _claim_not_found() -> NotFound:
    return NotFound("No such claim", field="id", code=ErrorCode.CLAIM_NOT_FOUND)


def list_claims(
    ctx: PlanJourneyContext,
    *,
    owner: str | None,
    status: ClaimStatus | None = None,
    plan_id: int | None = None,
    service_date_from: date | None = None,
    service_date_to: date | None = None,
    page: int = 1,
    size: int = 10,
) -> Page:
    """Claims newest first; ``owner`` None means everyone's (reviewers and administrators)."""
    query = sa.select(*CLAIM_SUMMARY)
    if owner is not None:
        query = query.where(claims_t.c.user_id == owner)
    if status is not None:
        query = query.where(claims_t.c.status == status)
    if plan_id is not None:
        query = query.where(claims_t.c.plan_id == plan_id)
    if service_date_from is not None:
        query = query.where(claims_t.c.service_date >= service_date_from)
    if service_date_to is not None:
        query = query.where(claims_t.c.service_date <= service_date_to)
    query = query.order_by(claims_t.c.created_at.desc(), claims_t.c.id.desc())
    return page_of(ctx, query, page=page, size=size)


def get_claim(ctx: PlanJourneyContext, *, claim_id: int, owner: str | None) -> ClaimView:
    """The claim with its documents, amounts, decision breakdown and history."""
    query = sa.select(*_CLAIM_DETAIL).where(claims_t.c.id == claim_id)
    if owner is not None:
        query = query.where(claims_t.c.user_id == owner)
    claim = ctx.execute(query).mappings().one_or_none()
    if claim is None:
        raise _claim_not_found()
    documents = (
        ctx.execute(
            sa.select(*_DOCUMENT)
            .where(documents_t.c.claim_id == claim_id)
            .order_by(documents_t.c.id)
        )
        .mappings()
        .all()
    )
    return ClaimView(claim, documents, _history_rows(ctx, claim_id))


def claim_history(ctx: PlanJourneyContext, *, claim_id: int, owner: str | None) -> Sequence[Row]:
    """The claim's transitions in the order they happened (a claim still in DRAFT has none)."""
    _readable_claim(ctx, claim_id, owner)
    return _history_rows(ctx, claim_id)


def _history_rows(ctx: PlanJourneyContext, claim_id: int) -> Sequence[Row]:
    return (
        ctx.execute(
            sa.select(*_HISTORY).where(history_t.c.claim_id == claim_id).order_by(history_t.c.id)
        )
        .mappings()
        .all()
    )


_BENEFIT = (
    benefits_t.c.id,
    benefits_t.c.category,
    benefits_t.c.code,
    benefits_t.c.name,
    benefits_t.c.description,
    benefits_t.c.limitations,
    benefits_t.c.coverage_percent,
    benefits_t.c.discount_percent,
    benefits_t.c.annual_limit,
    benefits_t.c.active,
)

_ACTION = (
    actions_t.c.id,
    actions_t.c.claim_id,
    actions_t.c.event,
    actions_t.c.status,
    actions_t.c.actor_id,
    actions_t.c.actor_role,
    actions_t.c.requested_at,
    actions_t.c.applied_at,
    actions_t.c.claim_status,
    actions_t.c.error_code,
    actions_t.c.error_message,
)


def _action_not_found() -> NotFound:
    return NotFound(
        "No such action on this claim", field="actionId", code=ErrorCode.ACTION_NOT_FOUND
    )


def _readable_claim(ctx: PlanJourneyContext, claim_id: int, owner: str | None) -> None:
    query = sa.select(claims_t.c.id).where(claims_t.c.id == claim_id)
    if owner is not None:
        query = query.where(claims_t.c.user_id == owner)
    if ctx.execute(query).first() is None:
        raise _claim_not_found()


def get_action(
    ctx: PlanJourneyContext, *, claim_id: int, action_id: uuid.UUID, owner: str | None
) -> Row:
    """One action on a claim the caller may read, and what became of it."""
    _readable_claim(ctx, claim_id, owner)
    action = (
        ctx.execute(
            sa.select(*_ACTION).where(actions_t.c.id == action_id, actions_t.c.claim_id == claim_id)
        )
        .mappings()
        .one_or_none()
    )
    if action is None:
        raise _action_not_found()
    return action


def list_actions(
    ctx: PlanJourneyContext, *, claim_id: int, owner: str | None, page: int = 1, size: int = 10
) -> Page:
    """A claim's actions, newest first."""
    _readable_claim(ctx, claim_id, owner)
    query = (
        sa.select(*_ACTION)
        .where(actions_t.c.claim_id == claim_id)
        .order_by(actions_t.c.requested_at.desc(), actions_t.c.id.desc())
    )
    return page_of(ctx, query, page=page, size=size)


def list_plans(ctx: PlanJourneyContext, *, page: int = 1, size: int = 10) -> Page:
    return page_of(ctx, sa.select(*_PLAN).order_by(plans_t.c.code), page=page, size=size)


def get_plan(ctx: PlanJourneyContext, *, plan_id: int) -> PlanView:
    plan = ctx.execute(sa.select(*_PLAN).where(plans_t.c.id == plan_id)).mappings().one_or_none()
    if plan is None:
        raise NotFound("No such plan", field="id", code=ErrorCode.PLAN_NOT_FOUND)
    coverages = (
        ctx.execute(
            sa.select(
                coverages_t.c.id,
                coverages_t.c.procedure_type,
                coverages_t.c.procedure_code,
                coverages_t.c.coverage_percent,
                coverages_t.c.copay,
                coverages_t.c.deductible_applies,
                coverages_t.c.annual_limit,
                coverages_t.c.waiting_period_days,
                coverages_t.c.preauthorization_required,
                coverages_t.c.effective_from,
                coverages_t.c.effective_to,
                coverages_t.c.active,
            )
            .where(coverages_t.c.plan_id == plan_id)
            .order_by(coverages_t.c.procedure_type, coverages_t.c.procedure_code, coverages_t.c.id)
        )
        .mappings()
        .all()
    )
    return PlanView(plan, coverages, plan_benefits(ctx, plan_id=plan_id))


def plan_benefits(
    ctx: PlanJourneyContext, *, plan_id: int, active_only: bool = False
) -> Sequence[Row]:
    """The plan's benefits by code; ``active_only`` leaves out the withdrawn ones."""
    query = sa.select(*_BENEFIT).where(benefits_t.c.plan_id == plan_id)
    if active_only:
        query = query.where(benefits_t.c.active)
    return ctx.execute(query.order_by(benefits_t.c.code)).mappings().all()


def member_enrolments(ctx: PlanJourneyContext, *, user_id: str) -> Sequence[Row]:
    """The user's enrolments with their plan's code and name; the id is the memberPlanId."""
    return (
        ctx.execute(
            sa.select(
                member_plans_t.c.id,
                member_plans_t.c.plan_id,
                plans_t.c.code.label("plan_code"),
                plans_t.c.name.label("plan_name"),
                plans_t.c.type.label("plan_type"),
                member_plans_t.c.member_number,
                member_plans_t.c.start_date,
                member_plans_t.c.end_date,
                member_plans_t.c.status,
            )
            .join(plans_t, plans_t.c.id == member_plans_t.c.plan_id)
            .where(member_plans_t.c.user_id == user_id)
            .order_by(member_plans_t.c.start_date.desc(), member_plans_t.c.id)
        )
        .mappings()
        .all()
    )


def claims_by_status(ctx: PlanJourneyContext) -> dict[ClaimStatus, int]:
    """How many claims are in each status, every status present (zero when none)."""
    counts = dict.fromkeys(ClaimStatus, 0)
    for status, count in ctx.session.execute(
        sa.select(claims_t.c.status, sa.func.count()).group_by(claims_t.c.status)
    ):
        counts[ClaimStatus(status)] = int(count)
    return counts


def outbox_backlog(ctx: PlanJourneyContext) -> tuple[int, float]:
    """Outbox items (events, work items) not yet published, and the age in seconds of the
    oldest row holding them."""
    # The partial index ix_outbox_unpublished finds the waiting rows, however large the table.
    count, oldest_age_s = ctx.session.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(outbox_t.c.item_count), 0),
            sa.func.coalesce(
                sa.func.extract("epoch", sa.func.now() - sa.func.min(outbox_t.c.created_at)), 0
            ),
        ).where(outbox_t.c.published_at.is_(None))
    ).one()
    return int(count), float(oldest_age_s)
