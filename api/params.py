"""Request parameters shared by the routers."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request

from api.auth import settings_of
from api.bodies import JsonLimits, read_json
from api.errors import ContentTooLarge, UnsupportedMediaType
from config import Settings

# The ids are PostgreSQL bigints: a larger number is refused here, not by the database.
MAX_ID = 2**63 - 1
MAX_PAGE = 10_000

AppSettings = Annotated[Settings, Depends(settings_of)]
ClaimId = Annotated[int, Path(alias="id", gt=0, le=MAX_ID, description="The claim's id")]
PlanId = Annotated[int, Path(alias="id", gt=0, le=MAX_ID, description="The plan's id")]
PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE, description="1-based page number")]
PageSize = Annotated[int, Query(ge=1, le=100, description="Items per page")]


# application/json, optionally with charset=utf-8 (RFC 8259 defines no other parameter).
_JSON_MEDIA_TYPE = re.compile(r'application/json\s*(;\s*charset\s*=\s*"?utf-8"?\s*)?', re.I)


def _refuse_other_media(request: Request) -> None:
    content_type = request.headers.get("content-type")
    if content_type is None or not _JSON_MEDIA_TYPE.fullmatch(content_type.strip()):
        raise UnsupportedMediaType(
            "Send the body as Content-Type: application/json (UTF-8)", field="Content-Type"
        )
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding != "identity":
        raise UnsupportedMediaType(
            "The body must not be compressed (Content-Encoding)", field="Content-Encoding"
        )


async def _body_within(request: Request, limit: int, setting: str) -> bytes:
    too_large = ContentTooLarge(f"The request body must be at most {limit} bytes ({setting})")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def _json_document(request: Request, limit: int, setting: str) -> Any:
    settings: Settings = request.app.state.settings
    _refuse_other_media(request)
    return read_json(await _body_within(request, limit, setting), JsonLimits.of(settings))


async def claim_json(request: Request) -> Any:
    """The JSON body of a route about one claim: at most MAX_CLAIM_BODY_BYTES."""
    settings: Settings = request.app.state.settings
    return await _json_document(request, settings.max_claim_body_bytes, "MAX_CLAIM_BODY_BYTES")


async def batch_json(request: Request) -> Any:
    """The JSON body of a batch: at most MAX_BODY_BYTES."""
    settings: Settings = request.app.state.settings
    return await _json_document(request, settings.max_body_bytes, "MAX_BODY_BYTES")


# The parsed document, not yet validated: each endpoint validates it against its model.
JsonBody = Annotated[Any, Depends(claim_json)]
BatchJsonBody = Annotated[Any, Depends(batch_json)]


def json_request_body(schema_name: str) -> dict[str, Any]:
    """The OpenAPI request body of an endpoint that reads its raw JSON itself."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}
            },
        }
    }
