"""Where the machine's time and memory go during a phase, read from /proc and pg_stat_activity.

A background thread samples, every ``interval`` seconds:

- each watched process tree (workers with their pool children, the relay, uvicorn): resident
  memory (VmRSS), its peak (VmHWM) and CPU time;
- the PostgreSQL backends serving the phase's databases (CPU time, and what each is waiting
  for: a lock, I/O, or the client), all postgres processes, and redis-server;
- the whole machine's busy and idle time (/proc/stat).

The PostgreSQL and Redis servers are shared with other users of the machine: figures for
"all postgres processes" and "redis-server" include their work, the per-database backends do not.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
RSS_SERIES_STEP_S = 5.0


def read_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of ``pid`` in kB (empty when the process is gone)."""
    values: dict[str, int] = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return values
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of ``pid`` (None when the process is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def command_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        with contextlib.suppress(OSError):
            found.extend(
                int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()
            )
    return found


def tree(pid: int) -> list[int]:
    pids = [pid]
    for child in children(pid):
        pids.extend(tree(child))
    return pids


def pids_named(name: str) -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and command_name(int(p)) == name]


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot."""
    first = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in first]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return total - idle, total


def meminfo_kb() -> dict[str, int]:
    info: dict[str, int] = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, _, rest = line.partition(":")
        info[key] = int(rest.split()[0])
    return info


@dataclass
class ProcessMemory:
    role: str
    pid: int
    first_rss_kb: int = 0
    last_rss_kb: int = 0
    peak_kb: int = 0
    cpu_s: float = 0.0
    first_cpu_s: float | None = None
    series: list[tuple[float, int]] = field(default_factory=list)  # (seconds, VmRSS kB)

    def observe_rss(self, elapsed: float, rss_kb: int, hwm_kb: int) -> None:
        self.last_rss_kb = rss_kb
        self.first_rss_kb = self.first_rss_kb or rss_kb
        self.peak_kb = max(self.peak_kb, hwm_kb)
        if not self.series or elapsed - self.series[-1][0] >= RSS_SERIES_STEP_S:
            self.series.append((elapsed, rss_kb))

    def as_json(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "pid": self.pid,
            "peak_rss_mb": round(self.peak_kb / 1024, 1),
            "first_rss_mb": round(self.first_rss_kb / 1024, 1),
            "last_rss_mb": round(self.last_rss_kb / 1024, 1),
            "cpu_s": round(self.cpu_s - (self.first_cpu_s or 0.0), 2),
            # Resident memory every RSS_SERIES_STEP_S seconds: flat, or growing with the run?
            "rss_mb_series": [[round(t), round(kb / 1024, 1)] for t, kb in self.series],
        }


@dataclass
class CpuAccount:
    """CPU seconds used by a set of processes, tolerant of processes coming and going."""

    first: dict[int, float] = field(default_factory=dict)
    last: dict[int, float] = field(default_factory=dict)

    def observe(self, pid: int, seconds: float | None, *, new: bool) -> None:
        if seconds is None:
            return
        if pid not in self.first:
            # A process born during the phase used all of its time inside it.
            self.first[pid] = 0.0 if new else seconds
        self.last[pid] = seconds

    def total(self) -> float:
        return sum(self.last[pid] - self.first[pid] for pid in self.last)


class Monitor(threading.Thread):
    """Samples memory, CPU and PostgreSQL wait events until ``stop()``."""

    def __init__(
        self,
        conninfo: str,
        databases: list[str],
        *,
        interval: float = 0.25,
    ) -> None:
        super().__init__(name="bench-monitor", daemon=True)
        self._conninfo = conninfo
        self._databases = databases
        self._interval = interval
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._roots: dict[int, str] = {}
        self.memory: dict[int, ProcessMemory] = {}
        self.backends = CpuAccount()
        self.postgres_all = CpuAccount()
        self.redis = CpuAccount()
        self.trees: dict[str, CpuAccount] = {}
        self.bench_itself = CpuAccount()
        self.wait_events: Counter[str] = Counter()
        # What the busy backends were running: a sampled stand-in for pg_stat_statements.
        self.active_queries: Counter[str] = Counter()
        self.backend_samples = 0
        self.started_at = time.monotonic()
        self.stopped_at = self.started_at
        self._busy0, self._total0 = machine_jiffies()
        self.machine_busy_share = 0.0
        self.error: str | None = None

    def watch(self, pid: int, role: str) -> None:
        """Follow the process tree rooted at ``pid`` (pool children included)."""
        with self._lock:
            self._roots[pid] = role
            self.trees.setdefault(role, CpuAccount())

    def run(self) -> None:
        first = True
        try:
            with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=10) as conn:
                while not self._stopping.is_set():
                    self._sample(conn, first=first)
                    first = False
                    self._stopping.wait(self._interval)
                self._sample(conn, first=False)
        except psycopg.Error as error:
            self.error = f"{type(error).__name__}: {error}"

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=30)
        self.stopped_at = time.monotonic()
        busy, total = machine_jiffies()
        if total > self._total0:
            self.machine_busy_share = (busy - self._busy0) / (total - self._total0)

    def _sample(self, conn: psycopg.Connection[Any], *, first: bool) -> None:
        with self._lock:
            roots = dict(self._roots)
        for root, role in roots.items():
            for position, pid in enumerate(tree(root)):
                memory = self.memory.get(pid)
                if memory is None:
                    label = role if position == 0 else f"{role} child"
                    memory = self.memory[pid] = ProcessMemory(label, pid)
                status = read_status(pid)
                if "VmRSS" in status:
                    memory.observe_rss(
                        time.monotonic() - self.started_at,
                        status["VmRSS"],
                        status.get("VmHWM", 0),
                    )
                seconds = cpu_seconds(pid)
                if seconds is not None:
                    memory.cpu_s = seconds
                    if memory.first_cpu_s is None:
                        memory.first_cpu_s = seconds
                self.trees[role].observe(pid, seconds, new=not first)
        rows = conn.execute(
            "SELECT pid, coalesce(wait_event_type || ':' || wait_event, 'on CPU'), state,"
            " left(regexp_replace(query, '\\s+', ' ', 'g'), 90)"
            " FROM pg_stat_activity WHERE datname = ANY(%s) AND pid <> pg_backend_pid()",
            [self._databases],
        ).fetchall()
        for pid, wait, state, query in rows:
            self.backends.observe(pid, cpu_seconds(pid), new=not first)
            if state == "active":
                self.wait_events[str(wait)] += 1
                self.active_queries[str(query)] += 1
            elif state == "idle in transaction":
                self.wait_events["idle in transaction (waiting for the client)"] += 1
        self.backend_samples += 1
        for pid in pids_named("postgres"):
            self.postgres_all.observe(pid, cpu_seconds(pid), new=not first)
        self.bench_itself.observe(os.getpid(), cpu_seconds(os.getpid()), new=False)
        for pid in pids_named("redis-server"):
            self.redis.observe(pid, cpu_seconds(pid), new=not first)

    # ------------------------------------------------------------------- results

    @property
    def elapsed(self) -> float:
        return max(self.stopped_at - self.started_at, 1e-9)

    def memory_report(self) -> list[dict[str, Any]]:
        return [m.as_json() for m in self.memory.values() if m.peak_kb]

    def cpu_report(self) -> dict[str, Any]:
        """CPU seconds per component and as a share of the machine over the phase."""
        cores = os.cpu_count() or 1
        seconds = {role: account.total() for role, account in self.trees.items()}
        seconds["postgres backends (bench databases)"] = self.backends.total()
        seconds["postgres (all processes, shared server)"] = self.postgres_all.total()
        seconds["redis-server (shared)"] = self.redis.total()
        seconds["bench process (sender, monitor)"] = self.bench_itself.total()
        accounted = sum(v for k, v in seconds.items() if k != "postgres backends (bench databases)")
        busy = self.machine_busy_share * self.elapsed * cores
        seconds["everything else on the machine"] = max(0.0, busy - accounted)
        return {
            "elapsed_s": round(self.elapsed, 2),
            "cores": cores,
            "machine_busy_percent": round(100 * self.machine_busy_share, 1),
            "cpu_seconds": {k: round(v, 2) for k, v in seconds.items()},
            "percent_of_machine": {
                k: round(100 * v / (self.elapsed * cores), 1) for k, v in seconds.items()
            },
        }

    def wait_report(self) -> dict[str, Any]:
        total = sum(self.wait_events.values())
        return {
            "samples": self.backend_samples,
            "active_backend_samples": total,
            "share": {
                event: round(count / total, 3) for event, count in self.wait_events.most_common(12)
            }
            if total
            else {},
            "active_statements": {
                query: round(count / total, 3)
                for query, count in self.active_queries.most_common(10)
            }
            if total
            else {},
        }
