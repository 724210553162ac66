"""The console's guards without a browser: the session cookie's attributes, CSRF on every
form, sign-in outside and inside production, and refusals as pages."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.console.session import CSRF_COOKIE, TOKEN_COOKIE
from config import get_settings
from tests.e2e.conftest import MEMBER, bearer
from tests.support.factories import World
from tests.support.harness import Harness, reset_app_caches
from tests.support.review import waiting_claim


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page carries no CSRF token"
    return found.group(1)


def test_signing_in_sets_an_httponly_samesite_strict_cookie(api: TestClient) -> None:
    form = api.get("/console/sign-in")
    assert form.status_code == 200
    assert "samesite=strict" in form.headers["set-cookie"].lower()

    signed_in = api.post(
        "/console/sign-in",
        data={"csrf": _csrf(form.text), "reviewer_id": "reviewer-1", "role": "reviewer"},
        follow_redirects=False,
    )

    assert signed_in.status_code == 303
    cookie = next(
        value for name, value in signed_in.headers.multi_items()
        if name == "set-cookie" and value.startswith(TOKEN_COOKIE)
    )
    assert "httponly" in cookie.lower()
    assert "samesite=strict" in cookie.lower()
    assert "path=/console" in cookie.lower()
    queue = api.get("/console")
    assert queue.status_code == 200
    assert "reviewer-1" in queue.text


def test_a_form_without_its_csrf_token_changes_nothing(
    api: TestClient, harness: Harness, world: World
) -> None:
    claim_id = waiting_claim(harness, world, MEMBER)
    form = api.get("/console/sign-in")
    api.post(
        "/console/sign-in",
        data={"csrf": _csrf(form.text), "reviewer_id": "reviewer-1", "role": "reviewer"},
    )

    for token in ("", "forged"):
        refused = api.post(f"/console/claims/{claim_id}/take", data={"csrf": token})
        assert refused.status_code == 403
        assert "reload the page" in refused.text
    assert harness.scalar("SELECT count(*) FROM plan.claim_assignments") == 0
    assert api.post("/console/sign-in", data={"reviewer_id": "x"}).status_code == 403

    page = api.get(f"/console/claims/{claim_id}")
    taken = api.post(
        f"/console/claims/{claim_id}/take", data={"csrf": _csrf(page.text)},
        follow_redirects=False,
    )
    assert taken.status_code == 303
    assert harness.scalar("SELECT reviewer_id FROM plan.claim_assignments") == "reviewer-1"
    assert api.cookies.get(CSRF_COOKIE) == _csrf(page.text)


def test_pages_need_a_reviewer_or_admin(api: TestClient, harness: Harness, world: World) -> None:
    claim_id = waiting_claim(harness, world, MEMBER)
    assert api.get("/console", follow_redirects=False).headers["location"] == "/console/sign-in"
    member = api.get("/console", headers=bearer(MEMBER, "member"))
    assert member.status_code == 403
    admin = api.get(f"/console/claims/{claim_id}", headers=bearer("admin-1", "admin"))
    assert admin.status_code == 200
    assert 'data-testid="take"' in admin.text
    missing = api.get("/console/claims/987654", headers=bearer("admin-1", "admin"))
    assert missing.status_code == 404
    expired = api.get("/console", headers=bearer("reviewer-1", "reviewer", ttl_s=-10))
    assert expired.status_code == 303 or expired.url.path == "/console/sign-in"


def test_a_refusal_shows_on_the_claim_page_with_its_code(
    api: TestClient, harness: Harness, world: World
) -> None:
    claim_id = waiting_claim(harness, world, MEMBER)
    first = bearer("reviewer-1", "reviewer")
    second = bearer("reviewer-2", "reviewer")
    page = api.get(f"/console/claims/{claim_id}", headers=first)
    api.post(f"/console/claims/{claim_id}/take", data={"csrf": _csrf(page.text)}, headers=first)

    late = api.post(
        f"/console/claims/{claim_id}/take", data={"csrf": _csrf(page.text)}, headers=second
    )

    assert late.status_code == 409
    assert "PLAN_CLAIM_BUS_ASSIGNED_TO_ANOTHER" in late.text
    assert 'data-testid="taken-by"' in late.text


@pytest.fixture
def production_api(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("JWT_SECRET", "a-production-secret-of-at-least-32-characters")
    monkeypatch.setenv("FLOWER_BASIC_AUTH", "ops:a-real-password")
    reset_app_caches()
    return TestClient(create_app(), base_url="https://testserver", raise_server_exceptions=False)


def test_production_accepts_only_a_token_of_the_identity_provider(
    production_api: TestClient,
) -> None:
    with production_api as api:
        form = api.get("/console/sign-in")
        assert 'data-testid="reviewer-id"' not in form.text
        csrf = _csrf(form.text)
        typed = api.post(
            "/console/sign-in", data={"csrf": csrf, "reviewer_id": "reviewer-1"},
        )
        assert typed.status_code == 403
        assert TOKEN_COOKIE not in api.cookies
        token = bearer("reviewer-1", "reviewer")["Authorization"].split()[1]
        pasted = api.post(
            "/console/sign-in", data={"csrf": csrf, "token": token}, follow_redirects=False
        )
        assert pasted.status_code == 303
        assert "secure" in pasted.headers["set-cookie"].lower()
        assert get_settings().environment == "production"
