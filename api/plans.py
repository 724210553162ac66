"""The plan catalogue and the caller's own enrolments."""

from __future__ import annotations

from fastapi import APIRouter

from api.auth import CurrentUser, Member
from api.errors import error_responses
from api.params import PageNumber, PageSize, PlanId
from api.schemas import (
    Enrolment,
    Enrolments,
    PlanBenefit,
    PlanCoverage,
    PlanDetail,
    PlanPage,
)
from service import queries as claim_queries
from storage.unit_of_work import PlanJourneyContext

router = APIRouter(tags=["plans"])


@router.get(
    "/plans",
    response_model=PlanPage,
    summary="The plan catalogue, by code",
    responses=error_responses(401, 422, 503),
)
def list_plans(_: CurrentUser, page: PageNumber = 1, size: PageSize = 10) -> PlanPage:
    with PlanJourneyContext() as ctx:
        found = claim_queries.list_plans(ctx, page=page, size=size)
    return PlanPage.of(found)


@router.get(
    "/plans/{id}",
    response_model=PlanDetail,
    summary="A plan with its coverage per procedure and its benefits",
    responses=error_responses(401, 404, 422, 503),
)
def get_plan(_: CurrentUser, plan_id: PlanId) -> PlanDetail:
    with PlanJourneyContext() as ctx:
        view = claim_queries.get_plan(ctx, plan_id=plan_id)
    return PlanDetail.model_validate(
        {
            **view.plan,
            "coverages": [PlanCoverage.model_validate(row) for row in view.coverages],
            "benefits": [PlanBenefit.model_validate(row) for row in view.benefits],
        }
    )


@router.get(
    "/me/plans",
    response_model=Enrolments,
    summary="The caller's enrolments; each id is a memberPlanId for POST /claims (member)",
    responses=error_responses(401, 403, 503),
)
def my_plans(user: Member) -> Enrolments:
    with PlanJourneyContext() as ctx:
        rows = claim_queries.member_enrolments(ctx, user_id=user.id)
    return Enrolments(items=[Enrolment.model_validate(row) for row in rows])
