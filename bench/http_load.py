"""Single-claim ``POST /claims`` at a fixed concurrency against uvicorn.

Every request is a different member's claim with its own JWT and Idempotency-Key, so the
server does the full authentication, validation, idempotency and outbox work. The load
generator runs in the bench process and shares the machine's cores with the server and
PostgreSQL; its own CPU time is measured (thread CPU of the event loop) and reported, and two
generators are available: ``httpx`` (an AsyncClient, one task per connection) and ``raw``
(pre-built HTTP/1.1 requests written on keep-alive sockets, a few microseconds per request),
so that the generator's share of the figure can be seen.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx

from api.auth import issue_token
from bench.infra import BenchError, phase_processes, python_argv, wait_until
from bench.observe import Observation
from bench.pipeline import Target
from bench.stats import latency_summary_ms
from bench.world import World, submission
from config import get_settings

WARMUP_REQUESTS = 300
REQUEST_TIMEOUT_S = 30.0
# uvicorn's worker processes share one listening socket; connections opened in one burst tend
# to land on a single process, which then serves the whole keep-alive run alone.
CONNECTION_STAGGER_S = 0.01


@dataclass(frozen=True)
class HttpOptions:
    requests: int
    concurrency: int
    server_workers: int
    client: str  # "httpx" or "raw"
    profile: bool = False
    app: str = "product"  # or "bare": bench/bare_app.py
    rate: float = 0.0  # > 0: open loop, requests started at this fixed rate (requests/s)


@dataclass(frozen=True)
class PreparedRequest:
    key: str
    headers: dict[str, str]
    body: bytes
    raw: bytes


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def prepare(
    world: World, count: int, *, tag: str, start: int, today: date, host: str
) -> list[PreparedRequest]:
    settings = get_settings()
    tokens: dict[str, str] = {}
    prepared = []
    for seq in range(start, start + count):
        user, body = submission(world, seq, tag=tag, today=today)
        if user not in tokens:
            tokens[user] = issue_token(settings, subject=user, role="member", ttl_s=7200)
        payload = json.dumps(body, separators=(",", ":")).encode()
        key = f"{tag}-{seq}"
        headers = {
            "Authorization": f"Bearer {tokens[user]}",
            "Content-Type": "application/json",
            "Idempotency-Key": key,
            "X-Bench-User": user,
        }
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        raw = (
            f"POST /claims HTTP/1.1\r\nHost: {host}\r\n{head}Content-Length: {len(payload)}\r\n\r\n"
        ).encode() + payload
        prepared.append(PreparedRequest(key, headers, payload, raw))
    return prepared


@dataclass
class LoadResult:
    latencies: list[float]
    statuses: Counter[str]
    wall_s: float
    generator_cpu_s: float


async def _drive_raw(
    host: str, port: int, requests: list[PreparedRequest], concurrency: int
) -> LoadResult:
    queue: Iterator[PreparedRequest] = iter(requests)
    latencies: list[float] = []
    statuses: Counter[str] = Counter()

    async def connection(position: int) -> None:
        await asyncio.sleep(position * CONNECTION_STAGGER_S)
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for request in queue:
                started = time.perf_counter()
                try:
                    writer.write(request.raw)
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT_S)
                    status = head.split(b" ", 2)[1].decode()
                    length = 0
                    closing = False
                    for line in head.split(b"\r\n")[1:]:
                        name, _, value = line.partition(b":")
                        lowered = name.strip().lower()
                        if lowered == b"content-length":
                            length = int(value)
                        elif lowered == b"connection" and value.strip().lower() == b"close":
                            closing = True
                    await reader.readexactly(length)
                except (OSError, asyncio.IncompleteReadError, TimeoutError) as error:
                    statuses[f"error {type(error).__name__}"] += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                    continue
                latencies.append(time.perf_counter() - started)
                statuses[status] += 1
                if closing:
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
        finally:
            writer.close()

    cpu0, wall0 = time.thread_time(), time.perf_counter()
    await asyncio.gather(*(connection(position) for position in range(concurrency)))
    return LoadResult(latencies, statuses, time.perf_counter() - wall0, time.thread_time() - cpu0)


async def _drive_httpx(
    base_url: str, requests: list[PreparedRequest], concurrency: int
) -> LoadResult:
    queue: Iterator[PreparedRequest] = iter(requests)
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base_url, limits=limits, timeout=REQUEST_TIMEOUT_S
    ) as client:

        async def connection(position: int) -> None:
            # httpx opens a connection at a task's first request: staggered as for "raw".
            await asyncio.sleep(position * CONNECTION_STAGGER_S)
            for request in queue:
                started = time.perf_counter()
                try:
                    response = await client.post(
                        "/claims", content=request.body, headers=request.headers
                    )
                except httpx.HTTPError as error:
                    statuses[f"error {type(error).__name__}"] += 1
                    continue
                latencies.append(time.perf_counter() - started)
                statuses[str(response.status_code)] += 1

        cpu0, wall0 = time.thread_time(), time.perf_counter()
        await asyncio.gather(*(connection(position) for position in range(concurrency)))
        return LoadResult(
            latencies, statuses, time.perf_counter() - wall0, time.thread_time() - cpu0
        )


async def _drive_open_loop(
    host: str, port: int, requests: list[PreparedRequest], rate: float, connections: int
) -> LoadResult:
    """Request i starts at start + i / rate whether or not earlier ones answered; its latency
    counts from that due time (a request waiting for a free connection is waiting)."""
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(connections):
        await idle.put(await asyncio.open_connection(host, port))

    async def one(request: PreparedRequest, due: float) -> None:
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        reader, writer = await idle.get()
        try:
            writer.write(request.raw)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT_S)
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            statuses[head.split(b" ", 2)[1].decode()] += 1
            latencies.append(time.perf_counter() - due)
        except (OSError, asyncio.IncompleteReadError, TimeoutError) as error:
            statuses[f"error {type(error).__name__}"] += 1
            writer.close()
            reader, writer = await asyncio.open_connection(host, port)
        finally:
            idle.put_nowait((reader, writer))

    cpu0, wall0 = time.thread_time(), time.perf_counter()
    start = wall0 + 0.1
    await asyncio.gather(*(one(r, start + i / rate) for i, r in enumerate(requests)))
    wall = time.perf_counter() - wall0
    while not idle.empty():
        idle.get_nowait()[1].close()
    return LoadResult(latencies, statuses, wall, time.thread_time() - cpu0)


def _drive(
    client: str,
    host: str,
    port: int,
    requests: list[PreparedRequest],
    concurrency: int,
    rate: float = 0.0,
) -> LoadResult:
    if rate > 0:
        return asyncio.run(_drive_open_loop(host, port, requests, rate, concurrency))
    if client == "raw":
        return asyncio.run(_drive_raw(host, port, requests, concurrency))
    if client == "httpx":
        return asyncio.run(_drive_httpx(f"http://{host}:{port}", requests, concurrency))
    raise ValueError(f"unknown HTTP client {client!r}")


def _server_argv(options: HttpOptions, host: str, port: int) -> list[str]:
    """The service through the Procfile's web line (its protocol, limits and timeouts), so the
    figures are those of the options production runs; the bare app through uvicorn itself."""
    if options.app != "bare":
        return python_argv("-m", "worker.cli", "web")
    return python_argv(
        "-m",
        "uvicorn",
        "--factory",
        "bench.bare_app:app_factory",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(options.server_workers),
        "--no-access-log",
    )


def run_http(
    target: Target, world: World, options: HttpOptions, *, tag: str, today: date
) -> dict[str, Any]:
    host, port = "127.0.0.1", free_port()
    warmup = prepare(world, WARMUP_REQUESTS, tag=f"{tag}w", start=0, today=today, host=host)
    requests = prepare(world, options.requests, tag=tag, start=0, today=today, host=host)
    extra = {"BENCH_BARE_PLAN_ID": str(world.plan_id)} if options.app == "bare" else {}
    with phase_processes(target.workdir, target.env(extra)) as processes:
        server = processes.start(
            f"uvicorn-{tag}",
            _server_argv(options, host, port),
            {"WEB_HOST": host, "PORT": str(port), "WEB_CONCURRENCY": str(options.server_workers)},
        )

        def healthy() -> bool:
            processes.check_alive()
            # Every worker process must be listening, or the first one takes every
            # keep-alive connection of the run and the others idle.
            if server.log().count("Application startup complete") < options.server_workers:
                return False
            try:
                return httpx.get(f"http://{host}:{port}/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, timeout=60, what="uvicorn to answer /health", interval=0.2)
        warm = _drive(options.client, host, port, warmup, min(options.concurrency, 8))
        if warm.statuses.get("202", 0) == 0:
            raise BenchError(
                f"no warm-up request was accepted ({dict(warm.statuses)}); see {server.log_path}"
            )
        observation = Observation.start(
            target.postgres.conninfo(),
            target.database,
            {"uvicorn": server.pid},
            workdir=target.workdir,
            profile=options.profile,
            threaded=True,
            interval=0.5,
        )
        try:
            load = _drive(options.client, host, port, requests, options.concurrency, options.rate)
        finally:
            observation.stop()
        processes.check_alive()
    accepted = load.statuses.get("202", 0)
    errors = sum(count for status, count in load.statuses.items() if status != "202")
    return {
        "requests": options.requests,
        "concurrency": options.concurrency,
        "server_workers": options.server_workers,
        "client": options.client,
        "app": options.app,
        "open_loop_rate": options.rate or None,
        "accepted_202": accepted,
        "errors_non_202": errors,
        "statuses": dict(load.statuses),
        "wall_s": round(load.wall_s, 2),
        "requests_per_s": round(options.requests / load.wall_s, 1),
        "accepted_per_s": round(accepted / load.wall_s, 1),
        "latency": latency_summary_ms(load.latencies),
        "generator_cpu_s": round(load.generator_cpu_s, 2),
        "generator_share_of_one_core": round(load.generator_cpu_s / load.wall_s, 3),
        "warmup_statuses": dict(warm.statuses),
        **observation.report(),
    }
