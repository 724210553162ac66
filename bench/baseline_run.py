"""Drives the baseline (``bench.baseline``): one ``baseline.submit`` message per claim, then
measured exactly as the pipeline is (database timestamps, same claims, same world)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from typing import Any

from bench.baseline import QUEUE, SUBMIT_TASK
from bench.infra import phase_processes
from bench.observe import Observation
from bench.pipeline import (
    Target,
    highest_claim_id,
    sender,
    start_workers,
    timings,
    wait_for_decisions,
)
from bench.world import World, queued_claim


@dataclass(frozen=True)
class BaselineOptions:
    claims: int
    workers: int
    layout: str
    profile: bool = False
    analyze_every: float = 0.0


def run_baseline(
    target: Target, world: World, options: BaselineOptions, *, tag: str, today: date
) -> dict[str, Any]:
    claims = [queued_claim(world, seq, tag=tag, today=today) for seq in range(options.claims)]
    result: dict[str, Any] = {
        "claims": options.claims,
        "workers": options.workers,
        "layout": options.layout,
        "shape": "one task per claim per transition, one transaction each, ORM, .delay() after "
        "commit; Celery defaults (early ack, prefetch 4)",
    }
    with phase_processes(target.workdir, target.env()) as processes:
        workers = start_workers(
            processes,
            app="bench.baseline",
            queues=QUEUE,
            workers=options.workers,
            layout=options.layout,
            name=f"baseline-{tag}",
        )
        after_id = highest_claim_id(target)
        observation = Observation.start(
            target.postgres.conninfo(),
            target.database,
            {f"baseline worker {index}": worker.pid for index, worker in enumerate(workers)},
            workdir=target.workdir,
            profile=options.profile,
            interval=0.5,
        )
        app = sender(target.broker_url)
        sent_at: list[float] = []
        try:
            started = time.time()
            with app.producer_or_acquire() as producer:
                for claim in claims:
                    sent_at.append(time.time())
                    app.send_task(SUBMIT_TASK, args=[claim], queue=QUEUE, producer=producer)
            result["send_seconds"] = round(time.time() - started, 2)
            observed_end = wait_for_decisions(
                target,
                processes,
                options.claims,
                started=started,
                after_id=after_id,
                queues=(QUEUE,),
                relayed=False,
                analyze_every=options.analyze_every,
            )
        finally:
            observation.stop()
        result["observed_wall_s"] = round(observed_end - started, 2)
        result.update(timings(target, tag, 1, sent_at, after_id=after_id))
        result.update(observation.report())
        processes.check_alive()
    return result
