"""Reviewer decisions as actions: from ``POST /claims/{id}/decision`` to the action applied.

Claims above the auto-approval threshold are ingested first and wait in UNDER_REVIEW for a
person. A reviewer then approves them one at a time over HTTP (a uvicorn process of the
phase) while the pipeline runs, and again once it has drained: each sample is the time from
sending the request to the action's ``applied_at`` (the worker transaction's clock, so the
commit of that transaction is left out), and to the bench seeing it applied.
"""

from __future__ import annotations

import threading
import time
from datetime import date
from typing import Any

import httpx

from api.auth import issue_token
from bench.infra import BenchError, Processes, python_argv, wait_until
from bench.stats import latency_summary_ms
from bench.world import World, queued_claim
from config import get_settings
from models.names import Queue, TaskName

REVIEWER = "bench-reviewer"
REFERRED_AMOUNT = "500.00"  # above the auto-approval threshold: a person decides


def referred_claims(
    target: Any, world: World, count: int, *, tag: str, today: date
) -> list[int]:
    """Ingest ``count`` claims a reviewer must decide; return their ids once they wait."""
    from bench.pipeline import sender  # bench.pipeline imports this module

    claims = [
        {**queued_claim(world, 20_000_000 + seq, tag=tag, today=today), "amount": REFERRED_AMOUNT}
        for seq in range(count)
    ]
    app = sender(target.broker_url)
    app.send_task(TaskName.INGEST_BATCH, args=[claims], queue=Queue.INGEST)
    with target.postgres.connect(target.database) as conn:

        def waiting() -> list[int] | None:
            rows = conn.execute(
                "SELECT id FROM plan.claims WHERE idempotency_key LIKE %s"
                " AND status = 'UNDER_REVIEW' AND next_step IS NULL ORDER BY id",
                [f"{tag}-%"],
            ).fetchall()
            return [int(row[0]) for row in rows] if len(rows) == count else None

        return wait_until(waiting, timeout=60, what="the referred claims to wait for a reviewer")


class DecisionProbe:
    """A uvicorn process of the phase, and a reviewer deciding through it."""

    def __init__(self, target: Any, processes: Processes, *, tag: str) -> None:
        from bench.http_load import free_port  # bench.http_load imports bench.pipeline

        self.target = target
        self.port = free_port()
        self.headers = {
            "Authorization": "Bearer "
            + issue_token(get_settings(), subject=REVIEWER, role="reviewer", ttl_s=7200)
        }
        self.server = processes.start(
            f"uvicorn-{tag}",
            python_argv(
                "-m",
                "uvicorn",
                "--factory",
                "api.app:app_factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-access-log",
            ),
        )

        def healthy() -> bool:
            processes.check_alive()
            try:
                return httpx.get(self.url("/health"), timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, timeout=60, what="uvicorn to answer /health", interval=0.2)
        self.applied: list[float] = []
        self.observed: list[float] = []

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def decide(self, claim_ids: list[int], *, pause_s: float = 0.05) -> dict[str, Any]:
        """Approve each claim in turn; the latency of each until its action is applied."""
        applied: list[float] = []
        observed: list[float] = []
        with (
            httpx.Client(headers=self.headers, timeout=30) as client,
            self.target.postgres.connect(self.target.database) as conn,
        ):
            for claim_id in claim_ids:
                # Only the holder decides: the reviewer takes the claim first (not timed).
                taken = client.post(self.url(f"/claims/{claim_id}/assignment"))
                if taken.status_code != 200:
                    raise BenchError(f"taking a claim answered {taken.status_code}: {taken.text}")
                sent = time.time()
                answer = client.post(
                    self.url(f"/claims/{claim_id}/decision"), json={"decision": "approve"}
                )
                if answer.status_code != 202:
                    raise BenchError(f"decision answered {answer.status_code}: {answer.text}")
                action_id = answer.json()["actionId"]

                def settled(action_id: str = action_id) -> Any:
                    return conn.execute(
                        "SELECT status, extract(epoch FROM applied_at)::float8"
                        " FROM plan.claim_actions WHERE id = %s AND status <> 'queued'",
                        [action_id],
                    ).fetchone()

                row = wait_until(
                    settled, timeout=60, what="a decision to be applied", interval=0.002
                )
                seen = time.time()
                if row[0] != "applied":
                    raise BenchError(f"a bench decision was {row[0]}")
                applied.append(float(row[1]) - sent)
                observed.append(seen - sent)
                time.sleep(pause_s)
        return {
            "samples": len(applied),
            "latency_request_to_applied": latency_summary_ms(applied),
            "latency_request_to_observed": latency_summary_ms(observed),
        }


class DecisionsDuringLoad:
    """Decisions taken in a thread while the pipeline is being loaded."""

    def __init__(self, probe: DecisionProbe, claim_ids: list[int]) -> None:
        self.result: dict[str, Any] = {}
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(probe, claim_ids), daemon=True)

    def _run(self, probe: DecisionProbe, claim_ids: list[int]) -> None:
        try:
            self.result = probe.decide(claim_ids, pause_s=0.2)
        except BaseException as error:  # reported by join()
            self.error = error

    def start(self) -> None:
        self._thread.start()

    def join(self) -> dict[str, Any]:
        self._thread.join(timeout=300)
        if self.error is not None:
            raise BenchError(f"decisions during the load failed: {self.error}") from self.error
        return self.result
