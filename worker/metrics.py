"""Prometheus metrics shared by the web process and the workers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import Counter, Histogram

CLAIM_OUTCOMES = Counter(
    "plan_claim_outcomes_total",
    "Claim commands and automatic steps handled by the workers, by outcome",
    ["outcome"],
)
TASK_LATENCY = Histogram("plan_task_duration_seconds", "Time a task took, by task name", ["task"])
INTAKE_BATCH = Histogram(
    "plan_intake_batch_claims",
    "Single-claim submissions stored together in one transaction (group commit)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
HTTP_LATENCY = Histogram(
    "plan_http_request_duration_seconds", "HTTP request latency", ["method", "route", "status"]
)


def record_outcomes(outcomes: Iterable[Any]) -> None:
    for outcome in outcomes:
        CLAIM_OUTCOMES.labels(outcome=outcome.status).inc()
