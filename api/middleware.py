"""Per request: a request id (the caller's X-Request-ID or a new one) bound to every log line
and echoed back, the security headers of every answer, one access log line, and the latency
histogram by route template; and the guard of request bodies (size and read deadline).

Plain ASGI rather than BaseHTTPMiddleware: it adds no task and no body buffering per request.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import SECURITY_HEADERS, ContentTooLarge, RequestTimeout, plan_error_response
from worker.metrics import HTTP_LATENCY

log = structlog.get_logger("plan.api")

REQUEST_ID_HEADER = b"x-request-id"
_ACCEPTED_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
# Claims carry health data: no answer may be cached or sniffed into another type.
_SECURITY_HEADERS = tuple(
    (name.lower().encode("ascii"), value.encode("ascii"))
    for name, value in SECURITY_HEADERS.items()
)


def _request_id(scope: Scope) -> str:
    value: bytes
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER and _ACCEPTED_REQUEST_ID.fullmatch(value):
            return value.decode("ascii")
    return uuid.uuid4().hex


def _route_template(scope: Scope) -> str:
    # The template, never the raw path: claim ids in a label would grow the series without end.
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else "unmatched"


def _claim_id(scope: Scope, route: str) -> object:
    # A new claim's id is known only to its endpoint, which leaves it in request.state.
    claim_id = (scope.get("state") or {}).get("claim_id")
    if claim_id is None and route.startswith("/claims/{id}"):
        claim_id = (scope.get("path_params") or {}).get("id")
    return claim_id


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500
        echoed = (REQUEST_ID_HEADER, request_id.encode("ascii"))

        async def send_with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers += [pair for pair in _SECURITY_HEADERS if pair[0] not in present]
                headers.append(echoed)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            HTTP_LATENCY.labels(scope["method"], route, str(status)).observe(elapsed)
            claim_id = _claim_id(scope, route)
            log.info(
                "http.request",
                method=scope["method"],
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
                **({} if claim_id is None else {"claim_id": claim_id}),
            )
            structlog.contextvars.clear_contextvars()


def _declared_length(scope: Scope) -> int | None:
    value: bytes
    for name, value in scope["headers"]:
        if name == b"content-length":
            # The HTTP parser already refused a Content-Length that is not a number.
            return int(value) if value.isdigit() else None
    return None


class RequestBodyGuard:
    """Every request body is at most ``max_body_bytes`` and arrives within ``read_timeout_s``
    of its headers, or the request is answered 413 / 408 and its connection closed.

    A declared Content-Length over the limit is refused before a byte of the body is read; a
    chunked body is counted as it arrives. The routes' own, smaller limits are the JSON
    dependencies' (api.params). Once the body is complete, receive is passed through as is.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, read_timeout_s: float) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.read_timeout_s = read_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await plan_error_response(self._too_large())(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.read_timeout_s
        received = 0
        complete = declared == 0

        async def guarded_receive() -> Message:
            nonlocal received, complete
            if complete:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise RequestTimeout(
                    f"The request body did not arrive within {self.read_timeout_s:g} s"
                ) from None
            if message["type"] != "http.request":
                complete = True
                return message
            received += len(message.get("body", b""))
            if received > self.max_body_bytes:
                raise self._too_large()
            complete = not message.get("more_body", False)
            return message

        await self.app(scope, guarded_receive, send)

    def _too_large(self) -> ContentTooLarge:
        return ContentTooLarge(
            f"The request body must be at most {self.max_body_bytes} bytes (MAX_BODY_BYTES)"
        )
