"""The outbox relay: publishes committed outbox rows to the broker, then marks them sent.

Rows are taken with ``FOR UPDATE SKIP LOCKED`` so that several relays share the work. A row
carries the items of one transaction in ``payload.items``: the work items of one task, or the
domain events of one type. Work items are sent as messages carrying up to BATCH_SIZE of them
(the tasks work on batches); domain events go to the topic exchange as ``{"events": [...]}``,
one message per event type per BATCH_SIZE events. If the broker is down, the transaction
rolls back, the rows wait, and the relay backs off and tries again. A crash after publishing
but before the commit publishes the rows again, which the consumers' idempotency absorbs.
On RabbitMQ the channel is in confirm mode (``confirm_publish``, set in ``worker.celery_app``):
each publish returns only once the broker has taken the message, and a refused one raises, so
no row is marked sent for a message the broker does not hold.
"""

from __future__ import annotations

import contextlib
import select
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
import structlog
from celery import Celery
from kombu.exceptions import OperationalError as BrokerUnavailable

from config import Settings, get_settings
from models.base import table_of
from models.names import OUTBOX_CHANNEL
from models.tables import OutboxMessage
from storage.bulk import in_array
from storage.engine import database_url
from storage.unit_of_work import PlanJourneyContext
from worker import sql
from worker.celery_app import events_exchange, events_queue
from worker.heap import settle_heap

log = structlog.get_logger("plan.relay")
outbox_t = table_of(OutboxMessage)
PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5}


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class OutboxRelay:
    def __init__(self, app: Celery, settings: Settings | None = None) -> None:
        self.app = app
        self.settings = settings or get_settings()
        self._exchange = events_exchange(self.settings)
        self._events_queue = events_queue(self.settings)
        self.published = 0

    def publish_batch(self) -> int:
        """Publish up to one batch of waiting items; return how many went out."""
        with PlanJourneyContext() as ctx:
            rows = ctx.execute(
                sql.NEXT_OUTBOX_BATCH,
                {"rows": self.settings.relay_batch_size, "items": self.settings.relay_batch_size},
            ).all()
            if not rows:
                return 0
            self._publish(rows)
            ctx.execute(
                outbox_t.update()
                .where(in_array(outbox_t.c.id, [row.id for row in rows]))
                .values(published_at=datetime.now(UTC))
            )
            ctx.commit()
        items = sum(int(row.item_count) for row in rows)
        self.published += items
        return items

    def _publish(self, rows: Sequence[Any]) -> None:
        work: dict[tuple[str, str], list[Any]] = defaultdict(list)
        events: dict[str, list[Any]] = defaultdict(list)
        for row in rows:
            items = orjson.loads(row.payload)["items"]
            if row.kind == "event":
                events[row.destination].extend(items)
            else:
                work[(row.name, row.destination)].extend(items)
        with self.app.producer_or_acquire() as producer:
            for (task_name, queue), items in work.items():
                for chunk in _chunks(items, self.settings.batch_size):
                    self.app.send_task(
                        task_name,
                        args=[chunk],
                        queue=queue,
                        producer=producer,
                        retry=True,
                        retry_policy=PUBLISH_RETRY_POLICY,
                    )
            for routing_key, payloads in events.items():
                for chunk in _chunks(payloads, self.settings.batch_size):
                    producer.publish(
                        orjson.dumps({"events": chunk}),  # JSON, as kombu's would be, in C
                        exchange=self._exchange,
                        routing_key=routing_key,
                        declare=[self._exchange, self._events_queue],
                        content_type="application/json",
                        content_encoding="utf-8",
                        delivery_mode=2,
                        retry=True,
                        retry_policy=PUBLISH_RETRY_POLICY,
                    )

    def run(self, *, should_stop: Callable[[], bool] = lambda: False) -> None:
        """Publish until told to stop: at once on NOTIFY, else every poll interval."""
        backoff = self.settings.relay_poll_interval_s
        listener = _Listener(self.settings)
        log.info("relay.started", batch=self.settings.relay_batch_size)
        settle_heap()
        try:
            while not should_stop():
                try:
                    published = self.publish_batch()
                except (BrokerUnavailable, ConnectionError, OSError) as error:
                    log.warning(
                        "relay.broker_unavailable", error=type(error).__name__, retry_in=backoff
                    )
                    time.sleep(backoff)
                    backoff = min(backoff * 2, self.settings.relay_max_backoff_s)
                    continue
                except Exception as error:
                    log.warning("relay.error", error=type(error).__name__, retry_in=backoff)
                    time.sleep(backoff)
                    backoff = min(backoff * 2, self.settings.relay_max_backoff_s)
                    listener.reset()
                    continue
                backoff = self.settings.relay_poll_interval_s
                if published < self.settings.relay_batch_size:
                    listener.wait(self.settings.relay_poll_interval_s)
        finally:
            listener.close()
            log.info("relay.stopped", published=self.published)


class _Listener:
    """LISTEN on the outbox channel; any failure degrades to plain polling until it reconnects."""

    def __init__(self, settings: Settings) -> None:
        self._conninfo = (
            database_url(settings)
            .set(drivername="postgresql")
            .render_as_string(hide_password=False)
        )
        self._connection: psycopg.Connection[Any] | None = None

    def _connect(self) -> psycopg.Connection[Any] | None:
        if self._connection is None or self._connection.closed:
            try:
                self._connection = psycopg.connect(
                    self._conninfo, autocommit=True, connect_timeout=5
                )
                self._connection.execute(f"LISTEN {OUTBOX_CHANNEL}")
            except psycopg.Error:
                self._connection = None
        return self._connection

    def wait(self, timeout_s: float) -> None:
        connection = self._connect()
        if connection is None:
            time.sleep(timeout_s)
            return
        try:
            ready, _, _ = select.select([connection.fileno()], [], [], timeout_s)
            if ready:
                for _ in connection.notifies(timeout=0):
                    pass
        except (psycopg.Error, OSError, ValueError):
            self.reset()

    def reset(self) -> None:
        self.close()

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(psycopg.Error):
                self._connection.close()
            self._connection = None
