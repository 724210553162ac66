"""Claims: submission (one, or a batch for queue-fed partners), the reviewer queue and the
reads. Member and reviewer actions are in api.actions.

A submission stores the claim in DRAFT with its documents and a queued submit action, whose
task the outbox hands to the workers, in one transaction: the submit task submits, starts the
review and decides. Single-claim submissions share transactions under load (api.intake).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response

from api.auth import Admin, CurrentUser, Member, User
from api.bodies import validate
from api.errors import ErrorDetail, error_responses
from api.intake import ClaimIntake
from api.params import (
    MAX_ID,
    AppSettings,
    BatchJsonBody,
    ClaimId,
    JsonBody,
    PageNumber,
    PageSize,
    json_request_body,
)
from api.schemas import (
    BatchItemResult,
    BatchResult,
    ClaimAccepted,
    ClaimDetail,
    ClaimHistory,
    ClaimLinks,
    ClaimPage,
    HistoryEntry,
    SubmissionLinks,
)
from config import Settings
from models.enums import ClaimStatus
from models.errors import ErrorCode, PlanError, ValidationFailed
from models.submission import ClaimSubmission
from service import queries as claim_queries
from service import review_queries
from service.submissions import SubmissionRequest, SubmissionResult, submit_queued_claims
from storage.unit_of_work import PlanJourneyContext

router = APIRouter(tags=["claims"])

MAX_BATCH = 1000

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=128,
        description="Repeating a request with the same key returns the same claim",
    ),
]


def _owner(user: User) -> str | None:
    return user.id if user.is_member else None


def _submitted(result: SubmissionResult) -> ClaimAccepted:
    if result.error is not None:
        raise result.error
    assert result.claim_id is not None and result.status is not None
    return ClaimAccepted(
        id=result.claim_id,
        status=result.status,
        replayed=result.replayed,
        links=SubmissionLinks.of_submission(result.claim_id, result.action_id),
    )


# --------------------------------------------------------------------------- submission


@router.post(
    "/claims",
    status_code=202,
    response_model=ClaimAccepted,
    summary="Submit a claim (member): stored as a draft with a submit action a worker applies",
    responses=error_responses(401, 403, 408, 409, 413, 415, 422, 503),
    openapi_extra=json_request_body("ClaimSubmission"),
)
async def submit_claim(
    user: Member,
    body: JsonBody,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    # The busiest route takes what it needs from the app state and answers bytes: FastAPI's
    # dependency levels and its second validation of the returned model cost each request
    # more than the model's own work.
    settings: Settings = request.app.state.settings
    claim = validate(ClaimSubmission, body, {"filing_window_days": settings.filing_window_days})
    intake: ClaimIntake = request.app.state.intake
    result = await intake.submit(SubmissionRequest(user.id, claim, idempotency_key))
    accepted = _submitted(result)
    request.state.claim_id = accepted.id
    return Response(
        accepted.model_dump_json(by_alias=True),
        status_code=202,
        media_type="application/json",
        headers={"Location": accepted.links.action or accepted.links.self},
    )


@router.post(
    "/claims/batch",
    status_code=202,
    response_model=BatchResult,
    summary="Submit up to 1,000 claims for named members (administrator)",
    responses=error_responses(401, 403, 408, 413, 415, 422, 503),
    openapi_extra=json_request_body("ClaimBatch"),
)
def submit_claim_batch(user: Admin, settings: AppSettings, body: BatchJsonBody) -> BatchResult:
    with PlanJourneyContext() as ctx:
        outcomes = submit_queued_claims(ctx, _batch_items(body), settings)
        ctx.commit()
    return BatchResult(
        results=[
            _item_errors(outcome.index, outcome.errors)
            if outcome.result is None
            else BatchItemResult(
                index=outcome.index,
                id=outcome.result.claim_id,
                status=outcome.result.status,
                replayed=outcome.result.replayed,
                action_id=outcome.result.action_id,
            )
            for outcome in outcomes
        ]
    )


def _batch_items(envelope: object) -> list[Any]:
    if not isinstance(envelope, dict) or not isinstance(envelope.get("claims"), list):
        raise ValidationFailed(
            "The request body must be an object with a list of claims",
            field="claims",
            code=ErrorCode.INVALID_INPUT,
        )
    unexpected = sorted(set(envelope) - {"claims"})
    if unexpected:
        raise ValidationFailed(
            f"{unexpected[0]} is not an accepted field",
            field=unexpected[0],
            code=ErrorCode.INVALID_INPUT,
        )
    items: list[Any] = envelope["claims"]
    if not 1 <= len(items) <= MAX_BATCH:
        raise ValidationFailed(
            f"claims must hold 1 to {MAX_BATCH} items, not {len(items)}",
            field="claims",
            code=ErrorCode.INVALID_INPUT,
        )
    return items


def _item_errors(index: int, errors: Sequence[PlanError]) -> BatchItemResult:
    return BatchItemResult(
        index=index,
        errors=[
            ErrorDetail(code=error.code.value, message=error.message, field=error.field)
            for error in errors
        ],
    )


# --------------------------------------------------------------------------- reviewer queue


# --------------------------------------------------------------------------- reads


@router.get(
    "/claims",
    response_model=ClaimPage,
    summary="Claims, newest first: a member's own, or everyone's for reviewers",
    responses=error_responses(401, 422, 503),
)
def list_claims(
    user: CurrentUser,
    status: Annotated[ClaimStatus | None, Query()] = None,
    plan_id: Annotated[int | None, Query(alias="planId", gt=0, le=MAX_ID)] = None,
    service_date_from: Annotated[date | None, Query(alias="serviceDateFrom")] = None,
    service_date_to: Annotated[date | None, Query(alias="serviceDateTo")] = None,
    page: PageNumber = 1,
    size: PageSize = 10,
) -> ClaimPage:
    with PlanJourneyContext() as ctx:
        found = claim_queries.list_claims(
            ctx,
            owner=_owner(user),
            status=status,
            plan_id=plan_id,
            service_date_from=service_date_from,
            service_date_to=service_date_to,
            page=page,
            size=size,
        )
    return ClaimPage.of(found)


@router.get(
    "/claims/{id}",
    response_model=ClaimDetail,
    summary="A claim with its documents, amounts, decision breakdown and history",
    responses=error_responses(401, 404, 422, 503),
)
def get_claim(user: CurrentUser, claim_id: ClaimId) -> ClaimDetail:
    with PlanJourneyContext() as ctx:
        view = claim_queries.get_claim(ctx, claim_id=claim_id, owner=_owner(user))
        pending = review_queries.pending_approval_of(ctx, claim_id)
    return ClaimDetail.model_validate(
        {
            **view.claim,
            "documents": view.documents,
            "history": view.history,
            "pending_approval": pending,
            "links": ClaimLinks.of(claim_id),
        }
    )


@router.get(
    "/claims/{id}/history",
    response_model=ClaimHistory,
    summary="A claim's status history, in order",
    responses=error_responses(401, 404, 422, 503),
)
def get_claim_history(user: CurrentUser, claim_id: ClaimId) -> ClaimHistory:
    with PlanJourneyContext() as ctx:
        rows = claim_queries.claim_history(ctx, claim_id=claim_id, owner=_owner(user))
    return ClaimHistory(claim_id=claim_id, items=[HistoryEntry.model_validate(row) for row in rows])
