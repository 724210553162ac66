"""The hash chain that makes a claim's status history tamper-evident (DOMAIN.md section 7).

Each history row's ``hash`` is SHA-256 over the previous row's hash of the same claim (the
genesis value for a claim's first row) and a canonical encoding of the row: claim, event id,
event, from, to, actor and role, reason, note, details (the amounts) and time. The claim row
keeps the hash of its last history row. Pure: the change set chains rows as it writes them,
migration 0007 filled the rows written before, ``plan history verify`` recomputes them.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from functools import lru_cache
from typing import Any

import orjson

ENCODING_VERSION = 1
GENESIS = "0" * 64

CHAINED_FIELDS = (
    "claim_id",
    "event_id",
    "event",
    "from_status",
    "to_status",
    "actor_id",
    "actor_role",
    "reason_code",
    "note",
    "details",
    "occurred_at",
)


@lru_cache(maxsize=16)  # a transaction's rows share one moment
def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return _utc_text(value)
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot chain a {type(value).__name__}")


def canonical(row: Mapping[Any, Any]) -> bytes:
    """The row's chained fields as JSON with sorted keys, UTC times in microseconds, enums as
    their values: the same bytes whether the row is in memory or read back from PostgreSQL
    (JSONB keeps strings and integers as they were; the amounts are strings)."""
    document = {name: row[name] for name in CHAINED_FIELDS}
    document["occurred_at"] = _utc_text(document["occurred_at"])
    document["v"] = ENCODING_VERSION
    return orjson.dumps(document, default=_plain, option=orjson.OPT_SORT_KEYS)


def chain_hash(previous: str, row: Mapping[Any, Any]) -> str:
    return hashlib.sha256(bytes.fromhex(previous) + canonical(row)).hexdigest()


@dataclass(frozen=True, slots=True)
class BrokenChain:
    """A claim whose stored history does not match its chain."""

    claim_id: int
    problem: str  # row-mismatch | tail-mismatch
    history_id: int | None

    def describe(self) -> str:
        if self.problem == "row-mismatch":
            return (
                f"claim {self.claim_id}: history row {self.history_id} does not follow from the "
                "rows before it (a row was edited, deleted or reordered)"
            )
        return (
            f"claim {self.claim_id}: its last history row is not the one the claim recorded "
            "(rows were deleted or added at the end)"
        )


def check_chain(
    claim_id: int, rows: Iterable[Mapping[Any, Any]], recorded_tail: str | None
) -> BrokenChain | None:
    """Recompute one claim's chain over ``rows`` (in id order) against the stored hashes and
    the hash the claim row recorded (None: no history yet)."""
    previous = GENESIS
    last: str | None = None
    for row in rows:
        expected = chain_hash(previous, row)
        if row["hash"] != expected:
            return BrokenChain(claim_id, "row-mismatch", int(row["id"]))
        previous = last = expected
    if last != recorded_tail:
        return BrokenChain(claim_id, "tail-mismatch", None)
    return None
