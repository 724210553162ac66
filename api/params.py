"""Request parameters shared by the routers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request

from api.auth import settings_of
from config import Settings

# The ids are PostgreSQL bigints: a larger number is refused here, not by the database.
MAX_ID = 2**63 - 1
MAX_PAGE = 10_000

AppSettings = Annotated[Settings, Depends(settings_of)]
ClaimId = Annotated[int, Path(alias="id", gt=0, le=MAX_ID, description="The claim's id")]
PlanId = Annotated[int, Path(alias="id", gt=0, le=MAX_ID, description="The plan's id")]
PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE, description="1-based page number")]
PageSize = Annotated[int, Query(ge=1, le=100, description="Items per page")]


async def json_body(request: Request) -> bytes:
    return await request.body()


RawJson = Annotated[bytes, Depends(json_body)]


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
