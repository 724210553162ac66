"""One phase's observation: the /proc and pg_stat_activity monitor, plus py-spy when asked."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.monitor import Monitor
from bench.profiling import Profiler, start_profiler, summarise


@dataclass
class Observation:
    monitor: Monitor
    profilers: list[Profiler] = field(default_factory=list)

    @classmethod
    def start(
        cls,
        conninfo: str,
        database: str,
        processes: dict[str, int],
        *,
        workdir: Path,
        profile: bool,
        threaded: bool = False,
        interval: float = 0.25,
    ) -> Observation:
        """Watch ``processes`` (role -> pid of the tree's root) from now on."""
        monitor = Monitor(conninfo, [database], interval=interval)
        profilers = []
        for role, pid in processes.items():
            monitor.watch(pid, role)
            if profile:
                name = role.replace(" ", "")
                profilers.append(start_profiler(name, pid, workdir, idle=not threaded))
        monitor.start()
        return cls(monitor, profilers)

    def stop(self) -> None:
        for profiler in self.profilers:
            profiler.stop()
        self.monitor.stop()

    def report(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "memory": self.monitor.memory_report(),
            "cpu": self.monitor.cpu_report(),
            "postgres_waits": self.monitor.wait_report(),
        }
        if self.monitor.error:
            result["monitor_error"] = self.monitor.error
        if self.profilers:
            result["profile"] = [summarise(profiler) for profiler in self.profilers]
        return result
