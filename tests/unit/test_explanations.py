"""The explanation of benefits and the balances, as pure functions of stored decisions."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from models import adjudication as rules
from models import explanations as wording
from models.enums import MemberPlanStatus, ProcedureType, ReasonCode
from service.balances import balances_of, unspend
from service.explanations import explanation_of

PLAN = rules.PlanFacts(Decimal("500.00"), Decimal("700.00"))
ENROLMENT = rules.EnrolmentFacts(date(2026, 1, 1), None, MemberPlanStatus.ACTIVE)
IMAGING = rules.CoverageFacts(
    coverage_id=7,
    procedure_type=ProcedureType.IMAGING,
    procedure_code=None,
    coverage_percent=Decimal("80"),
    copay=Decimal("0.00"),
    deductible_applies=True,
    annual_limit=Decimal("1000.00"),
    waiting_period_days=30,
    preauthorization_required=False,
    effective_from=date(2020, 1, 1),
    effective_to=None,
    active=True,
)


def balances(deductible: str, oop: str, used: str) -> Any:
    return balances_of(
        member_plan_id=1,
        year=2026,
        currency="BRL",
        plan=PLAN,
        enrolment=ENROLMENT,
        coverages=[IMAGING],
        year_to_date=rules.YearToDate(Decimal(deductible), Decimal(oop), {7: Decimal(used)}),
    )


def test_every_reason_code_has_a_sentence() -> None:
    for code in ReasonCode:
        assert wording.reason(code.value) == wording.REASONS[code.value]
    assert wording.reason("SOMETHING_NEW") == "Reason SOMETHING_NEW applies to this claim."


def test_balances_use_the_remaining_figures_adjudication_spends() -> None:
    found = balances("120.00", "800.00", "1000.00")
    assert found.deductible_remaining == Decimal("380.00")
    assert found.out_of_pocket_remaining == Decimal("0.00")
    [coverage] = found.coverages
    assert (coverage.used, coverage.remaining) == (Decimal("1000.00"), Decimal("0.00"))
    assert coverage.waiting_period_ends_on == date(2026, 1, 31)


def test_unspend_is_the_inverse_of_spending_a_breakdown() -> None:
    before = rules.YearToDate(Decimal("100.00"), Decimal("150.00"), {7: Decimal("200.00")})
    breakdown = rules.compute_breakdown(Decimal("450.00"), IMAGING, PLAN, before)
    after = rules.year_to_date_after(before, breakdown, 7)
    now = balances_of(
        member_plan_id=1,
        year=2026,
        currency="BRL",
        plan=PLAN,
        enrolment=ENROLMENT,
        coverages=[IMAGING],
        year_to_date=after,
    )
    undone = unspend(now, [{"breakdown": breakdown.as_json(), "coverageId": 7}])
    assert undone.year_to_date == before
    assert undone.coverages[0].used == Decimal("200.00")


def _claim(status: str, **overrides: Any) -> dict[str, Any]:
    return {
        "id": 3,
        "status": status,
        "currency": "BRL",
        "claimed_amount": Decimal("450.00"),
        "procedure_type": "IMAGING",
        "adjudication": None,
        "info_due_at": None,
        **overrides,
    }


def _row(event: str, reason: str | None, details: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "id": 10,
        "event": event,
        "reason_code": reason,
        "details": details,
        "note": None,
        "occurred_at": datetime(2026, 3, 1, tzinfo=UTC),
    }


@pytest.mark.parametrize(
    "reason",
    [
        ReasonCode.EXPIRED_COVERAGE,
        ReasonCode.NOT_COVERED,
        ReasonCode.WAITING_PERIOD,
        ReasonCode.MISSING_PREAUTHORIZATION,
        ReasonCode.DUPLICATE_CLAIM,
        ReasonCode.EXCEEDS_COVERAGE_LIMIT,
        ReasonCode.REVIEWER_DECISION,
    ],
)
def test_a_rejection_explains_its_reason_and_that_the_plan_pays_nothing(reason: ReasonCode) -> None:
    details = {"decision": "reject", "reasonCodes": [reason.value], "breakdown": None}
    explanation = explanation_of(
        _claim("REJECTED"),
        _row("reject", reason.value, None if reason is ReasonCode.REVIEWER_DECISION else details),
        balances("0.00", "0.00", "0.00"),
    )
    assert explanation.decision.code == "denied"
    assert explanation.reasons[0].code == reason.value
    assert explanation.reasons[0].sentence == wording.REASONS[reason.value]
    lines = {line.category: line for line in explanation.lines}
    assert lines["planPays"].amount == "0.00"
    assert lines["youPay"].sentence == "You pay 450.00: 450.00 the plan does not cover."


def test_a_limit_capped_approval_says_how_much_of_the_limit_was_left() -> None:
    before = rules.YearToDate(Decimal("500.00"), Decimal("0.00"), {7: Decimal("700.00")})
    breakdown = rules.compute_breakdown(Decimal("450.00"), IMAGING, PLAN, before)
    after = rules.year_to_date_after(before, breakdown, 7)
    decided = balances_of(
        member_plan_id=1,
        year=2026,
        currency="BRL",
        plan=PLAN,
        enrolment=ENROLMENT,
        coverages=[IMAGING],
        year_to_date=after,
    )
    details = {
        "decision": "approve",
        "reasonCodes": ["WITHIN_AUTO_APPROVAL"],
        "breakdown": breakdown.as_json(),
        "coverageId": 7,
    }
    explanation = explanation_of(
        _claim("APPROVED"), _row("approve", "WITHIN_AUTO_APPROVAL", details), decided
    )
    lines = {line.category: line.sentence for line in explanation.lines}
    assert lines["eligible"] == (
        "The plan's annual limit for IMAGING had 300.00 left, so 300.00 of the 450.00 was eligible."
    )
    assert lines["deductible"] == "Your deductible for 2026 was already met, so none was taken."
    assert lines["youPay"] == (
        "You pay 210.00: 60.00 of your share after the coverage percent and 150.00 the plan "
        "does not cover."
    )
    assert explanation.decision.code == "partial"
