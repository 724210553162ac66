"""POST /claims and POST /claims/batch: stored whole or not at all, each rule of DOMAIN.md
section 3 refused with its field and code."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.e2e.conftest import MEMBER, OTHER_MEMBER, Headers, row_counts
from tests.support.factories import TODAY, World, claim_body
from tests.support.harness import Harness


def _document(**overrides: Any) -> dict[str, Any]:
    return {
        "type": "RECEIPT",
        "fileName": "receipt.pdf",
        "mimeType": "application/pdf",
        "sizeBytes": 2048,
        **overrides,
    }


def test_a_submission_is_stored_as_a_draft_with_documents_and_a_queued_submit_action(
    api: TestClient, world: World, member: Headers, harness: Harness
) -> None:
    response = api.post("/claims", json=claim_body(world, MEMBER), headers=member)

    assert response.status_code == 202
    claim = response.json()
    assert claim["status"] == "DRAFT"
    [action] = harness.query("SELECT id, event, status, actor_id FROM plan.claim_actions")
    assert (action["event"], action["status"], action["actor_id"]) == ("submit", "queued", MEMBER)
    action_path = f"/claims/{claim['id']}/actions/{action['id']}"
    assert claim["links"] == {
        "self": f"/claims/{claim['id']}",
        "history": f"/claims/{claim['id']}/history",
        "action": action_path,
    }
    assert response.headers["location"] == action_path
    assert row_counts(harness) == {
        "claims": 1,
        "documents": 1,
        "claim_status_history": 0,  # the worker's transaction writes the transitions
        "outbox": 1,  # the submit action's work, carrying its id only
    }
    [work] = harness.query("SELECT name, destination, payload FROM plan.outbox")
    assert work == {
        "name": "plan.claims.submit",
        "destination": "claims",
        "payload": {"items": [str(action["id"])]},
    }
    row = harness.query("SELECT claimed_amount, user_id FROM plan.claims")[0]
    assert (str(row["claimed_amount"]), row["user_id"]) == ("80.00", MEMBER)


def test_a_draft_waits_until_the_member_submits_it(
    api: TestClient, world: World, member: Headers
) -> None:
    draft = api.post("/claims", json=claim_body(world, MEMBER, draft=True), headers=member)
    assert draft.status_code == 202
    assert draft.json()["status"] == "DRAFT"
    assert "action" not in draft.json()["links"] or draft.json()["links"]["action"] is None
    claim_id = draft.json()["id"]
    assert api.get(f"/claims/{claim_id}/history", headers=member).json()["items"] == []
    assert api.get(f"/claims/{claim_id}/actions", headers=member).json()["items"] == []

    submitted = api.post(f"/claims/{claim_id}/submit", headers=member)

    assert submitted.status_code == 202
    assert submitted.json()["status"] == "queued"
    again = api.post(f"/claims/{claim_id}/submit", headers=member)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "PLAN_CLAIM_BUS_ACTION_PENDING"


def test_an_idempotency_key_replay_returns_the_same_claim(
    api: TestClient, world: World, member: Headers, harness: Harness
) -> None:
    body = claim_body(world, MEMBER)
    headers = {**member, "Idempotency-Key": "order-7f3a"}

    first = api.post("/claims", json=body, headers=headers)
    again = api.post("/claims", json=body, headers=headers)

    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["replayed"] is True
    assert first.json()["replayed"] is False
    assert harness.scalar("SELECT count(*) FROM plan.claims") == 1


def test_the_same_idempotency_key_of_two_members_makes_two_claims(
    api: TestClient, world: World, member: Headers, other_member: Headers
) -> None:
    mine = api.post(
        "/claims",
        json=claim_body(world, MEMBER),
        headers={**member, "Idempotency-Key": "shared-key"},
    )
    theirs = api.post(
        "/claims",
        json=claim_body(world, OTHER_MEMBER),
        headers={**other_member, "Idempotency-Key": "shared-key"},
    )
    assert mine.status_code == theirs.status_code == 202
    assert mine.json()["id"] != theirs.json()["id"]


def test_an_idempotency_key_longer_than_128_characters_is_refused(
    api: TestClient, world: World, member: Headers, harness: Harness
) -> None:
    response = api.post(
        "/claims",
        json=claim_body(world, MEMBER),
        headers={**member, "Idempotency-Key": "k" * 129},
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "Idempotency-Key"
    assert harness.scalar("SELECT count(*) FROM plan.claims") == 0


def test_a_live_duplicate_answers_409_and_writes_nothing(
    api: TestClient, world: World, member: Headers, harness: Harness
) -> None:
    body = claim_body(world, MEMBER, provider="Clinica Sao Paulo")
    assert api.post("/claims", json=body, headers=member).status_code == 202
    before = row_counts(harness)

    duplicate = api.post(
        "/claims", json={**body, "providerName": "CLINICA SAO PAULO"}, headers=member
    )

    assert duplicate.status_code == 409
    assert duplicate.json()["error"] == {
        "code": "PLAN_CLAIM_BUS_DUPLICATE_SUBMISSION",
        "message": duplicate.json()["error"]["message"],
        "field": "procedureCode",
    }
    assert row_counts(harness) == before


VIOLATIONS: list[tuple[str, dict[str, Any], str, str]] = [
    ("zero amount", {"amount": "0"}, "amount", "PLAN_CLAIM_VAL_INVALID_AMOUNT"),
    ("negative amount", {"amount": -12.5}, "amount", "PLAN_CLAIM_VAL_INVALID_AMOUNT"),
    ("three decimals", {"amount": 10.005}, "amount", "PLAN_CLAIM_VAL_INVALID_AMOUNT"),
    ("over a million", {"amount": "1000000.01"}, "amount", "PLAN_CLAIM_VAL_INVALID_AMOUNT"),
    ("amount not a number", {"amount": "ten"}, "amount", "PLAN_CLAIM_VAL_INVALID_AMOUNT"),
    (
        "lowercase procedure code",
        {"procedureCode": "c10101"},
        "procedureCode",
        "PLAN_CLAIM_VAL_INVALID_PROCEDURE_CODE",
    ),
    (
        "short procedure code",
        {"procedureCode": "AB"},
        "procedureCode",
        "PLAN_CLAIM_VAL_INVALID_PROCEDURE_CODE",
    ),
    (
        "long procedure code",
        {"procedureCode": "A" * 17},
        "procedureCode",
        "PLAN_CLAIM_VAL_INVALID_PROCEDURE_CODE",
    ),
    (
        "diagnosis not icd-10",
        {"diagnosisCode": "123"},
        "diagnosisCode",
        "PLAN_CLAIM_VAL_INVALID_DIAGNOSIS_CODE",
    ),
    (
        "future service date",
        {"serviceDate": (TODAY + timedelta(days=1)).isoformat()},
        "serviceDate",
        "PLAN_CLAIM_VAL_INVALID_SERVICE_DATE",
    ),
    (
        "outside the filing window",
        {"serviceDate": (TODAY - timedelta(days=366)).isoformat()},
        "serviceDate",
        "PLAN_CLAIM_VAL_INVALID_SERVICE_DATE",
    ),
    (
        "not a date",
        {"serviceDate": "2025-02-30"},
        "serviceDate",
        "PLAN_CLAIM_VAL_INVALID_SERVICE_DATE",
    ),
    (
        "six documents",
        {"documents": [_document() for _ in range(6)]},
        "documents",
        "PLAN_CLAIM_VAL_INVALID_DOCUMENT",
    ),
    (
        "document over 10 MB",
        {"documents": [_document(sizeBytes=10 * 1024 * 1024 + 1)]},
        "documents[0].sizeBytes",
        "PLAN_CLAIM_VAL_INVALID_DOCUMENT",
    ),
    (
        "gif document",
        {"documents": [_document(fileName="scan.gif", mimeType="image/gif")]},
        "documents[0].fileName",
        "PLAN_CLAIM_VAL_INVALID_DOCUMENT",
    ),
    (
        "mime type not matching the file",
        {"documents": [_document(fileName="scan.png")]},
        "documents[0].mimeType",
        "PLAN_CLAIM_VAL_INVALID_DOCUMENT",
    ),
    ("missing provider", {"providerName": None}, "providerName", "PLAN_CLAIM_VAL_INVALID_INPUT"),
    ("unknown field", {"memberId": 3}, "memberId", "PLAN_CLAIM_VAL_INVALID_INPUT"),
    ("no plan named", {"memberPlanId": None}, "memberPlanId", "PLAN_CLAIM_VAL_INVALID_INPUT"),
    ("nul in a note", {"notes": "see\u0000attached"}, "notes", "PLAN_CLAIM_VAL_INVALID_INPUT"),
    (
        "lone surrogate",
        {"providerName": "Cl\ud800nica"},
        "providerName",
        "PLAN_CLAIM_VAL_INVALID_INPUT",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [pytest.param(o, f, c, id=name) for name, o, f, c in VIOLATIONS],
)
def test_a_broken_input_rule_answers_422_with_field_and_code_and_writes_nothing(
    api: TestClient,
    world: World,
    member: Headers,
    harness: Harness,
    overrides: dict[str, Any],
    field: str,
    code: str,
) -> None:
    body = claim_body(world, MEMBER)
    body.update(overrides)
    if overrides.get("providerName", "") is None:
        del body["providerName"]

    # json.dumps escapes non-ASCII as \uXXXX, as many clients do.
    response = api.post(
        "/claims",
        content=json.dumps(body),
        headers={**member, "Content-Type": "application/json"},
    )

    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    assert response.json()["error"]["code"] == code
    assert row_counts(harness) == dict.fromkeys(row_counts(harness), 0)


def test_a_plan_the_member_is_not_enrolled_in_answers_no_coverage(
    api: TestClient, world: World, member: Headers, harness: Harness
) -> None:
    others_enrolment = world.members[OTHER_MEMBER]
    by_member_plan = api.post(
        "/claims",
        json=claim_body(world, MEMBER, memberPlanId=others_enrolment),
        headers=member,
    )
    body = claim_body(world, MEMBER, planId=world.plan_id + 1000)
    del body["memberPlanId"]
    by_plan = api.post("/claims", json=body, headers=member)

    assert by_member_plan.status_code == by_plan.status_code == 422
    assert by_member_plan.json()["error"]["code"] == "PLAN_CLAIM_BUS_NO_COVERAGE"
    assert by_member_plan.json()["error"]["field"] == "memberPlanId"
    assert by_plan.json()["error"]["field"] == "planId"
    assert row_counts(harness) == dict.fromkeys(row_counts(harness), 0)


def test_a_claim_may_name_its_plan_instead_of_the_enrolment(
    api: TestClient, world: World, member: Headers
) -> None:
    body = claim_body(world, MEMBER, planId=world.plan_id)
    del body["memberPlanId"]
    response = api.post("/claims", json=body, headers=member)
    assert response.status_code == 202
    claim = api.get(f"/claims/{response.json()['id']}", headers=member).json()
    assert claim["memberPlanId"] == world.members[MEMBER]


def test_amounts_are_read_exactly_as_sent(
    api: TestClient, world: World, member: Headers, harness: Harness
) -> None:
    as_number_body = claim_body(world, MEMBER) | {"amount": 80.1}
    as_number = api.post("/claims", json=as_number_body, headers=member)
    # A JSON number no float can hold: only an exact reading sees its third decimal.
    body = json.dumps(claim_body(world, MEMBER, amount="AMOUNT"))
    too_precise = api.post(
        "/claims",
        content=body.replace('"AMOUNT"', "12.000000000000000001"),
        headers={**member, "Content-Type": "application/json"},
    )

    assert as_number.status_code == 202
    assert str(harness.scalar("SELECT claimed_amount FROM plan.claims")) == "80.10"
    assert too_precise.status_code == 422
    assert too_precise.json()["error"]["code"] == "PLAN_CLAIM_VAL_INVALID_AMOUNT"


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b"[]", b'"claim"', b'{"amount": NaN}'],
    ids=["empty", "cut", "list", "str", "nan"],
)
def test_a_body_that_is_not_a_claim_object_answers_422(
    api: TestClient, member: Headers, body: bytes
) -> None:
    response = api.post(
        "/claims", content=body, headers={**member, "Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "PLAN_CLAIM_VAL_INVALID_INPUT"


# --------------------------------------------------------------------------- batch


def test_a_batch_answers_each_item_with_its_id_or_its_errors(
    api: TestClient, world: World, admin: Headers, harness: Harness
) -> None:
    valid = {**claim_body(world, MEMBER), "userId": MEMBER}
    for_other = {**claim_body(world, OTHER_MEMBER), "userId": OTHER_MEMBER, "idempotencyKey": "b-1"}
    bad_amount = {**claim_body(world, MEMBER), "userId": MEMBER, "amount": "0.001"}
    not_enrolled = {**claim_body(world, MEMBER), "userId": "stranger"}
    without_user = claim_body(world, MEMBER)

    response = api.post(
        "/claims/batch",
        json={"claims": [valid, bad_amount, for_other, not_enrolled, without_user]},
        headers=admin,
    )

    assert response.status_code == 202
    results = response.json()["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3, 4]
    assert results[0]["status"] == results[2]["status"] == "DRAFT"
    assert results[0]["actionId"] and results[2]["actionId"]
    assert results[1]["errors"][0]["code"] == "PLAN_CLAIM_VAL_INVALID_AMOUNT"
    assert results[1]["errors"][0]["field"] == "amount"
    assert results[3]["errors"][0]["code"] == "PLAN_CLAIM_BUS_NO_COVERAGE"
    assert {"field": "userId", "code": "PLAN_CLAIM_VAL_INVALID_INPUT"}.items() <= (
        results[4]["errors"][0].items()
    )
    owners = harness.query("SELECT id, user_id FROM plan.claims ORDER BY id")
    assert [(row["id"], row["user_id"]) for row in owners] == [
        (results[0]["id"], MEMBER),
        (results[2]["id"], OTHER_MEMBER),
    ]

    replay = api.post("/claims/batch", json={"claims": [for_other]}, headers=admin)
    assert replay.json()["results"][0]["id"] == results[2]["id"]
    assert replay.json()["results"][0]["replayed"] is True


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"claims": []}, "claims"),
        ({"claims": [{}] * 1001}, "claims"),
        ({"claim": []}, "claims"),
        ({"claims": [], "extra": 1}, "extra"),
        ([], "claims"),
    ],
    ids=["empty", "over 1000", "misnamed", "extra field", "not an object"],
)
def test_a_batch_outside_1_to_1000_claims_answers_422(
    api: TestClient, admin: Headers, body: Any, field: str, harness: Harness
) -> None:
    response = api.post("/claims/batch", json=body, headers=admin)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field
    assert harness.scalar("SELECT count(*) FROM plan.claims") == 0


def test_a_batch_of_1000_claims_is_stored_in_one_request(
    api: TestClient, world: World, admin: Headers, harness: Harness
) -> None:
    users = [(MEMBER, OTHER_MEMBER)[i % 2] for i in range(1000)]
    claims = [{**claim_body(world, user), "userId": user} for user in users]
    response = api.post("/claims/batch", json={"claims": claims}, headers=admin)
    assert response.status_code == 202
    assert all(result.get("status") == "DRAFT" for result in response.json()["results"])
    assert harness.scalar("SELECT count(*) FROM plan.claims") == 1000
    assert harness.scalar("SELECT count(*) FROM plan.claim_actions WHERE status = 'queued'") == 1000
