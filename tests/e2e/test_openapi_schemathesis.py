"""/openapi.json matches the behaviour: generated requests to every route, as a member and as an
administrator, get no 5xx and only documented statuses, media types, headers and bodies."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from tests.e2e.conftest import ADMIN, MEMBER, bearer
from tests.support.factories import World, claim_body
from tests.support.harness import Harness

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
GENERATION = settings(
    max_examples=25,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


# Only the document is read from this app; each test sends its cases to an app created after the
# harness pointed the settings at the test's own database (the lazy fixture loader of
# schemathesis 4.32 does not run under pytest 9).
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app())


@pytest.fixture
def contract_app(harness: Harness, world: World) -> FastAPI:
    app = create_app()
    # Real rows for generated ids to land on now and then: a submitted claim and a draft.
    with TestClient(app) as client:
        member = bearer(MEMBER, "member")
        for draft in (False, True):
            response = client.post(
                "/claims", json=claim_body(world, MEMBER, draft=draft), headers=member
            )
            assert response.status_code == 202
    return app


@schema.parametrize()
@GENERATION
def test_the_api_keeps_its_documented_contract_for_a_member(
    case: Any, contract_app: FastAPI
) -> None:
    case.call_and_validate(app=contract_app, headers=bearer(MEMBER, "member"), checks=CHECKS)


@schema.parametrize()
@GENERATION
def test_the_api_keeps_its_documented_contract_for_an_administrator(
    case: Any, contract_app: FastAPI
) -> None:
    case.call_and_validate(app=contract_app, headers=bearer(ADMIN, "admin"), checks=CHECKS)
