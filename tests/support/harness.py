"""Per-test databases and Redis indexes, and real worker and relay processes."""

from __future__ import annotations

import fcntl
import itertools
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, TypeVar

import psycopg
import redis
from psycopg.rows import dict_row
from sqlalchemy.engine import make_url

from models.names import Queue

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")
_redis_indexes = itertools.cycle(range(1, 16))


def _claim_redis_index(host: str, port: int) -> tuple[int, IO[bytes]]:
    """A Redis database index no other test process on this machine is using right now."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for _ in range(15):
            index = next(_redis_indexes)
            lock = open(f"{tempfile.gettempdir()}/plan-test-redis-{host}-{port}-{index}.lock", "wb")  # noqa: SIM115
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.close()
                continue
            return index, lock
        time.sleep(0.2)
    raise AssertionError("every Redis database index is in use by other test processes")


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
    from storage.engine import get_engine, get_session_factory

    if get_engine.cache_info().currsize:
        get_engine().dispose()
    get_session_factory.cache_clear()
    get_engine.cache_clear()
    get_settings.cache_clear()


def wait_until(
    probe: Callable[[], T | Literal[False] | None],
    *,
    timeout: float = 30.0,
    interval: float = 0.05,
    what: str = "",
) -> T:
    """Poll ``probe`` until it returns something truthy, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last = probe()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or probe}")
        time.sleep(interval)
        last = probe()
    return last


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, sig)

    def stop(self, timeout: float = 15.0) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)

    def children(self) -> list[int]:
        """Pids of the worker's pool processes (for killing one child mid-task)."""
        out = subprocess.run(
            ["pgrep", "-P", str(self.popen.pid)], capture_output=True, text=True, check=False
        ).stdout
        return [int(pid) for pid in out.split()]


@dataclass
class Harness:
    database_url: str
    broker_url: str
    database_name: str
    admin_url: str
    workdir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: list[Process] = field(default_factory=list)

    @classmethod
    @contextmanager
    def create(cls, admin_url: str, broker_url: str, template: str) -> Iterator[Harness]:
        name = f"plan_t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(admin_conninfo(admin_url), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        broker = make_url(broker_url.replace("redis://", "postgresql://", 1))
        index, lock = _claim_redis_index(broker.host or "127.0.0.1", broker.port or 6379)
        own_broker = f"redis://{broker.host or '127.0.0.1'}:{broker.port or 6379}/{index}"
        redis.Redis.from_url(own_broker).flushdb()
        harness = cls(
            database_url=make_url(admin_url).set(database=name).render_as_string(False),
            broker_url=own_broker,
            database_name=name,
            admin_url=admin_url,
            workdir=Path(tempfile.mkdtemp(prefix="plan-test-")),
        )
        try:
            yield harness
        finally:
            harness.stop_all()
            redis.Redis.from_url(own_broker).flushdb()
            lock.close()
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

    # ----------------------------------------------------------------- processes

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Process:
        log_path = self.workdir / f"{name}-{len(self.processes)}.log"
        log_file = log_path.open("wb")
        popen = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**os.environ, **self.environment(), **(env or {})},
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        process = Process(name, popen, log_path)
        self.processes.append(process)
        return process

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
            "worker",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "worker",
                "worker",
                "-Q",
                queues,
                "-c",
                str(concurrency),
                "-P",
                "prefork",
                "-n",
                node,
                "--without-gossip",
                "--without-mingle",
                "--loglevel",
                "INFO",
            ],
            env,
        )
        if wait:
            wait_until(
                lambda: "ready." in worker.log() or worker.popen.poll() is not None,
                timeout=60,
                what="the Celery worker to be ready",
            )
            if worker.popen.poll() is not None:
                raise AssertionError(f"worker exited early:\n{worker.log()[-4000:]}")
        return worker

    def start_relay(self, env: dict[str, str] | None = None) -> Process:
        return self.start("relay", [sys.executable, "-m", "worker.cli", "relay"], env)

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()

    # ----------------------------------------------------------------- database access

    def query(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
        with psycopg.connect(admin_conninfo(self.database_url), row_factory=dict_row) as conn:
            return list(conn.execute(sql, params).fetchall())

    def scalar(self, sql: str, params: Any = None) -> Any:
        rows = self.query(sql, params)
        return next(iter(rows[0].values())) if rows else None
