"""Flower with basic auth in front of every request, started in this process by ``plan flower``.

Flower checks its ``--basic_auth`` only in the handlers that ask for the current user:
``/metrics`` (task, worker and queue names) and ``/healthcheck`` answer anyone, and so do its
static files, its login page and its 404 page. Here the application itself routes every
request without the credentials to one handler that answers 401, before the request's body is
read and before any of Flower's handlers (or its XSRF check) runs: nothing of Flower's surface
is reachable without them.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Sequence
from typing import Any

import tornado.web
from tornado.httputil import HTTPServerRequest


def credentials_match(authorization: str, accepted: Sequence[str]) -> bool:
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        given = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    # Every pair is compared, so the time taken does not tell which one came close.
    matches = [hmac.compare_digest(given, pair.encode()) for pair in accepted]
    return any(matches)


class _Refusal(tornado.web.RequestHandler):
    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "DELETE", "PATCH", "PUT", "OPTIONS")

    def check_xsrf_cookie(self) -> None:
        """Nothing is done here, so there is nothing to forge."""

    def prepare(self) -> None:
        self.set_status(401)
        self.set_header("WWW-Authenticate", 'Basic realm="flower"')
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Content-Type", "text/plain; charset=UTF-8")
        self.finish("Access denied")


def behind_basic_auth(
    application: type[tornado.web.Application], accepted: Sequence[str]
) -> type[tornado.web.Application]:
    """``application`` whose every request needs one of the ``user:password`` pairs."""
    if not accepted:
        raise ValueError("Flower needs at least one user:password pair")

    class Guarded(application):  # type: ignore[valid-type, misc]
        def find_handler(self, request: HTTPServerRequest, **kwargs: Any) -> Any:
            if credentials_match(request.headers.get("Authorization", ""), accepted):
                return super().find_handler(request, **kwargs)
            return self.get_handler_delegate(request, _Refusal)

    Guarded.__name__ = Guarded.__qualname__ = f"Guarded{application.__name__}"
    return Guarded


def run_flower(
    *,
    credentials: str,
    address: str,
    port: int,
    broker_api: str | None = None,
    extra: Sequence[str] = (),
) -> int:
    """Flower on ``address:port`` behind ``credentials`` (comma-separated user:password);
    on RabbitMQ its Broker page reads queue depths from ``broker_api``."""
    import sys

    import flower.command
    from celery.bin.celery import main as celery_main

    # The command builds its application from this name when it runs.
    flower.command.Flower = behind_basic_auth(flower.command.Flower, credentials.split(","))
    # Flower's own basic_auth too (its UI reads it). This argv is the running process's own
    # list: the command line `ps` shows is still `plan flower`, without the credentials.
    sys.argv = [
        "celery",
        "-A",
        "worker",
        "flower",
        f"--port={port}",
        f"--address={address}",
        f"--basic_auth={credentials}",
        *([f"--broker_api={broker_api}"] if broker_api else []),
        *extra,
    ]
    return celery_main()
