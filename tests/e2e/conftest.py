"""The HTTP API in-process (TestClient) over a database of the test's own; the worker and the
relay, when a test needs claims to move, are real processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import issue_token
from config import get_settings
from tests.support.factories import World, claim_body, make_world
from tests.support.harness import Harness, wait_until

MEMBER = "member-1"
OTHER_MEMBER = "member-2"
REVIEWER = "reviewer-1"
ADMIN = "admin-1"

Headers = dict[str, str]


def bearer(subject: str, role: str, *, ttl_s: int = 3600) -> Headers:
    token = issue_token(get_settings(), subject=subject, role=role, ttl_s=ttl_s)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def api(harness: Harness) -> Iterator[TestClient]:
    # Created after the harness pointed the environment at this test's database and Redis.
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def world(harness: Harness) -> World:
    return make_world(users=(MEMBER, OTHER_MEMBER))


@pytest.fixture
def pipeline(harness: Harness) -> Harness:
    """A real Celery worker and outbox relay moving claims after the API committed them."""
    harness.start_worker()
    harness.start_relay()
    return harness


@pytest.fixture
def member() -> Headers:
    return bearer(MEMBER, "member")


@pytest.fixture
def other_member() -> Headers:
    return bearer(OTHER_MEMBER, "member")


@pytest.fixture
def reviewer() -> Headers:
    return bearer(REVIEWER, "reviewer")


@pytest.fixture
def admin() -> Headers:
    return bearer(ADMIN, "admin")


@pytest.fixture
def file_claim(api: TestClient, world: World, member: Headers) -> Callable[..., dict[str, Any]]:
    """POST /claims as member-1 and return the 202 answer's body."""

    def file(headers: Headers | None = None, **body: Any) -> dict[str, Any]:
        response = api.post(
            "/claims", json=claim_body(world, MEMBER, **body), headers=headers or member
        )
        assert response.status_code == 202, response.text
        answer: dict[str, Any] = response.json()
        return answer

    return file


def claim_status(api: TestClient, claim_id: int, headers: Headers) -> str:
    response = api.get(f"/claims/{claim_id}", headers=headers)
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


def wait_for_status(
    api: TestClient, claim_id: int, headers: Headers, status: str, *, timeout: float = 30.0
) -> dict[str, Any]:
    """Poll GET /claims/{id} until the claim is in ``status``; return the claim."""

    def reached() -> dict[str, Any] | None:
        claim: dict[str, Any] = api.get(f"/claims/{claim_id}", headers=headers).json()
        return claim if claim.get("status") == status else None

    return wait_until(reached, timeout=timeout, what=f"claim {claim_id} to be {status}")


def row_counts(harness: Harness) -> dict[str, int]:
    return {
        table: int(harness.scalar(f"SELECT count(*) FROM plan.{table}"))
        for table in ("claims", "documents", "claim_status_history", "outbox")
    }


def wait_for_action(
    api: TestClient, path: str, headers: Headers, *, status: str = "applied", timeout: float = 30.0
) -> dict[str, Any]:
    """Poll an action (``links.self`` of a 202, or ``links.action`` of a submission) until
    a worker settled it as ``status``; return the action."""

    def settled() -> dict[str, Any] | None:
        action: dict[str, Any] = api.get(path, headers=headers).json()
        if action.get("status") not in (None, "queued") and action["status"] != status:
            raise AssertionError(f"action {path} ended {action['status']}: {action}")
        return action if action.get("status") == status else None

    return wait_until(settled, timeout=timeout, what=f"action {path} to be {status}")


def take(api: TestClient, claim_id: int, headers: Headers) -> None:
    """The reviewer takes the claim: only the holder of a claim decides it."""
    response = api.post(f"/claims/{claim_id}/assignment", headers=headers)
    assert response.status_code == 200, response.text
