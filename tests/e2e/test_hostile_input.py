"""Hostile input never costs a 500, a hung connection or a CPU-second (issue 13).

Every case is sent over a plain socket to the web process as production starts it
(``plan web``: uvicorn with the service's protocol and limits). Each asserts the status, the
error envelope and its code, and then that the process still answers ``/health``: on the same
connection where the answer keeps it open, on a new one where the answer says it closes
(a body left unread or never coming cannot be skipped on a connection).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from devtools.processes import free_port
from tests.e2e.conftest import ADMIN, MEMBER, REVIEWER, Headers, bearer
from tests.support.factories import World, claim_body
from tests.support.harness import Harness, admin_conninfo, wait_until
from tests.support.rawhttp import (
    RawConnection,
    RawResponse,
    Web,
    chunked,
    health_on,
    request_bytes,
    start_web,
)
from tests.support.service import blocked_sessions

CLAIM_LIMIT = 8192
BODY_LIMIT = 32_768
SHORT_TIMEOUT_S = 1.0
WEB_ENV = {
    "MAX_CLAIM_BODY_BYTES": str(CLAIM_LIMIT),
    "MAX_BODY_BYTES": str(BODY_LIMIT),
    "BODY_READ_TIMEOUT_S": str(SHORT_TIMEOUT_S),
    "HEADER_READ_TIMEOUT_S": str(SHORT_TIMEOUT_S),
}
JSON = {"Content-Type": "application/json"}
HUGE_NUMBERS = [
    "1e999999999999999999999",
    "-1e999999999999999999999",
    "1e-999999999999999999999",
    "1E+999999999999999999",
    "1e400",
    "9" * 5000,
]


@pytest.fixture
def web(harness: Harness) -> Web:
    return start_web(harness, WEB_ENV)


@pytest.fixture
def connection(web: Web) -> Iterator[RawConnection]:
    with web.connect() as connection:
        yield connection


def _post(path: str, headers: Headers, body: bytes, **extra: str) -> bytes:
    return request_bytes("POST", path, {**headers, **JSON, **extra}, body)


def _with_number(document: dict[str, Any], key: str, number: str) -> bytes:
    marker = "__NUMBER__"
    return json.dumps({**document, key: marker}).replace(f'"{marker}"', number).encode()


def assert_refused(response: RawResponse, status: int, code: str, field: str | None = None) -> None:
    assert response.status == status, (response.status, response.body[:500])
    error = response.error
    assert error["code"] == code, error
    if field is not None:
        assert error["field"] == field, error
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"


def assert_still_serves(connection: RawConnection) -> None:
    """The same connection carries another request."""
    assert health_on(connection).status == 200


def assert_closed_then_serves(connection: RawConnection, web: Web) -> None:
    """The answer closed its connection; the process answers a new one."""
    assert connection.closed_by_server(within_s=5)
    with web.connect() as fresh:
        assert health_on(fresh).status == 200


# --------------------------------------------------------------------- 1. hostile numbers


def test_a_number_no_field_can_hold_is_refused_naming_the_field_on_every_body_route(
    connection: RawConnection, world: World
) -> None:
    member, reviewer = bearer(MEMBER, "member"), bearer(REVIEWER, "reviewer")
    claim = claim_body(world, MEMBER)
    documents = {"documents": claim["documents"]}
    for number in HUGE_NUMBERS:
        cases = [
            ("/claims", member, claim, "amount", "PLAN_CLAIM_VAL_INVALID_AMOUNT"),
            ("/claims", member, claim, "memberPlanId", "PLAN_CLAIM_VAL_INVALID_INPUT"),
            (
                "/claims/1/decision",
                reviewer,
                {"decision": "approve"},
                "approvedAmount",
                "PLAN_CLAIM_BUS_INVALID_APPROVED_AMOUNT",
            ),
            (
                "/claims/1/additional-info",
                member,
                documents,
                "note",
                "PLAN_CLAIM_VAL_INVALID_INPUT",
            ),
            (
                "/claims/1/additional-info",
                member,
                documents,
                "anyKey",
                "PLAN_CLAIM_VAL_INVALID_INPUT",
            ),
        ]
        for path, headers, document, field, code in cases:
            body = _with_number(document, field, number)
            assert_refused(connection.exchange(_post(path, headers, body)), 422, code, field)
            assert_still_serves(connection)


def test_a_batch_item_with_such_a_number_is_refused_alone(
    connection: RawConnection, world: World
) -> None:
    good = {**claim_body(world, MEMBER), "userId": MEMBER}
    for number in HUGE_NUMBERS:
        item = {**claim_body(world, MEMBER), "userId": MEMBER}
        batch = b'{"claims": [' + _with_number(item, "amount", number) + b"]}"
        answer = connection.exchange(_post("/claims/batch", bearer(ADMIN, "admin"), batch))
        assert answer.status == 202, answer.body
        [result] = answer.json()["results"]
        assert [(e["field"], e["code"]) for e in result["errors"] or []] == [
            ("amount", "PLAN_CLAIM_VAL_INVALID_AMOUNT")
        ]
        assert_still_serves(connection)
    answer = connection.exchange(
        _post("/claims/batch", bearer(ADMIN, "admin"), json.dumps({"claims": [good]}).encode())
    )
    assert answer.status == 202 and answer.json()["results"][0]["errors"] is None, answer.body


# --------------------------------------------------------------------- 2. odd token claims


def _minted(payload: str, header: str = '{"alg":"HS256","typ":"JWT"}') -> Headers:
    """A token correctly signed with the service's secret over any payload text."""
    from config import get_settings

    secret = get_settings().jwt_secret.get_secret_value().encode()

    def part(text: str) -> bytes:
        return base64.urlsafe_b64encode(text.encode()).rstrip(b"=")

    signed = part(header) + b"." + part(payload)
    signature = base64.urlsafe_b64encode(hmac.new(secret, signed, hashlib.sha256).digest())
    return {"Authorization": "Bearer " + (signed + b"." + signature.rstrip(b"=")).decode()}


def test_correctly_signed_tokens_with_odd_claim_types_answer_401(
    connection: RawConnection,
) -> None:
    exp = int(time.time()) + 600
    payloads = [
        f'{{"sub":"m","role":["admin"],"exp":{exp}}}',
        f'{{"sub":"m","role":{{"admin":true}},"exp":{exp}}}',
        '{"sub":"m","role":"admin","exp":' + "1" + "0" * 400 + "}",
        '{"sub":"m","role":"admin","exp":1e999}',
        '{"sub":"m","role":"admin","exp":NaN}',
        '{"sub":"m","role":"admin","exp":Infinity}',
        f'{{"sub":"m","role":"admin","exp":"{exp}"}}',
        '{"sub":"m","role":"admin","exp":true}',
        f'{{"sub":["m"],"role":"admin","exp":{exp}}}',
        f'{{"sub":"m","role":"admin","exp":{exp},"nbf":Infinity}}',
        f'{{"sub":"m","role":"admin","exp":{exp},"iat":"yesterday"}}',
        f'["m","admin",{exp}]',
    ]
    for payload in payloads:
        for path in ("/claims", "/metrics"):
            answer = connection.exchange(request_bytes("GET", path, _minted(payload)))
            assert_refused(answer, 401, "PLAN_AUTH_UNAUTHENTICATED")
            assert answer.headers["www-authenticate"] == "Bearer"
            assert_still_serves(connection)


# --------------------------------------------------------------------- 3. Idempotency-Key


def test_an_idempotency_key_names_one_request(connection: RawConnection, world: World) -> None:
    keyed = {**bearer(MEMBER, "member"), "Idempotency-Key": "order-1"}
    claim = claim_body(world, MEMBER, amount="80.00")
    first = connection.exchange(_post("/claims", keyed, json.dumps(claim).encode()))
    assert first.status == 202, first.body
    # The same request, written otherwise: keys reordered, 80 for "80.00", a default spelled out.
    same = dict(reversed(list({**claim, "amount": 80, "draft": False}.items())))
    repeat = connection.exchange(_post("/claims", keyed, json.dumps(same).encode()))
    assert repeat.status == 202, repeat.body
    assert (repeat.json()["id"], repeat.json()["replayed"]) == (first.json()["id"], True)
    for changed in ({**claim, "amount": "80.01"}, {**claim, "notes": "another"}):
        answer = connection.exchange(_post("/claims", keyed, json.dumps(changed).encode()))
        assert_refused(answer, 422, "PLAN_CLAIM_VAL_IDEMPOTENCY_KEY_REUSED", "Idempotency-Key")
        assert_still_serves(connection)


def test_a_key_still_in_flight_answers_409(
    harness: Harness, web: Web, connection: RawConnection, world: World
) -> None:
    keyed = {**bearer(MEMBER, "member"), "Idempotency-Key": "order-2"}
    body = json.dumps(claim_body(world, MEMBER)).encode()
    with psycopg.connect(admin_conninfo(harness.database_url)) as gate, web.connect() as first:
        # Reads pass an exclusive table lock; the first request's insert waits for it.
        gate.execute("LOCK TABLE plan.claims IN EXCLUSIVE MODE")
        first.send(_post("/claims", keyed, body))
        wait_until(lambda: blocked_sessions(harness) == 1, what="the first insert to wait")
        for repeat in (body, json.dumps(claim_body(world, MEMBER)).encode()):
            answer = connection.exchange(_post("/claims", keyed, repeat))
            assert_refused(answer, 409, "PLAN_CLAIM_BUS_IDEMPOTENCY_CONFLICT", "Idempotency-Key")
            assert_still_serves(connection)
        gate.rollback()
        stored = first.read_response()
        assert stored.status == 202, stored.body
    again = connection.exchange(_post("/claims", keyed, body))
    assert (again.status, again.json()["replayed"]) == (202, True)


# --------------------------------------------------------------------- 4. sizes and shapes


def test_a_declared_body_over_the_route_limit_is_refused_before_it_is_read(
    web: Web, world: World
) -> None:
    member, admin = bearer(MEMBER, "member"), bearer(ADMIN, "admin")
    for path, headers, size in (
        ("/claims", member, CLAIM_LIMIT + 1),  # the route's own limit
        ("/claims/batch", admin, BODY_LIMIT + 1),  # the process-wide limit
        ("/claims/1/decision", bearer(REVIEWER, "reviewer"), 10**12),
        ("/health", {}, 10**9),  # even where no body is read
    ):
        with web.connect() as connection:
            # Only the headers: an answer now proves the body was never waited for.
            head = request_bytes(
                "POST", path, {**headers, **JSON, "Content-Length": str(size)}, b""
            )
            answer = connection.exchange(head)
            assert_refused(answer, 413, "PLAN_HTTP_CONTENT_TOO_LARGE")
            assert answer.headers["connection"] == "close"
            assert answer.elapsed_s < SHORT_TIMEOUT_S
            assert_closed_then_serves(connection, web)


def test_a_chunked_body_is_counted_as_it_arrives(web: Web, world: World) -> None:
    member, admin = bearer(MEMBER, "member"), bearer(ADMIN, "admin")
    for path, headers, size in (
        ("/claims", member, CLAIM_LIMIT + 1),
        ("/claims/batch", admin, BODY_LIMIT + 1),
    ):
        with web.connect() as connection:
            body = chunked(b'{"x": "' + b"a" * size + b'"}', size=1024)
            answer = connection.exchange(
                _post(path, headers, body, **{"Transfer-Encoding": "chunked"})
            )
            assert_refused(answer, 413, "PLAN_HTTP_CONTENT_TOO_LARGE")
            assert_closed_then_serves(connection, web)


def test_a_chunked_body_within_the_limit_is_read(connection: RawConnection, world: World) -> None:
    body = json.dumps(claim_body(world, MEMBER)).encode()
    answer = connection.exchange(
        _post(
            "/claims",
            bearer(MEMBER, "member"),
            chunked(body, size=100),
            **{"Transfer-Encoding": "chunked"},
        )
    )
    assert answer.status == 202, answer.body
    assert_still_serves(connection)


def test_depth_and_key_count_are_capped_before_validation(
    connection: RawConnection, world: World
) -> None:
    member = bearer(MEMBER, "member")
    claim = claim_body(world, MEMBER)
    deep: Any = 1
    for _ in range(40):
        deep = [deep]
    cases = [
        ({**claim, "notes": deep}, "notes" + "[0]" * 9),
        ({**claim, **{f"k{i}": 1 for i in range(300)}}, None),
        ({**claim, "documents": [{f"k{i}": 1 for i in range(100)}]}, "documents[0]"),
    ]
    for document, field in cases:
        answer = connection.exchange(_post("/claims", member, json.dumps(document).encode()))
        assert_refused(answer, 422, "PLAN_CLAIM_VAL_INVALID_INPUT", field)
        assert_still_serves(connection)


def test_a_megabyte_of_unknown_keys_costs_milliseconds(harness: Harness, world: World) -> None:
    web = start_web(harness, {"MAX_CLAIM_BODY_BYTES": str(2 * 1024 * 1024)})
    body = json.dumps(
        {**claim_body(world, MEMBER), **{f"unknown{i}": i for i in range(80_000)}}
    ).encode()
    assert len(body) > 1024 * 1024
    with web.connect() as connection:
        answer = connection.exchange(_post("/claims", bearer(MEMBER, "member"), body))
        assert_refused(answer, 422, "PLAN_CLAIM_VAL_INVALID_INPUT")
        assert "at most 64" in answer.error["message"]
        # Validating 80,000 unknown keys took 0.75 s of CPU; the cap answers after the parse.
        assert answer.elapsed_s < 0.5, answer.elapsed_s
        assert_still_serves(connection)


# --------------------------------------------------------------------- 5. slow and truncated


def test_a_body_shorter_than_its_content_length_is_answered_408_and_closed(
    web: Web, world: World
) -> None:
    with web.connect() as connection:
        member = bearer(MEMBER, "member")
        head = _post("/claims", member, b'{"amount": 1', **{"Content-Length": "500"})
        answer = connection.exchange(head)
        assert_refused(answer, 408, "PLAN_HTTP_REQUEST_TIMEOUT")
        assert SHORT_TIMEOUT_S * 0.9 <= answer.elapsed_s < SHORT_TIMEOUT_S + 2
        assert_closed_then_serves(connection, web)


def test_a_body_sent_a_byte_at_a_time_is_cut_off_at_the_deadline(web: Web, world: World) -> None:
    body = json.dumps(claim_body(world, MEMBER)).encode()
    with web.connect() as connection:
        started = time.monotonic()
        connection.send(
            _post("/claims", bearer(MEMBER, "member"), b"", **{"Content-Length": str(len(body))})
        )
        # A byte every 0.1 s until just before the deadline: a timeout that restarted with
        # every byte would answer a whole timeout after the last one.
        for byte in body[:8]:
            connection.send(bytes([byte]))
            time.sleep(0.1)
        answer = connection.read_response(started)
        assert_refused(answer, 408, "PLAN_HTTP_REQUEST_TIMEOUT")
        assert answer.elapsed_s < SHORT_TIMEOUT_S + 0.5
        assert_closed_then_serves(connection, web)


def test_headers_that_never_finish_are_answered_408_and_closed(web: Web) -> None:
    for trickle in (False, True):
        with web.connect() as connection:
            started = time.monotonic()
            connection.send(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            while trickle and time.monotonic() - started < SHORT_TIMEOUT_S + 0.5:
                try:
                    connection.send(b"X")  # one byte of a header that never ends
                except OSError:
                    break
                time.sleep(0.2)
            answer = connection.read_response(started)
            assert_refused(answer, 408, "PLAN_HTTP_REQUEST_TIMEOUT")
            assert answer.elapsed_s < SHORT_TIMEOUT_S + 2
            assert_closed_then_serves(connection, web)


def test_an_idle_connection_is_closed_after_the_header_deadline(web: Web) -> None:
    with web.connect() as connection:
        assert connection.closed_by_server(within_s=SHORT_TIMEOUT_S + 5)
    with web.connect() as connection:
        assert_still_serves(connection)


# --------------------------------------------------------------------- 6. Content-Type


def test_only_utf8_application_json_is_read(connection: RawConnection, world: World) -> None:
    member = bearer(MEMBER, "member")
    claim = claim_body(world, MEMBER)
    text = json.dumps(claim)
    refused: list[tuple[dict[str, str], bytes]] = [
        ({"Content-Type": "text/plain"}, text.encode()),
        ({}, text.encode()),
        ({"Content-Type": "application/x-www-form-urlencoded"}, text.encode()),
        ({"Content-Type": "application/json; charset=utf-16"}, text.encode("utf-16")),
        ({"Content-Type": "application/json"}, text.encode("utf-16")),
        ({"Content-Type": "application/json"}, text.encode("utf-16-le")),
        ({"Content-Type": "application/json"}, b"\xef\xbb\xbf" + text.encode()),
        ({"Content-Type": "application/json"}, text.encode()[:-2] + b'\xff"}'),
        ({"Content-Type": "application/json", "Content-Encoding": "gzip"}, text.encode()),
        ({"Content-Type": "application/jsonx"}, text.encode()),
    ]
    for headers, body in refused:
        for path in ("/claims", "/claims/1/decision"):
            who = member if path == "/claims" else bearer(REVIEWER, "reviewer")
            answer = connection.exchange(request_bytes("POST", path, {**who, **headers}, body))
            assert_refused(answer, 415, "PLAN_HTTP_UNSUPPORTED_MEDIA_TYPE")
            assert_still_serves(connection)

    for content_type in ("application/json; charset=utf-8", 'Application/JSON;charset="UTF-8"'):
        body = json.dumps(claim_body(world, MEMBER)).encode()
        answer = connection.exchange(
            request_bytes("POST", "/claims", {**member, "Content-Type": content_type}, body)
        )
        assert answer.status == 202, answer.body
        assert_still_serves(connection)


# --------------------------------------------------------------------- 8. headers, uvicorn's own


def test_every_answer_carries_nosniff_and_no_store(connection: RawConnection, world: World) -> None:
    member = bearer(MEMBER, "member")
    for data in (
        request_bytes("GET", "/health"),
        request_bytes("GET", "/openapi.json"),
        request_bytes("GET", "/claims", member),
        request_bytes("GET", "/claims/99", member),
        request_bytes("GET", "/nowhere"),
        request_bytes("GET", "/claims"),
        _post("/claims", member, json.dumps(claim_body(world, MEMBER)).encode()),
    ):
        answer = connection.exchange(data)
        assert answer.status < 500
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["cache-control"] == "no-store"
        assert "server" not in answer.headers


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"GET /health HTTP/1.1\r\nHost: x\r\nX-Bad: a\x01b\r\n\r\n", 400, "PLAN_HTTP_BAD_REQUEST"),
        (b"GET /health HTTP/1.1\r\nHost: x\r\nX Bad: ab\r\n\r\n", 400, "PLAN_HTTP_BAD_REQUEST"),
        (b"NOT HTTP AT ALL\r\n\r\n", 400, "PLAN_HTTP_BAD_REQUEST"),
        (
            b"POST /claims HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
            "PLAN_HTTP_BAD_REQUEST",
        ),
        (
            b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
            400,
            "PLAN_HTTP_BAD_REQUEST",
        ),
        (
            b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n",
            431,
            "PLAN_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE",
        ),
    ],
    ids=[
        "control-character",
        "space-in-name",
        "not-http",
        "smuggling",
        "negative-length",
        "huge-header",
    ],
)
def test_requests_the_http_parser_refuses_are_answered_in_the_envelope(
    web: Web, data: bytes, status: int, code: str
) -> None:
    with web.connect() as connection:
        assert_refused(connection.exchange(data), status, code)
        assert_closed_then_serves(connection, web)


# --------------------------------------------------------------------- 7. binding and Flower


def _listening_addresses(port: int) -> set[str]:
    """The local addresses a socket on ``port`` listens on (from /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        address, port_hex = fields[1].split(":")
        if fields[3] == "0A" and int(port_hex, 16) == port:
            found.add(".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0)))
    return found


def test_the_web_process_listens_on_loopback_unless_told_otherwise(harness: Harness) -> None:
    loopback = start_web(harness)
    assert _listening_addresses(loopback.port) == {"127.0.0.1"}
    everywhere = start_web(harness, {"WEB_HOST": "0.0.0.0"})
    assert _listening_addresses(everywhere.port) == {"0.0.0.0"}


def _flower(harness: Harness, env: dict[str, str] | None = None) -> int:
    port = free_port()
    flower = harness.start(
        "flower",
        [sys.executable, "-m", "worker.cli", "flower"],
        {"FLOWER_PORT": str(port), "FLOWER_BASIC_AUTH": "ops:s3cret-pass", **(env or {})},
    )

    def listening() -> bool:
        if flower.popen.poll() is not None:
            raise AssertionError(f"Flower exited:\n{flower.log()[-4000:]}")
        return bool(_listening_addresses(port))

    wait_until(listening, timeout=60, interval=0.2, what="Flower to listen")
    # The credentials are in no command line another user of the host can read.
    assert b"s3cret" not in Path(f"/proc/{flower.popen.pid}/cmdline").read_bytes()
    return port


def _flower_get(port: int, path: str, authorization: str | None) -> RawResponse:
    headers = {"Authorization": authorization} if authorization else {}
    with RawConnection(port) as connection:
        return connection.exchange(request_bytes("GET", path, headers))


def test_flower_answers_nothing_without_its_credentials(harness: Harness) -> None:
    port = _flower(harness)
    assert _listening_addresses(port) == {"127.0.0.1"}
    good = "Basic " + base64.b64encode(b"ops:s3cret-pass").decode()
    wrong = "Basic " + base64.b64encode(b"ops:guess").decode()
    paths = [
        "/metrics",
        "/healthcheck",
        "/",
        "/workers",
        "/tasks",
        "/api/workers",
        "/api/tasks",
        "/static/css/flower.css",
        "/favicon.ico",
        "/robots.txt",
        "/login",
        "/no-such-page",
    ]
    for path in paths:
        for authorization in (None, wrong, "Bearer x", "Basic !!!"):
            answer = _flower_get(port, path, authorization)
            assert answer.status == 401, (path, authorization, answer.status)
            assert answer.headers["www-authenticate"] == 'Basic realm="flower"'
            assert b"flower_" not in answer.body and b"celery" not in answer.body.lower()
    assert _flower_get(port, "/healthcheck", good).status == 200
    metrics = _flower_get(port, "/metrics", good)
    assert metrics.status == 200
    assert b"flower_" in metrics.body


def test_flower_listens_everywhere_only_when_told(harness: Harness) -> None:
    port = _flower(harness, {"FLOWER_ADDRESS": "0.0.0.0"})
    assert _listening_addresses(port) == {"0.0.0.0"}
