"""A member's plan balances: what the plan still covers in a calendar year."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.auth import CurrentUser
from api.errors import error_responses
from api.params import MAX_ID
from api.schemas import BenefitOut, Money, _Answer
from models.enums import ProcedureType
from service.balances import Balances, plan_balances
from storage.unit_of_work import PlanJourneyContext

router = APIRouter(tags=["balances"])

MemberPlanId = Annotated[
    int, Path(alias="memberPlanId", gt=0, le=MAX_ID, description="The enrolment's id")
]
Year = Annotated[
    int | None, Query(ge=2000, le=2100, description="Calendar year; default this year")
]


class DeductibleBalance(_Answer):
    annual: Money
    met: Money
    remaining: Money


class OutOfPocketBalance(_Answer):
    maximum: Money | None
    met: Money
    remaining: Money | None


class CoverageBalanceOut(_Answer):
    coverage_id: int
    procedure_type: ProcedureType
    procedure_code: str | None
    coverage_percent: Money
    copay: Money
    annual_limit: Money | None
    used: Money
    remaining: Money | None
    waiting_period_ends_on: date
    preauthorization_required: bool


class PlanBalances(_Answer):
    """Amounts are exact decimal strings; null where the plan has no such limit."""

    member_plan_id: int
    year: int
    currency: str
    deductible: DeductibleBalance
    out_of_pocket: OutOfPocketBalance
    coverages: list[CoverageBalanceOut]
    benefits: list[BenefitOut]

    @classmethod
    def of(cls, balances: Balances) -> PlanBalances:
        ytd = balances.year_to_date
        return cls(
            member_plan_id=balances.member_plan_id,
            year=balances.year,
            currency=balances.currency,
            deductible=DeductibleBalance(
                annual=balances.plan.annual_deductible,
                met=ytd.deductible_paid,
                remaining=balances.deductible_remaining,
            ),
            out_of_pocket=OutOfPocketBalance(
                maximum=balances.plan.out_of_pocket_max,
                met=ytd.out_of_pocket_paid,
                remaining=balances.out_of_pocket_remaining,
            ),
            coverages=[
                CoverageBalanceOut(
                    coverage_id=c.coverage.coverage_id,
                    procedure_type=c.coverage.procedure_type,
                    procedure_code=c.coverage.procedure_code,
                    coverage_percent=c.coverage.coverage_percent,
                    copay=c.coverage.copay,
                    annual_limit=c.coverage.annual_limit,
                    used=c.used,
                    remaining=c.remaining,
                    waiting_period_ends_on=c.waiting_period_ends_on,
                    preauthorization_required=c.coverage.preauthorization_required,
                )
                for c in balances.coverages
            ],
            benefits=[BenefitOut.model_validate(row) for row in balances.benefits],
        )


def this_year() -> int:
    return datetime.now(UTC).year


@router.get(
    "/me/plans/{memberPlanId}/balances",
    response_model=PlanBalances,
    summary="Deductible, out-of-pocket and coverage limits left in a year (the enrolment's "
    "member; reviewers and administrators for any)",
    responses=error_responses(401, 404, 422, 503),
)
def get_balances(
    user: CurrentUser, member_plan_id: MemberPlanId, year: Year = None
) -> PlanBalances:
    owner = user.id if user.is_member else None
    with PlanJourneyContext() as ctx:
        balances = plan_balances(
            ctx, member_plan_id=member_plan_id, year=year or this_year(), owner=owner
        )
    return PlanBalances.of(balances)


__all__ = ["PlanBalances", "router"]
