"""HTTP/1.1 over a plain socket, for requests no well-behaved client sends: truncated or
chunked bodies, slow headers, control characters, and several requests on one connection.

Also the web process (``plan web``) started as production starts it.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from dataclasses import dataclass
from typing import Any

from devtools.processes import free_port
from tests.support.harness import Harness, Process, wait_until


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    elapsed_s: float

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error(self) -> dict[str, Any]:
        envelope = self.json()
        assert set(envelope) == {"error"}, envelope
        error: dict[str, Any] = envelope["error"]
        assert set(error) == {"code", "message", "field"}, error
        return error


def request_bytes(
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> bytes:
    """A request with Host and, when there is a body, its Content-Length (unless given)."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    given = {name.lower() for name in (headers or {})}
    if body is not None and "content-length" not in given and "transfer-encoding" not in given:
        lines.append(f"Content-Length: {len(body)}")
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


def chunked(body: bytes, size: int = 65_536) -> bytes:
    parts = [
        b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size])
        for i in range(0, len(body), size)
    ]
    return b"".join(parts) + b"0\r\n\r\n"


class RawConnection:
    """One TCP connection to the web process; ``exchange`` sends and reads one answer."""

    def __init__(self, port: int, *, timeout_s: float = 15.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
        self._buffer = b""

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def exchange(self, data: bytes) -> RawResponse:
        started = time.monotonic()
        self.send(data)
        return self.read_response(started)

    def _fill(self) -> None:
        chunk = self.sock.recv(65_536)
        if not chunk:
            raise ConnectionError("the server closed the connection before answering")
        self._buffer += chunk

    def _take_line(self) -> bytes:
        while b"\r\n" not in self._buffer:
            self._fill()
        line, self._buffer = self._buffer.split(b"\r\n", 1)
        return line

    def _take(self, size: int) -> bytes:
        while len(self._buffer) < size:
            self._fill()
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def read_response(self, started: float | None = None) -> RawResponse:
        started = time.monotonic() if started is None else started
        status_line = self._take_line().decode("latin-1")
        status = int(status_line.split(" ", 2)[1])
        headers: dict[str, str] = {}
        while line := self._take_line():
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while size := int(self._take_line().split(b";")[0], 16):
                body += self._take(size)
                self._take_line()
            self._take_line()
        else:
            body = self._take(int(headers.get("content-length", "0")))
        return RawResponse(status, headers, body, time.monotonic() - started)

    def closed_by_server(self, within_s: float = 5.0) -> bool:
        """True when the server closes the connection (EOF) within ``within_s``."""
        self.sock.settimeout(within_s)
        try:
            while True:
                chunk = self.sock.recv(65_536)
                if not chunk:
                    return True
                self._buffer += chunk
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True


def health_on(connection: RawConnection) -> RawResponse:
    return connection.exchange(request_bytes("GET", "/health"))


@dataclass
class Web:
    port: int
    process: Process

    def connect(self, *, timeout_s: float = 15.0) -> RawConnection:
        return RawConnection(self.port, timeout_s=timeout_s)


def start_web(harness: Harness, env: dict[str, str] | None = None) -> Web:
    """``plan web`` (the Procfile's web line) on a free port, serving once /health answers."""
    port = free_port()
    process = harness.start(
        "web",
        [sys.executable, "-m", "worker.cli", "web"],
        {"PORT": str(port), "WEB_CONCURRENCY": "1", **(env or {})},
    )

    def serving() -> bool:
        if process.popen.poll() is not None:
            raise AssertionError(f"the web process exited:\n{process.log()[-4000:]}")
        try:
            with RawConnection(port, timeout_s=2) as connection:
                return health_on(connection).status == 200
        except OSError:
            return False

    wait_until(serving, timeout=60, interval=0.1, what="the web process to answer /health")
    return Web(port, process)
