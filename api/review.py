"""Review work: taking a claim for a lease, releasing it, an administrator's reassignment, a
claim's activity, and the reviewer queue with its filters.

Each write is one PlanJourneyContext: the lease, its activity row and its domain event
commit together (service.assignments).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

import structlog
from fastapi import APIRouter, Query, Response

from api.auth import Admin, CurrentUser, Reviewer
from api.bodies import validate
from api.errors import error_responses
from api.params import MAX_ID, AppSettings, ClaimId, JsonBody, PageNumber, PageSize
from api.params import json_request_body as json_body_of
from api.schemas import ActivityEntry, AssignmentOut, ClaimActivityList, ReviewQueuePage
from models.enums import ProcedureType
from models.submission import Reassignment
from service import assignments
from service import review_queries as review
from storage.unit_of_work import PlanJourneyContext

router = APIRouter(tags=["review"])

def _answer(found: assignments.Assignment) -> AssignmentOut:
    return AssignmentOut(
        claim_id=found.claim_id, reviewer_id=found.reviewer_id, expires_at=found.expires_at
    )


@router.post(
    "/claims/{id}/assignment",
    response_model=AssignmentOut,
    summary="Take a claim under review for REVIEW_LEASE_MINUTES, or renew your lease (reviewer)",
    responses=error_responses(401, 403, 404, 409, 422, 503),
)
def take_claim(user: Reviewer, settings: AppSettings, claim_id: ClaimId) -> AssignmentOut:
    structlog.contextvars.bind_contextvars(claim_id=claim_id)
    with PlanJourneyContext() as ctx:
        found = assignments.take_claim(ctx, claim_id=claim_id, actor=user.actor, settings=settings)
        ctx.commit()
    return _answer(found)


@router.delete(
    "/claims/{id}/assignment",
    status_code=204,
    response_class=Response,
    summary="Release a claim you hold (reviewer), or anyone's (administrator)",
    responses=error_responses(401, 403, 404, 409, 422, 503),
)
def release_claim(user: Reviewer, settings: AppSettings, claim_id: ClaimId) -> Response:
    structlog.contextvars.bind_contextvars(claim_id=claim_id)
    with PlanJourneyContext() as ctx:
        assignments.release_claim(ctx, claim_id=claim_id, actor=user.actor, settings=settings)
        ctx.commit()
    return Response(status_code=204)


@router.put(
    "/claims/{id}/assignment",
    response_model=AssignmentOut,
    summary="Hand a claim under review to a reviewer (administrator)",
    responses=error_responses(401, 403, 404, 408, 409, 413, 415, 422, 503),
    openapi_extra=json_body_of("Reassignment"),
)
def reassign_claim(
    user: Admin, settings: AppSettings, claim_id: ClaimId, body: JsonBody
) -> AssignmentOut:
    structlog.contextvars.bind_contextvars(claim_id=claim_id)
    reassignment = validate(Reassignment, body)
    with PlanJourneyContext() as ctx:
        found = assignments.reassign_claim(
            ctx,
            claim_id=claim_id,
            reviewer_id=reassignment.reviewer_id,
            actor=user.actor,
            settings=settings,
        )
        ctx.commit()
    return _answer(found)


@router.get(
    "/claims/{id}/activity",
    response_model=ClaimActivityList,
    summary="A claim's review activity in order (members see their own, reviewers unnamed)",
    responses=error_responses(401, 404, 422, 503),
)
def claim_activity(user: CurrentUser, claim_id: ClaimId) -> ClaimActivityList:
    with PlanJourneyContext() as ctx:
        rows = review.claim_activity(
            ctx, claim_id=claim_id, owner=user.id if user.is_member else None
        )
    return ClaimActivityList(claim_id=claim_id, items=[ActivityEntry.of_row(r) for r in rows])


@router.get(
    "/review-queue",
    response_model=ReviewQueuePage,
    summary="Claims under review waiting for a person, oldest first (reviewer)",
    responses=error_responses(401, 403, 422, 503),
)
def review_queue(
    user: Reviewer,
    assigned: Annotated[review.AssignedFilter, Query()] = review.AssignedFilter.ANY,
    awaiting_second_approval: Annotated[
        bool | None, Query(alias="awaitingSecondApproval")
    ] = None,
    min_amount: Annotated[Decimal | None, Query(alias="minAmount", ge=0, le=1_000_000)] = None,
    max_amount: Annotated[Decimal | None, Query(alias="maxAmount", ge=0, le=1_000_000)] = None,
    procedure_type: Annotated[ProcedureType | None, Query(alias="procedureType")] = None,
    plan_id: Annotated[int | None, Query(alias="planId", gt=0, le=MAX_ID)] = None,
    submitted_before: Annotated[datetime | None, Query(alias="submittedBefore")] = None,
    page: PageNumber = 1,
    size: PageSize = 10,
) -> ReviewQueuePage:
    filters = review.QueueFilter(
        assigned=assigned,
        awaiting_second_approval=awaiting_second_approval,
        min_amount=min_amount,
        max_amount=max_amount,
        procedure_type=procedure_type,
        plan_id=plan_id,
        submitted_before=submitted_before,
    )
    with PlanJourneyContext() as ctx:
        found = review.review_queue(
            ctx, reviewer_id=user.id, filters=filters, page=page, size=size
        )
    return ReviewQueuePage.of(found)
