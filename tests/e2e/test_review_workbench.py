"""The reviewer workbench over HTTP: taking, releasing and reassigning a claim, its activity
as reviewers and as its member see it, the queue's filters, and the queue's metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.e2e.conftest import ADMIN, MEMBER, OTHER_MEMBER, REVIEWER, Headers, bearer
from tests.support.factories import World
from tests.support.harness import Harness
from tests.support.review import waiting_claim

REVIEWER_2 = "reviewer-2"


@pytest.fixture
def reviewer_2() -> Headers:
    return bearer(REVIEWER_2, "reviewer")


def _queue(api: TestClient, headers: Headers, **params: Any) -> list[int]:
    response = api.get("/review-queue", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def _error(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_take_renew_release_and_reassign_over_http(
    api: TestClient,
    harness: Harness,
    world: World,
    reviewer: Headers,
    reviewer_2: Headers,
    admin: Headers,
) -> None:
    claim_id = waiting_claim(harness, world, MEMBER)
    path = f"/claims/{claim_id}/assignment"

    taken = api.post(path, headers=reviewer)
    assert taken.status_code == 200, taken.text
    body = taken.json()
    assert (body["claimId"], body["reviewerId"]) == (claim_id, REVIEWER)
    expires = datetime.fromisoformat(body["expiresAt"])
    assert timedelta(minutes=29) < expires - datetime.now(UTC) <= timedelta(minutes=30)

    assert _error(api.post(path, headers=reviewer_2)) == (
        409,
        "PLAN_CLAIM_BUS_ASSIGNED_TO_ANOTHER",
    )
    assert _error(api.delete(path, headers=reviewer_2)) == (403, "PLAN_AUTH_FORBIDDEN")
    assert api.post(path, headers=reviewer).status_code == 200
    assert _error(api.put(path, json={"reviewerId": REVIEWER_2}, headers=reviewer)) == (
        403,
        "PLAN_AUTH_FORBIDDEN",
    )
    handed = api.put(path, json={"reviewerId": REVIEWER_2}, headers=admin)
    assert handed.status_code == 200, handed.text
    assert handed.json()["reviewerId"] == REVIEWER_2
    assert api.delete(path, headers=reviewer_2).status_code == 204
    assert _error(api.delete(path, headers=reviewer_2)) == (409, "PLAN_CLAIM_BUS_NOT_ASSIGNED")
    assert _error(api.put(path, json={"reviewerId": ""}, headers=admin))[0] == 422
    assert _error(api.post("/claims/987654/assignment", headers=reviewer)) == (
        404,
        "PLAN_CLAIM_NOT_FOUND",
    )

    kinds = [
        (item["kind"], item["actor"]["id"])
        for item in api.get(f"/claims/{claim_id}/activity", headers=reviewer).json()["items"]
    ]
    assert kinds == [
        ("taken", REVIEWER),
        ("renewed", REVIEWER),
        ("reassigned", ADMIN),
        ("released", REVIEWER_2),
    ]


def test_members_see_their_claims_activity_without_reviewer_ids(
    api: TestClient,
    harness: Harness,
    world: World,
    reviewer: Headers,
    member: Headers,
    other_member: Headers,
) -> None:
    claim_id = waiting_claim(harness, world, MEMBER)
    api.post(f"/claims/{claim_id}/assignment", headers=reviewer)

    seen = api.get(f"/claims/{claim_id}/activity", headers=member)

    assert seen.status_code == 200
    [item] = seen.json()["items"]
    assert item["kind"] == "taken"
    assert item["actor"] == {"id": None, "role": "reviewer"}
    assert REVIEWER not in seen.text
    assert "expiresAt" in item["details"]
    assert _error(api.get(f"/claims/{claim_id}/activity", headers=other_member)) == (
        404,
        "PLAN_CLAIM_NOT_FOUND",
    )
    assert _error(api.post(f"/claims/{claim_id}/assignment", headers=member)) == (
        403,
        "PLAN_AUTH_FORBIDDEN",
    )


def test_the_queue_filters_by_assignment_amount_procedure_plan_and_submission(
    api: TestClient,
    harness: Harness,
    world: World,
    reviewer: Headers,
    reviewer_2: Headers,
) -> None:
    mine = waiting_claim(harness, world, MEMBER, amount="800.00")
    others = waiting_claim(harness, world, MEMBER, amount="2500.00")
    free = waiting_claim(harness, world, OTHER_MEMBER, amount="300.00", procedure_type="PREVENTIVE")
    api.post(f"/claims/{mine}/assignment", headers=reviewer)
    api.post(f"/claims/{others}/assignment", headers=reviewer_2)
    harness.query(
        "UPDATE plan.claims SET submitted_at = now() - interval '3 days' WHERE id = %s "
        "RETURNING id",
        (others,),
    )

    assert _queue(api, reviewer) == [others, mine, free]
    assert _queue(api, reviewer, assigned="me") == [mine]
    assert _queue(api, reviewer, assigned="others") == [others]
    assert _queue(api, reviewer, assigned="none") == [free]
    assert _queue(api, reviewer_2, assigned="me") == [others]
    assert _queue(api, reviewer, minAmount="500", maxAmount="1000") == [mine]
    assert _queue(api, reviewer, procedureType="PREVENTIVE") == [free]
    assert _queue(api, reviewer, planId=world.plan_id) == [others, mine, free]
    assert _queue(api, reviewer, planId=world.plan_id + 1000) == []
    before = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    assert _queue(api, reviewer, submittedBefore=before) == [others]
    assert _queue(api, reviewer, awaitingSecondApproval="false") == [others, mine, free]
    assert _queue(api, reviewer, awaitingSecondApproval="true") == []
    wrong = api.get("/review-queue", params={"assigned": "mine"}, headers=reviewer)
    assert wrong.status_code == 422

    [item] = api.get("/review-queue", params={"assigned": "me"}, headers=reviewer).json()["items"]
    assert item["assignment"]["reviewerId"] == REVIEWER
    assert item["pendingApproval"] is None
    assert item["planCode"].startswith("T-")
    assert datetime.fromisoformat(item["waitingSince"]) <= datetime.now(UTC)

    harness.query(
        "UPDATE plan.claim_assignments SET taken_at = now() - interval '1 hour', "
        "expires_at = now() - interval '1 second' WHERE claim_id = %s RETURNING claim_id",
        (mine,),
    )
    assert _queue(api, reviewer, assigned="none") == [mine, free]


def test_metrics_show_queue_depth_by_state_and_the_oldest_wait(
    api: TestClient, harness: Harness, world: World, reviewer: Headers, admin: Headers
) -> None:
    taken = waiting_claim(harness, world, MEMBER)
    waiting_claim(harness, world, MEMBER)
    pending = waiting_claim(harness, world, MEMBER)
    api.post(f"/claims/{taken}/assignment", headers=reviewer)
    harness.query(
        "INSERT INTO plan.pending_approvals (claim_id, reviewer_id, reviewer_role, "
        "approved_amount, approved_at) VALUES (%s, 'reviewer-9', 'reviewer', 640, now()) "
        "RETURNING claim_id",
        (pending,),
    )
    harness.query(
        "UPDATE plan.claim_status_history SET occurred_at = now() - interval '2 hours' "
        "WHERE claim_id = %s RETURNING id",
        (taken,),
    )

    text = api.get("/metrics", headers=admin).text

    assert 'plan_review_queue_depth{state="unassigned"} 1.0' in text
    assert 'plan_review_queue_depth{state="assigned"} 1.0' in text
    assert 'plan_review_queue_depth{state="awaiting_second_approval"} 1.0' in text
    [oldest] = [
        line for line in text.splitlines()
        if line.startswith("plan_review_queue_oldest_waiting_seconds ")
    ]
    assert 7000 < float(oldest.split()[1]) < 7400
    detail = api.get(f"/claims/{pending}", headers=reviewer).json()
    assert detail["pendingApproval"]["reviewerId"] == "reviewer-9"
    assert detail["pendingApproval"]["approvedAmount"] == "640.00"
    assert api.get(f"/claims/{taken}", headers=reviewer).json()["pendingApproval"] is None


def test_a_claim_whose_decision_is_queued_leaves_the_queue_and_its_figures(
    api: TestClient, harness: Harness, world: World, reviewer: Headers, admin: Headers
) -> None:
    decided = waiting_claim(harness, world, MEMBER)
    still_waiting = waiting_claim(harness, world, MEMBER)
    for claim_id in (decided, still_waiting):
        assert api.post(f"/claims/{claim_id}/assignment", headers=reviewer).status_code == 200

    # No worker runs in this test: the decision stays queued, as it would with workers down.
    answer = api.post(
        f"/claims/{decided}/decision", json={"decision": "approve"}, headers=reviewer
    )
    assert answer.status_code == 202, answer.text

    assert _queue(api, reviewer) == [still_waiting]
    assert _queue(api, reviewer, assigned="me") == [still_waiting]
    text = api.get("/metrics", headers=admin).text
    assert 'plan_review_queue_depth{state="assigned"} 1.0' in text
    assert api.get(f"/claims/{decided}", headers=reviewer).json()["status"] == "UNDER_REVIEW"

    # Refused by its worker (here: settled by hand), the claim waits for a person again.
    harness.query(
        "UPDATE plan.claim_actions SET status = 'refused', applied_at = now(), "
        "error_code = 'PLAN_CLAIM_BUS_NOT_ASSIGNED' WHERE claim_id = %s RETURNING id",
        (decided,),
    )
    assert _queue(api, reviewer) == [decided, still_waiting]
