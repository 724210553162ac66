"""Invariants of adjudication amounts that must hold for every plan, coverage and year."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.adjudication import (
    BenefitBreakdown,
    ClaimFacts,
    CoverageFacts,
    Decision,
    EnrolmentFacts,
    PlanFacts,
    YearToDate,
    adjudicate,
    compute_breakdown,
    review_breakdown,
    select_coverage,
    year_to_date_after,
)
from models.enums import DocumentType, MemberPlanStatus, ProcedureType
from models.errors import BusinessRuleViolation, ErrorCode

CENT = Decimal("0.01")
THRESHOLD = Decimal("100.00")
YEAR_START = date(2025, 1, 1)
ROW_DATES = [date(2024, 1, 1), date(2025, 1, 1), date(2025, 7, 1), date(2025, 12, 31)]


def money(low: str = "0", high: str = "1000000") -> st.SearchStrategy[Decimal]:
    cents = st.integers(int(Decimal(low) * 100), int(Decimal(high) * 100))
    return cents.map(lambda amount: Decimal(amount).scaleb(-2))


claimed_amounts = money("0.01", "1000000")
# Three places so that the plan's share needs rounding more often than whole percentages would.
coverage_percents = st.integers(0, 100_000).map(lambda p: Decimal(p).scaleb(-3))
plans = st.builds(
    PlanFacts,
    annual_deductible=money("0", "5000"),
    out_of_pocket_max=st.none() | money("0", "20000"),
)
coverage_rows = st.builds(
    CoverageFacts,
    coverage_id=st.integers(1, 8),
    procedure_type=st.sampled_from(ProcedureType),
    procedure_code=st.none() | st.sampled_from(["99213", "99214"]),
    coverage_percent=coverage_percents,
    copay=money("0", "500"),
    deductible_applies=st.booleans(),
    annual_limit=st.none() | money("0", "50000"),
    waiting_period_days=st.integers(0, 120),
    preauthorization_required=st.booleans(),
    # Few distinct dates, so that rows in force on the same day often tie.
    effective_from=st.sampled_from(ROW_DATES),
    effective_to=st.none() | st.sampled_from(ROW_DATES),
    active=st.booleans(),
)
# The coverage a claim is settled under in the amount tests: covered and in force.
coverages = coverage_rows.map(lambda row: replace(row, active=True))
years_to_date = st.builds(
    YearToDate,
    deductible_paid=money("0", "6000"),
    out_of_pocket_paid=money("0", "25000"),
    limit_used=st.dictionaries(st.integers(1, 8), money("0", "60000"), max_size=8),
)
claims = st.builds(
    ClaimFacts,
    procedure_type=st.sampled_from(ProcedureType),
    procedure_code=st.sampled_from(["99213", "99214"]),
    service_date=st.dates(YEAR_START, date(2025, 12, 31)),
    claimed_amount=claimed_amounts,
    document_types=st.frozensets(st.sampled_from(DocumentType)),
    is_duplicate=st.booleans(),
)
enrolments = st.builds(
    EnrolmentFacts,
    start_date=st.dates(date(2024, 6, 1), date(2025, 12, 31)),
    end_date=st.none() | st.dates(YEAR_START, date(2026, 12, 31)),
    status=st.sampled_from(MemberPlanStatus),
)


def amounts_of(breakdown: BenefitBreakdown) -> list[Decimal]:
    return [
        breakdown.submitted,
        breakdown.eligible,
        breakdown.deductible,
        breakdown.copay,
        breakdown.coinsurance,
        breakdown.benefit,
        breakdown.member_responsibility,
    ]


def assert_consistent(breakdown: BenefitBreakdown) -> None:
    for amount in amounts_of(breakdown):
        assert amount >= 0
        assert amount == amount.quantize(CENT)
    assert breakdown.benefit <= breakdown.eligible <= breakdown.submitted
    assert (
        breakdown.deductible + breakdown.copay + breakdown.coinsurance + breakdown.benefit
        == breakdown.eligible
    )
    assert breakdown.member_responsibility == breakdown.submitted - breakdown.benefit


@given(claimed_amounts, coverages, plans, years_to_date)
def test_breakdown_is_cents_never_negative_and_adds_up_to_eligible(
    claimed: Decimal, coverage: CoverageFacts, plan: PlanFacts, ytd: YearToDate
) -> None:
    assert_consistent(compute_breakdown(claimed, coverage, plan, ytd))


@given(claimed_amounts, coverages, plans, years_to_date)
def test_year_to_date_stays_within_deductible_maximum_and_annual_limit(
    claimed: Decimal, coverage: CoverageFacts, plan: PlanFacts, ytd: YearToDate
) -> None:
    breakdown = compute_breakdown(claimed, coverage, plan, ytd)

    after = year_to_date_after(ytd, breakdown, coverage.coverage_id)

    if ytd.deductible_paid <= plan.annual_deductible:
        assert after.deductible_paid <= plan.annual_deductible
    if plan.out_of_pocket_max is not None and ytd.out_of_pocket_paid <= plan.out_of_pocket_max:
        assert after.out_of_pocket_paid <= plan.out_of_pocket_max
    used_before = ytd.limit_used.get(coverage.coverage_id, Decimal(0))
    if coverage.annual_limit is not None and used_before <= coverage.annual_limit:
        assert after.limit_used[coverage.coverage_id] <= coverage.annual_limit


@given(claimed_amounts, coverages, plans, years_to_date, st.data())
def test_reviewer_amount_within_claim_is_the_benefit_and_keeps_the_books_straight(
    claimed: Decimal,
    coverage: CoverageFacts,
    plan: PlanFacts,
    ytd: YearToDate,
    data: st.DataObject,
) -> None:
    approved = data.draw(money("0", str(claimed)), label="approved")

    breakdown = review_breakdown(claimed, coverage, plan, ytd, approved)

    assert breakdown.benefit == approved
    assert_consistent(breakdown)
    after = year_to_date_after(ytd, breakdown, coverage.coverage_id)
    if plan.out_of_pocket_max is not None and ytd.out_of_pocket_paid <= plan.out_of_pocket_max:
        assert after.out_of_pocket_paid <= plan.out_of_pocket_max
    if ytd.deductible_paid <= plan.annual_deductible:
        assert after.deductible_paid <= plan.annual_deductible


@given(claimed_amounts, coverages, plans, years_to_date, money("0.01", "2000000"))
def test_reviewer_amount_above_claim_or_negative_is_refused(
    claimed: Decimal, coverage: CoverageFacts, plan: PlanFacts, ytd: YearToDate, off_by: Decimal
) -> None:
    for approved in (claimed + off_by, -off_by):
        with pytest.raises(BusinessRuleViolation) as refused:
            review_breakdown(claimed, coverage, plan, ytd, approved)
        assert refused.value.code is ErrorCode.INVALID_APPROVED_AMOUNT


@given(claimed_amounts, coverages, plans, years_to_date, coverage_percents)
def test_higher_coverage_percent_never_pays_less(
    claimed: Decimal,
    coverage: CoverageFacts,
    plan: PlanFacts,
    ytd: YearToDate,
    other_percent: Decimal,
) -> None:
    low, high = sorted([coverage.coverage_percent, other_percent])

    paid_at_low = compute_breakdown(claimed, replace(coverage, coverage_percent=low), plan, ytd)
    paid_at_high = compute_breakdown(claimed, replace(coverage, coverage_percent=high), plan, ytd)

    assert paid_at_low.benefit <= paid_at_high.benefit


@given(
    claims,
    enrolments,
    plans,
    st.lists(coverage_rows, max_size=5, unique_by=lambda row: row.coverage_id),
    years_to_date,
)
def test_adjudication_approves_only_within_threshold_and_pays_the_computed_benefit(
    claim: ClaimFacts,
    enrolment: EnrolmentFacts,
    plan: PlanFacts,
    rows: list[CoverageFacts],
    ytd: YearToDate,
) -> None:
    outcome = adjudicate(claim, enrolment, plan, rows, ytd, auto_approval_threshold=THRESHOLD)

    assert outcome.reason_codes
    assert (outcome.breakdown is None) == (outcome.coverage_id is None)
    if outcome.breakdown is not None:
        assert_consistent(outcome.breakdown)
    if outcome.decision is Decision.APPROVE:
        coverage = select_coverage(claim, rows)
        assert coverage is not None
        assert claim.claimed_amount <= THRESHOLD
        breakdown = compute_breakdown(claim.claimed_amount, coverage, plan, ytd)
        assert outcome.breakdown == breakdown
        assert breakdown.eligible > 0


@given(
    claims,
    st.lists(
        st.tuples(coverage_rows, st.booleans()),
        max_size=6,
        unique_by=lambda drawn: drawn[0].coverage_id,
    ),
    st.randoms(use_true_random=False),
)
def test_selected_coverage_applies_prefers_exact_code_and_ignores_row_order(
    claim: ClaimFacts, drawn: list[tuple[CoverageFacts, bool]], shuffler: random.Random
) -> None:
    # Inactive rows and rows of other procedure types never compete; left to chance, rows that
    # tie would hardly ever be drawn.
    rows = [
        replace(row, procedure_type=claim.procedure_type, active=True) if competing else row
        for row, competing in drawn
    ]
    selected = select_coverage(claim, rows)
    shuffled = list(rows)
    shuffler.shuffle(shuffled)

    assert select_coverage(claim, shuffled) == selected
    applicable = [row for row in rows if row.applies_to(claim)]
    assert (selected is None) == (not applicable)
    if selected is not None and any(row.procedure_code is not None for row in applicable):
        assert selected.procedure_code == claim.procedure_code


@given(
    plans,
    coverages,
    st.lists(st.tuples(claimed_amounts, st.none() | st.integers(0, 100)), min_size=1, max_size=25),
)
def test_a_year_of_claims_never_passes_deductible_maximum_or_limit(
    plan: PlanFacts,
    coverage: CoverageFacts,
    year: list[tuple[Decimal, int | None]],
) -> None:
    """Every claim either auto-approved or decided by a reviewer granting a share of eligible."""
    coverage = replace(
        coverage,
        effective_from=YEAR_START,
        effective_to=None,
        waiting_period_days=0,
        preauthorization_required=False,
    )
    enrolment = EnrolmentFacts(YEAR_START, None, MemberPlanStatus.ACTIVE)
    ytd = YearToDate()
    for day, (claimed, reviewer_percent) in enumerate(year):
        claim = ClaimFacts(
            procedure_type=coverage.procedure_type,
            procedure_code=coverage.procedure_code or "99213",
            service_date=YEAR_START + timedelta(days=day),
            claimed_amount=claimed,
            document_types=frozenset({DocumentType.RECEIPT}),
        )
        outcome = adjudicate(
            claim, enrolment, plan, [coverage], ytd, auto_approval_threshold=THRESHOLD
        )
        breakdown = outcome.breakdown
        assert breakdown is not None
        if outcome.decision is Decision.REFER:
            approved = (
                None
                if reviewer_percent is None
                else (breakdown.eligible * reviewer_percent / 100).quantize(
                    CENT, rounding=ROUND_HALF_UP
                )
            )
            breakdown = review_breakdown(claimed, coverage, plan, ytd, approved)
        elif outcome.decision is not Decision.APPROVE:
            continue

        ytd = year_to_date_after(ytd, breakdown, coverage.coverage_id)

        assert ytd.deductible_paid <= plan.annual_deductible
        if plan.out_of_pocket_max is not None:
            assert ytd.out_of_pocket_paid <= plan.out_of_pocket_max
        if coverage.annual_limit is not None:
            assert ytd.limit_used[coverage.coverage_id] <= coverage.annual_limit
