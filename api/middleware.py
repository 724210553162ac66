"""Per request: a request id (the caller's X-Request-ID or a new one) bound to every log line
and echoed back, one access log line, and the latency histogram by route template.

Plain ASGI rather than BaseHTTPMiddleware: it adds no task and no body buffering per request.
"""

from __future__ import annotations

import re
import time
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from worker.metrics import HTTP_LATENCY

log = structlog.get_logger("plan.api")

REQUEST_ID_HEADER = b"x-request-id"
_ACCEPTED_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")


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
                message["headers"] = [*message.get("headers", ()), echoed]
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
