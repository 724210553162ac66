"""Only the holder decides, and four eyes on large approvals, over HTTP with a real worker:
the same reviewer twice, a second reviewer, an administrator, a different amount, a
rejection or a request for information dropping the pending approval, and every refusal's
code."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.e2e.conftest import MEMBER, Headers, bearer
from tests.support.factories import World
from tests.support.harness import Harness, wait_until
from tests.support.review import activity, activity_events, waiting_claim

R1, R2, ADMIN = "reviewer-1", "reviewer-2", "admin-1"
LARGE = "8000.00"  # the benefit is 80 %: 6,400.00, above the four-eyes threshold


@pytest.fixture
def people() -> dict[str, Headers]:
    return {
        R1: bearer(R1, "reviewer"),
        R2: bearer(R2, "reviewer"),
        ADMIN: bearer(ADMIN, "admin"),
    }


def _take(api: TestClient, claim_id: int, headers: Headers) -> None:
    response = api.post(f"/claims/{claim_id}/assignment", headers=headers)
    assert response.status_code == 200, response.text


def _decide(api: TestClient, claim_id: int, headers: Headers, **body: Any) -> Any:
    body.setdefault("decision", "approve")
    return api.post(f"/claims/{claim_id}/decision", json=body, headers=headers)


def _settled(api: TestClient, claim_id: int, headers: Headers, answer: Any) -> dict[str, Any]:
    """The claim once the decision's action is applied (or at once, when applied in the request)."""
    assert answer.status_code == 202, answer.text
    link = answer.json().get("links", {}).get("self", "")
    if "/actions/" in link:
        wait_until(
            lambda: api.get(link, headers=headers).json()["status"] != "queued",
            timeout=30,
            what="the decision to be applied",
        )
    claim: dict[str, Any] = api.get(f"/claims/{claim_id}", headers=headers).json()
    return claim


def _first_approval(api: TestClient, claim_id: int, people: dict[str, Headers], who: str) -> None:
    _take(api, claim_id, people[who])
    claim = _settled(api, claim_id, people[who], _decide(api, claim_id, people[who]))
    assert claim["status"] == "UNDER_REVIEW"
    assert claim["pendingApproval"]["reviewerId"] == who
    assert claim["pendingApproval"]["approvedAmount"] == "6400.00"


def test_a_large_approval_waits_for_a_second_reviewer_who_approves_it(
    api: TestClient,
    pipeline: Harness,
    harness: Harness,
    world: World,
    people: dict[str, Headers],
) -> None:
    claim_id = waiting_claim(harness, world, MEMBER, amount=LARGE)

    _first_approval(api, claim_id, people, R1)

    queue = api.get(
        "/review-queue", params={"awaitingSecondApproval": "true"}, headers=people[R2]
    ).json()["items"]
    assert [(item["id"], item["assignment"]) for item in queue] == [(claim_id, None)]
    _take(api, claim_id, people[R1])
    again = _decide(api, claim_id, people[R1])
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "PLAN_CLAIM_BUS_SECOND_APPROVER_REQUIRED"
    api.delete(f"/claims/{claim_id}/assignment", headers=people[R1])

    _take(api, claim_id, people[R2])
    claim = _settled(api, claim_id, people[R2], _decide(api, claim_id, people[R2]))

    assert claim["status"] == "APPROVED"
    assert claim["approvedAmount"] == "6400.00"
    assert claim["pendingApproval"] is None
    approval = claim["history"][-1]
    assert (approval["event"], approval["actorId"]) == ("approve", R2)
    assert approval["details"]["firstApprover"]["reviewerId"] == R1
    assert approval["details"]["firstApprover"]["approvedAmount"] == "6400.00"
    kinds = [(kind, actor) for kind, actor, _ in activity(harness, claim_id)]
    assert kinds[:3] == [("taken", R1), ("approval_pending", R1), ("released", R1)]
    assert kinds[-2:] == [("taken", R2), ("released", R2)]
    assert harness.scalar("SELECT count(*) FROM plan.claim_assignments") == 0
    assert "claim.approval_pending" in [e["type"] for e in activity_events(harness, claim_id)]
    assert harness.scalar(
        "SELECT count(*) FROM plan.member_year_totals WHERE out_of_pocket_paid > 0"
    ) == 1, "the year-to-date totals are spent once, by the second approval"


def test_admins_obey_the_same_rule(
    api: TestClient,
    pipeline: Harness,
    harness: Harness,
    world: World,
    people: dict[str, Headers],
) -> None:
    by_admin = waiting_claim(harness, world, MEMBER, amount=LARGE)
    _first_approval(api, by_admin, people, ADMIN)
    _take(api, by_admin, people[ADMIN])
    refused = _decide(api, by_admin, people[ADMIN])
    code = refused.json()["error"]["code"]
    assert code == "PLAN_CLAIM_BUS_SECOND_APPROVER_REQUIRED", refused.text

    confirmed_by_admin = waiting_claim(harness, world, MEMBER, amount=LARGE, provider="Other")
    _first_approval(api, confirmed_by_admin, people, R1)
    _take(api, confirmed_by_admin, people[ADMIN])
    claim = _settled(
        api, confirmed_by_admin, people[ADMIN], _decide(api, confirmed_by_admin, people[ADMIN])
    )
    assert claim["status"] == "APPROVED"
    assert claim["history"][-1]["actorId"] == ADMIN


def test_a_different_amount_becomes_a_new_first_approval(
    api: TestClient,
    pipeline: Harness,
    harness: Harness,
    world: World,
    people: dict[str, Headers],
) -> None:
    claim_id = waiting_claim(harness, world, MEMBER, amount=LARGE)
    _first_approval(api, claim_id, people, R1)

    _take(api, claim_id, people[R2])
    claim = _settled(
        api, claim_id, people[R2], _decide(api, claim_id, people[R2], approvedAmount="6000.00")
    )
    assert claim["status"] == "UNDER_REVIEW"
    assert claim["pendingApproval"]["reviewerId"] == R2
    assert claim["pendingApproval"]["approvedAmount"] == "6000.00"

    _take(api, claim_id, people[R1])
    claim = _settled(
        api, claim_id, people[R1], _decide(api, claim_id, people[R1], approvedAmount="6000.00")
    )
    assert claim["status"] == "APPROVED"
    assert claim["approvedAmount"] == "6000.00"
    assert claim["history"][-1]["details"]["firstApprover"]["reviewerId"] == R2


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"decision": "reject", "reasonCode": "NOT_COVERED"}, "REJECTED"),
        ({"decision": "request_info", "note": "Send the invoice"}, "ADDITIONAL_INFO_REQUIRED"),
        ({"decision": "approve", "approvedAmount": "1000.00"}, "APPROVED"),
    ],
    ids=["reject", "request_info", "approve_below_threshold"],
)
def test_a_second_reviewer_may_decide_otherwise_and_drops_the_pending_approval(
    api: TestClient,
    pipeline: Harness,
    harness: Harness,
    world: World,
    people: dict[str, Headers],
    body: dict[str, str],
    status: str,
) -> None:
    claim_id = waiting_claim(harness, world, MEMBER, amount=LARGE)
    _first_approval(api, claim_id, people, R1)

    _take(api, claim_id, people[R2])
    claim = _settled(api, claim_id, people[R2], _decide(api, claim_id, people[R2], **body))

    assert claim["status"] == status
    assert claim["pendingApproval"] is None
    assert harness.scalar("SELECT count(*) FROM plan.pending_approvals") == 0
    assert harness.scalar("SELECT count(*) FROM plan.claim_assignments") == 0


def test_only_the_holder_decides(
    api: TestClient,
    pipeline: Harness,
    harness: Harness,
    world: World,
    people: dict[str, Headers],
) -> None:
    claim_id = waiting_claim(harness, world, MEMBER, amount="800.00")

    nobody = _decide(api, claim_id, people[R1], decision="reject")
    _take(api, claim_id, people[R1])
    other = _decide(api, claim_id, people[R2], decision="reject")
    admin = _decide(api, claim_id, people[ADMIN], decision="reject")

    for refused in (nobody, other, admin):
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "PLAN_CLAIM_BUS_NOT_ASSIGNED"
    claim = _settled(api, claim_id, people[R1], _decide(api, claim_id, people[R1]))
    assert claim["status"] == "APPROVED"
    assert harness.scalar("SELECT count(*) FROM plan.claim_assignments") == 0
    late = _decide(api, claim_id, people[R1], decision="reject")
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "PLAN_CLAIM_BUS_INVALID_STATUS_TRANSITION"
