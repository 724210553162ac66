"""PostgreSQL's own ceiling: the statements the pipeline runs, replayed with nothing else.

Two steps, each in its own process:

``capture``: the service's real ingest path (``service.submissions.submit_queued_claims`` with
``review_now=True``, what the ``ingest_batch`` task runs, one transaction per message) runs
against a throwaway clone of the template while a recording wrapper on psycopg's cursor keeps
every statement exactly as it went to the server: query text, the parameters psycopg already
encoded (binary arrays and all), their types and formats. Claim ids are allocated up front
by the service, so the recorded statements carry them: they replay unchanged on another clone.

``replay``: on a fresh clone, as many connections as the pipeline's workers each take every
W-th recorded transaction and run it with libpq directly (``PQexecPrepared`` on statements
prepared once per connection): no Python building rows, no Celery, no broker, no relay. The
claims per second of that run is the ceiling the pipeline is compared with.

Left out of the replay: the relay's statements (reading the outbox, marking rows published).
Statements sent in pipeline mode by the service are replayed one after another (a round trip
each, a few per 500-claim transaction).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import pickle
import queue
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

Op = tuple[bytes, list[Any] | None, tuple[int, ...], list[int] | None, int]


# --------------------------------------------------------------------------- capture


def _install_recorder(recorded: list[Op]) -> None:
    """Keep every query psycopg converts, as it goes to the server (prepared or not)."""
    import psycopg
    from psycopg._cursor_base import BaseCursor

    convert = BaseCursor._convert_query
    execute = psycopg.Cursor.execute
    binary_of: dict[int, int] = {}

    def recording_convert(self: Any, query: Any, params: Any = None) -> Any:
        sent = convert(self, query, params)
        recorded.append(
            (
                bytes(sent.query),
                None if sent.params is None else list(sent.params),
                tuple(sent.types),
                None if sent.formats is None else [int(f) for f in sent.formats],
                binary_of.get(id(self), 0),
            )
        )
        return sent

    def recording_execute(self: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
        binary_of[id(self)] = 1 if kwargs.get("binary") else 0
        try:
            return execute(self, query, params, **kwargs)
        finally:
            binary_of.pop(id(self), None)

    BaseCursor._convert_query = recording_convert  # type: ignore[method-assign]
    psycopg.Cursor.execute = recording_execute  # type: ignore[method-assign]


def capture(claims_file: Path, out_file: Path, message_claims: int) -> None:
    """Run the ingest path for the claims in ``claims_file``; pickle one op list per batch."""
    import sqlalchemy as sa

    from config import get_settings
    from service.submissions import submit_queued_claims
    from storage.unit_of_work import PlanJourneyContext

    claims = json.loads(claims_file.read_text())
    recorded: list[Op] = []
    with PlanJourneyContext() as warm:  # the dialect's first-connect queries stay unrecorded
        warm.session.execute(sa.text("SELECT 1"))
    _install_recorder(recorded)
    settings = get_settings()
    batches: list[list[Op]] = []
    for start in range(0, len(claims), message_claims):
        batch = claims[start : start + message_claims]
        recorded.clear()
        with PlanJourneyContext() as ctx:
            submit_queued_claims(ctx, batch, settings, review_now=True)
            ctx.commit()
        batches.append(list(recorded))
    out_file.write_bytes(pickle.dumps({"batches": batches, "claims": len(claims)}))


# --------------------------------------------------------------------------- replay


def _replay_share(conninfo: str, batches: list[list[Op]], barrier: Any, out: Any) -> None:
    import psycopg
    from psycopg import pq

    conn = psycopg.connect(conninfo, autocommit=True)
    pgconn = conn.pgconn
    names: dict[tuple[bytes, tuple[int, ...]], bytes] = {}
    ok = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK, pq.ExecStatus.EMPTY_QUERY)

    def check(result: pq.abc.PGresult, what: bytes) -> None:
        if result.status not in ok:
            message = (result.error_message or b"").decode(errors="replace")
            raise RuntimeError(f"replay failed on {what[:80]!r}: {message}")

    barrier.wait()
    started = time.time()
    for batch in batches:
        check(pgconn.exec_(b"BEGIN"), b"BEGIN")
        for query, params, types, formats, result_format in batch:
            name = names.get((query, types))
            if name is None:
                name = f"ceiling_{len(names)}".encode()
                check(pgconn.prepare(name, query, types or None), query)
                names[(query, types)] = name
            check(pgconn.exec_prepared(name, params, formats, result_format), query)
        check(pgconn.exec_(b"COMMIT"), b"COMMIT")
    out.put((started, time.time()))
    conn.close()


def replay(conninfo: str, recording: Path, connections: int) -> dict[str, Any]:
    data = pickle.loads(recording.read_bytes())
    batches: list[list[Op]] = data["batches"]
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(connections)
    out = context.Queue()
    children = [
        context.Process(
            target=_replay_share, args=(conninfo, batches[i::connections], barrier, out)
        )
        for i in range(connections)
    ]
    for child in children:
        child.start()
    spans: list[tuple[float, float]] = []
    deadline = time.monotonic() + 900
    while len(spans) < connections:
        try:
            spans.append(out.get(timeout=1))
        except queue.Empty:
            failed = [c.exitcode for c in children if c.exitcode not in (None, 0)]
            if failed or time.monotonic() > deadline:
                for child in children:
                    child.kill()
                raise RuntimeError(f"a replay connection failed (exit codes {failed})") from None
    for child in children:
        child.join(60)
    started = min(s for s, _ in spans)
    ended = max(e for _, e in spans)
    return {
        "claims": data["claims"],
        "transactions": len(batches),
        "statements_per_transaction": round(sum(len(b) for b in batches) / len(batches), 1),
        "started": started,
        "ended": ended,
        "seconds": round(ended - started, 3),
        "claims_per_s": round(data["claims"] / (ended - started), 1),
    }


# --------------------------------------------------------------------------- the bench's side


def capture_step(
    python: str,
    env: dict[str, str],
    claims: Sequence[dict[str, Any]],
    workdir: Path,
    message_claims: int,
    *,
    timeout: float = 900,
) -> tuple[Path, float]:
    """Record the statements of the ingest path (on ``env``'s DATABASE_URL)."""
    claims_file = workdir / "ceiling-claims.json"
    recording = workdir / "ceiling-recording.pickle"
    claims_file.write_text(json.dumps(list(claims)))
    started = time.monotonic()
    _run(
        [
            python,
            "-m",
            "bench.ceiling",
            "capture",
            str(claims_file),
            str(recording),
            str(message_claims),
        ],
        env,
        timeout,
    )
    return recording, time.monotonic() - started


def replay_step(
    python: str,
    env: dict[str, str],
    recording: Path,
    conninfo: str,
    connections: int,
    *,
    timeout: float = 900,
) -> dict[str, Any]:
    out = _run(
        [python, "-m", "bench.ceiling", "replay", conninfo, str(recording), str(connections)],
        env,
        timeout,
    )
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def _run(argv: list[str], env: dict[str, str], timeout: float) -> str:
    done = subprocess.run(
        argv,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=Path(__file__).resolve().parents[1],
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ceiling")
    sub = parser.add_subparsers(dest="step", required=True)
    cap = sub.add_parser("capture")
    cap.add_argument("claims_file", type=Path)
    cap.add_argument("out_file", type=Path)
    cap.add_argument("message_claims", type=int)
    rep = sub.add_parser("replay")
    rep.add_argument("conninfo")
    rep.add_argument("recording", type=Path)
    rep.add_argument("connections", type=int)
    args = parser.parse_args(argv)
    if args.step == "capture":
        capture(args.claims_file, args.out_file, args.message_claims)
    else:
        print(json.dumps(replay(args.conninfo, args.recording, args.connections)))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("DATABASE_SSL", "false")
    sys.exit(main())
