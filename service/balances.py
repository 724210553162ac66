"""What a member's plan still covers in a calendar year (DOMAIN.md section 7).

The figures are the ones adjudication locks and spends: the enrolment's year-to-date row in
``member_year_totals``, its ``coverage_usage`` rows, and the plan's and coverages' own terms,
read by the same loaders (service facts) and turned into "remaining" by the same pure
functions (models.adjudication) that decide a claim. A balance read after a decision
therefore includes it, and a balance as of a past decision is today's minus what the
approvals decided after it spent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from models import adjudication as rules
from models.enums import ClaimEvent, MemberPlanStatus
from models.errors import ErrorCode, NotFound
from models.tables import Claim, ClaimStatusHistory, MemberPlan, Plan
from service.facts import load_coverage_facts, load_plan_facts, load_year_to_date
from service.queries import plan_benefits
from storage.unit_of_work import PlanJourneyContext

member_plans_t = MemberPlan.__table__
plans_t = Plan.__table__
claims_t = Claim.__table__
history_t = ClaimStatusHistory.__table__
ZERO = Decimal("0.00")


@dataclass(frozen=True, slots=True)
class CoverageBalance:
    coverage: rules.CoverageFacts
    used: Decimal
    remaining: Decimal | None
    waiting_period_ends_on: date


@dataclass(frozen=True, slots=True)
class Balances:
    member_plan_id: int
    year: int
    currency: str
    plan: rules.PlanFacts
    year_to_date: rules.YearToDate
    coverages: tuple[CoverageBalance, ...]
    benefits: Sequence[sa.RowMapping]

    @property
    def deductible_remaining(self) -> Decimal:
        return rules.remaining_deductible(self.plan, self.year_to_date)

    @property
    def out_of_pocket_remaining(self) -> Decimal | None:
        return rules.remaining_out_of_pocket(self.plan, self.year_to_date)

    def coverage(self, coverage_id: int | None) -> CoverageBalance | None:
        return next((c for c in self.coverages if c.coverage.coverage_id == coverage_id), None)


@dataclass(frozen=True, slots=True)
class _Enrolment:
    facts: rules.EnrolmentFacts
    plan_id: int
    currency: str
    plan: rules.PlanFacts


def balances_of(
    *,
    member_plan_id: int,
    year: int,
    currency: str,
    plan: rules.PlanFacts,
    enrolment: rules.EnrolmentFacts,
    coverages: Sequence[rules.CoverageFacts],
    year_to_date: rules.YearToDate,
    benefits: Sequence[sa.RowMapping] = (),
) -> Balances:
    """Pure: the balances of one enrolment's year from the facts adjudication reads."""
    first, last = date(year, 1, 1), date(year, 12, 31)
    in_force = sorted(
        (
            coverage
            for coverage in coverages
            if coverage.active
            and coverage.effective_from <= last
            and (coverage.effective_to is None or coverage.effective_to >= first)
        ),
        key=lambda c: (c.procedure_type.value, c.procedure_code or "", c.coverage_id),
    )
    return Balances(
        member_plan_id=member_plan_id,
        year=year,
        currency=currency,
        plan=plan,
        year_to_date=year_to_date,
        coverages=tuple(
            CoverageBalance(
                coverage=coverage,
                used=year_to_date.limit_used.get(coverage.coverage_id, ZERO),
                remaining=rules.remaining_limit(coverage, year_to_date),
                waiting_period_ends_on=rules.waiting_period_ends_on(enrolment, coverage),
            )
            for coverage in in_force
        ),
        benefits=benefits,
    )


def plan_balances(
    ctx: PlanJourneyContext, *, member_plan_id: int, year: int, owner: str | None
) -> Balances:
    """The enrolment's balances for ``year``; ``owner`` narrows to one member's enrolments
    (another member's is answered as missing)."""
    enrolment = _enrolment(ctx, member_plan_id, owner)
    ytd = load_year_to_date(ctx, [(member_plan_id, year)])
    benefits = plan_benefits(ctx, plan_id=enrolment.plan_id, active_only=True)
    return balances_of(
        member_plan_id=member_plan_id,
        year=year,
        currency=enrolment.currency,
        plan=enrolment.plan,
        enrolment=enrolment.facts,
        coverages=load_coverage_facts(ctx, [enrolment.plan_id]).get(enrolment.plan_id, []),
        year_to_date=ytd.get((member_plan_id, year), rules.YearToDate()),
        benefits=benefits,
    )


def balances_after(ctx: PlanJourneyContext, *, claim: sa.RowMapping, decided_in: int) -> Balances:
    """The balances of the claim's enrolment and service year right after the decision that
    history row ``decided_in`` recorded: today's, less what every later approval spent."""
    year = claim["service_date"].year
    now = plan_balances(ctx, member_plan_id=claim["member_plan_id"], year=year, owner=None)
    later = ctx.execute(
        sa.select(history_t.c.details)
        .join(claims_t, claims_t.c.id == history_t.c.claim_id)
        .where(
            claims_t.c.member_plan_id == claim["member_plan_id"],
            sa.extract("year", claims_t.c.service_date) == year,
            history_t.c.event == ClaimEvent.APPROVE,
            history_t.c.id > decided_in,
        )
    ).scalars()
    return unspend(now, [details for details in later if details])


def unspend(balances: Balances, decisions: Sequence[dict[str, Any]]) -> Balances:
    """Pure: ``balances`` before the spends of ``decisions`` (stored approval details), the
    inverse of models.adjudication.year_to_date_after."""
    ytd = balances.year_to_date
    deductible, out_of_pocket = ytd.deductible_paid, ytd.out_of_pocket_paid
    used = dict(ytd.limit_used)
    for decision in decisions:
        breakdown = decision.get("breakdown") or {}
        eligible = Decimal(breakdown.get("eligible", "0"))
        deductible -= Decimal(breakdown.get("deductible", "0"))
        out_of_pocket -= eligible - Decimal(breakdown.get("benefit", "0"))
        coverage_id = decision.get("coverageId")
        if coverage_id is not None and coverage_id in used:
            used[coverage_id] -= eligible
    before = rules.YearToDate(max(deductible, ZERO), max(out_of_pocket, ZERO), used)
    return replace(
        balances,
        year_to_date=before,
        coverages=tuple(
            replace(
                c,
                used=before.limit_used.get(c.coverage.coverage_id, ZERO),
                remaining=rules.remaining_limit(c.coverage, before),
            )
            for c in balances.coverages
        ),
    )


def _enrolment(ctx: PlanJourneyContext, member_plan_id: int, owner: str | None) -> _Enrolment:
    query = (
        sa.select(
            member_plans_t.c.plan_id,
            member_plans_t.c.start_date,
            member_plans_t.c.end_date,
            member_plans_t.c.status,
            plans_t.c.currency,
        )
        .join(plans_t, plans_t.c.id == member_plans_t.c.plan_id)
        .where(member_plans_t.c.id == member_plan_id)
    )
    if owner is not None:
        query = query.where(member_plans_t.c.user_id == owner)
    row = ctx.execute(query).one_or_none()
    if row is None:
        raise NotFound(
            "No such enrolment", field="memberPlanId", code=ErrorCode.ENROLMENT_NOT_FOUND
        )
    return _Enrolment(
        facts=rules.EnrolmentFacts(row.start_date, row.end_date, MemberPlanStatus(row.status)),
        plan_id=row.plan_id,
        currency=row.currency,
        plan=load_plan_facts(ctx, [row.plan_id])[row.plan_id],
    )
