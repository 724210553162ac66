"""The web process: uvicorn serving ``api.app:app_factory`` with the limits of the settings.

``plan web`` (the Procfile's ``web`` line) is the one way the web process starts, so the
tests, the demo and the bench run the options production runs.

uvicorn's HTTP/1.1 protocol (httptools) has no deadline for a request's headers and no cap on
their size: a client sending one header byte every few seconds, or megabytes of headers, holds
a connection and its memory for as long as it likes. ``PlanHttpProtocol`` adds both, and
writes the answers uvicorn gives on its own (a request that is not HTTP, a control character
in a header, headers too large) in the service's error envelope. Such a connection cannot be
read any further, so those answers close it. What arrives after the headers (the body) is the
app's to time and to bound (api.middleware.RequestBodyGuard).
"""

from __future__ import annotations

import asyncio
import json
from http import HTTPStatus
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from config import Settings, get_settings

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
)


def refusal_bytes(status: HTTPStatus, message: str) -> bytes:
    """A complete HTTP/1.1 answer in the error envelope that closes the connection."""
    code = "PLAN_HTTP_" + status.phrase.upper().replace(" ", "_").replace("-", "_")
    body = json.dumps({"error": {"code": code, "message": message, "field": None}}).encode()
    head = [
        f"HTTP/1.1 {status.value} {status.phrase}".encode(),
        b"content-type: application/json",
        b"content-length: " + str(len(body)).encode(),
        *(name + b": " + value for name, value in SECURITY_HEADERS),
        b"connection: close",
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


class PlanHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header deadline, a header size cap and enveloped
    refusals."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()
        self._header_timeout_s = settings.header_read_timeout_s
        self._max_header_bytes = settings.max_header_bytes
        self._header_bytes = 0
        self._headers_too_large = False
        self._header_deadline: asyncio.TimerHandle | None = None

    # The deadline runs from the connection (or the previous answer) to the end of the next
    # request's headers; data arriving does not reset it, unlike uvicorn's keep-alive timer.
    def _arm_header_deadline(self) -> None:
        self._disarm_header_deadline()
        self._header_deadline = self.loop.call_later(self._header_timeout_s, self._headers_late)

    def _disarm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_late(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.transport.write(
                refusal_bytes(
                    HTTPStatus.REQUEST_TIMEOUT,
                    f"The request's headers did not arrive within {self._header_timeout_s:g} s",
                )
            )
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        self._header_bytes = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count_header_bytes(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_header_bytes(len(name) + len(value))
        super().on_header(name, value)

    def _count_header_bytes(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self._max_header_bytes:
            self._headers_too_large = True
            # httptools turns an exception in a callback into HttpParserCallbackError, which
            # uvicorn answers through send_400_response below.
            raise ValueError("request headers too large")

    def on_headers_complete(self) -> None:
        self._disarm_header_deadline()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline:
            self._arm_header_deadline()

    def send_400_response(self, msg: str) -> None:
        if self._headers_too_large:
            status = HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
            message = f"The request's line and headers exceed {self._max_header_bytes} bytes"
        else:
            status = HTTPStatus.BAD_REQUEST
            message = (
                "The request is not valid HTTP/1.1 (a malformed request line or header, a "
                "control character in a header, or conflicting body lengths)"
            )
        self._disarm_header_deadline()
        if not self.transport.is_closing():
            self.transport.write(refusal_bytes(status, message))
            self.transport.close()


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    return {
        "factory": True,
        "host": settings.web_host,
        "port": settings.port,
        "workers": settings.web_concurrency,
        "http": "api.server:PlanHttpProtocol",
        "timeout_keep_alive": settings.keep_alive_timeout_s,
        "access_log": False,  # api.middleware writes one line per request
        "server_header": False,
        "ws": "none",
    }


def serve(settings: Settings | None = None) -> None:
    uvicorn.run("api.app:app_factory", **uvicorn_options(settings or get_settings()))
