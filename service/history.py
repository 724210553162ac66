"""Verifying the tamper-evident status history (``plan history verify``) and filling chains.

Reads every claim's history in id order, recomputes its hash chain (models.history_chain) and
names each claim whose rows were edited, deleted or reordered since they were written.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import groupby
from typing import Any

import sqlalchemy as sa

from models.history_chain import CHAINED_FIELDS, BrokenChain, check_chain
from models.tables import Claim, ClaimStatusHistory
from storage.unit_of_work import PlanJourneyContext

claims_t = Claim.__table__
history_t = ClaimStatusHistory.__table__
STREAM_ROWS = 5000


@dataclass(frozen=True, slots=True)
class Verification:
    claims_checked: int
    broken: list[BrokenChain]


def verify_history(ctx: PlanJourneyContext, *, claim_id: int | None = None) -> Verification:
    """Every claim (or one) with its chain recomputed; ``broken`` names the tampered ones."""
    claims = sa.select(claims_t.c.id, claims_t.c.history_hash).order_by(claims_t.c.id)
    rows = sa.select(
        history_t.c.id, history_t.c.hash, *(history_t.c[name] for name in CHAINED_FIELDS)
    ).order_by(history_t.c.claim_id, history_t.c.id)
    if claim_id is not None:
        claims = claims.where(claims_t.c.id == claim_id)
        rows = rows.where(history_t.c.claim_id == claim_id)
    tails = {row.id: row.history_hash for row in ctx.execute(claims)}
    broken: list[BrokenChain] = []
    seen: set[int] = set()
    for owner, chain in groupby(_stream(ctx, rows), key=lambda row: int(row["claim_id"])):
        seen.add(owner)
        problem = check_chain(owner, chain, tails.get(owner))
        if problem is not None:
            broken.append(problem)
    for owner in sorted(set(tails) - seen):
        problem = check_chain(owner, (), tails[owner])
        if problem is not None:
            broken.append(problem)
    broken.sort(key=lambda problem: problem.claim_id)
    return Verification(claims_checked=len(tails), broken=broken)


def _stream(ctx: PlanJourneyContext, query: sa.Select[Any]) -> Iterator[sa.RowMapping]:
    result = ctx.session.execute(query, execution_options={"yield_per": STREAM_ROWS})
    yield from result.mappings()
