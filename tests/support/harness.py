"""Per-test databases and brokers, and real worker and relay processes.

The process helpers themselves (start, stop, wait until) are devtools' one copy; this module
adds what a test owns: a database cloned from the migrated template, a broker of its own (a
locked Redis database index, or a RabbitMQ virtual host on the session's private node).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import psycopg
from celery import Celery
from psycopg.rows import dict_row
from sqlalchemy.engine import make_url

from devtools.brokers import BrokerKind, hold_redis_index
from devtools.processes import ROOT, Process, Processes, celery_worker_argv, wait_until
from devtools.rabbitmq import PrivateRabbitMQ
from models.names import Queue

if TYPE_CHECKING:
    from config import Settings

__all__ = ["ROOT", "BrokerServer", "Harness", "Process", "wait_until"]


class BrokerServer(Protocol):
    kind: BrokerKind

    def own(self) -> Any:
        """A context manager yielding the URL of a broker this test alone uses."""

    def settings(self) -> dict[str, str]:
        """Further settings that point the service at this broker's parts."""


@dataclass
class RedisServer:
    url: str
    kind: BrokerKind = "redis"

    @contextmanager
    def own(self) -> Iterator[str]:
        held = hold_redis_index(self.url)
        try:
            yield held.url
        finally:
            held.release()

    def settings(self) -> dict[str, str]:
        return {}


@dataclass
class RabbitMQServer:
    node: PrivateRabbitMQ
    kind: BrokerKind = "rabbitmq"

    @contextmanager
    def own(self) -> Iterator[str]:
        vhost = f"plan-t-{uuid.uuid4().hex[:12]}"
        url = self.node.create_vhost(vhost)
        try:
            yield url
        finally:
            self.node.delete_vhost(vhost)

    def settings(self) -> dict[str, str]:
        # Flower's Broker page: the node's management API is on a port of its own.
        return {"BROKER_MANAGEMENT_URL": self.node.management_url}


def admin_conninfo(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(False)


def apply_migrations(database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url, "DATABASE_SSL": "false"}
    completed = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"alembic upgrade head failed:\n{completed.stderr[-4000:]}")


def reset_app_caches() -> None:
    from config.settings import get_settings
    from storage.engine import forget_engine

    forget_engine()
    get_settings.cache_clear()


@dataclass
class Harness:
    database_url: str
    broker_url: str
    broker_kind: BrokerKind
    database_name: str
    admin_url: str
    workdir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    group: Processes = field(init=False)

    def __post_init__(self) -> None:
        self.group = Processes(self.workdir, {})

    @property
    def processes(self) -> list[Process]:
        return self.group.started

    @classmethod
    @contextmanager
    def create(cls, admin_url: str, broker: BrokerServer, template: str) -> Iterator[Harness]:
        name = f"plan_t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(admin_conninfo(admin_url), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        try:
            with broker.own() as own_broker:
                harness = cls(
                    database_url=make_url(admin_url).set(database=name).render_as_string(False),
                    broker_url=own_broker,
                    broker_kind=broker.kind,
                    database_name=name,
                    admin_url=admin_url,
                    workdir=Path(tempfile.mkdtemp(prefix="plan-test-")),
                    extra_env=broker.settings(),
                )
                try:
                    yield harness
                finally:
                    harness.stop_all()
        finally:
            with psycopg.connect(admin_conninfo(admin_url), autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def environment(self) -> dict[str, str]:
        return {
            "DATABASE_URL": self.database_url,
            "DATABASE_SSL": "false",
            "BROKER_URL": self.broker_url,
            "ENVIRONMENT": "test",
            "LOG_LEVEL": "INFO",
            **self.extra_env,
        }

    def broker_settings(self, broker_url: str | None = None) -> Settings:
        """The service's settings for this test's broker (or ``broker_url``)."""
        from config import Settings

        return Settings.model_validate(
            {"broker_url": broker_url or self.broker_url, "database_ssl": False}
        )

    def sender(self, name: str = "test-sender", broker_url: str | None = None) -> Celery:
        """A Celery app that publishes as the service does (on RabbitMQ: the same quorum
        queues and exchanges; a plain app would declare classic queues of the same names)."""
        from worker.celery_app import configure

        app = Celery(name, set_as_current=False)
        configure(app, self.broker_settings(broker_url))
        return app

    # ----------------------------------------------------------------- processes

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Process:
        # The test process's environment too: fixtures change settings with monkeypatch.
        return self.group.start(name, argv, {**os.environ, **self.environment(), **(env or {})})

    def start_worker(
        self,
        *,
        queues: str = ",".join(Queue),
        concurrency: int = 2,
        env: dict[str, str] | None = None,
        wait: bool = True,
    ) -> Process:
        node = f"test-{uuid.uuid4().hex[:8]}@%h"
        worker = self.start(
            "worker", celery_worker_argv(queues, node=node, concurrency=concurrency), env
        )
        if wait:
            wait_until(
                lambda: "ready." in worker.log() or not worker.alive(),
                timeout=60,
                what="the Celery worker to be ready",
            )
            if not worker.alive():
                raise AssertionError(f"worker exited early:\n{worker.log()[-4000:]}")
        return worker

    def start_relay(self, env: dict[str, str] | None = None) -> Process:
        return self.start("relay", [sys.executable, "-m", "worker.cli", "relay"], env)

    def stop_all(self) -> None:
        self.group.stop_all()

    # ----------------------------------------------------------------- database access

    def query(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
        with psycopg.connect(admin_conninfo(self.database_url), row_factory=dict_row) as conn:
            return list(conn.execute(sql, params).fetchall())

    def scalar(self, sql: str, params: Any = None) -> Any:
        rows = self.query(sql, params)
        return next(iter(rows[0].values())) if rows else None
