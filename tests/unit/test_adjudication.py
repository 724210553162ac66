"""Adjudication against hand-computed cases (DOMAIN.md section 4).

Unless a case says otherwise: plan SEED-HEALTH-001 (deductible 500, out-of-pocket max 5000),
a consultation covered at 80% with a 20.00 copay, the deductible applying, a 2000.00 annual
limit, and an enrolment active since 2025-01-01.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from models.adjudication import (
    AdjudicationResult,
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
from models.enums import DocumentType, MemberPlanStatus, ProcedureType, ReasonCode
from models.errors import BusinessRuleViolation, ErrorCode

D = Decimal
THRESHOLD = D("100.00")
SERVICE_DATE = date(2025, 6, 15)

PLAN = PlanFacts(annual_deductible=D("500.00"), out_of_pocket_max=D("5000.00"))
ENROLMENT = EnrolmentFacts(
    start_date=date(2025, 1, 1), end_date=None, status=MemberPlanStatus.ACTIVE
)
CONSULTATION = CoverageFacts(
    coverage_id=1,
    procedure_type=ProcedureType.CONSULTATION,
    procedure_code=None,
    coverage_percent=D("80"),
    copay=D("20.00"),
    deductible_applies=True,
    annual_limit=D("2000.00"),
    waiting_period_days=0,
    preauthorization_required=False,
    effective_from=date(2024, 1, 1),
    effective_to=None,
    active=True,
)
PREVENTIVE = replace(
    CONSULTATION,
    coverage_id=2,
    procedure_type=ProcedureType.PREVENTIVE,
    coverage_percent=D("100"),
    copay=D("0.00"),
    deductible_applies=False,
    annual_limit=None,
)
DEDUCTIBLE_MET = YearToDate(deductible_paid=D("500.00"), out_of_pocket_paid=D("500.00"))


def a_claim(amount: str = "80.00", **changes: object) -> ClaimFacts:
    claim = ClaimFacts(
        procedure_type=ProcedureType.CONSULTATION,
        procedure_code="99213",
        service_date=SERVICE_DATE,
        claimed_amount=D(amount),
        document_types=frozenset({DocumentType.RECEIPT}),
    )
    return replace(claim, **changes)  # type: ignore[arg-type]


def decide(
    claim: ClaimFacts,
    *,
    enrolment: EnrolmentFacts = ENROLMENT,
    coverages: tuple[CoverageFacts, ...] = (CONSULTATION, PREVENTIVE),
    ytd: YearToDate = DEDUCTIBLE_MET,
) -> AdjudicationResult:
    return adjudicate(claim, enrolment, PLAN, coverages, ytd, auto_approval_threshold=THRESHOLD)


def amounts(breakdown: BenefitBreakdown | None) -> tuple[str, ...]:
    """submitted, eligible, deductible, copay, coinsurance, benefit, member responsibility."""
    assert breakdown is not None
    return tuple(
        f"{amount:f}"
        for amount in (
            breakdown.submitted,
            breakdown.eligible,
            breakdown.deductible,
            breakdown.copay,
            breakdown.coinsurance,
            breakdown.benefit,
            breakdown.member_responsibility,
        )
    )


@pytest.mark.parametrize(
    ("claimed", "coverage", "plan", "ytd", "expected"),
    [
        pytest.param(
            # 50 of the deductible left: 300 - 50 - 20 copay = 230, plan pays 80% = 184.00,
            # member 50 + 20 + 46 = 116.00.
            "300.00",
            CONSULTATION,
            PLAN,
            YearToDate(deductible_paid=D("450.00")),
            ("300.00", "300.00", "50.00", "20.00", "46.00", "184.00", "116.00"),
            id="deductible-partly-used",
        ),
        pytest.param(
            # 20 of the deductible left takes 20 of the 30; the 20.00 copay can only take the
            # remaining 10 and nothing is left for the plan.
            "30.00",
            CONSULTATION,
            PLAN,
            YearToDate(deductible_paid=D("480.00")),
            ("30.00", "30.00", "20.00", "10.00", "0.00", "0.00", "30.00"),
            id="copay-larger-than-what-remains",
        ),
        pytest.param(
            # 50 of the 2000 limit left: eligible 50, minus 20 copay = 30, plan pays 24.00;
            # the 250 above the limit is the member's: 300 - 24 = 276.00.
            "300.00",
            CONSULTATION,
            PLAN,
            replace(DEDUCTIBLE_MET, limit_used={1: D("1950.00")}),
            ("300.00", "50.00", "0.00", "20.00", "6.00", "24.00", "276.00"),
            id="limit-nearly-exhausted",
        ),
        pytest.param(
            # Cost share would be 20 copay + 20% of 80 = 36, but only 10 remains below the
            # 5000 maximum; the member pays that 10 (as copay) and the plan the other 90.
            "100.00",
            CONSULTATION,
            PLAN,
            YearToDate(deductible_paid=D("500.00"), out_of_pocket_paid=D("4990.00")),
            ("100.00", "100.00", "0.00", "10.00", "0.00", "90.00", "10.00"),
            id="out-of-pocket-maximum-reached-mid-claim",
        ),
        pytest.param(
            # Maximum already reached: not even the deductible is charged any more.
            "100.00",
            CONSULTATION,
            PLAN,
            YearToDate(deductible_paid=D("0.00"), out_of_pocket_paid=D("5000.00")),
            ("100.00", "100.00", "0.00", "0.00", "0.00", "100.00", "0.00"),
            id="out-of-pocket-maximum-already-reached",
        ),
        pytest.param(
            # Preventive care: no deductible even though none of it is paid, no copay, 100%.
            "80.00",
            PREVENTIVE,
            PLAN,
            YearToDate(),
            ("80.00", "80.00", "0.00", "0.00", "0.00", "80.00", "0.00"),
            id="preventive-at-100-percent-without-deductible",
        ),
        pytest.param(
            # 70% of 12.35 is 8.645, rounded half up to 8.65.
            "12.35",
            replace(CONSULTATION, coverage_percent=D("70"), copay=D("0.00")),
            PLAN,
            DEDUCTIBLE_MET,
            ("12.35", "12.35", "0.00", "0.00", "3.70", "8.65", "3.70"),
            id="plan-share-rounded-half-up",
        ),
        pytest.param(
            # No out-of-pocket maximum: the member's 20% share is never capped.
            "100.00",
            CONSULTATION,
            PlanFacts(annual_deductible=D("0.00"), out_of_pocket_max=None),
            YearToDate(out_of_pocket_paid=D("99999.00")),
            ("100.00", "100.00", "0.00", "20.00", "16.00", "64.00", "36.00"),
            id="no-out-of-pocket-maximum",
        ),
    ],
)
def test_breakdown_follows_deductible_copay_coinsurance_and_caps(
    claimed: str,
    coverage: CoverageFacts,
    plan: PlanFacts,
    ytd: YearToDate,
    expected: tuple[str, ...],
) -> None:
    assert amounts(compute_breakdown(D(claimed), coverage, plan, ytd)) == expected


@pytest.mark.parametrize(
    ("claim", "changes", "decision", "reasons"),
    [
        pytest.param(
            # 2025-01-01 + 90 days = 2025-04-01; the day before is still waiting.
            a_claim(service_date=date(2025, 3, 31)),
            {"coverages": (replace(CONSULTATION, waiting_period_days=90),)},
            Decision.REJECT,
            (ReasonCode.WAITING_PERIOD,),
            id="waiting-period-not-served",
        ),
        pytest.param(
            a_claim(service_date=date(2025, 4, 1)),
            {"coverages": (replace(CONSULTATION, waiting_period_days=90),)},
            Decision.APPROVE,
            (ReasonCode.WITHIN_AUTO_APPROVAL, ReasonCode.PARTIAL_APPROVAL),
            id="waiting-period-served-on-its-last-day",
        ),
        pytest.param(
            a_claim(service_date=date(2025, 6, 1)),
            {"enrolment": replace(ENROLMENT, end_date=date(2025, 5, 31))},
            Decision.REJECT,
            (ReasonCode.EXPIRED_COVERAGE,),
            id="enrolment-ended-before-service-date",
        ),
        pytest.param(
            a_claim(service_date=date(2024, 12, 31)),
            {},
            Decision.REJECT,
            (ReasonCode.EXPIRED_COVERAGE,),
            id="service-before-enrolment-started",
        ),
        pytest.param(
            a_claim(),
            {"enrolment": replace(ENROLMENT, status=MemberPlanStatus.SUSPENDED)},
            Decision.REJECT,
            (ReasonCode.EXPIRED_COVERAGE,),
            id="enrolment-suspended",
        ),
        pytest.param(
            a_claim(procedure_type=ProcedureType.SURGERY),
            {},
            Decision.REJECT,
            (ReasonCode.NOT_COVERED,),
            id="procedure-not-covered",
        ),
        pytest.param(
            a_claim(),
            {"coverages": (replace(CONSULTATION, effective_to=date(2025, 6, 14)),)},
            Decision.REJECT,
            (ReasonCode.NOT_COVERED,),
            id="coverage-row-ended-before-service-date",
        ),
        pytest.param(
            a_claim(),
            {"coverages": (replace(CONSULTATION, active=False),)},
            Decision.REJECT,
            (ReasonCode.NOT_COVERED,),
            id="coverage-row-inactive",
        ),
        pytest.param(
            a_claim(),
            {"coverages": (replace(CONSULTATION, preauthorization_required=True),)},
            Decision.REJECT,
            (ReasonCode.MISSING_PREAUTHORIZATION,),
            id="missing-preauthorization",
        ),
        pytest.param(
            a_claim(
                document_types=frozenset({DocumentType.RECEIPT, DocumentType.AUTHORIZATION_FORM})
            ),
            {"coverages": (replace(CONSULTATION, preauthorization_required=True),)},
            Decision.APPROVE,
            (ReasonCode.WITHIN_AUTO_APPROVAL, ReasonCode.PARTIAL_APPROVAL),
            id="preauthorization-present",
        ),
        pytest.param(
            a_claim(is_duplicate=True),
            {},
            Decision.REJECT,
            (ReasonCode.DUPLICATE_CLAIM,),
            id="duplicate",
        ),
        pytest.param(
            a_claim(document_types=frozenset({DocumentType.PRESCRIPTION})),
            {},
            Decision.REQUEST_INFO,
            (ReasonCode.INSUFFICIENT_DOCUMENTATION,),
            id="missing-receipt-requests-info",
        ),
        pytest.param(
            a_claim(document_types=frozenset({DocumentType.INVOICE})),
            {},
            Decision.APPROVE,
            (ReasonCode.WITHIN_AUTO_APPROVAL, ReasonCode.PARTIAL_APPROVAL),
            id="invoice-stands-in-for-receipt",
        ),
        pytest.param(
            a_claim(),
            {"ytd": replace(DEDUCTIBLE_MET, limit_used={1: D("2000.00")})},
            Decision.REJECT,
            (ReasonCode.EXCEEDS_COVERAGE_LIMIT,),
            id="annual-limit-exhausted",
        ),
        pytest.param(
            a_claim("100.01"),
            {},
            Decision.REFER,
            (ReasonCode.ABOVE_AUTO_APPROVAL_THRESHOLD,),
            id="above-threshold-refers-to-a-reviewer",
        ),
        pytest.param(
            a_claim("100.00"),
            {},
            Decision.APPROVE,
            (ReasonCode.WITHIN_AUTO_APPROVAL, ReasonCode.PARTIAL_APPROVAL),
            id="at-threshold-approves",
        ),
        pytest.param(
            a_claim(procedure_type=ProcedureType.PREVENTIVE),
            {},
            Decision.APPROVE,
            (ReasonCode.WITHIN_AUTO_APPROVAL,),
            id="preventive-paid-in-full",
        ),
        pytest.param(
            a_claim(),
            {"ytd": YearToDate(deductible_paid=D("450.00"))},
            Decision.APPROVE,
            (
                ReasonCode.WITHIN_AUTO_APPROVAL,
                ReasonCode.PARTIAL_APPROVAL,
                ReasonCode.DEDUCTIBLE_APPLIED,
            ),
            id="deductible-taken-is-explained",
        ),
        pytest.param(
            a_claim(),
            {"ytd": replace(DEDUCTIBLE_MET, out_of_pocket_paid=D("4990.00"))},
            Decision.APPROVE,
            (
                ReasonCode.WITHIN_AUTO_APPROVAL,
                ReasonCode.PARTIAL_APPROVAL,
                ReasonCode.OUT_OF_POCKET_MAXIMUM_REACHED,
            ),
            id="out-of-pocket-cap-is-explained",
        ),
        pytest.param(
            a_claim(),
            {"ytd": replace(DEDUCTIBLE_MET, limit_used={1: D("1950.00")})},
            Decision.APPROVE,
            (
                ReasonCode.WITHIN_AUTO_APPROVAL,
                ReasonCode.PARTIAL_APPROVAL,
                ReasonCode.EXCEEDS_COVERAGE_LIMIT,
            ),
            id="limit-capping-the-eligible-amount-is-explained",
        ),
        pytest.param(
            a_claim(
                "500.00",
                service_date=date(2025, 1, 15),
                is_duplicate=True,
                document_types=frozenset(),
            ),
            {"coverages": (replace(CONSULTATION, waiting_period_days=30),)},
            Decision.REJECT,
            (ReasonCode.WAITING_PERIOD,),
            id="first-failing-rule-decides",
        ),
    ],
)
def test_adjudication_checks_rules_in_order(
    claim: ClaimFacts,
    changes: dict[str, object],
    decision: Decision,
    reasons: tuple[ReasonCode, ...],
) -> None:
    outcome = decide(claim, **changes)  # type: ignore[arg-type]

    assert (outcome.decision, outcome.reason_codes) == (decision, reasons)


def test_no_breakdown_when_no_coverage_row_applies() -> None:
    outcome = decide(a_claim(procedure_type=ProcedureType.SURGERY))

    assert (outcome.breakdown, outcome.coverage_id) == (None, None)


def test_rejection_under_a_coverage_row_leaves_the_whole_claim_to_the_member() -> None:
    outcome = decide(a_claim(is_duplicate=True))

    assert outcome.coverage_id == 1
    assert amounts(outcome.breakdown) == (
        "80.00", "0.00", "0.00", "0.00", "0.00", "0.00", "80.00"
    )  # fmt: skip


def test_referral_carries_the_suggested_breakdown() -> None:
    outcome = decide(a_claim("300.00"))

    # Deductible met: 300 - 20 copay = 280, plan pays 80% = 224.00.
    assert outcome.decision is Decision.REFER
    assert amounts(outcome.breakdown) == (
        "300.00", "300.00", "0.00", "20.00", "56.00", "224.00", "76.00"
    )  # fmt: skip


def test_auto_approval_pays_the_computed_benefit() -> None:
    outcome = decide(a_claim("80.00"))

    # 80 - 20 copay = 60, plan pays 80% = 48.00.
    assert outcome.coverage_id == 1
    assert amounts(outcome.breakdown) == (
        "80.00", "80.00", "0.00", "20.00", "12.00", "48.00", "32.00"
    )  # fmt: skip


def test_exact_procedure_code_wins_over_type_wide_row_in_any_order() -> None:
    exact = replace(CONSULTATION, coverage_id=7, procedure_code="99213", coverage_percent=D("90"))
    other_code = replace(CONSULTATION, coverage_id=8, procedure_code="99214")

    for rows in [(CONSULTATION, exact, other_code), (other_code, exact, CONSULTATION)]:
        assert select_coverage(a_claim(), rows) == exact


def test_type_wide_row_applies_when_no_exact_row_does() -> None:
    other_code = replace(CONSULTATION, coverage_id=8, procedure_code="99214")

    assert select_coverage(a_claim(), (other_code, CONSULTATION)) == CONSULTATION
    assert select_coverage(a_claim(), (other_code,)) is None


def test_newest_row_supersedes_and_equal_rows_resolve_by_id_in_any_order() -> None:
    older = replace(CONSULTATION, coverage_id=3, effective_from=date(2024, 1, 1))
    newer = replace(CONSULTATION, coverage_id=5, effective_from=date(2025, 1, 1))
    newer_twin = replace(newer, coverage_id=4)

    assert select_coverage(a_claim(), (newer, older)) == newer
    assert select_coverage(a_claim(), (older, newer, newer_twin)) == newer_twin
    assert select_coverage(a_claim(), (newer_twin, newer, older)) == newer_twin


@pytest.mark.parametrize(
    ("approved", "expected"),
    [
        pytest.param(
            None,
            ("300.00", "300.00", "0.00", "20.00", "56.00", "224.00", "76.00"),
            id="no-amount-takes-the-computed-benefit",
        ),
        pytest.param(
            # The rules give 224.00; the reviewer grants 150.00. The member's cost share under
            # the rules (76.00) stays, the 74.00 denied is no longer eligible: 76 + 150 = 226.
            "150.00",
            ("300.00", "226.00", "0.00", "20.00", "56.00", "150.00", "150.00"),
            id="partial-approval",
        ),
        pytest.param(
            # Granting 250.00 leaves 50.00 of the eligible 300.00 to the member: copay 20,
            # coinsurance 30.
            "250.00",
            ("300.00", "300.00", "0.00", "20.00", "30.00", "250.00", "50.00"),
            id="above-computed-benefit-waives-cost-share",
        ),
        pytest.param(
            "300.00",
            ("300.00", "300.00", "0.00", "0.00", "0.00", "300.00", "0.00"),
            id="approved-in-full",
        ),
        pytest.param(
            "0.00",
            ("300.00", "76.00", "0.00", "20.00", "56.00", "0.00", "300.00"),
            id="approved-at-zero",
        ),
    ],
)
def test_reviewer_amount_becomes_the_benefit(
    approved: str | None, expected: tuple[str, ...]
) -> None:
    amount = None if approved is None else D(approved)

    breakdown = review_breakdown(D("300.00"), CONSULTATION, PLAN, DEDUCTIBLE_MET, amount)

    assert amounts(breakdown) == expected


@pytest.mark.parametrize(
    "approved",
    [
        pytest.param("300.01", id="above-submitted"),
        pytest.param("-0.01", id="negative"),
        pytest.param("10.005", id="fractions-of-a-cent"),
        pytest.param("NaN", id="not-a-number"),
        pytest.param("Infinity", id="infinite"),
    ],
)
def test_reviewer_amount_outside_zero_to_submitted_is_refused(approved: str) -> None:
    with pytest.raises(BusinessRuleViolation) as refused:
        review_breakdown(D("300.00"), CONSULTATION, PLAN, DEDUCTIBLE_MET, D(approved))

    assert refused.value.code is ErrorCode.INVALID_APPROVED_AMOUNT
    assert refused.value.field == "approvedAmount"


def test_year_to_date_counts_deductible_cost_share_and_eligible_amount() -> None:
    ytd = YearToDate(deductible_paid=D("450.00"), limit_used={1: D("100.00"), 2: D("5.00")})
    breakdown = compute_breakdown(D("300.00"), CONSULTATION, PLAN, ytd)

    after = year_to_date_after(ytd, breakdown, 1)

    # Deductible 50.00 taken; member cost share 116.00; 300.00 counted against coverage 1.
    assert after == YearToDate(
        deductible_paid=D("500.00"),
        out_of_pocket_paid=D("116.00"),
        limit_used={1: D("400.00"), 2: D("5.00")},
    )
    assert ytd.limit_used == {1: D("100.00"), 2: D("5.00")}


def test_json_uses_camel_case_and_two_decimal_amounts() -> None:
    outcome = decide(a_claim("80"), ytd=YearToDate(deductible_paid=D("450.00")))

    assert outcome.as_json() == {
        "decision": "approve",
        "reasonCodes": ["WITHIN_AUTO_APPROVAL", "PARTIAL_APPROVAL", "DEDUCTIBLE_APPLIED"],
        "breakdown": {
            # 50 deductible, 20 copay, 80% of the remaining 10 = 8.00.
            "submitted": "80.00",
            "eligible": "80.00",
            "deductible": "50.00",
            "copay": "20.00",
            "coveragePercent": "80",
            "benefit": "8.00",
            "memberResponsibility": "72.00",
        },
        "coverageId": 1,
    }
