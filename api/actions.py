"""Member and reviewer actions: recorded at once, applied by a Celery task.

A request is authorized, checked against the claim's current state (an edge the machine
does not hold is refused here, with 409) and against its body's rules (422), then recorded
with its outbox work in one transaction and answered ``202`` with the action. A worker fires
the event with the person as the history row's actor; ``GET /claims/{id}/actions/{actionId}``
says when it was applied, or why it was refused.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Header, Path, Response

from api.auth import CurrentUser, Member, Reviewer, User
from api.bodies import validate
from api.errors import error_responses
from api.params import AppSettings, ClaimId, JsonBody, PageNumber, PageSize, json_request_body
from api.schemas import ActionAccepted, ActionLinks, ActionPage, ActionView
from config import Settings
from models.commands import ClaimCommand, DocumentRef
from models.enums import ClaimEvent
from models.submission import AdditionalInfo, DocumentIn, ReviewDecision
from service import queries as claim_queries
from service.actions import record_action
from storage.unit_of_work import PlanJourneyContext

router = APIRouter(tags=["actions"])

ActionIdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=128,
        description="Repeating an action with the same key returns the same action",
    ),
]
ActionId = Annotated[uuid.UUID, Path(alias="actionId", description="The action's id")]

_ACTION_ERRORS = error_responses(401, 403, 404, 409, 422, 503)
_ACTION_WITH_BODY_ERRORS = error_responses(401, 403, 404, 408, 409, 413, 415, 422, 503)


def _owner(user: User) -> str | None:
    return user.id if user.is_member else None


def _record(
    settings: Settings,
    response: Response,
    command: ClaimCommand,
    idempotency_key: str | None,
) -> ActionAccepted:
    structlog.contextvars.bind_contextvars(claim_id=command.claim_id)
    with PlanJourneyContext() as ctx:
        recorded = record_action(ctx, command, settings, idempotency_key=idempotency_key)
        ctx.commit()
    links = ActionLinks.of(recorded.claim_id, recorded.action_id)
    response.headers["Location"] = links.self
    return ActionAccepted(
        action_id=recorded.action_id,
        claim_id=recorded.claim_id,
        event=recorded.event,
        status=recorded.status,
        links=links,
    )


def _command(user: User, claim_id: int, event: ClaimEvent, **inputs: Any) -> ClaimCommand:
    return ClaimCommand(
        claim_id=claim_id, event=event, event_id=uuid.uuid4(), actor=user.actor, **inputs
    )


def _document_refs(documents: list[DocumentIn]) -> tuple[DocumentRef, ...]:
    return tuple(
        DocumentRef(
            type=document.type.value,
            file_name=document.file_name,
            mime_type=document.mime_type,
            size_bytes=document.size_bytes,
            sha256=document.sha256,
            storage_key=document.storage_key,
        )
        for document in documents
    )


# --------------------------------------------------------------------------- member actions


@router.post(
    "/claims/{id}/submit",
    status_code=202,
    response_model=ActionAccepted,
    summary="Submit a draft claim (member); a worker submits, reviews and decides it",
    responses=_ACTION_ERRORS,
)
def submit_draft(
    user: Member,
    settings: AppSettings,
    claim_id: ClaimId,
    response: Response,
    idempotency_key: ActionIdempotencyKey = None,
) -> ActionAccepted:
    return _record(settings, response, _command(user, claim_id, ClaimEvent.SUBMIT), idempotency_key)


@router.post(
    "/claims/{id}/cancel",
    status_code=202,
    response_model=ActionAccepted,
    summary="Withdraw a claim (member)",
    responses=_ACTION_ERRORS,
)
def cancel_claim(
    user: Member,
    settings: AppSettings,
    claim_id: ClaimId,
    response: Response,
    idempotency_key: ActionIdempotencyKey = None,
) -> ActionAccepted:
    return _record(settings, response, _command(user, claim_id, ClaimEvent.CANCEL), idempotency_key)


@router.post(
    "/claims/{id}/additional-info",
    status_code=202,
    response_model=ActionAccepted,
    summary="Send the information a reviewer asked for (member)",
    responses=_ACTION_WITH_BODY_ERRORS,
    openapi_extra=json_request_body("AdditionalInfo"),
)
def provide_info(
    user: Member,
    settings: AppSettings,
    claim_id: ClaimId,
    body: JsonBody,
    response: Response,
    idempotency_key: ActionIdempotencyKey = None,
) -> ActionAccepted:
    info = validate(AdditionalInfo, body)
    command = _command(
        user,
        claim_id,
        ClaimEvent.PROVIDE_INFO,
        note=info.note,
        documents=_document_refs(info.documents),
    )
    return _record(settings, response, command, idempotency_key)


# --------------------------------------------------------------------------- reviewer actions


@router.post(
    "/claims/{id}/decision",
    status_code=202,
    response_model=ActionAccepted,
    summary="Approve, reject or ask for information (reviewer)",
    responses=_ACTION_WITH_BODY_ERRORS,
    openapi_extra=json_request_body("ReviewDecision"),
)
def decide_claim(
    user: Reviewer,
    settings: AppSettings,
    claim_id: ClaimId,
    body: JsonBody,
    response: Response,
    idempotency_key: ActionIdempotencyKey = None,
) -> ActionAccepted:
    decision = validate(ReviewDecision, body)
    command = _command(
        user,
        claim_id,
        ClaimEvent(decision.decision),
        reason_code=decision.reason_code,
        note=decision.note,
        approved_amount=decision.approved_amount,
    )
    return _record(settings, response, command, idempotency_key)


# --------------------------------------------------------------------------- reads


@router.get(
    "/claims/{id}/actions/{actionId}",
    response_model=ActionView,
    summary="An action on a claim: queued, applied, or refused with its code",
    responses=error_responses(401, 404, 422, 503),
)
def get_action(user: CurrentUser, claim_id: ClaimId, action_id: ActionId) -> ActionView:
    with PlanJourneyContext() as ctx:
        row = claim_queries.get_action(
            ctx, claim_id=claim_id, action_id=action_id, owner=_owner(user)
        )
    return ActionView.of(row)


@router.get(
    "/claims/{id}/actions",
    response_model=ActionPage,
    summary="A claim's actions, newest first",
    responses=error_responses(401, 404, 422, 503),
)
def list_actions(
    user: CurrentUser, claim_id: ClaimId, page: PageNumber = 1, size: PageSize = 10
) -> ActionPage:
    with PlanJourneyContext() as ctx:
        found = claim_queries.list_actions(
            ctx, claim_id=claim_id, owner=_owner(user), page=page, size=size
        )
    return ActionPage.of(found)
