"""Flower, started by the test, shows a reviewer's decision as a plan.claims.approve task
whose arguments are ids only."""

from __future__ import annotations

import sys
from typing import Any

import httpx
from fastapi.testclient import TestClient

from devtools.processes import free_port
from models.names import Queue, TaskName
from tests.e2e.conftest import MEMBER, Headers, take, wait_for_action
from tests.support.factories import World, submit
from tests.support.harness import Harness, wait_until
from tests.support.service import advance, owed_step
from worker.celery_app import declare_work_queues

FLOWER_USER, FLOWER_PASSWORD = "ops", "flower-test-secret"


def flower_get(port: int, path: str, *, auth: bool = True) -> httpx.Response | None:
    try:
        return httpx.get(
            f"http://127.0.0.1:{port}{path}",
            auth=(FLOWER_USER, FLOWER_PASSWORD) if auth else None,
            timeout=5,
        )
    except httpx.HTTPError:
        return None


def flower_json(port: int, path: str) -> Any:
    answer = flower_get(port, path)
    return answer.json() if answer is not None and answer.status_code == 200 else None


def test_flower_lists_the_approve_task_of_a_reviewers_decision(
    api: TestClient, world: World, reviewer: Headers, pipeline: Harness
) -> None:
    claim_id = submit(world, MEMBER, amount="400.00").claim_id
    assert claim_id is not None
    advance(owed_step(pipeline, claim_id))
    port = free_port()
    flower = pipeline.start(
        "flower",
        [sys.executable, "-m", "worker.cli", "flower"],
        {"FLOWER_PORT": str(port), "FLOWER_BASIC_AUTH": f"{FLOWER_USER}:{FLOWER_PASSWORD}"},
    )

    def asks_for_credentials() -> bool:
        if flower.popen.poll() is not None:
            raise AssertionError(f"Flower exited:\n{flower.log()[-3000:]}")
        answer = flower_get(port, "/api/tasks", auth=False)
        return answer is not None and answer.status_code == 401

    wait_until(asks_for_credentials, timeout=60, what="Flower to answer and ask for credentials")
    # Flower learns of tasks from the workers' events: it must see the worker first.
    wait_until(lambda: flower_json(port, "/api/workers"), timeout=60, what="Flower's workers")

    take(api, claim_id, reviewer)
    decided = api.post(
        f"/claims/{claim_id}/decision",
        json={"decision": "approve", "note": "Dr. Quaresma confirmed", "approvedAmount": "250.00"},
        headers=reviewer,
    )
    assert decided.status_code == 202, decided.text
    action_id = decided.json()["actionId"]
    wait_for_action(api, decided.json()["links"]["self"], reviewer)

    def approve_task() -> dict[str, Any] | None:
        for task in (flower_json(port, "/api/tasks") or {}).values():
            if task.get("name") == "plan.claims.approve" and task.get("state") == "SUCCESS":
                return dict(task)
        return None

    task = wait_until(approve_task, timeout=30, what="Flower to list the approve task")
    assert action_id in str(task["args"])
    for personal in ("Quaresma", "250.00", "confirmed"):
        assert personal not in str(task["args"]) + str(task.get("kwargs"))


def test_flowers_broker_page_counts_the_messages_waiting_in_each_work_queue(
    harness: Harness,
) -> None:
    """An operator reads a backlog off Flower: on Redis from the queue itself, on RabbitMQ
    from the node's management API (BROKER_MANAGEMENT_URL), which Flower would otherwise
    look for on port 15672 of the broker's host and, not finding it, list nothing."""
    waiting = 3
    sender = harness.sender("flower-backlog")
    try:
        # As a worker does on starting (RabbitMQ lists only the queues that exist); then
        # nobody consumes, so the messages wait.
        declare_work_queues(sender, harness.broker_settings())
        for n in range(waiting):
            sender.send_task(TaskName.SWEEP, args=[n], queue=Queue.MAINTENANCE.value)
    finally:
        sender.close()
    port = free_port()
    flower = harness.start(
        "flower",
        [sys.executable, "-m", "worker.cli", "flower"],
        {"FLOWER_PORT": str(port), "FLOWER_BASIC_AUTH": f"{FLOWER_USER}:{FLOWER_PASSWORD}"},
    )

    def depths() -> dict[str, int | None] | None:
        if flower.popen.poll() is not None:
            raise AssertionError(f"Flower exited:\n{flower.log()[-3000:]}")
        found = flower_json(port, "/api/queues/length")
        if found is None:
            return None
        # RabbitMQ's management API counts on its statistics interval (5 s): a queue it has
        # not counted yet comes without "messages".
        counted = {queue["name"]: queue.get("messages") for queue in found["active_queues"]}
        everyone = set(Queue) <= set(counted) and None not in counted.values()
        return counted if everyone and counted[Queue.MAINTENANCE.value] == waiting else None

    counted = wait_until(depths, timeout=60, what="Flower to count the waiting messages")
    assert all(counted[queue] == 0 for queue in Queue if queue is not Queue.MAINTENANCE)
    page = flower_get(port, "/broker")
    assert page is not None and page.status_code == 200
    assert all(f"<td>{queue.value}</td>" in page.text for queue in Queue), page.text[-2000:]
