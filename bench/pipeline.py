"""The pipeline under load: claims sent in batches on the ``ingest`` queue while the real worker
processes and the relay take them through submit, start_review and an automatic approval.

Every figure comes from the database's own timestamps (``claims.submitted_at`` and
``claims.decided_at``, which is the ``occurred_at`` of the approve history row), plus the
bench's clock at the moment each message was handed to the broker.

``submitted_at`` and ``decided_at`` are the clocks of the transactions that made the change,
read when each transaction builds its rows (``ChangeSet.now``), so a latency leaves out the
commit of the deciding transaction (a few milliseconds per batch).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import redis
from celery import Celery

from bench.decisions import DecisionProbe, DecisionsDuringLoad, referred_claims
from bench.infra import (
    BenchError,
    Postgres,
    Process,
    Processes,
    celery_worker_argv,
    phase_processes,
    python_argv,
    wait_for_celery,
    wait_until,
)
from bench.observe import Observation
from bench.stats import latency_summary_ms
from bench.world import World, queued_claim
from models.names import Queue, TaskName

INGEST_BATCH_TASK = TaskName.INGEST_BATCH
INGEST_TASK = TaskName.INGEST
INGEST_QUEUE = Queue.INGEST
STALL_TIMEOUT_S = 90.0
# kombu's Redis transport keeps one list per priority step: "name", "name\x06\x163", ...
KOMBU_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


@dataclass(frozen=True)
class PipelineOptions:
    claims: int
    workers: int
    layout: str  # "prefork": one worker, W pool processes; "solo": W single-process workers
    message_claims: int
    rate: float  # claims per second handed to the broker; 0 sends everything at once
    idle_samples: int
    profile: bool
    extra_env: dict[str, str] = field(default_factory=dict)
    analyze_every: float = 0.0
    decision_samples: int = 0  # reviewer decisions timed during the load, and as many idle
    reviewer_worker: bool = False  # a solo worker of its own on the reviews queue


@dataclass(frozen=True)
class Target:
    """Where a phase runs: its database, its broker index, its log directory."""

    postgres: Postgres
    database: str
    broker_url: str
    workdir: Path
    base_env: dict[str, str]

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {
            **self.base_env,
            "DATABASE_URL": self.postgres.url(self.database),
            "DATABASE_SSL": "false",
            "BROKER_URL": self.broker_url,
            **(extra or {}),
        }


def sender(broker_url: str) -> Celery:
    app = Celery("bench-sender", broker=broker_url, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=10,
    )
    return app


def start_workers(
    processes: Processes, *, app: str, queues: str, workers: int, layout: str, name: str
) -> list[Process]:
    if layout == "prefork":
        argvs = [celery_worker_argv(queues, node=f"{name}@%h", concurrency=workers, app=app)]
    elif layout == "solo":
        argvs = [
            celery_worker_argv(queues, node=f"{name}{i}@%h", concurrency=1, pool="solo", app=app)
            for i in range(workers)
        ]
    else:
        raise ValueError(f"unknown worker layout {layout!r}")
    started = [processes.start(f"{name}-{i}", argv) for i, argv in enumerate(argvs)]
    wait_for_celery(processes, started)
    return started


def run_pipeline(
    target: Target, world: World, options: PipelineOptions, *, tag: str, today: date
) -> dict[str, Any]:
    messages = [
        [
            queued_claim(world, seq, tag=tag, today=today)
            for seq in range(start, min(start + options.message_claims, options.claims))
        ]
        for start in range(0, options.claims, options.message_claims)
    ]
    result: dict[str, Any] = {
        "claims": options.claims,
        "workers": options.workers,
        "layout": options.layout,
        "claims_per_message": options.message_claims,
        "reviewer_worker": options.reviewer_worker,
        "send_rate": options.rate or "unlimited",
        "settings_overrides": options.extra_env,
    }
    with phase_processes(target.workdir, target.env(options.extra_env)) as processes:
        workers = start_workers(
            processes,
            app="worker",
            queues=f"{Queue.CLAIMS},{Queue.INGEST}"
            + ("" if options.reviewer_worker else f",{Queue.REVIEWS}"),
            workers=options.workers,
            layout=options.layout,
            name=f"pipeline-{tag}",
        )
        if options.reviewer_worker:
            start_workers(
                processes,
                app="worker",
                queues=Queue.REVIEWS.value,
                workers=1,
                layout="solo",
                name=f"reviews-{tag}",
            )
        relay = processes.start(f"relay-{tag}", python_argv("-m", "worker.cli", "relay"))

        def relay_started() -> bool:
            processes.check_alive()
            return "relay.started" in relay.log()

        wait_until(relay_started, timeout=30, what="the relay")
        probe, decision_ids = _decision_setup(target, world, processes, options, tag, today)
        after_id = highest_claim_id(target)
        scans_before = scan_counts(target)
        watched = {f"worker {index}": worker.pid for index, worker in enumerate(workers)}
        observation = Observation.start(
            target.postgres.conninfo(),
            target.database,
            {**watched, "relay": relay.pid},
            workdir=target.workdir,
            profile=options.profile,
        )
        app = sender(target.broker_url)
        sent_at: list[float] = []
        during = (
            DecisionsDuringLoad(probe, decision_ids[: options.decision_samples])
            if probe is not None
            else None
        )
        try:
            if during is not None:
                during.start()
            started = time.time()
            with app.producer_or_acquire() as producer:
                for index, message in enumerate(messages):
                    if options.rate:
                        due = started + index * options.message_claims / options.rate
                        time.sleep(max(0.0, due - time.time()))
                    sent_at.append(time.time())
                    app.send_task(
                        INGEST_BATCH_TASK, args=[message], queue=INGEST_QUEUE, producer=producer
                    )
            send_seconds = time.time() - started
            observed_end = wait_for_decisions(
                target,
                processes,
                options.claims,
                started=started,
                after_id=after_id,
                queues=(Queue.INGEST.value, Queue.CLAIMS.value),
                analyze_every=options.analyze_every,
            )
            time.sleep(1.0)  # table statistics reach the cumulative views up to a second late
            scans_after = scan_counts(target)
        finally:
            observation.stop()
        if probe is not None and during is not None:
            result["decisions"] = {
                "during_load": during.join(),
                "idle": probe.decide(decision_ids[options.decision_samples :]),
            }
        result["send_seconds"] = round(send_seconds, 2)
        result["observed_wall_s"] = round(observed_end - started, 2)
        result.update(timings(target, tag, options.message_claims, sent_at, after_id=after_id))
        result.update(observation.report())
        result["table_scans"] = scan_delta(scans_before, scans_after)
        if options.idle_samples:
            result["idle"] = _idle_latency(
                target, world, options.idle_samples, tag=tag, today=today
            )
        processes.check_alive()
    return result


def _decision_setup(
    target: Target,
    world: World,
    processes: Processes,
    options: PipelineOptions,
    tag: str,
    today: date,
) -> tuple[DecisionProbe | None, list[int]]:
    """Claims waiting for a reviewer, and the web process the reviewer decides through."""
    if not options.decision_samples:
        return None, []
    claim_ids = referred_claims(
        target, world, 2 * options.decision_samples, tag=f"rev{tag}", today=today
    )
    return DecisionProbe(target, processes, tag=tag), claim_ids


def scan_counts(target: Target) -> dict[str, tuple[int, int, int]]:
    """Per table of ``plan``: sequential scans, rows they read, index scans (cumulative)."""
    with target.postgres.connect(target.database) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        return {
            str(name): (int(seq), int(seq_rows), int(idx or 0))
            for name, seq, seq_rows, idx in conn.execute(
                "SELECT relname, seq_scan, seq_tup_read, idx_scan FROM pg_stat_user_tables"
                " WHERE schemaname = 'plan'"
            )
        }


def scan_delta(
    before: dict[str, tuple[int, int, int]], after: dict[str, tuple[int, int, int]]
) -> dict[str, dict[str, int]]:
    delta = {}
    for table, (seq, rows, idx) in after.items():
        seq0, rows0, idx0 = before.get(table, (0, 0, 0))
        if seq - seq0 or idx - idx0:
            delta[table] = {
                "seq_scan": seq - seq0,
                "seq_rows_read": rows - rows0,
                "idx_scan": idx - idx0,
            }
    return dict(sorted(delta.items(), key=lambda item: -item[1]["seq_rows_read"]))


def highest_claim_id(target: Target) -> int:
    with target.postgres.connect(target.database) as conn:
        row = conn.execute("SELECT coalesce(max(id), 0) FROM plan.claims").fetchone()
    return int(row[0]) if row else 0


def broker_backlog(client: redis.Redis[bytes], queues: tuple[str, ...]) -> int:
    """Messages waiting in ``queues`` (every priority list) or delivered and not yet acked."""
    keys = [f"{queue}{suffix}" for queue in queues for suffix in KOMBU_PRIORITY_SUFFIXES]
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.llen(key)
    pipe.hlen("unacked")
    return sum(int(n) for n in pipe.execute())


def wait_for_decisions(
    target: Target,
    processes: Processes,
    claims: int,
    *,
    started: float,
    after_id: int,
    queues: tuple[str, ...],
    relayed: bool = True,
    analyze_every: float = 0.0,
) -> float:
    """Wait until every claim is decided; give up when nothing moves for STALL_TIMEOUT_S.

    The probe stays cheap whatever the table sizes, so as not to load the server it measures:
    queue depths in Redis; when they are empty, the unpublished outbox rows (a partial index);
    when those are gone too (or nothing relays them), the decided claims. ``analyze_every``
    stands in for autovacuum's ANALYZE when the server runs without autovacuum.
    """
    client = redis.Redis.from_url(target.broker_url, socket_timeout=10)
    last_state: tuple[int, ...] = ()
    last_progress = last_analyze = time.monotonic()
    with target.postgres.connect(target.database) as conn:
        while True:
            processes.check_alive()
            state: tuple[int, ...] = (broker_backlog(client, queues),)
            if state == (0,) and relayed:
                row = conn.execute(
                    "SELECT count(*) FROM plan.outbox WHERE published_at IS NULL"
                ).fetchone()
                state = (0, int(row[0]) if row else 0)
            elif state == (0,):
                state = (0, 0)
            if state == (0, 0):
                row = conn.execute(
                    "SELECT count(*) FROM plan.claims WHERE id > %s AND decided_at IS NOT NULL",
                    [after_id],
                ).fetchone()
                decided = int(row[0]) if row else 0
                if decided >= claims:
                    return time.time()
                state = (0, 0, decided)
            now = time.monotonic()
            if state != last_state:
                last_state, last_progress = state, now
            elif now - last_progress > STALL_TIMEOUT_S:
                raise BenchError(
                    f"the pipeline stalled (broker backlog, unpublished outbox rows, decided: "
                    f"{state}) {time.time() - started:.0f}s after the first message; "
                    f"logs in {target.workdir}"
                )
            if analyze_every and now - last_analyze > analyze_every:
                conn.execute("ANALYZE")
                last_analyze = now
            time.sleep(0.5)


def timings(
    target: Target, tag: str, message_claims: int, sent_at: list[float], *, after_id: int
) -> dict[str, Any]:
    with target.postgres.connect(target.database) as conn:
        rows = conn.execute(
            "SELECT idempotency_key, extract(epoch FROM submitted_at)::float8,"
            " extract(epoch FROM decided_at)::float8 FROM plan.claims"
            " WHERE id > %s AND idempotency_key LIKE %s AND decided_at IS NOT NULL",
            [after_id, f"{tag}-%"],
        ).fetchall()
    if not rows:
        raise BenchError("no decided claims to measure")
    submitted = [float(row[1]) for row in rows]
    decided = [float(row[2]) for row in rows]
    first_submission, last_decision = min(submitted), max(decided)
    span = last_decision - first_submission
    enqueue_latency = []
    for key, _, decided_epoch in rows:
        seq = int(str(key).rsplit("-", 1)[1])
        enqueue_latency.append(float(decided_epoch) - sent_at[seq // message_claims])
    return {
        "first_submission": datetime.fromtimestamp(first_submission, UTC).isoformat(),
        "last_decision": datetime.fromtimestamp(last_decision, UTC).isoformat(),
        "span_s": round(span, 3),
        "claims_per_s": round(len(rows) / span, 1) if span > 0 else None,
        "submission_claims_per_s": round(
            len(rows) / max(max(submitted) - first_submission, 1e-9), 1
        ),
        "latency_submit_to_decision": latency_summary_ms(
            [d - s for s, d in zip(submitted, decided, strict=True)]
        ),
        "latency_enqueue_to_decision": latency_summary_ms(enqueue_latency),
    }


def _idle_latency(
    target: Target, world: World, samples: int, *, tag: str, today: date
) -> dict[str, Any]:
    """One claim at a time on ``plan.claims.ingest`` with nothing else in flight."""
    app = sender(target.broker_url)
    base = 10_000_000  # sequence numbers apart from the loaded claims
    db_latency: list[float] = []
    wall_latency: list[float] = []
    with target.postgres.connect(target.database) as conn, app.producer_or_acquire() as producer:
        for sample in range(samples):
            claim = queued_claim(world, base + sample, tag=f"{tag}idle", today=today)
            sent = time.time()
            app.send_task(INGEST_TASK, args=[claim], queue=INGEST_QUEUE, producer=producer)
            key = [claim["userId"], claim["idempotencyKey"]]

            def decided(key: list[Any] = key) -> tuple[Any, ...] | None:
                return conn.execute(
                    "SELECT extract(epoch FROM submitted_at)::float8,"
                    " extract(epoch FROM decided_at)::float8 FROM plan.claims"
                    " WHERE user_id = %s AND idempotency_key = %s AND decided_at IS NOT NULL",
                    key,
                ).fetchone()

            row = wait_until(
                decided,
                timeout=30,
                what="a single claim to be decided on an idle system",
                interval=0.002,
            )
            observed = time.time()
            db_latency.append(float(row[1]) - float(row[0]))
            wall_latency.append(observed - sent)
            time.sleep(0.05)
    return {
        "entry_point": INGEST_TASK,
        "latency_submit_to_decision": latency_summary_ms(db_latency),
        "latency_send_to_observed_decision": latency_summary_ms(wall_latency),
    }
