"""Adjudication facts: what deciding a batch of claims needs, loaded set-based, totals locked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from models import adjudication as rules
from models.base import table_of
from models.enums import DocumentType, MemberPlanStatus, ProcedureType
from models.errors import BusinessRuleViolation, ErrorCode
from models.tables import Coverage, CoverageUsage, Document, MemberPlan, MemberYearTotals, Plan
from service import sql
from service.changes import ClaimState, claims_t
from storage.bulk import in_array, insert_rows, pipelined, select_by_keys
from storage.unit_of_work import PlanJourneyContext

documents_t = table_of(Document)
totals_t = table_of(MemberYearTotals)
usage_t = table_of(CoverageUsage)
_YEAR_KEY = ("member_plan_id", "year")


@dataclass(slots=True)
class AdjudicationFacts:
    """What adjudication needs for a batch of claims, loaded set-based, totals locked."""

    enrolments: dict[int, rules.EnrolmentFacts]
    plans: dict[int, rules.PlanFacts]
    coverages: dict[int, list[rules.CoverageFacts]]
    documents: dict[int, frozenset[DocumentType]]
    duplicates: set[int]
    totals: dict[tuple[int, int], list[Decimal]]  # (member_plan, year) -> [deductible, oop]
    usage: dict[tuple[int, int], dict[int, Decimal]]  # (member_plan, year) -> coverage -> used
    dirty_totals: set[tuple[int, int]] = field(default_factory=set)
    dirty_usage: set[tuple[int, int, int]] = field(default_factory=set)

    def claim_facts(self, claim: ClaimState) -> rules.ClaimFacts:
        return rules.ClaimFacts(
            procedure_type=claim.procedure_type,
            procedure_code=claim.procedure_code,
            service_date=claim.service_date,
            claimed_amount=claim.claimed_amount,
            document_types=self.documents.get(claim.id, frozenset()),
            is_duplicate=claim.id in self.duplicates,
        )

    def year_to_date(self, claim: ClaimState) -> rules.YearToDate:
        return year_to_date_of(
            self.totals, self.usage, (claim.member_plan_id, claim.service_date.year)
        )

    def coverage_for(self, claim: ClaimState) -> rules.CoverageFacts | None:
        return rules.select_coverage(self.claim_facts(claim), self.coverages.get(claim.plan_id, []))

    def coverage_of(self, claim: ClaimState) -> int | None:
        coverage = self.coverage_for(claim)
        return None if coverage is None else coverage.coverage_id

    def adjudicate(self, claim: ClaimState, threshold: Decimal) -> rules.AdjudicationResult:
        return rules.adjudicate(
            self.claim_facts(claim),
            self.enrolments[claim.member_plan_id],
            self.plans[claim.plan_id],
            self.coverages.get(claim.plan_id, []),
            self.year_to_date(claim),
            auto_approval_threshold=threshold,
        )

    def review_breakdown(
        self, claim: ClaimState, approved: Decimal | None
    ) -> rules.BenefitBreakdown:
        coverage = self.coverage_for(claim)
        if coverage is None:
            if approved is None:
                raise BusinessRuleViolation(
                    "The plan does not cover this procedure: enter the approved amount",
                    field="approvedAmount",
                    code=ErrorCode.INVALID_APPROVED_AMOUNT,
                )
            return _uncovered_breakdown(claim.claimed_amount, approved)
        return rules.review_breakdown(
            claim.claimed_amount,
            coverage,
            self.plans[claim.plan_id],
            self.year_to_date(claim),
            approved,
        )

    def record_approval(
        self, claim: ClaimState, breakdown: rules.BenefitBreakdown, decision: dict[str, Any]
    ) -> None:
        """Set the approved amounts on the claim and spend them from the year-to-date totals."""
        claim.approved_amount = breakdown.benefit
        claim.member_responsibility = breakdown.member_responsibility
        claim.adjudication = decision
        # The decision names the coverage it was settled under (None: the plan covers none).
        self.spend(claim, breakdown, decision["coverageId"])

    def spend(
        self, claim: ClaimState, breakdown: rules.BenefitBreakdown, coverage_id: int | None
    ) -> None:
        year = claim.service_date.year
        after = rules.year_to_date_after(self.year_to_date(claim), breakdown, coverage_id or 0)
        key = (claim.member_plan_id, year)
        self.totals[key] = [after.deductible_paid, after.out_of_pocket_paid]
        self.dirty_totals.add(key)
        if coverage_id is not None:
            self.usage.setdefault(key, {})[coverage_id] = after.limit_used.get(
                coverage_id, Decimal(0)
            )
            self.dirty_usage.add((claim.member_plan_id, coverage_id, year))

    def write_totals(self, ctx: PlanJourneyContext) -> None:
        insert_rows(
            ctx,
            totals_t,
            [
                {
                    "member_plan_id": member_plan,
                    "year": year,
                    "deductible_paid": self.totals[(member_plan, year)][0],
                    "out_of_pocket_paid": self.totals[(member_plan, year)][1],
                }
                for member_plan, year in sorted(self.dirty_totals)
            ],
            upsert_on=_YEAR_KEY,
        )
        insert_rows(
            ctx,
            usage_t,
            [
                {
                    "member_plan_id": member_plan,
                    "coverage_id": coverage,
                    "year": year,
                    "limit_used": self.usage[(member_plan, year)][coverage],
                }
                for member_plan, coverage, year in sorted(self.dirty_usage)
            ],
            upsert_on=("member_plan_id", "coverage_id", "year"),
        )


def _uncovered_breakdown(claimed: Decimal, approved: Decimal) -> rules.BenefitBreakdown:
    if approved > claimed:
        raise BusinessRuleViolation(
            "The approved amount cannot exceed the claimed amount",
            field="approvedAmount",
            code=ErrorCode.INVALID_APPROVED_AMOUNT,
        )
    return rules.BenefitBreakdown(
        submitted=claimed,
        eligible=approved,
        deductible=Decimal("0.00"),
        copay=Decimal("0.00"),
        coverage_percent=Decimal(100),
        benefit=approved,
        member_responsibility=claimed - approved,
    )


def coverage_facts(coverage: Coverage) -> rules.CoverageFacts:
    return rules.CoverageFacts(
        coverage_id=coverage.id,
        procedure_type=ProcedureType(coverage.procedure_type),
        procedure_code=coverage.procedure_code,
        coverage_percent=coverage.coverage_percent,
        copay=coverage.copay,
        deductible_applies=coverage.deductible_applies,
        annual_limit=coverage.annual_limit,
        waiting_period_days=coverage.waiting_period_days,
        preauthorization_required=coverage.preauthorization_required,
        effective_from=coverage.effective_from,
        effective_to=coverage.effective_to,
        active=coverage.active,
    )


def load_adjudication_facts(
    ctx: PlanJourneyContext,
    claims: Sequence[ClaimState],
    *,
    lock_totals: bool,
    unsaved_documents: Mapping[int, frozenset[DocumentType]] | None = None,
    known_enrolments: Mapping[int, rules.EnrolmentFacts] | None = None,
) -> AdjudicationFacts:
    """Load what adjudicating ``claims`` needs. ``unsaved_documents`` is for claims not stored
    yet: their documents come from the submission, and the unique index rules out duplicates.
    ``known_enrolments`` are member plans the caller read in this transaction (by id)."""
    plan_ids = sorted({c.plan_id for c in claims})
    wanted = {c.member_plan_id for c in claims}
    known = known_enrolments or {}
    enrolments = {id_: known[id_] for id_ in wanted if id_ in known}
    enrolments.update(_enrolment_facts(ctx, sorted(wanted - enrolments.keys())))
    plans = load_plan_facts(ctx, plan_ids)
    coverages = load_coverage_facts(ctx, plan_ids)
    if unsaved_documents is not None:
        documents = {claim.id: unsaved_documents.get(claim.id, frozenset()) for claim in claims}
        duplicates: set[int] = set()
    else:
        documents, duplicates = _stored_documents_and_duplicates(ctx, [c.id for c in claims])
    keys = sorted({(c.member_plan_id, c.service_date.year) for c in claims})
    totals, usage = load_year_to_date_rows(ctx, keys, lock_totals=lock_totals)
    return AdjudicationFacts(
        enrolments=enrolments,
        plans=plans,
        coverages=coverages,
        documents=documents,
        duplicates=duplicates,
        totals=totals,
        usage=usage,
    )


def _enrolment_facts(
    ctx: PlanJourneyContext, member_plan_ids: list[int]
) -> dict[int, rules.EnrolmentFacts]:
    if not member_plan_ids:
        return {}
    return {
        row.id: rules.EnrolmentFacts(row.start_date, row.end_date, MemberPlanStatus(row.status))
        for row in ctx.execute(
            sa.select(
                MemberPlan.id, MemberPlan.start_date, MemberPlan.end_date, MemberPlan.status
            ).where(in_array(MemberPlan.id, member_plan_ids))
        )
    }


def load_plan_facts(ctx: PlanJourneyContext, plan_ids: Sequence[int]) -> dict[int, rules.PlanFacts]:
    return {
        row.id: rules.PlanFacts(row.annual_deductible, row.out_of_pocket_max)
        for row in ctx.execute(
            sa.select(Plan.id, Plan.annual_deductible, Plan.out_of_pocket_max).where(
                in_array(Plan.id, plan_ids)
            )
        )
    }


def load_coverage_facts(
    ctx: PlanJourneyContext, plan_ids: Sequence[int]
) -> dict[int, list[rules.CoverageFacts]]:
    coverages: dict[int, list[rules.CoverageFacts]] = {}
    for coverage in ctx.session.scalars(
        sa.select(Coverage).where(in_array(Coverage.plan_id, plan_ids))
    ):
        coverages.setdefault(coverage.plan_id, []).append(coverage_facts(coverage))
    return coverages


YearKey = tuple[int, int]  # (member_plan_id, year)


def load_year_to_date(
    ctx: PlanJourneyContext, keys: Sequence[YearKey], *, lock_totals: bool = False
) -> dict[YearKey, rules.YearToDate]:
    """The year-to-date figures of each (member plan, year), as adjudication reads them; the
    read side (service.balances) uses this too, without locks."""
    totals, usage = load_year_to_date_rows(ctx, keys, lock_totals=lock_totals)
    return {key: year_to_date_of(totals, usage, key) for key in keys}


def year_to_date_of(
    totals: Mapping[YearKey, list[Decimal]],
    usage: Mapping[YearKey, Mapping[int, Decimal]],
    key: YearKey,
) -> rules.YearToDate:
    deductible, oop = totals.get(key, [Decimal(0), Decimal(0)])
    return rules.YearToDate(deductible, oop, dict(usage.get(key, {})))


def load_year_to_date_rows(
    ctx: PlanJourneyContext, keys: Sequence[YearKey], *, lock_totals: bool
) -> tuple[dict[YearKey, list[Decimal]], dict[YearKey, dict[int, Decimal]]]:
    """Totals ([deductible, out of pocket]) and limit usage per coverage; with ``lock_totals``
    the totals rows are created when missing and locked."""
    if lock_totals:
        # Year-to-date rows are locked after the claims (always in that order, sorted), so
        # two claims of one member decided at once cannot both spend the last of a limit.
        insert_rows(
            ctx,
            totals_t,
            [{"member_plan_id": mp, "year": year} for mp, year in keys],
            on_conflict_do_nothing=True,
        )
    with pipelined(ctx):  # the two reads share one round trip
        totals_rows = select_by_keys(
            ctx,
            totals_t,
            keys,
            _YEAR_KEY,
            ("member_plan_id", "year", "deductible_paid", "out_of_pocket_paid"),
            lock=lock_totals,
        )
        usage_rows = select_by_keys(
            ctx, usage_t, keys, _YEAR_KEY, ("member_plan_id", "coverage_id", "year", "limit_used")
        )
    totals = {
        (row.member_plan_id, row.year): [row.deductible_paid, row.out_of_pocket_paid]
        for row in totals_rows()
    }
    usage: dict[tuple[int, int], dict[int, Decimal]] = {}
    for row in usage_rows():
        usage.setdefault((row.member_plan_id, row.year), {})[row.coverage_id] = row.limit_used
    return totals, usage


def _stored_documents_and_duplicates(
    ctx: PlanJourneyContext, claim_ids: list[int]
) -> tuple[dict[int, frozenset[DocumentType]], set[int]]:
    types: dict[int, set[DocumentType]] = {}
    for row in ctx.execute(
        sa.select(documents_t.c.claim_id, documents_t.c.type).where(
            in_array(documents_t.c.claim_id, claim_ids)
        )
    ):
        types.setdefault(row.claim_id, set()).add(DocumentType(row.type))
    other = claims_t.alias("other")
    duplicates = set(
        ctx.session.scalars(
            sa.select(claims_t.c.id)
            .join(
                other,
                sa.and_(
                    other.c.user_id == claims_t.c.user_id,
                    other.c.service_date == claims_t.c.service_date,
                    other.c.procedure_code == claims_t.c.procedure_code,
                    sa.func.lower(other.c.provider_name) == sa.func.lower(claims_t.c.provider_name),
                    other.c.id < claims_t.c.id,
                    sql.OTHER_CLAIM_IS_LIVE,
                ),
            )
            .where(in_array(claims_t.c.id, claim_ids))
        )
    )
    return {key: frozenset(value) for key, value in types.items()}, duplicates
