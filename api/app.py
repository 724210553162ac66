"""The Plan Service's HTTP front: ``uvicorn --factory api.app:app_factory``.

The settings are read when the process starts the app, not when this module is imported.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from api import actions, balances, claims, console, explanations, fhir, operations, plans, review
from api.auth import TokenVerifier
from api.claims import MAX_BATCH
from api.errors import install_error_handlers
from api.intake import ClaimIntake
from api.middleware import RequestBodyGuard, RequestContextMiddleware
from config import Settings, get_settings
from models.submission import (
    AdditionalInfo,
    ClaimSubmission,
    QueuedClaim,
    Reassignment,
    ReviewDecision,
)
from worker.heap import settle_heap
from worker.logs import configure_logging

_REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    ClaimSubmission,
    QueuedClaim,
    AdditionalInfo,
    ReviewDecision,
    Reassignment,
)


class PlanApi(FastAPI):
    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            document = super().openapi()
            document.setdefault("components", {}).setdefault("schemas", {}).update(
                _request_schemas()
            )
            self.openapi_schema = document
        return self.openapi_schema


def _request_schemas() -> dict[str, Any]:
    """The bodies the submission and action endpoints validate themselves, for the document."""
    _, top = models_json_schema(
        [(model, "validation") for model in _REQUEST_MODELS],
        by_alias=True,
        ref_template="#/components/schemas/{model}",
    )
    schemas: dict[str, Any] = dict(top.get("$defs", {}))
    schemas["ClaimBatch"] = {
        "title": "ClaimBatch",
        "type": "object",
        "properties": {
            "claims": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_BATCH,
                "items": {"$ref": "#/components/schemas/QueuedClaim"},
            }
        },
        "required": ["claims"],
        "additionalProperties": False,
    }
    return schemas


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings)
    intake = ClaimIntake(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        settle_heap()
        yield
        intake.close()

    app = PlanApi(
        title="Plan Service",
        version="1.0.0",
        summary="Health-plan claims of the My Plan & Benefits journey",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.intake = intake
    app.state.token_verifier = TokenVerifier(settings)
    install_error_handlers(app)
    # The last added is the outermost: the context (request id, headers, log) wraps the guard.
    app.add_middleware(
        RequestBodyGuard,
        max_body_bytes=settings.max_body_bytes,
        read_timeout_s=settings.body_read_timeout_s,
    )
    app.add_middleware(RequestContextMiddleware)
    app.include_router(claims.router)
    app.include_router(actions.router)
    app.include_router(review.router)
    app.include_router(plans.router)
    app.include_router(balances.router)
    app.include_router(explanations.router)
    app.include_router(fhir.router)
    app.include_router(operations.router)
    console.install(app)
    return app


def app_factory() -> FastAPI:
    return create_app()
