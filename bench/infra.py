"""What a benchmark run owns: databases, Redis indexes, processes, all with deadlines.

Nothing here touches the shared servers' configuration: databases are created and dropped by
name (``plan_bench_*``), a Redis index is locked the way the test harness locks its own (so a
concurrent ``make test`` never takes it) and only that index is flushed.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg
import redis
from sqlalchemy.engine import URL, make_url

from devtools.brokers import RedisIndex, hold_redis_index
from devtools.processes import (
    ROOT,
    Process,
    Processes,
    celery_worker_argv,
    python_argv,
    wait_until,
)
from devtools.processes import ProcessError as BenchError
from devtools.processes import running as phase_processes
from devtools.processes import wait_for_celery as _wait_for_celery

__all__ = [
    "ROOT",
    "BenchError",
    "Process",
    "Processes",
    "RedisIndex",
    "celery_worker_argv",
    "hold_redis_index",
    "phase_processes",
    "python_argv",
    "wait_until",
]
DATABASE_PREFIX = "plan_bench_"


# --------------------------------------------------------------------------- PostgreSQL


@dataclass(frozen=True)
class Postgres:
    """The server named by DATABASE_URL; databases of the run are created beside it."""

    admin_url: URL

    @classmethod
    def from_url(cls, url: str) -> Postgres:
        parsed = make_url(url)
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        return cls(parsed)

    def url(self, database: str) -> str:
        """SQLAlchemy URL of ``database`` (what the service's DATABASE_URL takes)."""
        return self.admin_url.set(database=database).render_as_string(hide_password=False)

    def conninfo(self, database: str | None = None) -> str:
        url = self.admin_url.set(drivername="postgresql")
        if database is not None:
            url = url.set(database=database)
        return url.render_as_string(hide_password=False)

    def connect(self, database: str | None = None) -> psycopg.Connection[Any]:
        return psycopg.connect(self.conninfo(database), autocommit=True, connect_timeout=10)

    def new_name(self, role: str) -> str:
        return f"{DATABASE_PREFIX}{role}_{uuid.uuid4().hex[:8]}"

    def create(self, name: str, *, template: str | None = None) -> None:
        if not name.startswith(DATABASE_PREFIX):
            raise ValueError(f"bench databases are named {DATABASE_PREFIX}*, not {name}")
        clause = f' TEMPLATE "{template}"' if template else ""
        with self.connect() as admin:
            admin.execute(f'CREATE DATABASE "{name}"{clause}')

    def drop(self, name: str) -> None:
        if not name.startswith(DATABASE_PREFIX):
            raise ValueError(f"refusing to drop {name}: not a bench database")
        with self.connect() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def migrate(self, name: str, *, timeout: float = 180) -> None:
        env = {**os.environ, "DATABASE_URL": self.url(name), "DATABASE_SSL": "false"}
        completed = subprocess.run(
            [sys.executable, "-m", "alembic", "upgrade", "head"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
        if completed.returncode != 0:
            raise BenchError(f"alembic upgrade head failed:\n{completed.stderr[-4000:]}")

    def server_facts(self) -> dict[str, str]:
        with self.connect() as admin:
            facts: dict[str, str] = {}
            for setting in (
                "server_version",
                "shared_preload_libraries",
                "max_connections",
                "shared_buffers",
                "synchronous_commit",
                "fsync",
            ):
                row = admin.execute(f"SHOW {setting}").fetchone()
                facts[setting] = str(row[0]) if row else ""
            return facts


@dataclass
class Databases:
    """Every database the run created, dropped on exit whatever happened."""

    postgres: Postgres
    names: list[str] = field(default_factory=list)

    def create(self, role: str, *, template: str | None = None) -> str:
        name = self.postgres.new_name(role)
        self.postgres.create(name, template=template)
        self.names.append(name)
        return name

    def drop(self, name: str) -> None:
        self.postgres.drop(name)
        if name in self.names:
            self.names.remove(name)

    def drop_all(self) -> None:
        for name in reversed(list(self.names)):
            with contextlib.suppress(psycopg.Error):
                self.drop(name)


# --------------------------------------------------------------------------- Redis


def redis_version(url: str) -> str:
    info = redis.Redis.from_url(url, socket_timeout=10).info("server")
    return str(info.get("redis_version", "?"))


# --------------------------------------------------------------------------- processes


def wait_for_celery(processes: Processes, workers: list[Process], *, timeout: float = 90) -> None:
    _wait_for_celery(workers, timeout=timeout, check=processes.check_alive)
