"""``python -m bench.recovery`` (``make drill``): how long a SIGKILLed worker delays its work.

Sends ``--claims`` claims to the ``ingest`` queue one message each (as other services send
them), with two workers consuming; when a third of them are decided, the first worker is
killed with SIGKILL (main process and pool, at once) while it holds prefetched, unacknowledged
messages. The second worker carries on, and a replacement starts at once, as a supervisor
(systemd, Kubernetes) would start one (``--no-replace``: none). The figure is the time from the
kill until every claim is decided, and the check that each was filed and decided exactly once.

With RabbitMQ (a private node of its own, never the machine's) the dead worker's messages are
requeued as soon as its connection drops. With Redis they stay hidden until the visibility
timeout (``Settings.visibility_timeout_s``) has passed, then the next restore sweep hands them
back: that is the floor of this figure on Redis.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import date
from pathlib import Path

from celery import Celery
from rich.console import Console

from bench.infra import Databases, Postgres
from bench.world import World, build_world, queued_claim
from config import Settings, get_settings
from devtools.brokers import hold_redis_index
from devtools.processes import (
    Process,
    Processes,
    celery_worker_argv,
    inherited_environment,
    running,
    wait_for_celery,
    wait_until,
)
from devtools.rabbitmq import PrivateRabbitMQ
from models.names import Queue, TaskName
from worker.celery_app import configure

console = Console(width=None if sys.stdout.isatty() else 120)
DECIDED = ("APPROVED", "REJECTED", "UNDER_REVIEW", "ADDITIONAL_INFO_REQUIRED")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.recovery", description=__doc__)
    parser.add_argument("--broker", choices=("redis", "rabbitmq"), default="redis")
    parser.add_argument("--claims", type=int, default=2000)
    parser.add_argument("--kill-at", type=float, default=1 / 3, help="share decided at the kill")
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--deadline", type=float, default=600, help="seconds after the kill")
    parser.add_argument(
        "--no-replace",
        dest="replace",
        action="store_false",
        help="do not start a replacement worker after the kill (a supervisor would)",
    )
    return parser.parse_args(argv)


@contextmanager
def broker(kind: str, settings: Settings) -> Iterator[str]:
    """Redis: a locked index of the configured server; RabbitMQ: a private node."""
    if kind == "rabbitmq":
        with PrivateRabbitMQ() as node:
            yield node.url()
        return
    held = hold_redis_index(settings.broker_url.get_secret_value(), (14,))
    try:
        yield held.url
    finally:
        held.release()


def decided(postgres: Postgres, database: str) -> int:
    with postgres.connect(database) as conn:
        row = conn.execute(
            "SELECT count(*) FROM plan.claims WHERE status = ANY(%s)", (list(DECIDED),)
        ).fetchone()
    return int(row[0]) if row else 0


def doubled(postgres: Postgres, database: str) -> tuple[int, int]:
    """(claims stored, history rows beyond one per claim and event): N and 0 when exact."""
    with postgres.connect(database) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM plan.claims), "
            "count(*) - count(DISTINCT (claim_id, event)) FROM plan.claim_status_history"
        ).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def start_worker(processes: Processes, name: str) -> Process:
    argv = celery_worker_argv(Queue.INGEST, node=f"{name}-{uuid.uuid4().hex[:6]}@%h", concurrency=2)
    return processes.start(name, argv)


def drill(args: argparse.Namespace) -> int:
    settings = get_settings()
    postgres = Postgres.from_url(settings.sqlalchemy_url)
    databases = Databases(postgres)
    workdir = Path(tempfile.mkdtemp(prefix="plan-drill-"))
    with ExitStack() as cleanup:
        cleanup.callback(databases.drop_all)
        database = databases.create("recovery")
        postgres.migrate(database)
        with postgres.connect(database) as conn:
            world = build_world(conn, members=args.members)
        broker_url = cleanup.enter_context(broker(args.broker, settings))
        run_settings = Settings.model_validate({"broker_url": broker_url, "database_ssl": False})
        env = {
            **inherited_environment(),
            "ENV_FILE": "",
            "DATABASE_URL": postgres.url(database),
            "DATABASE_SSL": "false",
            "BROKER_URL": broker_url,
            "LOG_JSON": "false",
        }
        console.print(
            f"{args.claims} claims on {args.broker}; logs in {workdir}"
            + (
                ""
                if args.broker == "rabbitmq"
                else f"; visibility timeout {run_settings.visibility_timeout_s} s"
            )
        )
        with running(workdir, env) as processes:
            doomed, survivor = (
                start_worker(processes, "doomed"),
                start_worker(processes, "survivor"),
            )
            wait_for_celery([doomed, survivor])
            sent_at = time.monotonic()
            send(run_settings, world, args.claims)
            return kill_and_measure(args, postgres, database, doomed, processes, sent_at)
    return 1


def send(settings: Settings, world: World, claims: int) -> None:
    """One message per claim, published as the service itself publishes (same queues)."""
    app = Celery("drill-sender", set_as_current=False)
    configure(app, settings)
    today = date.today()
    with app.producer_or_acquire() as producer:
        for seq in range(claims):
            claim = queued_claim(world, seq, tag="drill", today=today)
            app.send_task(TaskName.INGEST, args=[claim], queue=Queue.INGEST, producer=producer)
    app.close()


def kill_and_measure(
    args: argparse.Namespace,
    postgres: Postgres,
    database: str,
    doomed: Process,
    processes: Processes,
    sent_at: float,
) -> int:
    threshold = max(1, int(args.claims * args.kill_at))
    wait_until(
        lambda: decided(postgres, database) >= threshold,
        timeout=300,
        what=f"{threshold} claims to be decided",
        interval=0.02,
    )
    os.killpg(doomed.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    at_kill = decided(postgres, database)
    rate = at_kill / max(killed_at - sent_at, 1e-3)
    doomed.popen.wait(10)
    processes.started.remove(doomed)
    if args.replace:
        start_worker(processes, "replacement")
    wait_until(
        lambda: decided(postgres, database) >= args.claims,
        timeout=args.deadline,
        what="every claim to be decided after the kill",
        interval=0.1,
    )
    settled_s = time.monotonic() - killed_at
    claims, extra_rows = doubled(postgres, database)
    exact = claims == args.claims and extra_rows == 0
    console.print(
        f"[bold]{args.broker}[/]: killed a worker at {at_kill}/{args.claims} decided "
        f"({killed_at - sent_at:.1f} s after sending began, {rate:.0f} claims/s with two "
        f"workers: the rest would take about {(args.claims - at_kill) / rate:.0f} s at that "
        "rate); every "
        f"claim decided {settled_s:.1f} s after the kill; {claims} claims stored, "
        f"{extra_rows} doubled history rows "
        f"({'each filed and decided once' if exact else 'NOT exactly once'})"
    )
    return 0 if exact else 1


def main(argv: Sequence[str] | None = None) -> int:
    return drill(parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
