"""Claim lists and details, plans and enrolments, as each role reads them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.e2e.conftest import MEMBER, OTHER_MEMBER, Headers
from tests.support.factories import TODAY, World, claim_body, make_world
from tests.support.harness import Harness


def _file(api: TestClient, world: World, user: str, headers: Headers, **body: Any) -> int:
    response = api.post("/claims", json=claim_body(world, user, **body), headers=headers)
    assert response.status_code == 202, response.text
    return int(response.json()["id"])


def _ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_a_member_lists_only_their_own_claims_newest_first(
    api: TestClient,
    world: World,
    member: Headers,
    other_member: Headers,
    reviewer: Headers,
    admin: Headers,
) -> None:
    first = _file(api, world, MEMBER, member)
    theirs = _file(api, world, OTHER_MEMBER, other_member)
    second = _file(api, world, MEMBER, member)

    assert _ids(api.get("/claims", headers=member)) == [second, first]
    assert _ids(api.get("/claims", headers=other_member)) == [theirs]
    assert _ids(api.get("/claims", headers=reviewer)) == [second, theirs, first]
    assert _ids(api.get("/claims", headers=admin)) == [second, theirs, first]


def test_claims_are_filtered_by_status_plan_and_service_dates(
    api: TestClient, world: World, member: Headers, harness: Harness
) -> None:
    recent = _file(api, world, MEMBER, member, days_ago=2)
    older = _file(api, world, MEMBER, member, days_ago=40)
    draft = _file(api, world, MEMBER, member, days_ago=10, draft=True)
    elsewhere = make_world(users=(MEMBER,))
    other_plan = _file(api, elsewhere, MEMBER, member, days_ago=5)

    def ids(**params: Any) -> list[int]:
        return _ids(api.get("/claims", params=params, headers=member))

    # No worker runs: the submitted ones wait in DRAFT for their submit action.
    assert ids(status="DRAFT") == [other_plan, draft, older, recent]
    assert ids(status="SUBMITTED") == []
    assert ids(planId=elsewhere.plan_id) == [other_plan]
    assert ids(planId=world.plan_id) == [draft, older, recent]
    assert ids(serviceDateFrom=(TODAY - timedelta(days=10)).isoformat()) == [
        other_plan,
        draft,
        recent,
    ]
    assert ids(
        serviceDateFrom=(TODAY - timedelta(days=41)).isoformat(),
        serviceDateTo=(TODAY - timedelta(days=6)).isoformat(),
    ) == [draft, older]


def test_claims_are_paged_with_size_at_most_100(
    api: TestClient, world: World, member: Headers
) -> None:
    filed = [_file(api, world, MEMBER, member) for _ in range(5)]

    first = api.get("/claims", params={"size": 2}, headers=member).json()
    last = api.get("/claims", params={"size": 2, "page": 3}, headers=member).json()
    default = api.get("/claims", headers=member).json()

    assert [c["id"] for c in first["items"]] == filed[::-1][:2]
    assert (first["page"], first["size"], first["hasMore"]) == (1, 2, True)
    assert [c["id"] for c in last["items"]] == [filed[0]]
    assert last["hasMore"] is False
    assert default["size"] == 10
    for params in (
        {"size": 101},
        {"size": 0},
        {"page": 0},
        {"status": "LOST"},
        {"serviceDateFrom": "yesterday"},
        {"planId": -1},
    ):
        response = api.get("/claims", params=params, headers=member)
        assert response.status_code == 422, params
        assert response.json()["error"]["field"] == next(iter(params))


def test_a_claim_reads_with_its_documents_amounts_and_history(
    api: TestClient, world: World, member: Headers, reviewer: Headers
) -> None:
    documents = [
        {
            "type": "RECEIPT",
            "fileName": "receipt.pdf",
            "mimeType": "application/pdf",
            "sizeBytes": 2048,
            "sha256": "ab" * 32,
            "storageKey": "claims/2025/receipt.pdf",
        },
        {
            "type": "MEDICAL_REPORT",
            "fileName": "report.png",
            "mimeType": "image/png",
            "sizeBytes": 4096,
        },
    ]
    claim_id = _file(
        api, world, MEMBER, member, amount="150.25", documents=documents, notes="Follow-up visit"
    )

    for headers in (member, reviewer):
        claim = api.get(f"/claims/{claim_id}", headers=headers).json()
        assert claim["amount"] == "150.25"
        assert claim["approvedAmount"] is None
        assert claim["notes"] == "Follow-up visit"
        assert claim["adjudication"] is None
        documents_read = claim["documents"]
        assert [(d["type"], d["fileName"], d["verificationStatus"]) for d in documents_read] == [
            ("RECEIPT", "receipt.pdf", "PENDING"),
            ("MEDICAL_REPORT", "report.png", "PENDING"),
        ]
        assert claim["documents"][0]["sha256"] == "ab" * 32
        assert claim["status"] == "DRAFT"  # until a worker applies its submit action
        assert claim["history"] == []
        assert claim["links"]["history"] == f"/claims/{claim_id}/history"


def test_plans_read_with_coverage_and_benefits(
    api: TestClient, world: World, member: Headers, reviewer: Headers, harness: Harness
) -> None:
    harness.query(
        "INSERT INTO plan.benefits (plan_id, category, code, name, discount_percent)"
        " VALUES (%s, 'GYM', 'GYM-20', 'Gym discount', 20) RETURNING id",
        (world.plan_id,),
    )

    listed = api.get("/plans", headers=reviewer).json()
    detail = api.get(f"/plans/{world.plan_id}", headers=member).json()

    assert [p["id"] for p in listed["items"]] == [world.plan_id]
    assert detail["coinsurancePercent"] == "20.00"
    assert {(c["procedureType"], c["coveragePercent"]) for c in detail["coverages"]} == {
        ("CONSULTATION", "80.00"),
        ("PREVENTIVE", "100.00"),
    }
    assert [(b["code"], b["category"], b["discountPercent"]) for b in detail["benefits"]] == [
        ("GYM-20", "GYM", "20.00")
    ]


def test_an_unknown_plan_answers_404(api: TestClient, member: Headers) -> None:
    response = api.get("/plans/424242", headers=member)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "PLAN_PLAN_NOT_FOUND"


def test_a_member_reads_their_enrolments_with_the_ids_claims_name(
    api: TestClient, world: World, member: Headers, other_member: Headers
) -> None:
    mine = api.get("/me/plans", headers=member).json()["items"]
    theirs = api.get("/me/plans", headers=other_member).json()["items"]

    assert [(e["id"], e["planId"], e["status"]) for e in mine] == [
        (world.members[MEMBER], world.plan_id, "ACTIVE")
    ]
    assert [e["id"] for e in theirs] == [world.members[OTHER_MEMBER]]


@pytest.mark.parametrize("path", ["/review-queue", "/plans"])
def test_lists_refuse_a_page_size_over_100(api: TestClient, admin: Headers, path: str) -> None:
    response = api.get(path, params={"size": 500}, headers=admin)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "size"
