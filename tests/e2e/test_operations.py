"""Probes, metrics, request ids, log hygiene, and answers while a server is down."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from config import Settings, get_settings
from tests.e2e.conftest import MEMBER, Headers
from tests.support.factories import World, claim_body
from tests.support.harness import Harness, reset_app_caches, wait_until
from tests.support.rawhttp import start_web

FileClaim = Callable[..., dict[str, Any]]
CLOSED_PORT = 9  # discard: nothing listens there on a test machine


def test_health_answers_without_a_token(api: TestClient) -> None:
    response = api.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_when_database_and_broker_answer(api: TestClient) -> None:
    response = api.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "database": "ok", "broker": "ok"}


@pytest.mark.parametrize("down", ["database", "broker"])
def test_not_ready_when_a_server_does_not_answer(harness: Harness, down: str) -> None:
    settings = get_settings()
    broken: dict[str, Any] = (
        {"database_url": SecretStr(f"postgresql://postgres@127.0.0.1:{CLOSED_PORT}/plan")}
        if down == "database"
        else {"broker_url": SecretStr(f"redis://127.0.0.1:{CLOSED_PORT}/0")}
    )
    with TestClient(create_app(settings.model_copy(update=broken))) as client:
        response = client.get("/ready")

    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == (
        "PLAN_SYS_DATABASE_UNAVAILABLE" if down == "database" else "PLAN_SYS_BROKER_UNAVAILABLE"
    )
    assert f"{down} unavailable" in error["message"]


def test_requests_answer_503_without_details_while_the_database_is_down(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, world: World
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres@127.0.0.1:{CLOSED_PORT}/plan")
    reset_app_caches()
    member = {"Authorization": "Bearer " + _token(MEMBER, "member")}
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        answers = [
            client.post("/claims", json=claim_body(world, MEMBER), headers=member),
            client.get("/claims", headers=member),
            client.post("/claims/1/cancel", headers=member),
        ]
    for response in answers:
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "PLAN_SYS_DATABASE_UNAVAILABLE"
        assert "SELECT" not in response.text
        assert "127.0.0.1" not in response.text


def _token(subject: str, role: str) -> str:
    from api.auth import issue_token

    return issue_token(get_settings(), subject=subject, role=role)


def test_metrics_show_claims_by_status_outbox_backlog_and_latency(
    api: TestClient, file_claim: FileClaim, member: Headers, admin: Headers
) -> None:
    file_claim()
    file_claim(draft=True)

    response = api.get("/metrics", headers=admin)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    # No worker: the submitted claim waits in DRAFT with its submit action's outbox work.
    assert 'plan_claims{status="DRAFT"} 2.0' in text
    assert 'plan_claims{status="SUBMITTED"} 0.0' in text
    assert 'plan_claims{status="APPROVED"} 0.0' in text
    assert "plan_outbox_backlog 1.0" in text
    assert "plan_outbox_oldest_age_seconds" in text
    assert re.search(
        r'plan_http_request_duration_seconds_count\{method="POST",route="/claims",status="202"\}',
        text,
    )
    assert "plan_task_duration_seconds" in text
    assert api.get("/metrics", headers=member).status_code == 403
    assert api.get("/metrics").status_code == 401


def test_a_request_id_is_echoed_or_made(api: TestClient, member: Headers) -> None:
    given = api.get("/plans", headers={**member, "X-Request-ID": "trace-42.a"})
    made = api.get("/plans", headers=member)
    refused = api.get("/plans", headers={**member, "X-Request-ID": "bad id\twith spaces"})

    assert given.headers["x-request-id"] == "trace-42.a"
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    assert re.fullmatch(r"[0-9a-f]{32}", refused.headers["x-request-id"])


def test_the_served_app_logs_request_and_claim_ids_but_no_token_name_note_or_amount(
    harness: Harness, world: World, member: Headers
) -> None:
    served = start_web(harness)
    web = served.process
    base = f"http://127.0.0.1:{served.port}"
    body = claim_body(
        world, MEMBER, amount="4321.09", provider="Dr Hypatia Quaresma", notes="left knee pain"
    )
    accepted = httpx.post(
        f"{base}/claims", json=body, headers={**member, "X-Request-ID": "req-77"}, timeout=10
    )
    refused = httpx.post(f"{base}/claims", json={**body, "amount": "-1"}, headers=member)
    assert (accepted.status_code, refused.status_code) == (202, 422)
    claim_id = accepted.json()["id"]

    logs = wait_until(
        lambda: web.log() if f'"claim_id": {claim_id}' in web.log() else "",
        what="the access log line",
    )
    token = member["Authorization"].removeprefix("Bearer ")
    line = next(json.loads(text) for text in logs.splitlines() if '"req-77"' in text)
    assert (line["event"], line["route"], line["status"], line["claim_id"]) == (
        "http.request",
        "/claims",
        202,
        claim_id,
    )
    for secret in (token, "Hypatia", "knee", "4321.09"):
        assert secret not in logs


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/no-such-thing", 404, "PLAN_HTTP_NOT_FOUND"),
        ("DELETE", "/claims", 405, "PLAN_HTTP_METHOD_NOT_ALLOWED"),
    ],
)
def test_framework_refusals_use_the_error_envelope(
    api: TestClient, member: Headers, method: str, path: str, status: int, code: str
) -> None:
    response = api.request(method, path, headers=member)
    assert response.status_code == status
    assert response.json() == {
        "error": {"code": code, "message": response.json()["error"]["message"], "field": None}
    }


def test_the_app_reads_its_settings_when_created_not_when_imported(harness: Harness) -> None:
    settings = get_settings().model_copy(update={"filing_window_days": 5})
    member = {"Authorization": "Bearer " + _token(MEMBER, "member")}
    world_body: dict[str, Any] = {}
    with TestClient(create_app(settings)) as client:
        world_body = {
            "memberPlanId": 1,
            "procedureType": "CONSULTATION",
            "procedureCode": "C10101",
            "providerName": "Clinic",
            "serviceDate": claim_body_date(10),
            "amount": "10.00",
        }
        response = client.post("/claims", json=world_body, headers=member)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "serviceDate"
    assert "5 days" in response.json()["error"]["message"]
    assert isinstance(settings, Settings)


def claim_body_date(days_ago: int) -> str:
    from datetime import timedelta

    from tests.support.factories import TODAY

    return (TODAY - timedelta(days=days_ago)).isoformat()
