"""Flower, started by the test, shows a reviewer's decision as a plan.claims.approve task
whose arguments are ids only."""

from __future__ import annotations

import sys
from typing import Any

import httpx
from fastapi.testclient import TestClient

from devtools.processes import free_port
from tests.e2e.conftest import MEMBER, Headers, take, wait_for_action
from tests.support.factories import World, submit
from tests.support.harness import Harness, wait_until
from tests.support.service import advance, owed_step

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
