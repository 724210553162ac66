"""py-spy sampling of the worker and relay processes during a phase, summarised by where the
wall-clock time of each process goes: waiting on PostgreSQL, on the broker, idle, or running
Python (split by the package that holds the CPU).

Sampling includes idle threads (``--idle``) so that the shares add up to wall-clock time, and
does not pause the target (``--nonblocking``), so the profile costs the profiled process
almost nothing.
"""

from __future__ import annotations

import re
import signal
import subprocess
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.infra import ROOT

PY_SPY = ROOT / ".venv" / "bin" / "py-spy"
SAMPLE_RATE = 50

# Categories of a sample by its leaf frame (what the thread was doing at that instant).
_LEAF_RULES = (
    ("waiting on PostgreSQL", re.compile(r"^\S*wait\S* \(psycopg/")),
    (
        "idle (waiting for work)",
        re.compile(
            r"^(_epoll\.poll \(kombu/utils/eventio|\S*_recv\S* \(billiard/"
            r"|_Listener\.wait \(worker/relay|\S+ \(selectors\.py\)|\S*sleep)"
        ),
    ),
    ("broker I/O (Redis)", re.compile(r"\((redis|kombu/transport)/")),
)
_PACKAGES = (
    ("pydantic validation", ("pydantic", "models/submission")),
    ("SQLAlchemy (statement building, ORM)", ("sqlalchemy/",)),
    ("psycopg (driver: send, adapt, parse)", ("psycopg",)),
    ("transitions (state machine)", ("transitions/",)),
    ("adjudication rules", ("models/adjudication",)),
    ("claim service (service/, storage/)", ("service/", "storage/")),
    ("relay code", ("worker/relay",)),
    ("JSON encoding", ("json/", "orjson", "kombu/utils/json")),
    ("logging (structlog, logging)", ("structlog/", "logging/")),
    ("Celery / kombu / billiard machinery", ("celery/", "kombu/", "billiard/", "vine/")),
    ("uuid", ("uuid.py",)),
)
# Our own functions whose inclusive share is worth reporting (where a change would go).
_OWN_CODE = ("(worker/", "(models/", "(tasks/")
_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^()]*)\)$")


@dataclass
class Profiler:
    role: str
    pid: int
    output: Path
    popen: subprocess.Popen[bytes]
    idle: bool = True

    def stop(self, timeout: float = 60) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(10)


def start_profiler(role: str, pid: int, workdir: Path, *, idle: bool = True) -> Profiler:
    """Sample ``pid`` and its children until ``stop()``.

    ``idle=True`` (single-threaded workers, the relay) keeps samples of a thread waiting, so the
    shares are shares of wall-clock time. A threaded server (uvicorn's thread pool) is sampled
    only in the thread holding the GIL (``--gil``): its idle pool threads would drown
    everything else, and threads queueing for the GIL would look busy.
    """
    output = workdir / f"py-spy-{role}-{pid}.txt"
    log = (workdir / f"py-spy-{role}-{pid}.log").open("wb")
    popen = subprocess.Popen(
        [
            str(PY_SPY),
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--idle" if idle else "--gil",
            "--nonblocking",
            "--nolineno",
            "--rate",
            str(SAMPLE_RATE),
            "--format",
            "raw",
            "--output",
            str(output),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return Profiler(role, pid, output, popen, idle)


def _frames(stack: str) -> list[str]:
    return [frame for frame in stack.split(";") if frame and not frame.startswith("process ")]


def _process_of(stack: str) -> str:
    """The innermost ``process N:"cmd"`` prefix py-spy gives with --subprocesses."""
    found = re.findall(r"(?:^|;)process (\d+):", stack)
    return found[-1] if found else "main"


def classify(frames: list[str]) -> str:
    leaf = frames[-1] if frames else ""
    for category, pattern in _LEAF_RULES:
        if pattern.search(leaf):
            return category
    for frame in reversed(frames):
        match = _FRAME.match(frame)
        path = match.group("file") if match else frame
        for category, markers in _PACKAGES:
            if any(marker in path for marker in markers):
                return category
    return "other Python / native"


def summarise(profiler: Profiler) -> dict[str, Any]:
    """Share of wall-clock samples per category, per process of the profiled tree."""
    if not profiler.output.exists():
        return {"role": profiler.role, "error": "py-spy wrote no output (see its log)"}
    per_process: dict[str, Counter[str]] = defaultdict(Counter)
    inclusive: dict[str, Counter[str]] = defaultdict(Counter)
    for line in profiler.output.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = _frames(stack)
        if not frames:
            continue
        count = int(count_text)
        process = _process_of(stack)
        per_process[process][classify(frames)] += count
        for frame in dict.fromkeys(frames):
            if any(marker in frame for marker in _OWN_CODE):
                inclusive[process][frame] += count
    processes = {}
    for pid, counts in per_process.items():
        total = sum(counts.values())
        if total < SAMPLE_RATE:  # under a second of samples: a short-lived helper
            continue
        processes[pid] = {
            "kind": "main" if pid == str(profiler.pid) else "pool child",
            "samples": total,
            "share": {k: round(v / total, 3) for k, v in counts.most_common()},
            "own_code_inclusive": {
                frame: round(v / total, 3) for frame, v in inclusive[pid].most_common(15)
            },
        }
    return {
        "role": profiler.role,
        "pid": profiler.pid,
        "samples_are": "wall-clock (idle included)" if profiler.idle else "GIL holder only",
        "raw_output": str(profiler.output),
        "processes": processes,
    }
