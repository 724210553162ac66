"""The cost of the tamper-evident history per claim: ``python -m bench.history_hash``.

Chains the three history rows a claim decided at ingest writes (submit, start_review,
approve with its breakdown), as the change set does, and reports microseconds per claim and
per row; the median of several rounds, since the shared host's speed drifts.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from models.history_chain import GENESIS, chain_hash

_DETAILS = {
    "decision": "approve",
    "reasonCodes": ["WITHIN_AUTO_APPROVAL"],
    "breakdown": {
        "submitted": "80.00",
        "eligible": "80.00",
        "deductible": "0.00",
        "copay": "0.00",
        "coveragePercent": "80",
        "benefit": "64.00",
        "memberResponsibility": "16.00",
    },
    "coverageId": 12,
}


def claim_rows(claim_id: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    steps = (
        ("submit", "DRAFT", "SUBMITTED", "member-1", "member", None, None),
        ("start_review", "SUBMITTED", "UNDER_REVIEW", "system", "system", None, None),
        (
            "approve",
            "UNDER_REVIEW",
            "APPROVED",
            "system",
            "system",
            "WITHIN_AUTO_APPROVAL",
            _DETAILS,
        ),
    )
    return [
        {
            "claim_id": claim_id,
            "event_id": uuid.uuid4(),
            "event": event,
            "from_status": before,
            "to_status": after,
            "actor_id": actor,
            "actor_role": role,
            "reason_code": reason,
            "note": None,
            "details": details,
            "occurred_at": now,
        }
        for event, before, after, actor, role, reason, details in steps
    ]


def measure(claims: int = 20_000, rounds: int = 5) -> dict[str, float]:
    batch = [claim_rows(claim_id) for claim_id in range(1, claims + 1)]
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        for rows in batch:
            previous = GENESIS
            for row in rows:
                previous = chain_hash(previous, row)
        timings.append(time.perf_counter() - started)
    per_claim_us = statistics.median(timings) / claims * 1e6
    return {
        "claims": claims,
        "rows_per_claim": 3,
        "us_per_claim": per_claim_us,
        "us_per_row": per_claim_us / 3,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.history_hash", description=__doc__)
    parser.add_argument("--claims", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    result = measure(args.claims, args.rounds)
    print(
        f"history hash chain: {result['us_per_claim']:.1f} µs per claim "
        f"({result['us_per_row']:.1f} µs per row, {args.claims} claims x 3 rows, "
        f"median of {args.rounds} rounds)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
