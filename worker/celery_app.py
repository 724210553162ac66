"""The Celery application: queues, routes, delivery guarantees and the beat schedule."""

from __future__ import annotations

import time
from typing import Any

import kombu
import structlog
from celery import Celery
from celery.signals import (
    setup_logging,
    task_postrun,
    task_prerun,
    worker_init,
    worker_process_init,
    worker_ready,
)
from kombu import Exchange

from config import Settings, get_settings
from models.names import TASK_QUEUES, Queue, TaskName
from storage.engine import dispose_after_fork
from worker.heap import settle_heap
from worker.metrics import TASK_LATENCY

TASK_ROUTES = {task.value: {"queue": queue.value} for task, queue in TASK_QUEUES.items()}


# RabbitMQ: replicated, durable queues. Celery detects them and switches to per-consumer QoS
# (quorum queues have no global QoS); countdowns (task retries) go through its native delayed
# delivery, which needs the work queues bound to topic exchanges (not direct ones).
QUORUM = {"x-queue-type": "quorum"}


def events_exchange(settings: Settings) -> Exchange:
    return Exchange(settings.events_exchange, type="topic", durable=True)


def events_queue(settings: Settings) -> kombu.Queue:
    """Where other services read the domain events (bind your own queue to the exchange too)."""
    return kombu.Queue(
        settings.events_queue,
        exchange=events_exchange(settings),
        routing_key="claim.#",
        durable=True,
        queue_arguments=QUORUM if settings.broker_is_rabbitmq else None,
    )


def work_queues(settings: Settings) -> list[kombu.Queue]:
    if not settings.broker_is_rabbitmq:
        return [kombu.Queue(queue.value) for queue in Queue]
    return [
        kombu.Queue(
            queue.value,
            Exchange(queue.value, type="topic", durable=True),
            routing_key=queue.value,
            durable=True,
            queue_arguments=QUORUM,
        )
        for queue in Queue
    ]


def broker_options(settings: Settings) -> dict[str, Any]:
    if settings.broker_is_rabbitmq:
        return {
            "broker_transport_options": {"confirm_publish": True},
            "task_default_queue_type": "quorum",
            "task_create_missing_queue_type": "quorum",
            "task_default_exchange_type": "topic",
        }
    return {
        "broker_transport_options": {
            # A dead worker's unacknowledged messages come back after this; restore sweeps
            # run every 5 s instead of kombu's default of about 100 s.
            "visibility_timeout": settings.visibility_timeout_s,
            "unacked_restore_interval": 5,
            "unacked_restore_throttle": 1,
        },
    }


def configure(app: Celery, settings: Settings) -> None:
    app.conf.update(
        broker_url=settings.broker_url.get_secret_value(),
        broker_connection_retry_on_startup=True,
        **broker_options(settings),
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
        task_queues=work_queues(settings),
        task_routes=TASK_ROUTES,
        # Read here, when the app is configured, rather than when tasks/base.py is imported;
        # annotations reach every task before its retry behaviour is set up.
        task_annotations={
            "*": {
                "max_retries": settings.task_max_retries,
                "retry_backoff_max": settings.task_retry_backoff_max_s,
            }
        },
        task_time_limit=settings.task_time_limit_s,
        task_soft_time_limit=settings.task_soft_time_limit_s,
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
            "expire-review-leases": {
                "task": TaskName.EXPIRE_ASSIGNMENTS.value,
                "schedule": float(settings.sweeper_interval_s),
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


def declare_work_queues(app: Celery, settings: Settings) -> None:
    """Declare every work queue with its exchange, and the events queue (RabbitMQ).

    A worker binds all of the app's queues to the delayed-delivery exchanges at start, not only
    the ones it consumes; an exchange nobody declared yet makes that binding fail, and retries
    with a countdown would then wait inside the worker instead of in the broker.
    """
    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=5)
        channel = connection.default_channel
        for queue in (*app.amqp.queues.values(), events_queue(settings)):
            queue.bind(channel).declare()


@worker_init.connect
def _declare_before_consuming(sender: Any = None, **_: Any) -> None:
    settings = get_settings()
    if settings.broker_is_rabbitmq and sender is not None:
        declare_work_queues(sender.app, settings)


@worker_process_init.connect
def _fresh_pool_in_child(**_: Any) -> None:
    dispose_after_fork()
    settle_heap()


@worker_ready.connect
def _settle_worker_heap(**_: Any) -> None:
    settle_heap()  # a solo worker runs its tasks in this process; prefork children do above


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
