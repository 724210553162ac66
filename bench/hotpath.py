"""The ingest path's CPU per claim in one process: the workers' Python and its PostgreSQL backend.

``make bench`` measures the whole pipeline (Celery, the broker, the relay, two workers sharing
two cores with the server), where a change of a tenth of a millisecond per claim drowns in
the noise of scheduling. This runs what one ``ingest_batch`` message runs
(``service.submissions.submit_queued_claims`` with ``review_now=True``, one transaction per
message) in this process, one message after another, on a fresh clone of a migrated
template, and reads two clocks: this process's CPU time and its backend's (``/proc/<pid>/stat``
of ``pg_backend_pid()``, so the server must run on this machine). Nothing else shares the
transaction, so the figures repeat to a few per cent from run to run.

    python -m bench.hotpath --claims 10000 --repeat 3 [--profile out.prof]
    python -m bench.hotpath --intake --message-claims 1 --claims 3000   # POST /claims's

``--intake`` runs the transaction of ``POST /claims``'s intake instead (drafts stored with
their submit action, ``review_now=False``), whose size under load is 1 to 10 claims.

``--profile`` writes a cProfile of the measured messages (``python -m pstats out.prof``).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench.infra import Databases, Postgres
from bench.monitor import cpu_seconds
from bench.world import build_world, queued_claim


def backend_cpu(pid: int) -> float:
    """CPU seconds of the PostgreSQL backend ``pid``, which must run on this machine."""
    seconds = cpu_seconds(pid)
    if seconds is None:
        raise RuntimeError(f"no process {pid} here: bench.hotpath needs a local PostgreSQL")
    return seconds


def measure(
    database_url: str,
    messages: list[bytes],
    message_claims: int,
    profile: Path | None,
    *,
    settle: bool = True,
    review_now: bool = True,
) -> dict[str, Any]:
    """Ingest the ``messages`` (JSON lists of claims, the first one to warm up), one
    transaction each, decoded as the task would be; CPU seconds of this process and backend.

    The messages are bytes until their turn, as a worker holds only the message it runs:
    no heap of pending claims for the garbage collector to walk."""
    import sqlalchemy as sa

    os.environ["DATABASE_URL"] = database_url
    from config import get_settings
    from service.submissions import submit_queued_claims
    from storage.engine import forget_engine
    from storage.unit_of_work import PlanJourneyContext
    from worker.heap import settle_heap

    get_settings.cache_clear()
    forget_engine()  # the previous run's database is gone
    settings = get_settings()
    with PlanJourneyContext() as ctx:  # connect, plan the statements, fill the caches
        submit_queued_claims(
            ctx, orjson.loads(messages[0]), settings, review_now=review_now
        )
        ctx.commit()
    with PlanJourneyContext() as ctx:
        backend = int(ctx.session.scalar(sa.text("SELECT pg_backend_pid()")) or 0)
        ctx.commit()
    if settle:
        settle_heap()  # as a worker process does once it has started
    backend_before = backend_cpu(backend)
    profiler = cProfile.Profile(time.process_time) if profile else None
    started_wall = time.perf_counter()
    started_cpu = time.process_time()
    if profiler:
        profiler.enable()
    count = 0
    for message in messages[1:]:
        claims = orjson.loads(message)
        count += len(claims)
        with PlanJourneyContext() as ctx:
            outcomes = submit_queued_claims(ctx, claims, settings, review_now=review_now)
            ctx.commit()
        refused = [o for o in outcomes if o.result is None or o.result.error is not None]
        if refused:
            raise RuntimeError(f"{len(refused)} claims refused, e.g. {refused[0]}")
    if profiler:
        profiler.disable()
        assert profile is not None
        profiler.dump_stats(str(profile))
    python_s = time.process_time() - started_cpu
    wall_s = time.perf_counter() - started_wall
    backend_s = backend_cpu(backend) - backend_before
    return {
        "claims": count,
        "message_claims": message_claims,
        "wall_s": round(wall_s, 3),
        "python_ms_per_claim": round(python_s / count * 1000, 4),
        "backend_ms_per_claim": round(backend_s / count * 1000, 4),
        "cpu_ms_per_claim": round((python_s + backend_s) / count * 1000, 4),
        "claims_per_s_one_connection": round(count / wall_s, 1),
        "profiled": profiler is not None,
        "settled_heap": settle,
        "path": "ingest" if review_now else "intake",
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hotpath", description=__doc__)
    parser.add_argument("--claims", type=int, default=20_000)
    parser.add_argument("--message-claims", type=int, default=500)
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="runs, each on a fresh clone")
    parser.add_argument("--profile", type=Path, default=None)
    parser.add_argument(
        "--default-gc",
        action="store_true",
        help="leave the garbage collector as Python starts it (no worker.heap.settle_heap)",
    )
    parser.add_argument(
        "--intake",
        action="store_true",
        help="store drafts with their submit action instead (review_now=False): the"
        " transaction of POST /claims's intake, which holds 1 to 10 claims (--message-claims)",
    )
    parser.add_argument(
        "--without-index",
        action="append",
        default=[],
        metavar="NAME",
        help="drop this index of schema plan in the measured clone (repeatable), to price it",
    )
    parser.add_argument(
        "--alter",
        action="append",
        default=[],
        metavar="SQL",
        help="run this statement on the measured clone first (repeatable): a schema experiment",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("DATABASE_SSL", "false")
    url = os.environ.get("DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    postgres = Postgres.from_url(url)
    databases = Databases(postgres)
    try:
        template = databases.create("hotpath_template")
        postgres.migrate(template)
        with postgres.connect(template) as conn:
            world = build_world(conn, members=args.members)
        today = datetime.now(UTC).date()
        size = args.message_claims
        messages = [
            orjson.dumps(
                [queued_claim(world, seq, tag="hot", today=today) for seq in range(at, at + size)]
            )
            for at in range(0, args.claims + size, size)
        ]
        runs = []
        for _ in range(args.repeat):
            database = databases.create("hotpath", template=template)
            with postgres.connect(database) as conn:
                for index in args.without_index:  # what maintaining it costs per claim
                    conn.execute(f'DROP INDEX plan."{index}"')
                for statement in args.alter:
                    conn.execute(statement)
            runs.append(
                measure(
                    postgres.url(database),
                    messages,
                    size,
                    args.profile,
                    settle=not args.default_gc,
                    review_now=not args.intake,
                )
            )
            databases.drop(database)
    finally:
        databases.drop_all()
    for run in runs:
        print(json.dumps(run))
    # The least of each clock: what the code costs when nothing else on the machine interferes.
    best = {
        key: min(run[key] for run in runs)
        for key in ("python_ms_per_claim", "backend_ms_per_claim", "cpu_ms_per_claim")
    }
    print(json.dumps({"best_of": len(runs), **best}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
