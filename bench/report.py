"""The figures next to issue 6's targets: a table on the console and ``latest.json``."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


@dataclass(frozen=True)
class Figure:
    name: str
    value: float | None
    unit: str
    target: str = ""
    passed: bool | None = None  # None: no target, shown for context

    def as_json(self) -> dict[str, Any]:
        return {
            "figure": self.name,
            "value": self.value,
            "unit": self.unit,
            "target": self.target or None,
            "passed": self.passed,
        }


def at_least(name: str, value: float | None, unit: str, bound: float) -> Figure:
    ok = value is not None and not math.isnan(value) and value >= bound
    return Figure(name, value, unit, f">= {bound:,.{0 if bound >= 10 else 1}f}", ok)


def below(name: str, value: float | None, unit: str, bound: float) -> Figure:
    ok = value is not None and not math.isnan(value) and value < bound
    return Figure(name, value, unit, f"< {bound:,.0f}", ok)


def at_most(name: str, value: float | None, unit: str, bound: float) -> Figure:
    ok = value is not None and not math.isnan(value) and value <= bound
    return Figure(name, value, unit, f"<= {bound:,.0f}", ok)


def info(name: str, value: float | None, unit: str) -> Figure:
    return Figure(name, value, unit)


def _worker_peaks(phase: dict[str, Any]) -> list[tuple[str, float]]:
    return [
        (f"{m['role']} (pid {m['pid']})", float(m["peak_rss_mb"]))
        for m in phase.get("memory", [])
        if "worker" in m["role"]
    ]


def _pipeline_rows(pipeline: dict[str, Any], label: str, *, target: bool) -> list[Figure]:
    # A queue-fed claim is submitted when its message is sent: the worker stores, reviews and
    # decides it in one transaction, so sent -> decided is the latency a partner sees.
    queued = pipeline["latency_enqueue_to_decision"]
    stored = pipeline["latency_submit_to_decision"]
    p99 = queued["p99_ms"]
    return [
        info(f"{label}: p50 sent to broker -> decided", queued["p50_ms"], "ms"),
        below(f"{label}: p99 sent to broker -> decided", p99, "ms", 2000)
        if target
        else info(f"{label}: p99 sent to broker -> decided", p99, "ms"),
        info(f"{label}: p99 stored submission -> decision", stored["p99_ms"], "ms"),
    ]


def _decision_rows(decisions: dict[str, Any] | None, own_worker: bool | None) -> list[Figure]:
    """A reviewer's POST /claims/{id}/decision until a worker applied the action."""
    if not decisions:
        return []
    rows: list[Figure] = []
    worker = "reviews worker" if own_worker else "shared worker"
    for when, bound in (("idle", 100), ("during_load", 2000)):
        latency = decisions[when]["latency_request_to_applied"]
        label = f"decision -> applied, {when.replace('_', ' ')} ({worker})"
        rows.append(info(f"{label}: p50", latency["p50_ms"], "ms"))
        rows.append(below(f"{label}: p99", latency["p99_ms"], "ms", bound))
    return rows


def _other_load(phase: dict[str, Any]) -> float | None:
    share = phase.get("cpu", {}).get("percent_of_machine", {})
    value = share.get("everything else on the machine")
    return None if value is None else float(value)


_SERVICE_CPU = (
    "worker ",
    "baseline worker ",
    "relay",
    "uvicorn",
    "postgres backends (bench databases)",
)


def cpu_per_transition_ms(phase: dict[str, Any], transitions_per_claim: int = 3) -> float | None:
    """CPU of the service's processes and their PostgreSQL backends per transition, in ms."""
    seconds = phase.get("cpu", {}).get("cpu_seconds", {})
    used = sum(float(v) for k, v in seconds.items() if k.startswith(_SERVICE_CPU))
    claims = int(phase.get("claims") or phase.get("requests") or 0)
    if not used or not claims:
        return None
    return round(1000 * used / (claims * transitions_per_claim), 3)


def _ceiling_rows(results: dict[str, Any]) -> list[Figure]:
    ceiling, pipeline = results.get("ceiling"), results.get("pipeline")
    if not ceiling:
        return []
    rows = [
        info(
            f"PostgreSQL alone, replayed ingest statements, {ceiling['connections']} connections",
            ceiling.get("claims_per_s"),
            "claims/s",
        )
    ]
    if pipeline and pipeline.get("claims_per_s") and ceiling.get("claims_per_s"):
        share = round(100 * pipeline["claims_per_s"] / ceiling["claims_per_s"], 1)
        results["pipeline_share_of_ceiling_percent"] = share
        rows.append(info("pipeline / PostgreSQL alone", share, "%"))
    return rows


def _cpu_rows(results: dict[str, Any]) -> list[Figure]:
    rows = []
    for key, label in (("pipeline", "pipeline"), ("baseline", "baseline")):
        phase = results.get(key)
        if phase:
            value = cpu_per_transition_ms(phase)
            results.setdefault("cpu_per_transition_ms", {})[key] = value
            rows.append(
                info(f"{label}: CPU per transition (service + its PG backends)", value, "ms")
            )
    per = results.get("cpu_per_transition_ms", {})
    if per.get("pipeline") and per.get("baseline"):
        ratio = round(per["baseline"] / per["pipeline"], 1)
        results["cpu_ratio_to_baseline"] = ratio
        rows.append(
            info("baseline / pipeline, CPU per transition (less load-sensitive)", ratio, "x")
        )
    for key, label in (("http", "POST /claims"), ("http_bare", "bare endpoint")):
        phase = results.get(key)
        phase = phase[0] if isinstance(phase, list) and phase else phase
        if isinstance(phase, dict) and "cpu" in phase:
            value = cpu_per_transition_ms(phase, 1)
            rows.append(info(f"{label}: CPU per request (uvicorn + its PG backends)", value, "ms"))
    return rows


def _http_comparison_rows(results: dict[str, Any]) -> list[Figure]:
    rows: list[Figure] = []
    bare, open_loop = results.get("http_bare"), results.get("http_open_loop")
    if bare and "error" not in bare:
        label = f"HTTP bare endpoint (bench/bare_app.py), c={bare['concurrency']}"
        rows.append(info(f"{label}: requests/s", bare["requests_per_s"], "req/s"))
        rows.append(info(f"{label}: p99", bare["latency"]["p99_ms"], "ms"))
    elif bare:
        rows.append(Figure("HTTP bare endpoint: failed", None, "", "", False))
    if "http_ratio_to_bare" in results:
        rows.append(
            at_least("POST /claims / bare endpoint", results["http_ratio_to_bare"], "x", 1.5)
        )
    if open_loop and "error" not in open_loop:
        label = f"POST /claims open loop at {open_loop['open_loop_rate']:,.0f} req/s (half bare)"
        rows.append(info(f"{label}: achieved", open_loop["requests_per_s"], "req/s"))
        rows.append(below(f"{label}: p99", open_loop["latency"]["p99_ms"], "ms", 30))
        rows.append(at_most(f"{label}: non-202 answers", open_loop["errors_non_202"], "", 0))
    elif open_loop:
        rows.append(Figure("POST /claims open loop: failed", None, "", "", False))
    return rows


def figures(results: dict[str, Any]) -> list[Figure]:
    rows: list[Figure] = []
    pipeline = results.get("pipeline")
    baseline = results.get("baseline")
    if pipeline:
        label = f"pipeline ({pipeline['layout']}, {pipeline['workers']} workers)"
        rows.append(
            at_least(f"{label}: claims/s", pipeline.get("claims_per_s"), "claims/s", 10_000)
        )
    if baseline:
        rows.append(info("baseline: claims/s", baseline.get("claims_per_s"), "claims/s"))
    if pipeline and baseline:
        rows.append(at_least("pipeline / baseline", results.get("ratio_to_baseline"), "x", 30))
    rows.extend(_cpu_rows(results))
    rows.extend(_ceiling_rows(results))
    for other in results.get("pipeline_variants", []):
        label = f"pipeline ({other['layout']}, {other['workers']} workers)"
        rows.append(info(f"{label}: claims/s", other.get("claims_per_s"), "claims/s"))
    paced = results.get("pipeline_paced")
    if pipeline:
        # All N sent at once is a backlog, not a load: its p99 is the time to drain it.
        rows.extend(_pipeline_rows(pipeline, "saturated (all sent at once)", target=not paced))
    if paced:
        label = f"paced at {paced['send_rate']:,.0f}/s"
        rows.append(info(f"{label}: claims/s", paced.get("claims_per_s"), "claims/s"))
        rows.extend(_pipeline_rows(paced, label, target=True))
        rows.extend(_decision_rows(paced.get("decisions"), paced.get("reviewer_worker")))
    if pipeline:
        idle = pipeline.get("idle")
        if idle:
            single = idle["latency_submit_to_decision"]
            seen = idle["latency_send_to_observed_decision"]
            rows.append(info("idle, one claim: p50 sent -> decision seen", seen["p50_ms"], "ms"))
            rows.append(
                below("idle, one claim: p99 sent -> decision seen", seen["p99_ms"], "ms", 100)
            )
            rows.append(
                info("idle, one claim: p99 stored submission -> decision", single["p99_ms"], "ms")
            )
        for role, peak in _worker_peaks(pipeline):
            rows.append(below(f"peak RSS {role}", peak, "MB", 250))
        for m in pipeline.get("memory", []):
            if m["role"] == "relay":
                rows.append(info("peak RSS relay", m["peak_rss_mb"], "MB"))
        rows.append(
            info("pipeline: CPU used by other processes", _other_load(pipeline), "% machine")
        )
    for http in results.get("http", []):
        label = f"HTTP {http['server_workers']} uvicorn, c={http['concurrency']}, {http['client']}"
        if "error" in http:
            rows.append(Figure(f"{label}: failed", None, "", "", False))
            continue
        rows.append(at_least(f"{label}: requests/s", http["requests_per_s"], "req/s", 3000))
        rows.append(info(f"{label}: p50", http["latency"]["p50_ms"], "ms"))
        rows.append(below(f"{label}: p99", http["latency"]["p99_ms"], "ms", 30))
        rows.append(at_most(f"{label}: non-202 answers", http["errors_non_202"], "", 0))
        rows.append(
            info(f"{label}: generator CPU", 100 * http["generator_share_of_one_core"], "% core")
        )
        rows.append(info(f"{label}: CPU used by other processes", _other_load(http), "% machine"))
    rows.extend(_http_comparison_rows(results))
    if baseline:
        rows.append(
            info("baseline: CPU used by other processes", _other_load(baseline), "% machine")
        )
    growth = results.get("growth")
    if growth and "pipeline" in growth:
        stored = f"{growth['stored_claims']:,}"
        rows.append(
            info(
                "growth: claims/s, empty tables (before)",
                growth["reference"].get("claims_per_s"),
                "claims/s",
            )
        )
        if "reference_after" in growth:
            rows.append(
                info(
                    "growth: claims/s, empty tables (after)",
                    growth["reference_after"].get("claims_per_s"),
                    "claims/s",
                )
            )
        rows.append(
            info(
                f"growth: claims/s, {stored} stored",
                growth["pipeline"].get("claims_per_s"),
                "claims/s",
            )
        )
        rows.append(
            at_most(
                "growth: slower per claim than the mean of the empty runs",
                growth.get("slowdown_percent"),
                "%",
                10,
            )
        )
        for role, peak in _worker_peaks(growth["pipeline"]):
            rows.append(below(f"growth: peak RSS {role}", peak, "MB", 250))
    return rows


def _format(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.2f}".rstrip("0").rstrip(".") if value else "0"


def print_table(console: Console, rows: list[Figure], verdicts: list[dict[str, Any]]) -> None:
    table = Table(title="Plan Service benchmark against issue 6's targets")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("unit")
    table.add_column("target", justify="right")
    table.add_column("", justify="center")
    for row in rows:
        mark = "" if row.passed is None else ("[green]PASS[/]" if row.passed else "[red]FAIL[/]")
        table.add_row(row.name, _format(row.value), row.unit, row.target, mark)
    for verdict in verdicts:
        checks = verdict["checks"]
        failed = [name for name, check in checks.items() if not check["ok"]]
        table.add_row(
            f"checks, {verdict['scope']}",
            f"{len(checks) - len(failed)}/{len(checks)}",
            "passed",
            "all",
            "[green]PASS[/]" if not failed else f"[red]FAIL[/] {', '.join(failed)}",
        )
    console.print(table)


def print_profiles(console: Console, results: dict[str, Any]) -> None:
    """Where each profiled process's time went (py-spy), one row per process."""
    phases = [("pipeline", results.get("pipeline")), ("baseline", results.get("baseline"))]
    phases += [(f"http {h.get('server_workers')}w", h) for h in results.get("http", [])]
    table = Table(title="Where the time goes (py-spy samples per process)")
    table.add_column("phase / process")
    table.add_column("samples are")
    table.add_column("shares")
    shown = False
    for phase, result in phases:
        for profile in (result or {}).get("profile", []):
            for pid, process in profile.get("processes", {}).items():
                shares = ", ".join(
                    f"{name} {100 * share:.0f}%"
                    for name, share in list(process["share"].items())[:6]
                )
                table.add_row(
                    f"{phase} {profile['role']} {process['kind']} {pid}",
                    profile.get("samples_are", ""),
                    shares,
                )
                shown = True
    if shown:
        console.print(table)


def write_json(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
