"""Member and reviewer actions refused at request time: ownership, unknown ids, transitions
the claim's status does not allow, and malformed action bodies; nothing is recorded."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.e2e.conftest import Headers, row_counts, wait_for_action
from tests.support.harness import Harness

FileClaim = Callable[..., dict[str, Any]]


def test_a_member_withdraws_a_claim_once(
    api: TestClient, file_claim: FileClaim, member: Headers, pipeline: Harness
) -> None:
    claim = file_claim(draft=True)

    cancelled = api.post(f"/claims/{claim['id']}/cancel", headers=member)
    pending = api.post(f"/claims/{claim['id']}/cancel", headers=member)
    assert cancelled.status_code == 202
    assert cancelled.json()["status"] == "queued"
    assert pending.status_code == 409
    # Queued still, or already applied by the worker: refused either way, and never twice.
    assert pending.json()["error"]["code"] in (
        "PLAN_CLAIM_BUS_ACTION_PENDING",
        "PLAN_CLAIM_BUS_INVALID_STATUS_TRANSITION",
    )
    wait_for_action(api, cancelled.json()["links"]["self"], member)
    again = api.post(f"/claims/{claim['id']}/cancel", headers=member)

    assert again.status_code == 409
    assert again.json()["error"]["code"] == "PLAN_CLAIM_BUS_INVALID_STATUS_TRANSITION"
    history = api.get(f"/claims/{claim['id']}/history", headers=member).json()["items"]
    assert [(h["event"], h["toStatus"], h["reasonCode"]) for h in history] == [
        ("cancel", "CANCELLED", "MEMBER_WITHDREW"),
    ]


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("GET", "/history", None),
        ("POST", "/submit", None),
        ("POST", "/cancel", None),
        (
            "POST",
            "/additional-info",
            {
                "documents": [
                    {
                        "type": "RECEIPT",
                        "fileName": "r.pdf",
                        "mimeType": "application/pdf",
                        "sizeBytes": 10,
                    }
                ]
            },
        ),
    ],
)
def test_another_members_claim_answers_404_and_stays_as_it_was(
    api: TestClient,
    file_claim: FileClaim,
    other_member: Headers,
    harness: Harness,
    method: str,
    suffix: str,
    body: Any,
) -> None:
    claim = file_claim(draft=True)
    before = row_counts(harness)

    response = api.request(
        method, f"/claims/{claim['id']}{suffix}", json=body, headers=other_member
    )

    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "PLAN_CLAIM_NOT_FOUND"
    assert row_counts(harness) == before
    assert harness.scalar("SELECT status FROM plan.claims") == "DRAFT"


@pytest.mark.parametrize(
    ("method", "suffix", "body", "role"),
    [
        ("GET", "", None, "member"),
        ("GET", "/history", None, "reviewer"),
        ("POST", "/submit", None, "member"),
        ("POST", "/cancel", None, "member"),
        ("POST", "/decision", {"decision": "reject"}, "reviewer"),
    ],
)
def test_an_unknown_claim_answers_404(
    api: TestClient,
    member: Headers,
    reviewer: Headers,
    method: str,
    suffix: str,
    body: Any,
    role: str,
) -> None:
    headers = member if role == "member" else reviewer
    response = api.request(method, f"/claims/987654{suffix}", json=body, headers=headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "PLAN_CLAIM_NOT_FOUND"


@pytest.mark.parametrize("claim_id", ["0", "-3", "abc", str(2**63)])
def test_a_claim_id_that_is_not_a_positive_bigint_answers_422(
    api: TestClient, member: Headers, claim_id: str
) -> None:
    response = api.get(f"/claims/{claim_id}", headers=member)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "id"


@pytest.mark.parametrize(
    ("decision", "event_status"),
    [("approve", "DRAFT"), ("reject", "DRAFT"), ("request_info", "DRAFT")],
)
def test_a_decision_on_a_claim_not_under_review_answers_409(
    api: TestClient,
    file_claim: FileClaim,
    reviewer: Headers,
    harness: Harness,
    decision: str,
    event_status: str,
) -> None:
    claim = file_claim()
    before = row_counts(harness)

    response = api.post(
        f"/claims/{claim['id']}/decision", json={"decision": decision}, headers=reviewer
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "PLAN_CLAIM_BUS_INVALID_STATUS_TRANSITION"
    assert row_counts(harness) == before
    assert harness.scalar("SELECT status FROM plan.claims") == event_status


def test_additional_info_on_a_claim_nobody_asked_about_answers_409(
    api: TestClient, file_claim: FileClaim, member: Headers, harness: Harness
) -> None:
    claim = file_claim()
    receipt = {
        "type": "RECEIPT",
        "fileName": "r.pdf",
        "mimeType": "application/pdf",
        "sizeBytes": 10,
    }
    before = row_counts(harness)

    response = api.post(
        f"/claims/{claim['id']}/additional-info", json={"documents": [receipt]}, headers=member
    )

    assert response.status_code == 409
    assert row_counts(harness) == before


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"decision": "maybe"}, "decision", "PLAN_CLAIM_VAL_INVALID_INPUT"),
        ({}, "decision", "PLAN_CLAIM_VAL_INVALID_INPUT"),
        (
            {"decision": "approve", "approvedAmount": "12.345"},
            "approvedAmount",
            "PLAN_CLAIM_BUS_INVALID_APPROVED_AMOUNT",
        ),
        (
            {"decision": "approve", "approvedAmount": -1},
            "approvedAmount",
            "PLAN_CLAIM_BUS_INVALID_APPROVED_AMOUNT",
        ),
        (
            {"decision": "reject", "reasonCode": "not upper"},
            "reasonCode",
            "PLAN_CLAIM_VAL_INVALID_INPUT",
        ),
        ({"decision": "reject", "note": "n" * 2001}, "note", "PLAN_CLAIM_VAL_INVALID_INPUT"),
    ],
)
def test_a_malformed_decision_answers_422(
    api: TestClient,
    file_claim: FileClaim,
    reviewer: Headers,
    body: dict[str, Any],
    field: str,
    code: str,
) -> None:
    claim = file_claim()
    response = api.post(f"/claims/{claim['id']}/decision", json=body, headers=reviewer)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field
    assert response.json()["error"]["code"] == code


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"documents": []}, "documents"),
        ({"note": "here"}, "documents"),
        (
            {
                "documents": [
                    {
                        "type": "RECEIPT",
                        "fileName": "r.exe",
                        "mimeType": "application/pdf",
                        "sizeBytes": 10,
                    }
                ]
            },
            "documents[0].fileName",
        ),
    ],
)
def test_additional_info_without_acceptable_documents_answers_422(
    api: TestClient, file_claim: FileClaim, member: Headers, body: dict[str, Any], field: str
) -> None:
    claim = file_claim()
    response = api.post(f"/claims/{claim['id']}/additional-info", json=body, headers=member)
    assert response.status_code == 422
    assert response.json()["error"] == {
        "code": "PLAN_CLAIM_VAL_INVALID_DOCUMENT",
        "message": response.json()["error"]["message"],
        "field": field,
    }
