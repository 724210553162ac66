"""Private, disposable PostgreSQL, Redis and RabbitMQ servers for chaos tests and drills.

Chaos tests must kill and restart servers, which they may never do to the machine's
shared instances.  These helpers start a private server on a free port, let the test
stop it hard and start it again on the *same* port (PostgreSQL keeps its data directory,
so committed data survives; Redis keeps nothing, as in production here), and remove
everything on exit.

Missing server binaries raise ``RuntimeError``: a chaos test must fail loudly, never skip.

When running as root, PostgreSQL's ``initdb``/``pg_ctl`` refuse to run, so they run as
the ``postgres`` system user (created if absent) on a data directory under a fresh
``tempfile.mkdtemp()`` owned by that user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import psycopg
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from devtools.processes import free_port

POLL_INTERVAL_S = 0.05
DEFAULT_DEADLINE_S = 30.0
PG_SUPERUSER = "postgres"
PG_OS_USER = "postgres"
_PORT_IN_USE = re.compile(r"address already in use|could not bind|could not create", re.I)


def _is_root() -> bool:
    return os.geteuid() == 0


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def _poll(
    check: Callable[[], bool],
    deadline_s: float,
    what: str,
    failed: Callable[[], str | None] | None = None,
) -> None:
    """Call ``check`` every POLL_INTERVAL_S until it is true or ``deadline_s`` expires.

    ``failed`` may return an error message to give up early (e.g. the process died).
    """
    deadline = time.monotonic() + deadline_s
    while True:
        if check():
            return
        if failed is not None and (reason := failed()) is not None:
            raise RuntimeError(f"{what}: {reason}")
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not ready after {deadline_s:.1f}s")
        time.sleep(POLL_INTERVAL_S)


def redis_server_binary() -> str:
    path = shutil.which("redis-server")
    if path is None:
        raise RuntimeError(
            "redis-server not found on PATH; chaos tests need it to run a private Redis. "
            "Install it (Debian/Ubuntu: 'apt-get install redis-server')."
        )
    return path


def _version_key(path: Path) -> tuple[int, ...]:
    # /usr/lib/postgresql/<version>/bin/initdb -> (<version parts>)
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.parent.name))


def postgres_bindir() -> Path:
    """Directory with initdb/pg_ctl: $PG_BINDIR, newest /usr/lib/postgresql/*/bin, or PATH."""
    override = os.environ.get("PG_BINDIR")
    candidates: list[Path] = []
    if override:
        candidates.append(Path(override))
    candidates += [
        p.parent
        for p in sorted(
            Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=_version_key, reverse=True
        )
    ]
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).parent)
    for bindir in candidates:
        if all(os.access(bindir / tool, os.X_OK) for tool in ("initdb", "pg_ctl")):
            return bindir
    raise RuntimeError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found in $PG_BINDIR, "
        "/usr/lib/postgresql/*/bin or on PATH; chaos tests need them to run a private "
        "PostgreSQL. Install them (Debian/Ubuntu: 'apt-get install postgresql')."
    )


def _postgres_os_user() -> pwd.struct_passwd:
    """The `postgres` system user (created if needed) that owns clusters when we are root."""
    try:
        return pwd.getpwnam(PG_OS_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--user-group",
                "--create-home",
                "--home-dir",
                "/var/lib/postgresql",
                "--shell",
                "/bin/bash",
                PG_OS_USER,
            ],
            check=True,
        )
        return pwd.getpwnam(PG_OS_USER)


def _clean_env() -> dict[str, str]:
    """Our environment without libpq variables that could redirect initdb/pg_ctl."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


class _PrivateServer:
    """Common context-manager plumbing."""

    port: int

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def is_running(self) -> bool:
        raise NotImplementedError

    def wait_ready(self, deadline_s: float = DEFAULT_DEADLINE_S) -> None:
        raise NotImplementedError

    def restart(self) -> None:
        """Stop hard and start again on the same port."""
        if self.is_running():
            self.stop()
        self.start()

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class PrivateRedis(_PrivateServer):
    """A throw-away ``redis-server`` on 127.0.0.1, without persistence.

    ``stop()`` SIGKILLs it; ``start()`` brings it back, empty, on the same port.
    """

    def __init__(self, *, start_deadline_s: float = DEFAULT_DEADLINE_S) -> None:
        self._binary = redis_server_binary()
        self.start_deadline_s = start_deadline_s
        self.workdir = Path(tempfile.mkdtemp(prefix="plan-redis-"))
        self.logfile = self.workdir / "redis.log"
        self.port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None
        self._started_once = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self, timeout_s: float = 2.0) -> redis.Redis[bytes]:
        """A new client for this server, without redis-py's default retries (up to 10,
        with backoff) so that an unreachable server shows at once."""
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            db=0,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
        )

    def _launch(self) -> subprocess.Popen[bytes]:
        cmd: Sequence[str] = [
            self._binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            str(self.workdir),
            "--logfile",
            str(self.logfile),
        ]
        return subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def start(self) -> None:
        if self.is_running():
            raise RuntimeError(f"private Redis on port {self.port} is already running")
        # Only the very first start may move to another port (if someone grabbed the one
        # free_port() picked); restarts must keep the port clients were given.
        attempts = 1 if self._started_once else 5
        for attempt in range(attempts):
            log_offset = self.logfile.stat().st_size if self.logfile.exists() else 0
            self._proc = self._launch()
            try:
                self.wait_ready(self.start_deadline_s)
            except RuntimeError:
                new_log = self.logfile.read_text(errors="replace")[log_offset:]
                self._reap()
                if attempt + 1 < attempts and _PORT_IN_USE.search(new_log):
                    self.port = free_port()
                    continue
                raise
            self._started_once = True
            return

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def ping(self) -> bool:
        try:
            with contextlib.closing(self.client(timeout_s=0.5)) as client:
                return bool(client.ping())
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            return False

    def wait_ready(self, deadline_s: float = DEFAULT_DEADLINE_S) -> None:
        def failed() -> str | None:
            if self._proc is None or self._proc.poll() is not None:
                return f"redis-server exited; log tail:\n{_tail(self.logfile)}"
            return None

        _poll(self.ping, deadline_s, f"private Redis on port {self.port}", failed)

    def _reap(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            self._proc = None

    def stop(self) -> None:
        """SIGKILL the server (no shutdown, no save) and wait for it to be gone."""
        if not self.is_running():
            raise RuntimeError(f"private Redis on port {self.port} is not running")
        self._reap()

    def close(self) -> None:
        self._reap()
        shutil.rmtree(self.workdir, ignore_errors=True)


class PrivatePostgres(_PrivateServer):
    """A throw-away PostgreSQL cluster (trust auth, superuser ``postgres``) on 127.0.0.1.

    ``stop()`` is ``pg_ctl stop -m immediate`` (a crash, as far as the cluster knows);
    ``start()`` restarts it on the same port and data directory, so committed data
    survives through crash recovery.
    """

    def __init__(self, *, start_deadline_s: float = DEFAULT_DEADLINE_S) -> None:
        self.bindir = postgres_bindir()
        self.start_deadline_s = start_deadline_s
        self._owner = _postgres_os_user() if _is_root() else None
        # Under /tmp explicitly when root: the postgres user must be able to reach it.
        self.basedir = Path(
            tempfile.mkdtemp(prefix="plan-pg-", dir="/tmp" if self._owner else None)  # noqa: S108
        )
        self.datadir = self.basedir / "data"
        self.sockdir = self.basedir
        self.logfile = self.basedir / "postgres.log"
        self.port = free_port()
        self._started_once = False
        try:
            if self._owner is not None:
                os.chown(self.basedir, self._owner.pw_uid, self._owner.pw_gid)
            self._run_as_owner(
                [
                    str(self.bindir / "initdb"),
                    "-D",
                    str(self.datadir),
                    "-A",
                    "trust",
                    "-U",
                    PG_SUPERUSER,
                    "-E",
                    "UTF8",
                    "--no-locale",
                    "--no-sync",
                ],
                what="initdb",
            )
        except BaseException:
            shutil.rmtree(self.basedir, ignore_errors=True)
            raise

    @property
    def url(self) -> str:
        """SQLAlchemy URL (the form DATABASE_URL uses in this project)."""
        return f"postgresql+psycopg://{PG_SUPERUSER}@127.0.0.1:{self.port}/postgres"

    @property
    def conninfo(self) -> str:
        """libpq/psycopg URL for the same database."""
        return f"postgresql://{PG_SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def connect(
        self, *, connect_timeout_s: int = 2, autocommit: bool = False
    ) -> psycopg.Connection[tuple[Any, ...]]:
        """A new psycopg connection to the ``postgres`` database."""
        return psycopg.connect(
            self.conninfo, connect_timeout=connect_timeout_s, autocommit=autocommit
        )

    def _run_as_owner(
        self, cmd: Sequence[str], *, what: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        owner = self._owner
        proc = subprocess.run(
            list(cmd),
            cwd=self.basedir,
            env=_clean_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            user=owner.pw_uid if owner else None,
            group=owner.pw_gid if owner else None,
            extra_groups=[] if owner else None,
            timeout=max(self.start_deadline_s, 30.0) + 30.0,
            check=False,
        )
        if check and proc.returncode != 0:
            raise RuntimeError(
                f"{what} failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}\n"
                f"log tail:\n{_tail(self.logfile)}"
            )
        return proc

    def _pg_ctl(
        self, *args: str, what: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self._run_as_owner(
            [str(self.bindir / "pg_ctl"), "-D", str(self.datadir), *args], what=what, check=check
        )

    def is_running(self) -> bool:
        return self._pg_ctl("status", what="pg_ctl status", check=False).returncode == 0

    def start(self) -> None:
        if self.is_running():
            raise RuntimeError(f"private PostgreSQL on port {self.port} is already running")
        attempts = 1 if self._started_once else 5
        for attempt in range(attempts):
            log_offset = self.logfile.stat().st_size if self.logfile.exists() else 0
            options = f"-p {self.port} -k {self.sockdir} -c listen_addresses=127.0.0.1 -c fsync=off"
            proc = self._pg_ctl(
                "-l",
                str(self.logfile),
                "-o",
                options,
                "-w",
                "-t",
                str(max(1, round(self.start_deadline_s))),
                "start",
                what="pg_ctl start",
                check=False,
            )
            if proc.returncode == 0:
                self.wait_ready(self.start_deadline_s)
                self._started_once = True
                return
            new_log = self.logfile.read_text(errors="replace")[log_offset:]
            if attempt + 1 < attempts and _PORT_IN_USE.search(new_log):
                self.port = free_port()
                continue
            raise RuntimeError(
                f"pg_ctl start failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}\n"
                f"log tail:\n{_tail(self.logfile)}"
            )

    def accepts_connections(self) -> bool:
        try:
            with self.connect(connect_timeout_s=1) as conn:
                conn.execute("select 1")
            return True
        except psycopg.OperationalError:
            return False

    def wait_ready(self, deadline_s: float = DEFAULT_DEADLINE_S) -> None:
        def failed() -> str | None:
            if not self.is_running():
                return f"postmaster is not running; log tail:\n{_tail(self.logfile)}"
            return None

        _poll(
            self.accepts_connections, deadline_s, f"private PostgreSQL on port {self.port}", failed
        )

    def stop(self) -> None:
        """``pg_ctl stop -m immediate``: abort without a checkpoint, like a crash."""
        if not self.is_running():
            raise RuntimeError(f"private PostgreSQL on port {self.port} is not running")
        self._pg_ctl("-m", "immediate", "-w", "-t", "30", "stop", what="pg_ctl stop")

    def close(self) -> None:
        try:
            if self.datadir.exists() and self.is_running():
                proc = self._pg_ctl(
                    "-m", "immediate", "-w", "-t", "30", "stop", what="pg_ctl stop", check=False
                )
                if proc.returncode != 0:
                    self._kill_postmaster()
        finally:
            shutil.rmtree(self.basedir, ignore_errors=True)

    def _kill_postmaster(self) -> None:
        pidfile = self.datadir / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int(pidfile.read_text().splitlines()[0])
            os.kill(pid, signal.SIGKILL)
