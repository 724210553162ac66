"""Deciding a claim under review against the member's coverage (DOMAIN.md section 4).

Pure: the worker loads the facts, this module decides, the worker writes the outcome. Amounts
follow FHIR's adjudication categories (submitted, eligible, deductible, copay, eligible percent,
benefit) and are Decimal cents throughout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum

from models.enums import DocumentType, MemberPlanStatus, ProcedureType, ReasonCode
from models.errors import BusinessRuleViolation, ErrorCode
from models.money import cents, money_text

ZERO = Decimal("0.00")
HUNDRED = Decimal(100)

PROOF_OF_PAYMENT = frozenset({DocumentType.RECEIPT, DocumentType.INVOICE})


@dataclass(frozen=True, slots=True)
class ClaimFacts:
    procedure_type: ProcedureType
    procedure_code: str
    service_date: date
    claimed_amount: Decimal
    document_types: frozenset[DocumentType]
    is_duplicate: bool = False


@dataclass(frozen=True, slots=True)
class EnrolmentFacts:
    start_date: date
    end_date: date | None
    status: MemberPlanStatus

    def covers(self, service_date: date) -> bool:
        return (
            self.status is MemberPlanStatus.ACTIVE
            and self.start_date <= service_date
            and (self.end_date is None or service_date <= self.end_date)
        )


@dataclass(frozen=True, slots=True)
class PlanFacts:
    annual_deductible: Decimal
    out_of_pocket_max: Decimal | None


@dataclass(frozen=True, slots=True)
class CoverageFacts:
    coverage_id: int
    procedure_type: ProcedureType
    procedure_code: str | None
    coverage_percent: Decimal
    copay: Decimal
    deductible_applies: bool
    annual_limit: Decimal | None
    waiting_period_days: int
    preauthorization_required: bool
    effective_from: date
    effective_to: date | None
    active: bool

    def applies_to(self, claim: ClaimFacts) -> bool:
        return (
            self.active
            and self.procedure_type == claim.procedure_type
            and self.procedure_code in (None, claim.procedure_code)
            and self.effective_from <= claim.service_date
            and (self.effective_to is None or claim.service_date <= self.effective_to)
        )


@dataclass(frozen=True, slots=True)
class YearToDate:
    deductible_paid: Decimal = Decimal("0")
    out_of_pocket_paid: Decimal = Decimal("0")
    limit_used: Mapping[int, Decimal] = field(default_factory=dict)


class Decision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    REQUEST_INFO = "request_info"
    REFER = "refer"


@dataclass(frozen=True, slots=True)
class BenefitBreakdown:
    submitted: Decimal
    eligible: Decimal
    deductible: Decimal
    copay: Decimal
    coverage_percent: Decimal
    benefit: Decimal
    member_responsibility: Decimal

    @property
    def coinsurance(self) -> Decimal:
        """The member's share of what is left after deductible and copay."""
        return self.eligible - self.deductible - self.copay - self.benefit

    def as_json(self) -> dict[str, str]:
        return {
            "submitted": money_text(self.submitted),
            "eligible": money_text(self.eligible),
            "deductible": money_text(self.deductible),
            "copay": money_text(self.copay),
            "coveragePercent": f"{self.coverage_percent:f}",
            "benefit": money_text(self.benefit),
            "memberResponsibility": money_text(self.member_responsibility),
        }


@dataclass(frozen=True, slots=True)
class AdjudicationResult:
    decision: Decision
    # The first code is the decision's reason; any others explain why the amounts differ.
    reason_codes: tuple[ReasonCode, ...]
    breakdown: BenefitBreakdown | None
    coverage_id: int | None

    def as_json(self) -> dict[str, object]:
        return {
            "decision": self.decision.value,
            "reasonCodes": [code.value for code in self.reason_codes],
            "breakdown": None if self.breakdown is None else self.breakdown.as_json(),
            "coverageId": self.coverage_id,
        }


def select_coverage(claim: ClaimFacts, coverages: Sequence[CoverageFacts]) -> CoverageFacts | None:
    candidates = [coverage for coverage in coverages if coverage.applies_to(claim)]
    if not candidates:
        return None
    # Exact code beats type-wide; among equals the newest row supersedes, and the id only makes
    # the choice independent of the order the rows were loaded in.
    return max(
        candidates,
        key=lambda c: (c.procedure_code is not None, c.effective_from, -c.coverage_id),
    )


def compute_breakdown(
    claim_amount: Decimal,
    coverage: CoverageFacts,
    plan: PlanFacts,
    ytd: YearToDate,
    *,
    approved_amount: Decimal | None = None,
) -> BenefitBreakdown:
    breakdown, _ = _settle(claim_amount, coverage, plan, ytd)
    if approved_amount is None:
        return breakdown
    return _apply_reviewer_amount(breakdown, _checked_approved_amount(approved_amount, breakdown))


def review_breakdown(
    claimed_amount: Decimal,
    coverage: CoverageFacts,
    plan: PlanFacts,
    ytd: YearToDate,
    approved_amount: Decimal | None,
) -> BenefitBreakdown:
    return compute_breakdown(claimed_amount, coverage, plan, ytd, approved_amount=approved_amount)


def adjudicate(
    claim: ClaimFacts,
    enrolment: EnrolmentFacts,
    plan: PlanFacts,
    coverages: Sequence[CoverageFacts],
    ytd: YearToDate,
    *,
    auto_approval_threshold: Decimal,
) -> AdjudicationResult:
    if not enrolment.covers(claim.service_date):
        return AdjudicationResult(Decision.REJECT, (ReasonCode.EXPIRED_COVERAGE,), None, None)
    coverage = select_coverage(claim, coverages)
    if coverage is None:
        return AdjudicationResult(Decision.REJECT, (ReasonCode.NOT_COVERED,), None, None)

    def reject(reason: ReasonCode) -> AdjudicationResult:
        return AdjudicationResult(
            Decision.REJECT, (reason,), _nothing_eligible(claim, coverage), coverage.coverage_id
        )

    if claim.service_date < waiting_period_ends_on(enrolment, coverage):
        return reject(ReasonCode.WAITING_PERIOD)
    if (
        coverage.preauthorization_required
        and DocumentType.AUTHORIZATION_FORM not in claim.document_types
    ):
        return reject(ReasonCode.MISSING_PREAUTHORIZATION)
    if claim.is_duplicate:
        return reject(ReasonCode.DUPLICATE_CLAIM)

    breakdown, amount_reasons = _settle(claim.claimed_amount, coverage, plan, ytd)
    if not claim.document_types & PROOF_OF_PAYMENT:
        return AdjudicationResult(
            Decision.REQUEST_INFO,
            (ReasonCode.INSUFFICIENT_DOCUMENTATION, *amount_reasons),
            breakdown,
            coverage.coverage_id,
        )
    if remaining_limit(coverage, ytd) == ZERO:
        return reject(ReasonCode.EXCEEDS_COVERAGE_LIMIT)
    if cents(claim.claimed_amount) > auto_approval_threshold:
        return AdjudicationResult(
            Decision.REFER,
            (ReasonCode.ABOVE_AUTO_APPROVAL_THRESHOLD, *amount_reasons),
            breakdown,
            coverage.coverage_id,
        )
    partial = (ReasonCode.PARTIAL_APPROVAL,) if breakdown.benefit < breakdown.submitted else ()
    return AdjudicationResult(
        Decision.APPROVE,
        (ReasonCode.WITHIN_AUTO_APPROVAL, *partial, *amount_reasons),
        breakdown,
        coverage.coverage_id,
    )


def year_to_date_after(
    ytd: YearToDate, breakdown: BenefitBreakdown, coverage_id: int
) -> YearToDate:
    limit_used = dict(ytd.limit_used)
    limit_used[coverage_id] = limit_used.get(coverage_id, ZERO) + breakdown.eligible
    return YearToDate(
        deductible_paid=ytd.deductible_paid + breakdown.deductible,
        out_of_pocket_paid=ytd.out_of_pocket_paid + (breakdown.eligible - breakdown.benefit),
        limit_used=limit_used,
    )


def _settle(
    claim_amount: Decimal, coverage: CoverageFacts, plan: PlanFacts, ytd: YearToDate
) -> tuple[BenefitBreakdown, tuple[ReasonCode, ...]]:
    """The breakdown the plan's rules give, and the reasons its amounts differ from the claim."""
    submitted = cents(claim_amount)
    limit_left = remaining_limit(coverage, ytd)
    eligible = submitted if limit_left is None else min(submitted, limit_left)

    deductible = (
        min(remaining_deductible(plan, ytd), eligible) if coverage.deductible_applies else ZERO
    )
    copay = min(cents(coverage.copay), eligible - deductible)
    after_cost_sharing = eligible - deductible - copay
    plan_share = cents(after_cost_sharing * coverage.coverage_percent / HUNDRED)
    cost_share = eligible - plan_share

    capped = False
    out_of_pocket_left = remaining_out_of_pocket(plan, ytd)
    if out_of_pocket_left is not None:
        capped = cost_share > out_of_pocket_left
        cost_share = min(cost_share, out_of_pocket_left)
    deductible, copay = _member_pays_in_order(cost_share, deductible, copay)

    reasons = tuple(
        reason
        for reason, holds in (
            (ReasonCode.EXCEEDS_COVERAGE_LIMIT, eligible < submitted),
            (ReasonCode.DEDUCTIBLE_APPLIED, deductible > ZERO),
            (ReasonCode.OUT_OF_POCKET_MAXIMUM_REACHED, capped),
        )
        if holds
    )
    breakdown = _breakdown(
        submitted,
        coverage.coverage_percent,
        eligible=eligible,
        deductible=deductible,
        copay=copay,
        benefit=eligible - cost_share,
    )
    return breakdown, reasons


def _member_pays_in_order(
    cost_share: Decimal, deductible: Decimal, copay: Decimal
) -> tuple[Decimal, Decimal]:
    """Split a (possibly capped) cost share: the deductible first, then the copay, then
    coinsurance, so a capped share never counts a deductible the member did not pay."""
    deductible = min(deductible, cost_share)
    return deductible, min(copay, cost_share - deductible)


def _apply_reviewer_amount(computed: BenefitBreakdown, approved: Decimal) -> BenefitBreakdown:
    # Approving less than the rules give denies part of the charge, which then is no longer
    # eligible: it frees annual limit and must not count towards the out-of-pocket maximum, while
    # the deductible and copay the rules take stay. Approving more waives the member's cost share
    # first; past the eligible amount it is an exception that uses up the annual limit.
    cost_share = min(computed.eligible - computed.benefit, _floored(computed.eligible - approved))
    deductible, copay = _member_pays_in_order(cost_share, computed.deductible, computed.copay)
    return _breakdown(
        computed.submitted,
        computed.coverage_percent,
        eligible=cost_share + approved,
        deductible=deductible,
        copay=copay,
        benefit=approved,
    )


def _checked_approved_amount(approved_amount: Decimal, computed: BenefitBreakdown) -> Decimal:
    if not approved_amount.is_finite() or approved_amount != cents(approved_amount):
        raise BusinessRuleViolation(
            f"The approved amount {approved_amount} must be a number with at most 2 decimals.",
            field="approvedAmount",
            code=ErrorCode.INVALID_APPROVED_AMOUNT,
        )
    if approved_amount < 0 or approved_amount > computed.submitted:
        raise BusinessRuleViolation(
            f"The approved amount {approved_amount:f} must be between 0.00 and the claimed "
            f"amount {computed.submitted:f}.",
            field="approvedAmount",
            code=ErrorCode.INVALID_APPROVED_AMOUNT,
        )
    return cents(approved_amount)


def _nothing_eligible(claim: ClaimFacts, coverage: CoverageFacts) -> BenefitBreakdown:
    return _breakdown(
        cents(claim.claimed_amount),
        coverage.coverage_percent,
        eligible=ZERO,
        deductible=ZERO,
        copay=ZERO,
        benefit=ZERO,
    )


def _breakdown(
    submitted: Decimal,
    coverage_percent: Decimal,
    *,
    eligible: Decimal,
    deductible: Decimal,
    copay: Decimal,
    benefit: Decimal,
) -> BenefitBreakdown:
    return BenefitBreakdown(
        submitted=submitted,
        eligible=eligible,
        deductible=deductible,
        copay=copay,
        coverage_percent=coverage_percent,
        benefit=benefit,
        member_responsibility=submitted - benefit,
    )


# The remaining figures below are the ones a decision spends and the ones a member's balances
# show (service.balances), so both read the same numbers the same way.


def remaining_deductible(plan: PlanFacts, ytd: YearToDate) -> Decimal:
    return _floored(plan.annual_deductible - ytd.deductible_paid)


def remaining_out_of_pocket(plan: PlanFacts, ytd: YearToDate) -> Decimal | None:
    if plan.out_of_pocket_max is None:
        return None
    return _floored(plan.out_of_pocket_max - ytd.out_of_pocket_paid)


def waiting_period_ends_on(enrolment: EnrolmentFacts, coverage: CoverageFacts) -> date:
    """The first service date the coverage applies to for this enrolment."""
    return enrolment.start_date + timedelta(days=coverage.waiting_period_days)


def remaining_limit(coverage: CoverageFacts, ytd: YearToDate) -> Decimal | None:
    if coverage.annual_limit is None:
        return None
    return _floored(coverage.annual_limit - ytd.limit_used.get(coverage.coverage_id, ZERO))


def _floored(amount: Decimal) -> Decimal:
    rounded = cents(amount)
    return rounded if rounded > ZERO else ZERO
