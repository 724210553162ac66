"""Member and reviewer actions as resources: recorded by the API, applied by a real worker.

Each route answers 202 with a queued action; a real relay and Celery worker apply it with the
person as the history row's actor and publish its event; the action then reads applied (or
refused, with its code). Without a worker an action stays queued, and a second one on the
same claim is refused at once.
"""

from __future__ import annotations

import uuid
from typing import Any

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
from tests.support.factories import World, claim_body, submit
from tests.support.harness import Harness, wait_until
from tests.support.outbox import OUTBOX_ITEMS
from tests.support.service import advance, apply, owed_step

RECEIPT = {"type": "RECEIPT", "fileName": "r.pdf", "mimeType": "application/pdf", "sizeBytes": 10}


def history(harness: Harness, claim_id: int) -> list[tuple[str, str, str, str, str]]:
    rows = harness.query(
        "SELECT event, from_status, to_status, actor_id, actor_role "
        "FROM plan.claim_status_history WHERE claim_id = %s ORDER BY id",
        (claim_id,),
    )
    return [
        (r["event"], r["from_status"], r["to_status"], r["actor_id"], r["actor_role"]) for r in rows
    ]


def event_types(harness: Harness, claim_id: int) -> list[str]:
    rows = harness.query(
        f"SELECT item->>'type' AS type FROM {OUTBOX_ITEMS} "
        "WHERE kind = 'event' AND item ? 'newStatus' AND claim_id = %s",
        (claim_id,),
    )
    return [row["type"] for row in rows]


def under_review(harness: Harness, world: World, amount: str = "500.00") -> int:
    """A claim waiting for a reviewer, put there without a worker."""
    claim_id = submit(world, MEMBER, amount=amount).claim_id
    assert claim_id is not None
    [outcome] = advance(owed_step(harness, claim_id))
    assert outcome.claim_status is not None and outcome.claim_status.value == "UNDER_REVIEW"
    return claim_id


def accepted_action(response: Any, claim_id: int, event: str) -> dict[str, Any]:
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    action_id = body["actionId"]
    assert body == {
        "actionId": action_id,
        "claimId": claim_id,
        "event": event,
        "status": "queued",
        "links": {
            "self": f"/claims/{claim_id}/actions/{action_id}",
            "claim": f"/claims/{claim_id}",
        },
    }
    assert response.headers["location"] == body["links"]["self"]
    return body


# --------------------------------------------------------------------------- applied by a worker


def test_a_submission_is_a_draft_with_a_submit_action_that_the_worker_applies(
    api: TestClient, world: World, member: Headers, pipeline: Harness
) -> None:
    response = api.post("/claims", json=claim_body(world, MEMBER, amount="80.00"), headers=member)

    assert response.status_code == 202, response.text
    claim = response.json()
    assert claim["status"] == "DRAFT"
    action_path = claim["links"]["action"]
    assert response.headers["location"] == action_path
    assert action_path.startswith(f"/claims/{claim['id']}/actions/")

    action = wait_for_action(api, action_path, member)
    assert action["event"] == "submit"
    assert action["actor"] == {"id": MEMBER, "role": "member"}
    assert action["claimStatus"] == "APPROVED"
    assert action["appliedAt"] is not None and action["error"] is None
    assert history(pipeline, claim["id"]) == [
        ("submit", "DRAFT", "SUBMITTED", MEMBER, "member"),
        ("start_review", "SUBMITTED", "UNDER_REVIEW", "system", "system"),
        ("approve", "UNDER_REVIEW", "APPROVED", "system", "system"),
    ]
    assert event_types(pipeline, claim["id"]) == [
        "claim.submitted",
        "claim.under_review",
        "claim.approved",
    ]


def test_an_http_claim_and_an_ingested_claim_take_the_same_three_transitions(
    api: TestClient, world: World, member: Headers, pipeline: Harness
) -> None:
    from celery import Celery

    over_http = api.post("/claims", json=claim_body(world, MEMBER), headers=member).json()
    sender = Celery("ingest-test", broker=pipeline.broker_url, set_as_current=False)
    try:
        sender.send_task(
            "plan.claims.ingest",
            args=[{**claim_body(world, MEMBER), "userId": MEMBER}],
            queue="ingest",
        )
    finally:
        sender.close()
    wait_for_action(api, over_http["links"]["action"], member)
    ingested = wait_until(
        lambda: pipeline.scalar(
            "SELECT max(id) FROM plan.claims WHERE id <> %s", (over_http["id"],)
        ),
        what="the ingested claim",
    )
    wait_for_status(api, ingested, member, "APPROVED")

    assert history(pipeline, over_http["id"]) == history(pipeline, ingested)
    assert event_types(pipeline, over_http["id"]) == event_types(pipeline, ingested)


def test_every_member_and_reviewer_action_is_applied_by_the_worker_as_its_person(
    api: TestClient,
    world: World,
    member: Headers,
    reviewer: Headers,
    pipeline: Harness,
) -> None:
    draft = api.post(
        "/claims", json=claim_body(world, MEMBER, amount="600.00", draft=True), headers=member
    ).json()
    assert draft["status"] == "DRAFT" and draft["links"].get("action") is None
    submitted = accepted_action(
        api.post(f"/claims/{draft['id']}/submit", headers=member), draft["id"], "submit"
    )
    assert wait_for_action(api, submitted["links"]["self"], member)["claimStatus"] == (
        "UNDER_REVIEW"
    )
    take(api, draft["id"], reviewer)
    asked = accepted_action(
        api.post(
            f"/claims/{draft['id']}/decision",
            json={"decision": "request_info", "note": "Send the referral"},
            headers=reviewer,
        ),
        draft["id"],
        "request_info",
    )
    wait_for_action(api, asked["links"]["self"], reviewer)
    answered = accepted_action(
        api.post(
            f"/claims/{draft['id']}/additional-info",
            json={"note": "Attached", "documents": [{**RECEIPT, "type": "REFERRAL"}]},
            headers=member,
        ),
        draft["id"],
        "provide_info",
    )
    wait_for_action(api, answered["links"]["self"], member)
    wait_until(
        lambda: (
            pipeline.scalar("SELECT next_step FROM plan.claims WHERE id = %s", (draft["id"],))
            is None
        ),
        what="the claim adjudicated again",
    )
    take(api, draft["id"], reviewer)
    approved = accepted_action(
        api.post(
            f"/claims/{draft['id']}/decision",
            json={"decision": "approve", "approvedAmount": "300.00"},
            headers=reviewer,
        ),
        draft["id"],
        "approve",
    )
    assert wait_for_action(api, approved["links"]["self"], member)["claimStatus"] == "APPROVED"

    rejected_id = under_review(pipeline, world, "700.00")
    take(api, rejected_id, reviewer)
    rejected = api.post(
        f"/claims/{rejected_id}/decision",
        json={"decision": "reject", "reasonCode": "NOT_COVERED"},
        headers=reviewer,
    ).json()
    cancelled_id = submit(world, MEMBER, amount="90.00", draft=True).claim_id
    assert cancelled_id is not None
    cancelled = api.post(f"/claims/{cancelled_id}/cancel", headers=member).json()
    wait_for_action(api, rejected["links"]["self"], reviewer)
    wait_for_action(api, cancelled["links"]["self"], member)

    reviewer_row = (REVIEWER, "reviewer")
    member_row = (MEMBER, "member")
    assert [(e, *who) for e, _, _, *who in history(pipeline, draft["id"])] == [
        ("submit", *member_row),
        ("start_review", "system", "system"),
        ("request_info", *reviewer_row),
        ("provide_info", *member_row),
        ("approve", *reviewer_row),
    ]
    assert event_types(pipeline, draft["id"])[-3:] == [
        "claim.additional_info_required",
        "claim.info_provided",
        "claim.approved",
    ]
    assert history(pipeline, rejected_id)[-1] == (
        "reject",
        "UNDER_REVIEW",
        "REJECTED",
        *reviewer_row,
    )
    assert history(pipeline, cancelled_id) == [("cancel", "DRAFT", "CANCELLED", *member_row)]
    assert "claim.rejected" in event_types(pipeline, rejected_id)
    assert event_types(pipeline, cancelled_id) == ["claim.cancelled"]
    listed = api.get(f"/claims/{draft['id']}/actions", headers=member).json()
    assert [a["event"] for a in listed["items"]] == [
        "approve",
        "provide_info",
        "request_info",
        "submit",
    ]
    assert {a["status"] for a in listed["items"]} == {"applied"}
    assert listed["hasMore"] is False


def test_an_action_overtaken_by_an_approval_is_refused_and_changes_nothing(
    api: TestClient, world: World, member: Headers, harness: Harness
) -> None:
    claim_id = submit(world, MEMBER, amount="500.00").claim_id
    assert claim_id is not None
    # Accepted while the claim is SUBMITTED and cancellable; no worker runs yet.
    cancel = accepted_action(
        api.post(f"/claims/{claim_id}/cancel", headers=member), claim_id, "cancel"
    )
    # The review starts and a reviewer's approval is applied before the cancel is.
    advance(owed_step(harness, claim_id))
    from models.commands import Actor, ClaimCommand
    from models.enums import ActorRole, ClaimEvent

    [approval] = apply(
        ClaimCommand(
            claim_id=claim_id,
            event=ClaimEvent.APPROVE,
            event_id=uuid.uuid4(),
            actor=Actor(id=REVIEWER, role=ActorRole.REVIEWER),
        )
    )
    assert approval.status == "applied"
    before = history(harness, claim_id), event_types(harness, claim_id)
    harness.start_worker()
    harness.start_relay()

    refused = wait_for_action(api, cancel["links"]["self"], member, status="refused")

    assert refused["error"]["code"] == "PLAN_CLAIM_BUS_INVALID_STATUS_TRANSITION"
    assert refused["error"]["message"]
    assert refused["claimStatus"] == "APPROVED"
    assert harness.scalar("SELECT status FROM plan.claims WHERE id = %s", (claim_id,)) == "APPROVED"
    assert (history(harness, claim_id), event_types(harness, claim_id)) == before


# --------------------------------------------------------------------------- without a worker


def test_a_second_action_while_one_is_queued_answers_409_action_pending(
    api: TestClient, world: World, reviewer: Headers, harness: Harness
) -> None:
    claim_id = under_review(harness, world)
    take(api, claim_id, reviewer)
    first = api.post(f"/claims/{claim_id}/decision", json={"decision": "approve"}, headers=reviewer)
    accepted_action(first, claim_id, "approve")

    second = api.post(
        f"/claims/{claim_id}/decision",
        json={"decision": "reject"},
        headers=reviewer,
    )

    assert second.status_code == 409
    assert second.json()["error"]["code"] == "PLAN_CLAIM_BUS_ACTION_PENDING"
    actions = harness.query(
        "SELECT event, status FROM plan.claim_actions WHERE claim_id = %s", (claim_id,)
    )
    assert actions == [{"event": "approve", "status": "queued"}]
    view = api.get(first.json()["links"]["self"], headers=reviewer).json()
    assert (view["status"], view["appliedAt"], view["claimStatus"], view["error"]) == (
        "queued",
        None,
        None,
        None,
    )
    assert view["actor"] == {"id": REVIEWER, "role": "reviewer"}


def test_an_idempotency_key_on_an_action_returns_the_same_action(
    api: TestClient, world: World, reviewer: Headers, harness: Harness
) -> None:
    claim_id = under_review(harness, world)
    headers = {**reviewer, "Idempotency-Key": "decide-1"}
    body = {"decision": "approve", "approvedAmount": "100.00"}
    take(api, claim_id, reviewer)

    first = api.post(f"/claims/{claim_id}/decision", json=body, headers=headers)
    again = api.post(f"/claims/{claim_id}/decision", json=body, headers=headers)
    changed = api.post(
        f"/claims/{claim_id}/decision", json={**body, "approvedAmount": "90.00"}, headers=headers
    )

    assert first.status_code == again.status_code == 202
    assert again.json()["actionId"] == first.json()["actionId"]
    assert again.headers["location"] == first.headers["location"]
    assert changed.status_code == 422
    assert changed.json()["error"]["code"] == "PLAN_CLAIM_VAL_IDEMPOTENCY_KEY_REUSED"
    assert harness.scalar("SELECT count(*) FROM plan.claim_actions") == 1


def test_another_members_action_answers_404_and_an_unknown_action_too(
    api: TestClient, world: World, member: Headers, other_member: Headers, harness: Harness
) -> None:
    claim_id = submit(world, MEMBER, amount="90.00", draft=True).claim_id
    action = api.post(f"/claims/{claim_id}/submit", headers=member).json()

    theirs = api.get(action["links"]["self"], headers=other_member)
    unknown = api.get(f"/claims/{claim_id}/actions/{uuid.uuid4()}", headers=member)
    listing = api.get(f"/claims/{claim_id}/actions", headers=other_member)

    assert (theirs.status_code, theirs.json()["error"]["code"]) == (404, "PLAN_CLAIM_NOT_FOUND")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (
        404,
        "PLAN_CLAIM_ACTION_NOT_FOUND",
    )
    assert listing.status_code == 404
    assert api.get(action["links"]["self"], headers=bearer("anyone", "reviewer")).status_code == 200
