"""Claims submitted over HTTP, moved by a real relay and Celery worker, decided by reviewers."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from tests.e2e.conftest import (
    MEMBER,
    REVIEWER,
    Headers,
    bearer,
    take,
    wait_for_action,
    wait_for_status,
)
from tests.support.harness import Harness, admin_conninfo, wait_until

FileClaim = Callable[..., dict[str, Any]]


def _path(claim: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(h["event"], h["fromStatus"], h["toStatus"]) for h in claim["history"]]


def _in_review_queue(api: TestClient, claim_id: int, headers: Headers) -> bool:
    queue = api.get("/review-queue", params={"size": 100}, headers=headers)
    return claim_id in [item["id"] for item in queue.json()["items"]]


def test_a_small_claim_with_a_receipt_is_approved_by_the_worker(
    api: TestClient, file_claim: FileClaim, member: Headers, pipeline: Harness
) -> None:
    accepted = file_claim(amount="80.00")

    claim = wait_for_status(api, accepted["id"], member, "APPROVED")

    assert _path(claim) == [
        ("submit", "DRAFT", "SUBMITTED"),
        ("start_review", "SUBMITTED", "UNDER_REVIEW"),
        ("approve", "UNDER_REVIEW", "APPROVED"),
    ]
    assert (claim["approvedAmount"], claim["memberResponsibility"]) == ("64.00", "16.00")
    assert claim["adjudication"]["decision"] == "approve"
    assert claim["adjudication"]["reasonCodes"][0] == "WITHIN_AUTO_APPROVAL"
    assert claim["adjudication"]["breakdown"]["benefit"] == "64.00"
    assert claim["history"][-1]["actorRole"] == "system"


def test_a_large_claim_waits_for_a_reviewer_who_approves_it_partially(
    api: TestClient,
    file_claim: FileClaim,
    member: Headers,
    reviewer: Headers,
    pipeline: Harness,
) -> None:
    accepted = file_claim(amount="500.00")
    wait_until(
        lambda: _in_review_queue(api, accepted["id"], reviewer), what="the claim in the queue"
    )
    waiting = api.get(f"/claims/{accepted['id']}", headers=member).json()
    assert waiting["status"] == "UNDER_REVIEW"
    assert waiting["decisionReasonCode"] == "ABOVE_AUTO_APPROVAL_THRESHOLD"
    assert waiting["adjudication"]["decision"] == "refer"

    take(api, accepted["id"], reviewer)
    decided = api.post(
        f"/claims/{accepted['id']}/decision",
        json={"decision": "approve", "approvedAmount": "300.00", "note": "Two sessions only"},
        headers=reviewer,
    )

    assert decided.status_code == 202, decided.text
    assert decided.json()["status"] == "queued"
    assert wait_for_action(api, decided.json()["links"]["self"], member)["claimStatus"] == (
        "APPROVED"
    )
    claim = api.get(f"/claims/{accepted['id']}", headers=member).json()
    assert (claim["amount"], claim["approvedAmount"], claim["memberResponsibility"]) == (
        "500.00",
        "300.00",
        "200.00",
    )
    assert claim["adjudication"]["reasonCodes"] == ["REVIEWER_DECISION", "PARTIAL_APPROVAL"]
    assert claim["adjudication"]["breakdown"]["submitted"] == "500.00"
    assert claim["adjudication"]["breakdown"]["benefit"] == "300.00"
    assert _path(claim) == [
        ("submit", "DRAFT", "SUBMITTED"),
        ("start_review", "SUBMITTED", "UNDER_REVIEW"),
        ("approve", "UNDER_REVIEW", "APPROVED"),
    ]
    decision = claim["history"][-1]
    assert (decision["actorId"], decision["actorRole"], decision["note"]) == (
        REVIEWER,
        "reviewer",
        "Two sessions only",
    )
    assert not _in_review_queue(api, accepted["id"], reviewer)
    history = api.get(f"/claims/{accepted['id']}/history", headers=member).json()["items"]
    assert [h["id"] for h in history] == [h["id"] for h in claim["history"]]


def test_reviewers_reject_or_ask_for_information_and_the_member_answers(
    api: TestClient,
    file_claim: FileClaim,
    member: Headers,
    reviewer: Headers,
    admin: Headers,
    pipeline: Harness,
) -> None:
    rejected = file_claim(amount="700.00")
    asked = file_claim(amount="650.00")
    for claim in (rejected, asked):
        wait_until(partial(_in_review_queue, api, claim["id"], reviewer), what="the queue")

    take(api, rejected["id"], admin)
    rejection = api.post(
        f"/claims/{rejected['id']}/decision",
        json={"decision": "reject", "reasonCode": "NOT_COVERED"},
        headers=admin,
    )
    take(api, asked["id"], reviewer)
    request = api.post(
        f"/claims/{asked['id']}/decision",
        json={"decision": "request_info", "note": "Send the referral"},
        headers=reviewer,
    )

    assert (rejection.status_code, request.status_code) == (202, 202)
    assert wait_for_action(api, rejection.json()["links"]["self"], admin)["claimStatus"] == (
        "REJECTED"
    )
    assert wait_for_action(api, request.json()["links"]["self"], reviewer)["claimStatus"] == (
        "ADDITIONAL_INFO_REQUIRED"
    )
    assert api.get(f"/claims/{rejected['id']}", headers=member).json()["decisionReasonCode"] == (
        "NOT_COVERED"
    )
    referral = {
        "type": "REFERRAL",
        "fileName": "referral.pdf",
        "mimeType": "application/pdf",
        "sizeBytes": 1000,
    }
    answered = api.post(
        f"/claims/{asked['id']}/additional-info",
        json={"note": "Attached", "documents": [referral]},
        headers=member,
    )
    assert answered.status_code == 202
    wait_for_action(api, answered.json()["links"]["self"], member)
    # Adjudicated again by the worker: still above the threshold, so back to the queue.
    wait_until(lambda: _in_review_queue(api, asked["id"], reviewer), what="the queue again")
    claim = api.get(f"/claims/{asked['id']}", headers=member).json()
    assert [d["type"] for d in claim["documents"]] == ["RECEIPT", "REFERRAL"]
    assert _path(claim)[-2:] == [
        ("request_info", "UNDER_REVIEW", "ADDITIONAL_INFO_REQUIRED"),
        ("provide_info", "ADDITIONAL_INFO_REQUIRED", "UNDER_REVIEW"),
    ]


def test_a_claim_without_a_receipt_is_sent_back_and_approved_once_the_member_sends_one(
    api: TestClient, file_claim: FileClaim, member: Headers, pipeline: Harness
) -> None:
    accepted = file_claim(amount="50.00", receipt=False)
    waiting = wait_for_status(api, accepted["id"], member, "ADDITIONAL_INFO_REQUIRED")
    assert waiting["decisionReasonCode"] == "INSUFFICIENT_DOCUMENTATION"
    assert waiting["infoDueAt"] is not None

    receipt = {
        "type": "RECEIPT",
        "fileName": "receipt.jpg",
        "mimeType": "image/jpeg",
        "sizeBytes": 52000,
    }
    answered = api.post(
        f"/claims/{accepted['id']}/additional-info", json={"documents": [receipt]}, headers=member
    )

    assert answered.status_code == 202
    claim = wait_for_status(api, accepted["id"], member, "APPROVED")
    assert claim["approvedAmount"] == "40.00"
    assert claim["infoDueAt"] is None


def test_a_reviewer_may_not_decide_their_own_claim(
    api: TestClient, file_claim: FileClaim, member: Headers, pipeline: Harness
) -> None:
    accepted = file_claim(amount="300.00")
    same_person_as_reviewer = bearer(MEMBER, "reviewer")
    wait_until(lambda: _in_review_queue(api, accepted["id"], same_person_as_reviewer))

    response = api.post(
        f"/claims/{accepted['id']}/decision",
        json={"decision": "approve"},
        headers=same_person_as_reviewer,
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "PLAN_CLAIM_BUS_SELF_REVIEW_FORBIDDEN"
    assert api.get(f"/claims/{accepted['id']}", headers=member).json()["status"] == "UNDER_REVIEW"


def test_two_decisions_by_the_holder_at_once_one_is_queued_and_the_other_gets_409(
    api: TestClient, file_claim: FileClaim, reviewer: Headers, pipeline: Harness
) -> None:
    accepted = file_claim(amount="400.00")
    claim_id = accepted["id"]
    wait_until(lambda: _in_review_queue(api, claim_id, reviewer), what="the claim in the queue")
    # Only the holder decides (another reviewer is refused at once): two tabs of the holder.
    take(api, claim_id, reviewer)
    second_reviewer = reviewer
    answers: dict[str, Any] = {}

    def decide(name: str, headers: Headers, decision: str) -> None:
        answers[name] = api.post(
            f"/claims/{claim_id}/decision", json={"decision": decision}, headers=headers
        )

    # Hold the claim's row so that both requests are inside their transaction (the action's
    # foreign key waits for the row; the second action waits on the first's queued index entry).
    with psycopg.connect(admin_conninfo(pipeline.database_url)) as blocker:
        blocker.execute("SELECT id FROM plan.claims WHERE id = %s FOR UPDATE", (claim_id,))
        deciders = [
            threading.Thread(target=decide, args=("first", reviewer, "approve")),
            threading.Thread(target=decide, args=("second", second_reviewer, "reject")),
        ]
        for decider in deciders:
            decider.start()
        wait_until(
            lambda: (
                pipeline.scalar(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
                == 2
            ),
            what="both reviewers waiting on the claim",
        )
        blocker.rollback()
    for decider in deciders:
        decider.join(timeout=30)

    statuses = sorted(answer.status_code for answer in answers.values())
    assert statuses == [202, 409]
    loser = next(a for a in answers.values() if a.status_code == 409)
    assert loser.json()["error"]["code"] == "PLAN_CLAIM_BUS_ACTION_PENDING"
    winner = next(a for a in answers.values() if a.status_code == 202)
    wait_for_action(api, winner.json()["links"]["self"], reviewer)
    decisions = pipeline.scalar(
        "SELECT count(*) FROM plan.claim_status_history"
        " WHERE claim_id = %s AND event IN ('approve', 'reject')",
        (claim_id,),
    )
    assert decisions == 1
