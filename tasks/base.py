"""What every Plan Service task shares: retries on transient errors, then a dead letter."""

from __future__ import annotations

from typing import Any

import structlog
from celery import Task
from kombu.exceptions import OperationalError as BrokerUnavailable
from sqlalchemy.exc import DBAPIError

from models.errors import StorageUnavailable
from models.names import Queue
from service.dead_letters import record_dead_letter

log = structlog.get_logger("plan.tasks")

TRANSIENT_ERRORS = (
    StorageUnavailable,
    DBAPIError,
    BrokerUnavailable,
    ConnectionError,
    TimeoutError,
)


class PlanTask(Task):  # type: ignore[type-arg]
    """acks_late with reject-on-worker-lost: a killed worker gives the message back.

    Only idempotent work runs on this base: every claim message carries its event id. The
    retry cap and count come from the settings when the Celery app is configured
    (``task_annotations`` in worker/celery_app.py), not when this module is imported.
    """

    abstract = True
    acks_late = True
    reject_on_worker_lost = True
    autoretry_for = TRANSIENT_ERRORS
    retry_backoff = 1
    retry_jitter = True

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        # Reached once retries are exhausted (or on an unexpected error): keep the message
        # where an operator can list and replay it.
        queue = (self.request.delivery_info or {}).get("routing_key") or Queue.CLAIMS
        record_dead_letter(
            task_name=self.name,
            queue=queue,
            payload={"args": list(args or ()), "kwargs": dict(kwargs or {})},
            reason="exhausted",
            errors=[{"type": type(exc).__name__, "message": _safe_message(exc)}],
        )
        log.error("task.dead_lettered", task=self.name, task_id=task_id, error=type(exc).__name__)


def _safe_message(exc: BaseException) -> str:
    # Messages of our own errors are written for people and hold no input values; driver
    # errors may hold SQL parameters, so only their class is kept.
    if isinstance(exc, StorageUnavailable):
        return exc.message
    return type(exc).__name__
