"""Every route but /health and /ready needs a valid bearer token, and each role reaches only
its own routes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from config import get_settings
from tests.e2e.conftest import ADMIN, MEMBER, OTHER_MEMBER, REVIEWER, Headers, bearer
from tests.support.factories import World, claim_body

AUTHENTICATED_ROUTES = [
    ("POST", "/claims"),
    ("POST", "/claims/batch"),
    ("GET", "/claims"),
    ("GET", "/claims/1"),
    ("GET", "/claims/1/history"),
    ("POST", "/claims/1/submit"),
    ("POST", "/claims/1/cancel"),
    ("POST", "/claims/1/additional-info"),
    ("POST", "/claims/1/decision"),
    ("GET", "/claims/1/actions"),
    ("GET", "/claims/1/actions/00000000-0000-0000-0000-000000000001"),
    ("GET", "/review-queue"),
    ("GET", "/plans"),
    ("GET", "/plans/1"),
    ("GET", "/me/plans"),
    ("GET", "/metrics"),
]


def _signed(claims: dict[str, Any], secret: str | None = None) -> Headers:
    key = secret or get_settings().jwt_secret.get_secret_value()
    return {"Authorization": f"Bearer {jwt.encode(claims, key, algorithm='HS256')}"}


def _assert_unauthenticated(response: Any) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "PLAN_AUTH_UNAUTHENTICATED"


@pytest.mark.parametrize(("method", "path"), AUTHENTICATED_ROUTES)
def test_every_route_but_probes_answers_401_without_a_token(
    api: TestClient, method: str, path: str
) -> None:
    _assert_unauthenticated(api.request(method, path, json={}))


BAD_TOKENS: dict[str, Callable[[], Headers]] = {
    "expired": lambda: bearer(MEMBER, "member", ttl_s=-30),
    "bad signature": lambda: _signed(
        {"sub": MEMBER, "role": "member", "exp": int(time.time()) + 600},
        secret="another-secret-that-is-long-enough-0123456789",
    ),
    "not a jwt": lambda: {"Authorization": "Bearer not.a.jwt"},
    "basic scheme": lambda: {"Authorization": "Basic bWVtYmVyOnNlY3JldA=="},
    "without exp": lambda: _signed({"sub": MEMBER, "role": "member"}),
    "without role": lambda: _signed({"sub": MEMBER, "exp": int(time.time()) + 600}),
    "unknown role": lambda: _signed(
        {"sub": MEMBER, "role": "superuser", "exp": int(time.time()) + 600}
    ),
    "system role": lambda: _signed(
        {"sub": MEMBER, "role": "system", "exp": int(time.time()) + 600}
    ),
    "unsigned": lambda: {
        "Authorization": "Bearer "
        + jwt.encode(
            {"sub": MEMBER, "role": "admin", "exp": int(time.time()) + 600},
            key="",  # PyJWT reads an empty key as none for alg "none"
            algorithm="none",
        )
    },
}


@pytest.mark.parametrize("kind", BAD_TOKENS)
def test_a_bad_token_answers_401(api: TestClient, kind: str) -> None:
    headers = BAD_TOKENS[kind]()
    _assert_unauthenticated(api.get("/claims", headers=headers))
    _assert_unauthenticated(api.post("/claims/1/cancel", headers=headers))


def test_expired_token_says_so(api: TestClient) -> None:
    response = api.get("/plans", headers=bearer(MEMBER, "member", ttl_s=-30))
    assert "expired" in response.json()["error"]["message"]


def test_probes_need_no_token(api: TestClient) -> None:
    assert api.get("/health").status_code == 200
    assert api.get("/ready").status_code == 200


def test_every_route_as_every_role(
    api: TestClient, world: World, member: Headers, admin: Headers
) -> None:
    """Each (route, role) pair answers what the role may do: its success or 409, else 403."""
    roles = {
        "member": bearer(MEMBER, "member"),
        "reviewer": bearer(REVIEWER, "reviewer"),
        "admin": bearer(ADMIN, "admin"),
    }

    def claim(**overrides: Any) -> int:
        response = api.post("/claims", json=claim_body(world, MEMBER, **overrides), headers=member)
        assert response.status_code == 202, response.text
        return int(response.json()["id"])

    batch_item = {**claim_body(world, OTHER_MEMBER), "userId": OTHER_MEMBER}
    receipt = claim_body(world, MEMBER)["documents"]
    # (method, path or path factory, body factory, expected status per role; absent = 403)
    table: list[tuple[str, Callable[[], str], Callable[[], Any] | None, dict[str, int]]] = [
        ("POST", lambda: "/claims", lambda: claim_body(world, MEMBER), {"member": 202}),
        (
            "POST",
            lambda: "/claims/batch",
            lambda: {"claims": [{**batch_item, "providerName": f"P {time.time_ns()}"}]},
            {"admin": 202},
        ),
        ("GET", lambda: "/claims", None, {"member": 200, "reviewer": 200, "admin": 200}),
        ("GET", lambda: f"/claims/{claim()}", None, {"member": 200, "reviewer": 200, "admin": 200}),
        (
            "GET",
            lambda: f"/claims/{claim()}/history",
            None,
            {"member": 200, "reviewer": 200, "admin": 200},
        ),
        ("POST", lambda: f"/claims/{claim(draft=True)}/submit", None, {"member": 202}),
        ("POST", lambda: f"/claims/{claim(draft=True)}/cancel", None, {"member": 202}),
        (
            "GET",
            lambda: f"/claims/{claim()}/actions",
            None,
            {"member": 200, "reviewer": 200, "admin": 200},
        ),
        (
            "POST",
            lambda: f"/claims/{claim()}/additional-info",
            lambda: {"documents": receipt},
            {"member": 409},
        ),
        (
            "POST",
            lambda: f"/claims/{claim()}/decision",
            lambda: {"decision": "approve"},
            {"reviewer": 409, "admin": 409},
        ),
        ("GET", lambda: "/review-queue", None, {"reviewer": 200, "admin": 200}),
        ("GET", lambda: "/plans", None, {"member": 200, "reviewer": 200, "admin": 200}),
        (
            "GET",
            lambda: f"/plans/{world.plan_id}",
            None,
            {"member": 200, "reviewer": 200, "admin": 200},
        ),
        ("GET", lambda: "/me/plans", None, {"member": 200}),
        ("GET", lambda: "/metrics", None, {"admin": 200}),
    ]
    mismatches = []
    for method, path, body, expected in table:
        for role, headers in roles.items():
            target = path()
            response = api.request(method, target, json=body() if body else None, headers=headers)
            want = expected.get(role, 403)
            if response.status_code != want:
                mismatches.append(f"{method} {target} as {role}: {response.status_code} != {want}")
            elif want == 403:
                assert response.json()["error"]["code"] == "PLAN_AUTH_FORBIDDEN"
    assert not mismatches, "\n".join(mismatches)
