"""What a benchmark run owns: databases, Redis indexes, processes, all with deadlines.

Nothing here touches the shared servers' configuration: databases are created and dropped by
name (``plan_bench_*``), a Redis index is locked the way the test harness locks its own (so a
concurrent ``make test`` never takes it) and only that index is flushed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import psycopg
import redis
from sqlalchemy.engine import URL, make_url

ROOT = Path(__file__).resolve().parents[1]
DATABASE_PREFIX = "plan_bench_"
T = TypeVar("T")


class BenchError(RuntimeError):
    """A phase could not run (a process died, a deadline passed); the message says which."""


def wait_until(
    probe: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.05
) -> T:
    """Poll ``probe`` until it returns something truthy, or raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


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


@dataclass
class RedisIndex:
    """A Redis database index held for the run (the test harness's lock files, so tests skip it)."""

    url: str
    index: int
    lock: IO[bytes]

    def flush(self) -> None:
        redis.Redis.from_url(self.url, socket_timeout=10).flushdb()

    def release(self) -> None:
        with contextlib.suppress(redis.RedisError):
            self.flush()
        self.lock.close()


def hold_redis_index(
    broker_url: str, preferred: tuple[int, ...], *, taken: tuple[int, ...] = (), timeout: float = 60
) -> RedisIndex:
    parsed = make_url(broker_url.replace("redis://", "postgresql://", 1))
    host, port = parsed.host or "127.0.0.1", parsed.port or 6379
    candidates = [i for i in (*preferred, *range(15, 0, -1)) if i not in taken]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for index in dict.fromkeys(candidates):
            path = f"{tempfile.gettempdir()}/plan-test-redis-{host}-{port}-{index}.lock"
            lock = open(path, "wb")  # noqa: SIM115 - held until release()
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.close()
                continue
            held = RedisIndex(f"redis://{host}:{port}/{index}", index, lock)
            held.flush()
            return held
        time.sleep(0.5)
    raise BenchError("every Redis database index is held by test runs; try again later")


def redis_version(url: str) -> str:
    info = redis.Redis.from_url(url, socket_timeout=10).info("server")
    return str(info.get("redis_version", "?"))


# --------------------------------------------------------------------------- processes


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)

    def stop(self, timeout: float = 20.0) -> None:
        if not self.alive():
            return
        self.signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.popen.wait(10)


@dataclass
class Processes:
    """Processes of one phase, each in its own process group, stopped in reverse order."""

    workdir: Path
    env: dict[str, str]
    started: list[Process] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Process:
        log_path = self.workdir / f"{name}.log"
        with log_path.open("wb") as log_file:
            popen = subprocess.Popen(
                argv,
                cwd=ROOT,
                env={**self.env, **(env or {})},
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process = Process(name, popen, log_path)
        self.started.append(process)
        return process

    def check_alive(self) -> None:
        for process in self.started:
            if not process.alive():
                raise BenchError(
                    f"{process.name} exited with {process.popen.returncode}:\n"
                    f"{process.log()[-3000:]}"
                )

    def stop_all(self) -> None:
        for process in reversed(self.started):
            process.stop()
        self.started.clear()


@contextlib.contextmanager
def phase_processes(workdir: Path, env: dict[str, str]) -> Iterator[Processes]:
    processes = Processes(workdir, env)
    try:
        yield processes
    finally:
        processes.stop_all()


def python_argv(*args: str) -> list[str]:
    return [sys.executable, *args]


def celery_worker_argv(
    app: str, queues: str, *, node: str, pool: str, concurrency: int
) -> list[str]:
    return python_argv(
        "-m",
        "celery",
        "-A",
        app,
        "worker",
        "--queues",
        queues,
        "--pool",
        pool,
        "--concurrency",
        str(concurrency),
        "--hostname",
        node,
        "--loglevel",
        "INFO",
    )


def wait_for_celery(processes: Processes, workers: list[Process], *, timeout: float = 90) -> None:
    def ready() -> bool:
        processes.check_alive()
        return all("ready." in worker.log() for worker in workers)

    wait_until(ready, timeout=timeout, what="the Celery workers to be ready", interval=0.2)
