"""The transactional outbox and its relay: nothing published inside a transaction, nothing lost
after a commit, domain events where other services read them, and rows that wait for a broker
that is down.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
import redis
from kombu import Connection, Queue

from config import get_settings
from devtools.servers import PrivateRedis
from models.commands import Actor, ClaimCommand
from models.enums import ActorRole, ClaimEvent
from models.submission import ClaimSubmission
from service.actions import apply_commands
from service.submissions import SubmissionRequest, submit_claims
from storage.unit_of_work import PlanJourneyContext
from tests.support.factories import claim_body, make_world, submit
from tests.support.harness import Harness, wait_until
from tests.support.outbox import OUTBOX_ITEMS
from worker.celery_app import events_queue

MEMBER = "member-1"
EVENT_FIELDS = {
    "eventId",
    "type",
    "claimId",
    "userId",
    "planId",
    "previousStatus",
    "newStatus",
    "claimedAmount",
    "approvedAmount",
    "currency",
    "reasonCode",
    "occurredAt",
}


def count(harness: Harness, table: str) -> int:
    return int(harness.scalar(f"SELECT count(*) FROM plan.{table}"))


def unpublished(harness: Harness) -> int:
    return int(harness.scalar("SELECT count(*) FROM plan.outbox WHERE published_at IS NULL"))


def statuses(harness: Harness) -> dict[int, str]:
    return {r["id"]: r["status"] for r in harness.query("SELECT id, status FROM plan.claims")}


def drain(broker_url: str, queue: Queue) -> list[tuple[str, Any, dict[str, Any]]]:
    """Take every message waiting in ``queue``: (routing key, decoded body, headers)."""
    taken = []
    with Connection(broker_url) as connection:
        bound = queue(connection.default_channel)
        while (message := bound.get(no_ack=True)) is not None:
            taken.append(
                (message.delivery_info["routing_key"], message.decode(), message.headers or {})
            )
    return taken


def domain_events(broker_url: str) -> list[tuple[str, dict[str, Any]]]:
    """Every domain event waiting in the events queue, with the routing key it came by."""
    return [
        (routing_key, event)
        for routing_key, body, _ in drain(broker_url, events_queue(get_settings()))
        for event in body["events"]
    ]


def test_outbox_rows_commit_or_roll_back_with_the_change_that_caused_them(
    harness: Harness,
) -> None:
    world = make_world()
    request = SubmissionRequest(
        MEMBER, ClaimSubmission.model_validate(claim_body(world, MEMBER, amount="150.00"))
    )
    with PlanJourneyContext() as ctx:
        [result] = submit_claims(ctx, [request], get_settings())
        assert result.claim_id is not None
        # Leaving without commit() rolls back.
    assert (count(harness, "claims"), count(harness, "outbox")) == (0, 0)
    assert count(harness, "claim_status_history") == 0

    claim_id = submit(world, MEMBER, amount="150.00").claim_id
    rows = harness.query(
        "SELECT kind, name, destination, published_at, item_count FROM plan.outbox "
        "WHERE claim_id = %s ORDER BY kind",
        (claim_id,),
    )
    assert rows == [
        {
            "kind": "event",
            "name": "claim.submitted",
            "destination": "claim.submitted",
            "published_at": None,
            "item_count": 1,
        },
        {
            "kind": "task",
            "name": "plan.claims.start_review",
            "destination": "claims",
            "published_at": None,
            "item_count": 1,
        },
    ]
    # Committed, yet nothing reached the broker: only the relay publishes.
    assert redis.Redis.from_url(harness.broker_url).dbsize() == 0

    cancel = ClaimCommand(
        claim_id=claim_id,
        event=ClaimEvent.CANCEL,
        event_id=uuid.uuid4(),
        actor=Actor(id=MEMBER, role=ActorRole.MEMBER),
    )
    with PlanJourneyContext() as ctx:
        [outcome] = apply_commands(ctx, [cancel], get_settings())
        assert outcome.status == "applied"
    assert count(harness, "outbox") == 2
    assert harness.scalar("SELECT status FROM plan.claims WHERE id = %s", (claim_id,)) == (
        "SUBMITTED"
    )


def test_relay_publishes_waiting_rows_batched_and_marks_them_sent(harness: Harness) -> None:
    world = make_world()
    claim_ids = [submit(world, MEMBER, amount="150.00").claim_id for _ in range(3)]
    assert unpublished(harness) == 6

    harness.start_relay()
    wait_until(lambda: unpublished(harness) == 0, what="the relay to publish every row")

    # The three start_review items travel together, as one message for the batch task.
    [(routing_key, body, headers)] = drain(harness.broker_url, Queue("claims"))
    assert (routing_key, headers["task"]) == ("claims", "plan.claims.start_review")
    args, kwargs, _ = body
    assert kwargs == {}
    assert sorted(item["claimId"] for item in args[0]) == sorted(claim_ids)
    assert {item["step"] for item in args[0]} == {"start_review"}

    events = domain_events(harness.broker_url)
    assert sorted(event["claimId"] for _, event in events) == sorted(claim_ids)
    for routing_key, event in events:
        assert routing_key == event["type"] == "claim.submitted"
        assert set(event) == EVENT_FIELDS
        assert (event["previousStatus"], event["newStatus"]) == ("DRAFT", "SUBMITTED")
        assert (event["userId"], event["planId"]) == (MEMBER, world.plan_id)
        assert (event["claimedAmount"], event["approvedAmount"]) == ("150.00", None)
        assert event["currency"] == "BRL"
        datetime.fromisoformat(event["occurredAt"])
    sent_at = harness.query("SELECT published_at FROM plan.outbox")
    assert all(row["published_at"] is not None for row in sent_at)


def test_a_transaction_writes_one_row_per_event_type_and_task_and_the_relay_splits_them(
    harness: Harness,
) -> None:
    world = make_world()
    requests = [
        SubmissionRequest(
            MEMBER,
            ClaimSubmission.model_validate(
                claim_body(world, MEMBER, amount="150.00", provider=f"Clinic {n}")
            ),
        )
        for n in range(5)
    ]
    with PlanJourneyContext() as ctx:
        results = submit_claims(ctx, requests, get_settings())
        ctx.commit()
    late = submit(world, MEMBER, amount="150.00", provider="Clinic late").claim_id
    # Five submit actions in one task row; then one claim.submitted event and one
    # start_review step.
    rows = harness.query("SELECT kind, name, item_count FROM plan.outbox ORDER BY id")
    assert rows == [
        {"kind": "task", "name": "plan.claims.submit", "item_count": 5},
        {"kind": "event", "name": "claim.submitted", "item_count": 1},
        {"kind": "task", "name": "plan.claims.start_review", "item_count": 1},
    ]

    # Relay transactions of at most 3 items (a larger row goes alone), messages of at most 2.
    harness.start_relay({"RELAY_BATCH_SIZE": "3", "BATCH_SIZE": "2"})
    wait_until(lambda: unpublished(harness) == 0, what="the relay to publish every row")

    work = [
        (headers["task"], body[0][0])
        for _, body, headers in drain(harness.broker_url, Queue("claims"))
    ]
    assert sorted(len(items) for _, items in work) == [1, 1, 2, 2]
    actions = {str(r.action_id) for r in results}
    assert sorted(
        i for task, items in work if task == "plan.claims.submit" for i in items
    ) == sorted(actions)
    [(_, [step])] = [(task, items) for task, items in work if task == "plan.claims.start_review"]
    assert step["claimId"] == late
    events = domain_events(harness.broker_url)
    assert [event["claimId"] for _, event in events] == [late]


def test_every_transition_of_a_claim_reaches_the_events_queue_once(harness: Harness) -> None:
    world = make_world()
    claim_id = submit(world, MEMBER, amount="80.00").claim_id
    harness.start_worker(queues="claims")
    harness.start_relay()

    wait_until(
        lambda: statuses(harness)[claim_id] == "APPROVED" and unpublished(harness) == 0,
        what="the approval and its events to be published",
    )

    events = domain_events(harness.broker_url)
    assert [routing_key for routing_key, _ in events] == [
        "claim.submitted",
        "claim.under_review",
        "claim.approved",
    ]
    assert [(e["previousStatus"], e["newStatus"]) for _, e in events] == [
        ("DRAFT", "SUBMITTED"),
        ("SUBMITTED", "UNDER_REVIEW"),
        ("UNDER_REVIEW", "APPROVED"),
    ]
    approved = events[-1][1]
    assert set(approved) == EVENT_FIELDS
    assert approved["claimId"] == claim_id
    assert (approved["claimedAmount"], approved["approvedAmount"]) == ("80.00", "64.00")
    assert approved["reasonCode"] == "WITHIN_AUTO_APPROVAL"
    recorded = harness.query(
        f"SELECT item->>'eventId' AS event_id FROM {OUTBOX_ITEMS} WHERE kind = 'event'"
    )
    assert [e["eventId"] for _, e in events] == [row["event_id"] for row in recorded]


@pytest.fixture
def private_broker(harness: Harness) -> Any:
    with PrivateRedis() as broker:
        yield broker
        harness.stop_all()  # the worker and relay go before their broker does


@pytest.mark.chaos
def test_rows_wait_while_the_broker_is_down_and_all_go_out_when_it_is_back(
    harness: Harness, private_broker: PrivateRedis
) -> None:
    world = make_world()
    on_private_broker = {"BROKER_URL": private_broker.url, "RELAY_MAX_BACKOFF_S": "1"}
    harness.start_worker(queues="claims", env=on_private_broker)
    relay = harness.start_relay(env=on_private_broker)
    first = submit(world, MEMBER, amount="80.00").claim_id
    wait_until(
        lambda: statuses(harness)[first] == "APPROVED" and unpublished(harness) == 0,
        what="the broker to carry work",
    )

    private_broker.stop()
    submitted = [submit(world, MEMBER, amount="80.00").claim_id for _ in range(3)]
    wait_until(
        lambda: "relay.broker_unavailable" in relay.log(), what="the relay to miss the broker"
    )
    submitted += [submit(world, MEMBER, amount="80.00").claim_id for _ in range(3)]
    assert unpublished(harness) == 2 * len(submitted)
    assert {statuses(harness)[c] for c in submitted} == {"SUBMITTED"}

    private_broker.start()
    wait_until(
        lambda: (
            unpublished(harness) == 0 and {statuses(harness)[c] for c in submitted} == {"APPROVED"}
        ),
        timeout=60,
        what="every row published and every claim decided once the broker is back",
    )

    history = harness.query(
        "SELECT claim_id, count(*) AS n FROM plan.claim_status_history GROUP BY claim_id"
    )
    assert {row["claim_id"]: row["n"] for row in history} == dict.fromkeys([first, *submitted], 3)
    # The events of the claims submitted while the broker was down reach their queue too.
    events = domain_events(private_broker.url)
    delivered = {(e["claimId"], e["newStatus"]) for _, e in events}
    for claim_id in submitted:
        for status in ("SUBMITTED", "UNDER_REVIEW", "APPROVED"):
            assert (claim_id, status) in delivered
    used = harness.scalar("SELECT sum(limit_used) FROM plan.coverage_usage")
    assert used == Decimal("80.00") * (1 + len(submitted))
