"""FHIR R5 renderings of a claim for other systems (providers, regulators, the data platform).

Same authorization as ``GET /claims/{id}``; answers ``application/fhir+json``. Errors on these
routes are OperationOutcome resources (api.errors renders them for paths under /fhir).
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter
from fastapi.responses import Response

from api.auth import CurrentUser
from api.params import AppSettings, ClaimId
from service.fhir import (
    MEDIA_TYPE,
    claim_response,
    explanation_of_benefit,
    load_fhir_claim,
)
from storage.unit_of_work import PlanJourneyContext

router = APIRouter(prefix="/fhir", tags=["fhir"])
PREFIX = "/fhir"


class FhirResponse(Response):
    media_type = MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _outcome_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {
            "description": "An OperationOutcome naming the error code",
            "content": {MEDIA_TYPE: {"schema": {"type": "object"}}},
        }
        for status in statuses
    }


_RESOURCE: dict[int | str, dict[str, Any]] = {
    200: {"content": {MEDIA_TYPE: {"schema": {"type": "object"}}}, "description": "The resource"}
}


@router.get(
    "/ClaimResponse/{id}",
    response_class=FhirResponse,
    summary="A claim as a FHIR R5 ClaimResponse",
    responses={**_RESOURCE, **_outcome_responses(401, 404, 422, 503)},
)
def get_claim_response(user: CurrentUser, settings: AppSettings, claim_id: ClaimId) -> FhirResponse:
    owner = user.id if user.is_member else None
    with PlanJourneyContext() as ctx:
        view = load_fhir_claim(ctx, claim_id=claim_id, owner=owner)
    return FhirResponse(claim_response(view, settings))


@router.get(
    "/ExplanationOfBenefit/{id}",
    response_class=FhirResponse,
    summary="A claim as a FHIR R5 ExplanationOfBenefit",
    responses={**_RESOURCE, **_outcome_responses(401, 404, 422, 503)},
)
def get_explanation_of_benefit(
    user: CurrentUser, settings: AppSettings, claim_id: ClaimId
) -> FhirResponse:
    owner = user.id if user.is_member else None
    with PlanJourneyContext() as ctx:
        view = load_fhir_claim(ctx, claim_id=claim_id, owner=owner)
    return FhirResponse(explanation_of_benefit(view, settings))
