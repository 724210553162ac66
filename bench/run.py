"""``python -m bench``: set up, run every phase with deadlines, verify, report, clean up."""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from bench import history_hash
from bench.baseline_run import BaselineOptions, run_baseline
from bench.ceiling import capture_step, replay_step
from bench.growth import preload
from bench.http_load import HttpOptions, run_http
from bench.infra import (
    ROOT,
    BenchError,
    Databases,
    Postgres,
    RedisIndex,
    hold_redis_index,
    redis_version,
)
from bench.monitor import meminfo_kb
from bench.observe import Observation
from bench.pipeline import PipelineOptions, Target, highest_claim_id, run_pipeline
from bench.report import figures, print_profiles, print_table, write_json
from bench.verify import Verdict, verify_lifecycle
from bench.world import World, build_world, queued_claim
from models.enums import ClaimStatus

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"
console = Console(width=None if sys.stdout.isatty() else 120)


def _settings_override(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.isupper():
        raise argparse.ArgumentTypeError(f"expected NAME=value with an upper-case NAME: {text}")
    return name, value


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _numbers(text: str) -> list[int]:
    return [int(part) for part in _names(text)]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Throughput, latency and memory of the claim pipeline, its HTTP entry "
        "point and a plain one-task-per-transition Celery baseline (issue 6).",
    )
    add = parser.add_argument
    add("--claims", type=int, default=100_000, help="claims through the pipeline (N)")
    add("--baseline-claims", type=int, default=10_000, help="claims through the baseline (M)")
    add("--http-requests", type=int, default=20_000, help="POST /claims requests (K)")
    add("--http-concurrency", type=int, default=32, help="requests in flight (C)")
    add("--http-workers", type=_numbers, default=[2], help="uvicorn worker counts, e.g. 1,2")
    add(
        "--http-client",
        type=_names,
        default=["raw"],
        help="load generators: raw (pre-built requests on sockets) and/or httpx (AsyncClient; "
        "on the 2-core machine it saturates itself near 100 req/s, so it is not the default)",
    )
    add("--skip-pipeline", action="store_true", help="leave out the pipeline (for HTTP work)")
    add("--skip-http", action="store_true", help="leave out the HTTP phase")
    add(
        "--open-loop-seconds",
        type=float,
        default=15.0,
        help="then POST /claims open loop at half the bare endpoint's req/s for S seconds "
        "(0: skip)",
    )
    add("--skip-baseline", action="store_true", help="leave out the baseline")
    add(
        "--ceiling-claims",
        type=int,
        default=20_000,
        help="claims whose recorded statements are replayed for PostgreSQL's ceiling (0: skip)",
    )
    add("--growth", action="store_true", help="also run with --growth-stored claims stored")
    add("--growth-stored", type=int, default=1_000_000, help="claims stored before the growth run")
    add("--workers", type=int, default=2, help="worker processes (W)")
    add(
        "--worker-layout",
        type=_names,
        default=["prefork"],
        help="prefork (one worker, W pool processes) and/or solo (W one-process workers); "
        "the first is the headline",
    )
    add("--members", type=int, default=1000, help="enrolled members the claims spread over")
    add("--message-claims", type=int, default=500, help="claims per ingest_batch message")
    add("--rate", type=float, default=0.0, help="claims/s sent to the broker (0: all at once)")
    add("--idle-samples", type=int, default=50, help="sequential single claims on an idle system")
    add(
        "--decision-samples",
        type=int,
        default=30,
        help="reviewer decisions timed to the action applied, during the paced run and idle",
    )
    add(
        "--reviewer-worker",
        action="store_true",
        help="in the paced run, a worker of its own on the reviews queue (as the README advises)",
    )
    add(
        "--paced-share",
        type=float,
        default=0.8,
        help="then send at this share of the measured claims/s, for latency at a sustainable "
        "load (0: skip)",
    )
    add("--paced-seconds", type=float, default=20, help="how long the paced run sends")
    add("--profile", action="store_true", help="py-spy the service processes of every phase")
    add(
        "--set",
        dest="overrides",
        type=_settings_override,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a service setting for the pipeline's processes, e.g. BATCH_SIZE=1000",
    )
    add(
        "--analyze-every",
        type=float,
        default=60.0,
        help="run ANALYZE on the bench database every S seconds while claims flow, standing in "
        "for autovacuum (naptime 60 s) on a server that runs without it (0: never)",
    )
    add("--strict", action="store_true", help="also exit 1 when a target is missed")
    add("--out", type=Path, default=ROOT / "bench" / "results" / "latest.json")
    return parser.parse_args(argv)


def machine_facts(postgres: Postgres, broker_url: str) -> dict[str, Any]:
    memory = meminfo_kb()
    facts: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "memory_total_mb": round(memory["MemTotal"] / 1024),
        "memory_available_mb_at_start": round(memory.get("MemAvailable", 0) / 1024),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "kernel": platform.release(),
        "python": platform.python_version(),
        "redis_version": redis_version(broker_url),
    }
    facts["postgresql"] = postgres.server_facts()
    with postgres.connect() as admin:
        row = admin.execute("SHOW autovacuum").fetchone()
        facts["postgresql"]["autovacuum"] = str(row[0]) if row else "?"
    return facts


def pg_stat_statements(postgres: Postgres, database: str) -> dict[str, Any]:
    """Whether pg_stat_statements can be used here (it needs shared_preload_libraries)."""
    with postgres.connect(database) as conn:
        preload = conn.execute("SHOW shared_preload_libraries").fetchone()
        libraries = str(preload[0]) if preload else ""
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            conn.execute("SELECT count(*) FROM pg_stat_statements")
            usable, detail = True, "loaded"
        except Exception as error:  # any refusal is the answer we report
            usable, detail = False, f"{type(error).__name__}: {str(error).strip()}"
        conn.execute("DROP EXTENSION IF EXISTS pg_stat_statements")
    return {"shared_preload_libraries": libraries, "usable": usable, "detail": detail}


class Run:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.postgres = Postgres.from_url(os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL))
        self.broker_url = os.environ.get("BROKER_URL", DEFAULT_BROKER_URL)
        self.databases = Databases(self.postgres)
        self.workdir = Path(tempfile.mkdtemp(prefix="plan-bench-"))
        self.today = date.today()
        self.verdicts: list[Verdict] = []
        self.errors: list[str] = []
        self.results: dict[str, Any] = {
            "command": shlex.join([Path(sys.executable).name, "-m", "bench", *sys.argv[1:]]),
            "started_at": datetime.now(UTC).isoformat(),
            "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "logs": str(self.workdir),
        }
        self.template = ""
        self.world: World | None = None
        self.http_runs = 0

    def target(self, database: str, redis_index: RedisIndex) -> Target:
        base_env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BROKER_URL")}
        return Target(self.postgres, database, redis_index.url, self.workdir, base_env)

    def phase(self, name: str, body: Callable[[], None]) -> None:
        console.rule(f"[bold]{name}")
        started = time.monotonic()
        try:
            body()
        except (BenchError, Exception) as error:
            detail = f"{type(error).__name__}: {error}"
            self.errors.append(f"{name}: {detail}")
            console.print(f"[red]{name} failed[/]: {detail}")
            if not isinstance(error, BenchError):
                console.print(traceback.format_exc())
        console.print(f"{name}: {time.monotonic() - started:.0f}s")

    # --------------------------------------------------------------- phases

    def setup(self) -> None:
        self.results["machine"] = machine_facts(self.postgres, self.broker_url)
        self.template = self.databases.create("template")
        self.postgres.migrate(self.template)
        self.results["pg_stat_statements"] = pg_stat_statements(self.postgres, self.template)
        with self.postgres.connect(self.template) as conn:
            self.world = build_world(conn, members=self.args.members)
        console.print(
            f"template {self.template}: {self.args.members} members, logs in {self.workdir}"
        )

    def measured_pipeline(
        self, redis_index: RedisIndex, options: PipelineOptions, *, tag: str, scope: str
    ) -> dict[str, Any]:
        """One pipeline run on a fresh clone of the template, verified, then dropped."""
        assert self.world is not None
        database = self.databases.create("pipeline", template=self.template)
        target = self.target(database, redis_index)
        redis_index.flush()
        pace = f"at {options.rate:,.0f} claims/s" if options.rate else "at once"
        console.print(
            f"{scope}: {options.claims:,} claims, {options.workers} workers ({options.layout}), "
            f"sent {pace}"
        )
        result = run_pipeline(target, self.world, options, tag=tag, today=self.today)
        queued = result["latency_enqueue_to_decision"]
        console.print(
            f"  {result['claims_per_s']:,} claims/s; sent to broker -> decided p50 "
            f"{queued['p50_ms']:,} ms, p99 {queued['p99_ms']:,} ms"
        )
        with self.postgres.connect(database) as conn:
            verdict = verify_lifecycle(conn, scope=scope, prefix=tag, expected=options.claims)
        self.verdicts.append(verdict)
        result["verification"] = verdict.as_json()
        self.databases.drop(database)
        return result

    def pipeline_options(self, layout: str, **changes: Any) -> PipelineOptions:
        options = PipelineOptions(
            claims=self.args.claims,
            workers=self.args.workers,
            layout=layout,
            message_claims=self.args.message_claims,
            rate=self.args.rate,
            idle_samples=self.args.idle_samples,
            profile=self.args.profile,
            extra_env=dict(self.args.overrides),
            analyze_every=self.args.analyze_every,
        )
        return replace(options, **changes)

    def pipeline(self, redis_index: RedisIndex) -> None:
        variants = []
        for position, layout in enumerate(self.args.worker_layout):
            options = self.pipeline_options(layout, profile=self.args.profile and position == 0)
            variants.append(
                self.measured_pipeline(
                    redis_index, options, tag=f"pipe{position}", scope=f"pipeline {layout}"
                )
            )
        variants.sort(key=lambda r: -(r.get("claims_per_s") or 0))
        self.results["pipeline"] = variants[0]
        self.results["pipeline_variants"] = variants[1:]
        if self.args.paced_share > 0 and variants[0].get("claims_per_s"):
            rate = self.args.paced_share * variants[0]["claims_per_s"]
            options = self.pipeline_options(
                variants[0]["layout"],
                claims=max(self.args.message_claims, int(rate * self.args.paced_seconds)),
                rate=rate,
                idle_samples=0,
                profile=False,
                decision_samples=self.args.decision_samples,
                reviewer_worker=self.args.reviewer_worker,
            )
            self.results["pipeline_paced"] = self.measured_pipeline(
                redis_index, options, tag="paced", scope="pipeline paced"
            )

    def http(self, redis_index: RedisIndex) -> None:
        runs = self.results.setdefault("http", [])
        for server_workers in self.args.http_workers:
            for client in self.args.http_client:
                runs.append(self.http_run(redis_index, server_workers, client))
        workers, client = self.args.http_workers[0], self.args.http_client[0]
        bare = self.http_run(redis_index, workers, client, app="bare")
        self.results["http_bare"] = bare
        ours = runs[0] if runs else None
        if ours and bare.get("requests_per_s"):
            self.results["http_ratio_to_bare"] = round(
                ours["requests_per_s"] / bare["requests_per_s"], 2
            )
        if self.args.open_loop_seconds > 0 and bare.get("requests_per_s"):
            rate = bare["requests_per_s"] / 2
            self.results["http_open_loop"] = self.http_run(
                redis_index,
                workers,
                client,
                rate=rate,
                requests=max(100, int(rate * self.args.open_loop_seconds)),
            )

    def http_run(
        self,
        redis_index: RedisIndex,
        server_workers: int,
        client: str,
        *,
        app: str = "product",
        rate: float = 0.0,
        requests: int | None = None,
    ) -> dict[str, Any]:
        """One HTTP run on a fresh clone: closed loop at --http-concurrency, or open loop at
        ``rate`` requests/s (64 connections); verified, then the clone is dropped."""
        assert self.world is not None
        database = self.databases.create("http", template=self.template)
        target = self.target(database, redis_index)
        tag = f"http{self.http_runs}"
        self.http_runs += 1
        options = HttpOptions(
            requests=requests or self.args.http_requests,
            concurrency=64 if rate else self.args.http_concurrency,
            server_workers=server_workers,
            client=client,
            profile=self.args.profile and not rate,
            app=app,
            rate=rate,
        )
        try:
            result = run_http(target, self.world, options, tag=tag, today=self.today)
        except BenchError as error:
            return {**options.__dict__, "error": str(error)}
        shape = f"open loop at {rate:,.0f}/s" if rate else f"c={options.concurrency}"
        console.print(
            f"  {app}, {server_workers} uvicorn workers, {client}, {shape}: "
            f"{result['requests_per_s']:,} req/s, p99 {result['latency']['p99_ms']} ms, "
            f"{result['errors_non_202']} non-202, generator "
            f"{100 * result['generator_share_of_one_core']:.0f}% of a core"
        )
        with self.postgres.connect(database) as conn:
            if app == "bare":
                row = conn.execute("SELECT count(*) FROM plan.claims").fetchone()
                stored = int(row[0]) if row else 0
                expected = result["accepted_202"] + result["warmup_statuses"].get("202", 0)
                if stored != expected:
                    self.errors.append(f"http bare: {stored} claims stored, {expected} accepted")
                result["claims_stored"] = stored
            else:
                verdict = verify_lifecycle(
                    conn,
                    scope=f"http {server_workers}w {client} {shape}",
                    prefix=tag,
                    expected=result["accepted_202"],
                    # No worker runs in this phase: POST /claims stores a DRAFT and its queued
                    # submit action (the submit transition is the worker's).
                    final=ClaimStatus.DRAFT,
                    transitions=0,
                    relayed=False,
                )
                self.verdicts.append(verdict)
                result["verification"] = verdict.as_json()
        self.databases.drop(database)
        return result

    def ceiling(self) -> None:
        """PostgreSQL alone: the ingest path's statements, recorded then replayed (ceiling.py)."""
        assert self.world is not None
        claims = [
            queued_claim(self.world, seq, tag="ceil", today=self.today)
            for seq in range(self.args.ceiling_claims)
        ]
        base_env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BROKER_URL")}
        env = {
            **base_env,
            "DATABASE_SSL": "false",
            "BROKER_URL": self.broker_url,
            **dict(self.args.overrides),
        }
        scratch = self.databases.create("capture", template=self.template)
        recording, captured_s = capture_step(
            sys.executable,
            {**env, "DATABASE_URL": self.postgres.url(scratch)},
            claims,
            self.workdir,
            self.args.message_claims,
        )
        self.databases.drop(scratch)
        database = self.databases.create("ceiling", template=self.template)
        observation = Observation.start(
            self.postgres.conninfo(), database, {}, workdir=self.workdir, profile=False
        )
        try:
            result = replay_step(
                sys.executable,
                {**env, "DATABASE_URL": self.postgres.url(database)},
                recording,
                self.postgres.conninfo(database),
                self.args.workers,
            )
        finally:
            observation.stop()
        result["capture_seconds"] = round(captured_s, 1)
        result["connections"] = self.args.workers
        result.update(observation.report())
        with self.postgres.connect(database) as conn:
            row = conn.execute(
                "SELECT count(*) FROM plan.claims WHERE decided_at IS NOT NULL"
            ).fetchone()
        result["decided_claims_stored"] = int(row[0]) if row else 0
        if result["decided_claims_stored"] != len(claims):
            self.errors.append(
                f"ceiling: {result['decided_claims_stored']} of {len(claims)} claims decided"
            )
        console.print(
            f"  PostgreSQL alone: {result['claims_per_s']:,} claims/s from "
            f"{self.args.workers} connections ({result['statements_per_transaction']} "
            f"statements per {self.args.message_claims}-claim transaction)"
        )
        self.results["ceiling"] = result
        self.databases.drop(database)

    def baseline(self, redis_index: RedisIndex) -> None:
        assert self.world is not None
        database = self.databases.create("baseline", template=self.template)
        target = self.target(database, redis_index)
        options = BaselineOptions(
            claims=self.args.baseline_claims,
            workers=self.args.workers,
            layout=self.args.worker_layout[0],
            profile=self.args.profile,
            analyze_every=self.args.analyze_every,
        )
        result = run_baseline(target, self.world, options, tag="base", today=self.today)
        console.print(f"  baseline: {result['claims_per_s']:,} claims/s")
        with self.postgres.connect(database) as conn:
            verdict = verify_lifecycle(
                conn, scope="baseline", prefix="base", expected=options.claims, relayed=False
            )
        self.verdicts.append(verdict)
        result["verification"] = verdict.as_json()
        self.results["baseline"] = result
        self.databases.drop(database)

    def growth(self, redis_index: RedisIndex) -> None:
        """The same run on empty tables, with --growth-stored claims stored, and on empty tables
        again: the two empty runs bracket the other, so that a machine whose speed drifts (a
        shared host) does not pass for growth."""
        assert self.world is not None
        layout = self.results.get("pipeline", {}).get("layout", self.args.worker_layout[0])
        options = self.pipeline_options(layout, idle_samples=0, profile=False)
        before = self.measured_pipeline(
            redis_index, options, tag="empty", scope="growth reference (empty tables, before)"
        )
        database = self.databases.create("growth", template=self.template)
        target = self.target(database, redis_index)
        with self.postgres.connect(database) as conn:
            stored = preload(
                conn, self.world, self.args.growth_stored, log=lambda m: console.print(m)
            )
        after_id = highest_claim_id(target)
        redis_index.flush()
        console.print(f"growth: {options.claims:,} claims on {self.args.growth_stored:,} stored")
        result = run_pipeline(target, self.world, options, tag="grow", today=self.today)
        with self.postgres.connect(database) as conn:
            verdict = verify_lifecycle(
                conn, scope="growth", prefix="grow", expected=options.claims, after_id=after_id
            )
        self.verdicts.append(verdict)
        result["verification"] = verdict.as_json()
        self.databases.drop(database)
        after = self.measured_pipeline(
            redis_index, options, tag="empty2", scope="growth reference (empty tables, after)"
        )
        growth: dict[str, Any] = {
            **stored,
            "reference": before,
            "reference_after": after,
            "pipeline": result,
        }
        rates = [before.get("claims_per_s"), after.get("claims_per_s")]
        grown = result.get("claims_per_s")
        if all(rates) and grown:
            empty = sum(float(rate) for rate in rates if rate) / 2
            growth["empty_claims_per_s"] = round(empty, 1)
            growth["slowdown_percent"] = round(100 * (empty / grown - 1), 1)
            console.print(
                f"  {grown:,} claims/s with {self.args.growth_stored:,} stored, "
                f"{rates[0]:,} and {rates[1]:,} on empty tables before and after"
            )
        self.results["growth"] = growth

    # --------------------------------------------------------------- all

    def history_hash(self) -> None:
        """CPU cost of the tamper-evident history chain per claim (bench/history_hash.py)."""
        result = history_hash.measure()
        self.results["history_hash"] = result
        console.print(
            f"history hash chain: {result['us_per_claim']:.1f} µs per claim "
            f"({result['us_per_row']:.1f} µs per row)"
        )

    def execute(self) -> int:
        started = time.monotonic()
        pipeline_redis = hold_redis_index(self.broker_url, (12,))
        baseline_redis = hold_redis_index(self.broker_url, (13,), taken=(pipeline_redis.index,))
        try:
            self.phase("setup", self.setup)
            self.phase("history hash", self.history_hash)
            if self.world is not None:
                if not self.args.skip_pipeline:
                    self.phase("pipeline", lambda: self.pipeline(pipeline_redis))
                if self.args.ceiling_claims > 0:
                    self.phase("ceiling", self.ceiling)
                if not self.args.skip_http:
                    self.phase("http", lambda: self.http(pipeline_redis))
                if not self.args.skip_baseline:
                    self.phase("baseline", lambda: self.baseline(baseline_redis))
                if self.args.growth:
                    self.phase("growth", lambda: self.growth(pipeline_redis))
        finally:
            self.databases.drop_all()
            pipeline_redis.release()
            baseline_redis.release()
        return self.finish(time.monotonic() - started)

    def finish(self, seconds: float) -> int:
        results = self.results
        pipeline, baseline = results.get("pipeline"), results.get("baseline")
        if pipeline and baseline and baseline.get("claims_per_s"):
            results["ratio_to_baseline"] = round(
                pipeline["claims_per_s"] / baseline["claims_per_s"], 2
            )
        rows = figures(results)
        verdicts = [v.as_json() for v in self.verdicts]
        results["figures"] = [row.as_json() for row in rows]
        results["verification"] = verdicts
        results["verification_passed"] = all(v.passed for v in self.verdicts) and bool(
            self.verdicts
        )
        results["targets_met"] = all(row.passed for row in rows if row.passed is not None)
        results["errors"] = self.errors
        results["finished_at"] = datetime.now(UTC).isoformat()
        results["duration_s"] = round(seconds, 1)
        write_json(self.args.out, results)
        console.rule("[bold]results")
        print_profiles(console, results)
        print_table(console, rows, verdicts)
        console.print(f"written {self.args.out} ({seconds:.0f}s); logs in {self.workdir}")
        for failure in [f for v in self.verdicts for f in v.failures] + self.errors:
            console.print(f"[red]{failure}")
        if self.errors or not results["verification_passed"]:
            return 1
        if self.args.strict and not results["targets_met"]:
            return 1
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    return Run(parse_args(argv)).execute()
