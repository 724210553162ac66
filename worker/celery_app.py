"""The Celery application: queues, routes, delivery guarantees and the beat schedule."""

from __future__ import annotations

import time
from typing import Any

import kombu
import structlog
from celery import Celery
from celery.signals import setup_logging, task_postrun, task_prerun, worker_process_init
from kombu import Exchange

from config import Settings, get_settings
from models.names import TASK_QUEUES, Queue, TaskName
from storage.engine import dispose_after_fork
from worker.metrics import TASK_LATENCY

TASK_ROUTES = {task.value: {"queue": queue.value} for task, queue in TASK_QUEUES.items()}


def events_exchange(settings: Settings) -> Exchange:
    return Exchange(settings.events_exchange, type="topic", durable=True)


def events_queue(settings: Settings) -> kombu.Queue:
    """Where other services read the domain events (bind your own queue to the exchange too)."""
    return kombu.Queue(
        settings.events_queue, exchange=events_exchange(settings), routing_key="claim.#"
    )


def configure(app: Celery, settings: Settings) -> None:
    app.conf.update(
        broker_url=settings.broker_url.get_secret_value(),
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            # Tasks take milliseconds: an unacknowledged message of a dead worker comes back
            # after this, and every retry delay stays well below it.
            "visibility_timeout": settings.broker_visibility_timeout_s,
        },
        broker_pool_limit=10,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        result_backend=None,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=settings.worker_prefetch_multiplier,
        worker_concurrency=settings.worker_concurrency,
        worker_send_task_events=True,
        task_send_sent_event=True,
        worker_hijack_root_logger=False,
        task_default_queue=Queue.CLAIMS.value,
        task_queues=[kombu.Queue(queue.value) for queue in Queue],
        task_routes=TASK_ROUTES,
        # Read here, when the app is configured, rather than when tasks/base.py is imported;
        # annotations reach every task before its retry behaviour is set up.
        task_annotations={
            "*": {
                "max_retries": settings.task_max_retries,
                "retry_backoff_max": settings.task_retry_backoff_max_s,
            }
        },
        task_time_limit=120,
        task_soft_time_limit=100,
        imports=("tasks.claims", "tasks.maintenance"),
        timezone="UTC",
        enable_utc=True,
        beat_schedule={
            "sweep-overdue-steps": {
                "task": TaskName.SWEEP.value,
                "schedule": float(settings.sweeper_interval_s),
            },
            "expire-overdue-claims": {
                "task": TaskName.EXPIRE_OVERDUE.value,
                "schedule": float(settings.expire_interval_s),
            },
            "prune-published-outbox": {
                "task": TaskName.PRUNE_OUTBOX.value,
                "schedule": 3600.0,
            },
        },
    )


def create_app(settings: Settings | None = None) -> Celery:
    app = Celery("plan", set_as_current=True)
    configure(app, settings or get_settings())
    return app


@worker_process_init.connect
def _fresh_pool_in_child(**_: Any) -> None:
    dispose_after_fork()


@setup_logging.connect
def _structured_logs(**_: Any) -> None:
    from worker.logs import configure_logging

    configure_logging(get_settings())


_started: dict[str, float] = {}


@task_prerun.connect
def _bind_task(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(task_id=task_id, task=getattr(task, "name", None))
    if task_id is not None:
        _started[task_id] = time.perf_counter()


@task_postrun.connect
def _unbind_task(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    structlog.contextvars.clear_contextvars()
    started = _started.pop(task_id, None) if task_id is not None else None
    if started is not None:
        TASK_LATENCY.labels(task=getattr(task, "name", "unknown")).observe(
            time.perf_counter() - started
        )


app = create_app()
