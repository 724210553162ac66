"""Group commit for single-claim submissions.

Each ``POST /claims`` hands its validated claim to the intake and awaits the answer. A few
writer threads take whatever submissions are waiting, up to SUBMISSION_BATCH_MAX, and store
them with ``submit_claims`` in one transaction: under load, the requests that arrive while a
transaction is in flight share the next one, so the statements and the commit are paid once
per batch instead of once per request. Every request is still answered on its own (its claim,
its replay, or its refusal), and only after the commit that holds its rows.

A transaction that fails as a whole (a constraint no validation caught, a deadlock) is retried
one submission at a time, so one bad request never fails the others that shared it.

An Idempotency-Key is *in flight* from the moment its request is handed over until its
transaction has ended: a second request of the same member with the same key meanwhile is
answered 409 at once. The set is per process; a second request that reaches another web
process waits on the unique index of (user, key) for the first one's commit, and is then
answered as a repeat, or 422 if its body differs.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from dataclasses import dataclass
from typing import Any

import structlog

from config import Settings
from models.idempotency import key_in_flight
from service.submissions import SubmissionRequest, SubmissionResult, submit_claims
from storage.unit_of_work import PlanJourneyContext
from worker.metrics import INTAKE_BATCH

log = structlog.get_logger("plan.intake")


@dataclass(frozen=True, slots=True)
class _Waiting:
    request: SubmissionRequest
    future: asyncio.Future[SubmissionResult]
    loop: asyncio.AbstractEventLoop
    key: tuple[str, str] | None  # (user, Idempotency-Key) while in flight


_STOP = object()


class ClaimIntake:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._waiting: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writers: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._in_flight: set[tuple[str, str]] = set()
        self._in_flight_lock = threading.Lock()

    async def submit(self, request: SubmissionRequest) -> SubmissionResult:
        self._start_writers()
        key = self._take_key(request)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[SubmissionResult] = loop.create_future()
        self._waiting.put(_Waiting(request, future, loop, key))
        return await future

    def _take_key(self, request: SubmissionRequest) -> tuple[str, str] | None:
        if request.idempotency_key is None:
            return None
        key = (request.user_id, request.idempotency_key)
        with self._in_flight_lock:
            if key in self._in_flight:
                raise key_in_flight()
            self._in_flight.add(key)
        return key

    def close(self) -> None:
        with self._lock:
            for _ in self._writers:
                self._waiting.put(_STOP)
            for writer in self._writers:
                writer.join(timeout=30)
            self._writers.clear()

    def _start_writers(self) -> None:
        if self._writers:
            return
        with self._lock:
            while len(self._writers) < self._settings.submission_writers:
                writer = threading.Thread(
                    target=self._write_batches, name=f"intake-{len(self._writers)}", daemon=True
                )
                writer.start()
                self._writers.append(writer)

    def _write_batches(self) -> None:
        while (first := self._waiting.get()) is not _STOP:
            batch = [first]
            while len(batch) < self._settings.submission_batch_max:
                try:
                    waiting = self._waiting.get_nowait()
                except queue.Empty:
                    break
                if waiting is _STOP:
                    self._waiting.put(_STOP)  # for this writer's next turn
                    break
                batch.append(waiting)
            self._store(batch)

    def _store(self, batch: list[_Waiting]) -> None:
        INTAKE_BATCH.observe(len(batch))
        try:
            with PlanJourneyContext() as ctx:
                results = submit_claims(ctx, [w.request for w in batch], self._settings)
                ctx.commit()
        except Exception as failure:
            if len(batch) == 1:
                self._answer(batch[0], failure)
                return
            log.warning("intake.batch_failed", size=len(batch), error=type(failure).__name__)
            for waiting in batch:
                self._store([waiting])
            return
        for waiting, result in zip(batch, results, strict=True):
            self._answer(waiting, result)

    def _answer(self, waiting: _Waiting, outcome: SubmissionResult | BaseException) -> None:
        # The transaction has ended: a repeat from now on finds the claim, or stores it.
        if waiting.key is not None:
            with self._in_flight_lock:
                self._in_flight.discard(waiting.key)

        def settle() -> None:
            if waiting.future.done():  # the client went away
                return
            if isinstance(outcome, BaseException):
                waiting.future.set_exception(outcome)
            else:
                waiting.future.set_result(outcome)

        # The loop is closed only when the server stopped: nobody is waiting for the answer.
        with contextlib.suppress(RuntimeError):
            waiting.loop.call_soon_threadsafe(settle)
