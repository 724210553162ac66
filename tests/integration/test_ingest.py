"""Claims sent by other services on the `ingest` queue, and the operator's dead letters."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery

from tests.support.factories import claim_body, make_world
from tests.support.harness import ROOT, Harness, wait_until
from tests.support.outbox import OUTBOX_ITEMS


@pytest.fixture
def sender(harness: Harness) -> Iterator[Celery]:
    app = Celery("ingest-test", broker=harness.broker_url, set_as_current=False)
    app.conf.task_serializer = "json"
    yield app
    app.close()


def queued_claim(body: dict[str, Any], user: str, **extra: Any) -> dict[str, Any]:
    return {**body, "userId": user, **extra}


def claims_of(harness: Harness, user: str) -> list[dict[str, Any]]:
    return harness.query(
        "SELECT id, status FROM plan.claims WHERE user_id = %s ORDER BY id", (user,)
    )


def test_a_queued_claim_is_validated_submitted_and_decided(
    harness: Harness, sender: Celery
) -> None:
    world = make_world(users=("partner-user",))
    harness.start_worker()
    harness.start_relay()
    claim = queued_claim(claim_body(world, "partner-user", amount="50.00"), "partner-user")

    sender.send_task("plan.claims.ingest", args=[claim], queue="ingest")

    wait_until(
        lambda: [c["status"] for c in claims_of(harness, "partner-user")] == ["APPROVED"],
        what="the queued claim to be approved",
    )


def test_an_invalid_message_is_recorded_once_and_the_worker_goes_on(
    harness: Harness, sender: Celery
) -> None:
    world = make_world(users=("partner-user",))
    harness.start_worker()
    invalid = queued_claim(claim_body(world, "partner-user", amount="-5"), "partner-user")
    valid = queued_claim(claim_body(world, "partner-user"), "partner-user")

    sender.send_task("plan.claims.ingest", args=[invalid], queue="ingest")
    sender.send_task("plan.claims.ingest", args=["not a claim"], queue="ingest")
    sender.send_task("plan.claims.ingest", args=[valid], queue="ingest")

    wait_until(lambda: len(claims_of(harness, "partner-user")) == 1, what="the valid claim")
    letters = wait_until(
        lambda: (
            harness.query("SELECT task_name, reason, errors FROM plan.dead_letters ORDER BY id")
            if harness.scalar("SELECT count(*) FROM plan.dead_letters") == 2
            else None
        ),
        what="two dead letters",
    )
    assert {letter["reason"] for letter in letters} == {"invalid"}
    codes = [error["code"] for letter in letters for error in letter["errors"]]
    assert "PLAN_CLAIM_VAL_INVALID_AMOUNT" in codes
    fields = [error["field"] for letter in letters for error in letter["errors"]]
    assert "amount" in fields


def test_a_message_delivered_twice_files_one_claim(harness: Harness, sender: Celery) -> None:
    world = make_world(users=("partner-user",))
    claim = queued_claim(claim_body(world, "partner-user"), "partner-user")
    task_id = str(uuid.uuid4())
    keyed = queued_claim(
        claim_body(world, "partner-user"), "partner-user", idempotencyKey="partner-42"
    )

    sender.send_task("plan.claims.ingest", args=[claim], queue="ingest", task_id=task_id)
    sender.send_task("plan.claims.ingest", args=[claim], queue="ingest", task_id=task_id)
    sender.send_task("plan.claims.ingest", args=[keyed], queue="ingest")
    sender.send_task("plan.claims.ingest", args=[keyed], queue="ingest")
    harness.start_worker()

    wait_until(lambda: len(claims_of(harness, "partner-user")) == 2, what="two claims")
    wait_until(
        lambda: harness.scalar("SELECT count(*) FROM plan.claim_status_history") == 6,
        what="submit, start_review and a decision for each of the two claims",
    )
    # The worker reviewed them as it ingested them: no automatic step is left owed.
    assert harness.scalar("SELECT count(*) FROM plan.outbox WHERE kind = 'task'") == 0
    assert harness.scalar("SELECT count(*) FROM plan.dead_letters") == 0
    assert [c["status"] for c in claims_of(harness, "partner-user")] == ["APPROVED", "APPROVED"]


def test_an_operator_lists_and_replays_a_dead_letter(harness: Harness) -> None:
    world = make_world(users=("member-1",))
    from tests.support.factories import submit

    claim = submit(world, "member-1")
    step = harness.query(
        f"SELECT item FROM {OUTBOX_ITEMS} WHERE kind = 'task' AND claim_id = %s",
        (claim.claim_id,),
    )[0]["item"]
    # As if the step had failed its last retry: the letter holds the task's arguments.
    harness.query(
        "INSERT INTO plan.dead_letters (task_name, queue, payload, reason, errors) "
        "VALUES ('plan.claims.start_review', 'claims', %s, 'exhausted', '[]') RETURNING id",
        (psycopg_json({"args": [[step]], "kwargs": {}}),),
    )
    # Lose the original message: only the replay can move the claim on.
    harness.query("UPDATE plan.outbox SET published_at = now() RETURNING id")
    env = {**harness.environment()}

    listed = plan_cli(env, "dead-letters", "list")
    assert '"task": "plan.claims.start_review"' in listed.stdout
    letter_id = harness.scalar("SELECT id FROM plan.dead_letters")
    replayed = plan_cli(env, "dead-letters", "replay", str(letter_id))
    assert replayed.returncode == 0, replayed.stderr

    harness.start_worker()
    harness.start_relay()
    wait_until(
        lambda: (
            harness.scalar("SELECT status FROM plan.claims WHERE id = %s", (claim.claim_id,))
            == "APPROVED"
        ),
        what="the replayed step to decide the claim",
    )
    assert harness.scalar("SELECT replayed_at IS NOT NULL FROM plan.dead_letters") is True
    assert plan_cli(env, "dead-letters", "replay", str(letter_id)).returncode == 1


def test_a_replayed_ingest_letter_is_sent_again_as_one_item_and_a_sweep_is_not(
    harness: Harness,
) -> None:
    raw = {"userId": "partner-user", "procedureCode": "C10101"}
    for task_name, queue, payload in (
        ("plan.claims.ingest", "ingest", {"args": [raw]}),
        ("plan.maintenance.sweep", "maintenance", {"args": [], "kwargs": {}}),
    ):
        harness.query(
            "INSERT INTO plan.dead_letters (task_name, queue, payload, reason, errors) "
            "VALUES (%s, %s, %s, 'exhausted', '[]') RETURNING id",
            (task_name, queue, psycopg_json(payload)),
        )
    ingest_id, sweep_id = (row["id"] for row in harness.query("SELECT id FROM plan.dead_letters"))
    env = {**harness.environment()}

    replayed = plan_cli(env, "dead-letters", "replay", str(ingest_id))
    assert replayed.returncode == 0, replayed.stderr
    assert "plan.claims.ingest_batch on ingest" in replayed.stdout
    assert harness.query(
        "SELECT kind, name, destination, item_count, payload FROM plan.outbox"
    ) == [
        {
            "kind": "task",
            "name": "plan.claims.ingest_batch",
            "destination": "ingest",
            "item_count": 1,
            "payload": {"items": [raw]},
        }
    ]

    refused = plan_cli(env, "dead-letters", "replay", str(sweep_id))
    assert refused.returncode == 1
    assert "carries no work items" in refused.stderr
    assert harness.scalar(
        "SELECT replayed_at IS NULL FROM plan.dead_letters WHERE id = %s", (sweep_id,)
    )


def psycopg_json(value: Any) -> Any:
    from psycopg.types.json import Jsonb

    return Jsonb(value)


def plan_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "worker.cli", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
