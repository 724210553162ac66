"""The one copy of the process helpers that the tests, the bench and the demo share.

Start a process in a session (process group) of its own with its output in a log file, poll
for a condition with a deadline instead of sleeping, stop a group of processes in reverse
order whatever happened, and pick a free port. Children get the environment they are given,
never this process's ``os.environ`` implicitly: callers build it from the settings.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from signal import SIGKILL, SIGTERM
from typing import Literal, TypeVar

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


class ProcessError(RuntimeError):
    """A process died or a wait ran out of time; the message says which."""


class DeadlinePassed(ProcessError):
    """``wait_until`` ran out of time."""


def wait_until(
    probe: Callable[[], T | Literal[False] | None],
    *,
    timeout: float = 30.0,
    what: str = "",
    interval: float = 0.05,
) -> T:
    """Poll ``probe`` until it returns something truthy, or raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise DeadlinePassed(f"timed out after {timeout:.0f}s waiting for {what or probe}")
        time.sleep(interval)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing is bound to right now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_answers(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """Something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def inherited_environment(*names: str) -> dict[str, str]:
    """What a child needs from this process's environment to run at all (PATH, HOME, ...).

    Everything the service reads comes from the settings or the caller, not from here.
    """
    wanted = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER", "VIRTUAL_ENV", *names)
    return {name: os.environ[name] for name in wanted if name in os.environ}


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
        """Send ``sig`` to the process and everything it started (its process group)."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)

    def kill(self, sig: int = SIGKILL) -> None:
        self.signal(sig)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM, then SIGKILL if it has not gone after ``timeout`` seconds."""
        if not self.alive():
            return
        self.signal(SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(SIGKILL)
            self.popen.wait(10)

    def children(self) -> list[int]:
        """Pids of the direct children (a Celery worker's pool processes)."""
        out = subprocess.run(
            ["pgrep", "-P", str(self.popen.pid)], capture_output=True, text=True, check=False
        ).stdout
        return [int(pid) for pid in out.split()]


@dataclass
class Processes:
    """Processes started together, each in its own process group, stopped in reverse order."""

    workdir: Path
    env: Mapping[str, str]
    cwd: Path = ROOT
    started: list[Process] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: Mapping[str, str] | None = None) -> Process:
        log_path = self.workdir / f"{name}-{len(self.started)}.log"
        with log_path.open("wb") as log_file:
            popen = subprocess.Popen(
                argv,
                cwd=self.cwd,
                env={**self.env, **(env or {})},
                stdin=subprocess.DEVNULL,
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
                raise ProcessError(
                    f"{process.name} exited with {process.popen.returncode}:\n"
                    f"{process.log()[-3000:]}"
                )

    def stop_all(self) -> None:
        for process in reversed(self.started):
            process.stop()
        self.started.clear()


@contextlib.contextmanager
def running(workdir: Path, env: Mapping[str, str]) -> Iterator[Processes]:
    """Processes that are stopped when the block ends, however it ends."""
    processes = Processes(workdir, env)
    try:
        yield processes
    finally:
        processes.stop_all()


def python_argv(*args: str) -> list[str]:
    return [sys.executable, *args]


def celery_worker_argv(
    queues: str | None, *, node: str, concurrency: int, pool: str = "prefork", app: str = "worker"
) -> list[str]:
    """A Celery worker of ``app`` on ``queues`` (None: every queue of the app); gossip and
    mingle off (nothing here uses them)."""
    return python_argv(
        "-m",
        "celery",
        "-A",
        app,
        "worker",
        *(("--queues", queues) if queues else ()),
        "--pool",
        pool,
        "--concurrency",
        str(concurrency),
        "--hostname",
        node,
        "--without-gossip",
        "--without-mingle",
        "--loglevel",
        "INFO",
    )


def wait_for_celery(
    workers: list[Process], *, timeout: float = 90, check: Callable[[], None] | None = None
) -> None:
    """Every worker has logged ``ready.``; fails at once if one of them exits (or ``check``
    raises, e.g. ``Processes.check_alive`` for the processes started beside them)."""

    def ready() -> bool:
        if check is not None:
            check()
        for worker in workers:
            if not worker.alive():
                raise ProcessError(f"{worker.name} exited early:\n{worker.log()[-4000:]}")
        return all("ready." in worker.log() for worker in workers)

    wait_until(ready, timeout=timeout, what="the Celery workers to be ready", interval=0.1)
