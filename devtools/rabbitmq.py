"""A private RabbitMQ node: its own node name, ports and data directory, never the machine's.

Started with ``rabbitmq-server`` as a subprocess (environment variables only: the machine's
``/etc/rabbitmq`` files are replaced by files of our own), with the management plugin on a
port of its own so that tests can create a virtual host each and Flower can read the queues.
``stop()`` SIGKILLs the node; ``start()`` brings it back on the same ports and data directory,
so durable (quorum) queues and their messages survive, as they would a crash.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from pathlib import Path
from urllib.parse import quote

import httpx
from kombu import Connection

from devtools.processes import free_port
from devtools.servers import DEFAULT_DEADLINE_S, _poll, _PrivateServer, _tail

GUEST = ("guest", "guest")
_SERVER_CANDIDATES = (
    # Debian's /usr/sbin/rabbitmq-server switches to the system user and the system node;
    # the script it wraps runs a node as whoever calls it.
    "/usr/lib/rabbitmq/bin/rabbitmq-server",
)


def rabbitmq_server_binary() -> str:
    for candidate in _SERVER_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    path = shutil.which("rabbitmq-server")
    if path is None:
        raise RuntimeError(
            "rabbitmq-server not found; tests on RabbitMQ run a private node. Install it "
            "(Debian/Ubuntu: 'apt-get install rabbitmq-server'; `make test` does when root)."
        )
    return path


def amqp_answers(url: str, timeout_s: float = 2.0) -> bool:
    """A broker at ``url`` accepts a login (AMQP handshake), not just a TCP connection."""
    try:
        with Connection(url, connect_timeout=timeout_s) as connection:
            connection.ensure_connection(max_retries=0, timeout=max(1, round(timeout_s)))
        return True
    except Exception:
        return False


class PrivateRabbitMQ(_PrivateServer):
    """A throw-away RabbitMQ node on 127.0.0.1 (user guest/guest, management plugin on)."""

    def __init__(self, *, start_deadline_s: float = 90.0) -> None:
        self._binary = rabbitmq_server_binary()
        self.start_deadline_s = start_deadline_s
        self.basedir = Path(tempfile.mkdtemp(prefix="plan-rabbitmq-"))
        self.logfile = self.basedir / "rabbitmq-server.log"
        self.node = f"plan-{uuid.uuid4().hex[:10]}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
        self.management_port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None
        (self.basedir / "enabled_plugins").write_text("[rabbitmq_management].\n")
        (self.basedir / "rabbitmq-env.conf").write_text("")
        (self.basedir / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\n"
            f"management.tcp.ip = 127.0.0.1\n"
            f"management.tcp.port = {self.management_port}\n"
        )

    def url(self, vhost: str = "/") -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/{quote(vhost, safe='')}"

    @property
    def management_url(self) -> str:
        return f"http://127.0.0.1:{self.management_port}/api"

    def _environment(self) -> dict[str, str]:
        base = self.basedir
        return {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "HOME": str(base),  # the node's Erlang cookie lives here, not in ours
            "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_PID_FILE": str(base / "rabbitmq.pid"),
        }

    def start(self) -> None:
        if self.is_running():
            raise RuntimeError(f"private RabbitMQ on port {self.port} is already running")
        with self.logfile.open("ab") as log:
            self._proc = subprocess.Popen(
                [self._binary],
                cwd=self.basedir,
                env=self._environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_ready(self.start_deadline_s)

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def answers(self) -> bool:
        if not amqp_answers(self.url(), timeout_s=1.0):
            return False
        try:
            return httpx.get(f"{self.management_url}/overview", auth=GUEST, timeout=2).is_success
        except httpx.HTTPError:
            return False

    def wait_ready(self, deadline_s: float = DEFAULT_DEADLINE_S) -> None:
        def failed() -> str | None:
            if not self.is_running():
                return f"rabbitmq-server exited; log tail:\n{_tail(self.logfile)}"
            return None

        _poll(self.answers, deadline_s, f"private RabbitMQ on port {self.port}", failed)

    def _kill_group(self, sig: int) -> None:
        if self._proc is not None and self._proc.poll() is None:
            try:
                os.killpg(self._proc.pid, sig)
            except ProcessLookupError:
                return

    def stop(self) -> None:
        """SIGKILL the node (no shutdown): what is on disk is what a crash leaves."""
        if not self.is_running():
            raise RuntimeError(f"private RabbitMQ on port {self.port} is not running")
        self._kill_group(signal.SIGKILL)
        if self._proc is not None:
            self._proc.wait(30)
            self._proc = None

    def close(self) -> None:
        if self._proc is not None:
            self._kill_group(signal.SIGTERM)
            try:
                self._proc.wait(20)
            except subprocess.TimeoutExpired:
                self._kill_group(signal.SIGKILL)
                self._proc.wait(10)
            self._proc = None
        shutil.rmtree(self.basedir, ignore_errors=True)

    # ----------------------------------------------------------------- virtual hosts

    def create_vhost(self, name: str) -> str:
        """A new virtual host for guest; returns its AMQP URL."""
        quoted = quote(name, safe="")
        api = self.management_url
        httpx.put(f"{api}/vhosts/{quoted}", auth=GUEST, timeout=10).raise_for_status()
        httpx.put(
            f"{api}/permissions/{quoted}/guest",
            json={"configure": ".*", "write": ".*", "read": ".*"},
            auth=GUEST,
            timeout=10,
        ).raise_for_status()
        return self.url(name)

    def delete_vhost(self, name: str) -> None:
        response = httpx.delete(
            f"{self.management_url}/vhosts/{quote(name, safe='')}", auth=GUEST, timeout=30
        )
        if response.status_code not in (204, 404):
            response.raise_for_status()
