"""Every error answers ``{"error": {"code", "message", "field"}}``; nothing else leaves.

Domain errors keep their DOMAIN.md code; FastAPI's own refusals (a bad query parameter, an
unknown path) get codes of the same form. Stack traces and SQL stay in the logs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from pydantic_core import ErrorDetails
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from starlette.exceptions import HTTPException

from api.auth import Unauthenticated
from models.errors import (
    BusinessRuleViolation,
    ErrorCode,
    Forbidden,
    InvalidTransition,
    NotFound,
    PlanError,
    ReviewConflict,
    StorageUnavailable,
    ValidationFailed,
)
from models.submission import validation_failed
from service.fhir import MEDIA_TYPE as FHIR_MEDIA_TYPE
from service.fhir import operation_outcome
from storage.unit_of_work import domain_error_from

log = structlog.get_logger("plan.api")

_CONFLICT_CODES = frozenset(
    {
        ErrorCode.DUPLICATE_SUBMISSION,
        ErrorCode.IDEMPOTENCY_CONFLICT,
        ErrorCode.ACTION_PENDING,
        ErrorCode.CLAIM_NOT_DECIDED,
    }
)
_PARAMETER_SOURCES = frozenset({"path", "query", "header", "cookie", "body"})
# The rest of such a request is unread (too large) or not coming (too slow): the connection
# cannot carry another request, so the answer says it closes.
_CLOSES_THE_CONNECTION = frozenset({408, 413})
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


class ContentTooLarge(PlanError):
    code = ErrorCode.CONTENT_TOO_LARGE


class UnsupportedMediaType(PlanError):
    code = ErrorCode.UNSUPPORTED_MEDIA_TYPE


class RequestTimeout(PlanError):
    code = ErrorCode.REQUEST_TIMEOUT


_HTTP_STATUS: dict[type[PlanError], int] = {
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    RequestTimeout: 408,
    ContentTooLarge: 413,
    UnsupportedMediaType: 415,
    StorageUnavailable: 503,
}


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorEnvelope(BaseModel):
    error: ErrorDetail


def status_for(error: PlanError) -> int:
    for kind, status in _HTTP_STATUS.items():
        if isinstance(error, kind):
            return status
    if isinstance(error, InvalidTransition | ReviewConflict) or error.code in _CONFLICT_CODES:
        return 409
    if isinstance(error, ValidationFailed | BusinessRuleViolation):
        return 422
    return 400


def error_response(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    headers = dict(SECURITY_HEADERS)
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if status in _CLOSES_THE_CONNECTION:
        headers["Connection"] = "close"
    body = {"error": {"code": code, "message": message, "field": field}}
    return JSONResponse(body, status_code=status, headers=headers)


def plan_error_response(error: PlanError) -> JSONResponse:
    return error_response(status_for(error), error.code.value, error.message, error.field)


def _request_validation_error(exc: RequestValidationError) -> ValidationFailed:
    errors = exc.errors()
    if not errors:
        return ValidationFailed("The request is not valid", code=ErrorCode.INVALID_INPUT)
    error = errors[0]
    loc = list(error.get("loc", ()))
    if loc and loc[0] in _PARAMETER_SOURCES:
        loc = loc[1:]
    details: ErrorDetails = {
        "type": str(error.get("type")),
        "loc": tuple(loc),
        "msg": str(error.get("msg", "is not valid")),
        "input": error.get("input"),
    }
    return validation_failed(details, whole="the request")


async def _on_plan_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PlanError)
    if isinstance(exc, StorageUnavailable):
        log.warning("storage.unavailable", code=exc.code.value, cause=type(exc.__cause__).__name__)
    return plan_error_response(exc)


async def _on_request_validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return plan_error_response(_request_validation_error(exc))


async def _on_http_exception(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    try:
        phrase = HTTPStatus(exc.status_code).phrase
    except ValueError:
        phrase = "Error"
    code = "PLAN_HTTP_" + phrase.upper().replace(" ", "_").replace("-", "_")
    message = exc.detail if isinstance(exc.detail, str) else phrase
    response = error_response(exc.status_code, code, message)
    for name, value in (exc.headers or {}).items():
        response.headers.setdefault(name, value)
    return response


async def _on_database_error(_: Request, exc: Exception) -> JSONResponse:
    # Raised outside a PlanJourneyContext (which translates its own): a pool timeout, say.
    error = (
        domain_error_from(exc)
        if isinstance(exc, DBAPIError)
        else StorageUnavailable("The database is unavailable; try again shortly")
    )
    log.warning("storage.unavailable", cause=type(exc).__name__)
    return plan_error_response(error)


async def _on_unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.error("http.unexpected_error", error_type=type(exc).__name__, exc_info=exc)
    return error_response(
        500, "PLAN_SYS_INTERNAL_ERROR", "Something went wrong on our side; try again later"
    )


Handler = Callable[[Request, Exception], Awaitable[JSONResponse]]


def _fhir_aware(handler: Handler) -> Callable[[Request, Exception], Awaitable[Response]]:
    """On /fhir routes the same error leaves as an OperationOutcome (application/fhir+json)."""

    async def handle(request: Request, exc: Exception) -> Response:
        response = await handler(request, exc)
        path = request.url.path
        if path != "/fhir" and not path.startswith("/fhir/"):
            return response
        error = orjson.loads(bytes(response.body))["error"]
        outcome = operation_outcome(
            response.status_code,
            error["code"],
            error["message"],
            request.app.state.settings.fhir_base_url,
        )
        headers = {k: v for k, v in response.headers.items() if k.lower() == "www-authenticate"}
        return Response(
            orjson.dumps(outcome),
            status_code=response.status_code,
            media_type=FHIR_MEDIA_TYPE,
            headers=headers,
        )

    return handle


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(PlanError, _fhir_aware(_on_plan_error))
    app.add_exception_handler(RequestValidationError, _fhir_aware(_on_request_validation))
    app.add_exception_handler(HTTPException, _fhir_aware(_on_http_exception))
    app.add_exception_handler(SQLAlchemyError, _fhir_aware(_on_database_error))
    app.add_exception_handler(Exception, _fhir_aware(_on_unexpected))


_DESCRIPTIONS = {
    401: "No bearer token, or an expired, badly signed or malformed one",
    403: "The caller's role may not do this (or a reviewer deciding their own claim)",
    404: "No such resource, or a claim of another member",
    408: "The request's body did not arrive in time (BODY_READ_TIMEOUT_S); the connection closes",
    409: (
        "The claim's status or assignment does not allow this (or it is not decided yet), "
        "another action on it is still queued, a duplicate, or a request with the same "
        "Idempotency-Key still in progress"
    ),
    413: "The body is larger than the route accepts (MAX_CLAIM_BODY_BYTES, MAX_BODY_BYTES);"
    " the connection closes",
    415: "The body is not application/json in UTF-8",
    422: "The input breaks a rule (or an Idempotency-Key was reused with another body); field"
    " names the input at fault",
    503: "The database (or, for /ready, the broker) is unavailable; try again",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the given error statuses, all with the envelope."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {"model": ErrorEnvelope, "description": _DESCRIPTIONS[status]}
        if status == 401:
            entry["headers"] = {
                "WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}
            }
        responses[status] = entry
    return responses
