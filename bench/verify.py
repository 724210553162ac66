"""After a run: no claim lost or doubled, every history a valid path, one event per transition.

The path check replays each claim's history rows (in id order) through the lifecycle table
(``models.lifecycle.TRANSITIONS`` and ``can_fire``): the first row leaves DRAFT, each row leaves
the state the previous one entered by an edge the table holds, and the last one enters the
claim's current status.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import psycopg

from models.enums import ClaimEvent, ClaimStatus
from models.lifecycle import TRANSITIONS, can_fire

_DESTINATION = {
    (event, source): destination
    for event, sources, destination in TRANSITIONS
    for source in sources
}


@dataclass
class Verdict:
    scope: str
    checks: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def check(self, name: str, ok: bool, detail: Any) -> None:
        self.checks[name] = {"ok": ok, "detail": detail}
        if not ok:
            self.failures.append(f"{self.scope}: {name}: {detail}")

    def as_json(self) -> dict[str, Any]:
        return {"scope": self.scope, "passed": self.passed, "checks": self.checks}


def path_errors(rows: list[tuple[str, str, str]], final: ClaimStatus) -> str | None:
    """Why ``rows`` (event, from, to) is not a valid path from DRAFT to ``final``, or None."""
    state = ClaimStatus.DRAFT
    for event_name, source, destination in rows:
        event = ClaimEvent(event_name)
        if source != state.value:
            return f"{event_name} leaves {source} but the claim was {state.value}"
        if not can_fire(state, event):
            return f"{event_name} cannot fire from {state.value}"
        expected = _DESTINATION[(event, state)]
        if destination != expected.value:
            return f"{event_name} from {state.value} enters {destination}, not {expected.value}"
        state = expected
    if state is not final:
        return f"the history ends in {state.value}, the claim is {final.value}"
    return None


def verify_lifecycle(
    conn: psycopg.Connection[Any],
    *,
    scope: str,
    prefix: str,
    expected: int,
    after_id: int = 0,
    final: ClaimStatus = ClaimStatus.APPROVED,
    transitions: int = 3,
    relayed: bool = True,
) -> Verdict:
    """Check the ``expected`` claims keyed ``prefix-*`` (ids above ``after_id``)."""
    verdict = Verdict(scope)
    claims = {
        int(claim_id): (str(key), str(status))
        for claim_id, key, status in conn.execute(
            "SELECT id, idempotency_key, status FROM plan.claims"
            " WHERE id > %s AND idempotency_key LIKE %s",
            [after_id, f"{prefix}-%"],
        )
    }
    keys = Counter(key for key, _ in claims.values())
    verdict.check("claims stored", len(claims) == expected, f"{len(claims)} of {expected}")
    doubled = sum(1 for count in keys.values() if count > 1)
    verdict.check("no claim doubled", doubled == 0, f"{doubled} keys stored more than once")
    statuses = Counter(status for _, status in claims.values())
    verdict.check(
        f"every claim {final.value}",
        statuses.get(final.value, 0) == len(claims),
        dict(statuses),
    )

    histories: dict[int, list[tuple[str, str, str]]] = defaultdict(list)
    event_ids: dict[str, int] = {}
    for claim_id, event_id, event, source, destination in conn.execute(
        "SELECT claim_id, event_id::text, event, from_status, to_status"
        " FROM plan.claim_status_history WHERE claim_id > %s ORDER BY claim_id, id",
        [after_id],
    ):
        if int(claim_id) in claims:
            histories[int(claim_id)].append((str(event), str(source), str(destination)))
            event_ids[str(event_id)] = int(claim_id)
    wrong_count = sum(1 for claim_id in claims if len(histories.get(claim_id, ())) != transitions)
    verdict.check(
        f"exactly {transitions} history rows per claim",
        wrong_count == 0,
        f"{wrong_count} claims with another number",
    )
    invalid: list[str] = []
    for claim_id, (_, status) in claims.items():
        error = path_errors(histories.get(claim_id, []), ClaimStatus(status))
        if error is not None:
            invalid.append(f"claim {claim_id}: {error}")
    verdict.check(
        "every history a valid path from DRAFT",
        not invalid,
        invalid[:5] if invalid else f"{len(claims)} paths valid",
    )

    events: Counter[str] = Counter()
    unpublished = 0
    for event_id, published in conn.execute(
        "SELECT e->>'eventId', o.published_at IS NOT NULL FROM plan.outbox AS o"
        # A row carries a transaction's events of one type (the baseline: one event a row).
        " CROSS JOIN LATERAL jsonb_array_elements(o.payload->'items') AS e"
        " WHERE o.kind = 'event' AND (e->>'claimId')::bigint > %s",
        [after_id],
    ):
        if event_id in event_ids:
            events[str(event_id)] += 1
            unpublished += 0 if published else 1
    missing = sum(1 for event_id in event_ids if events[event_id] == 0)
    repeated = sum(1 for count in events.values() if count > 1)
    verdict.check(
        "exactly one outbox event per transition",
        missing == 0 and repeated == 0,
        f"{len(event_ids)} transitions, {missing} without an event, {repeated} with several",
    )
    if relayed:
        verdict.check(
            "every event published by the relay", unpublished == 0, f"{unpublished} waiting"
        )
    row = conn.execute("SELECT count(*) FROM plan.dead_letters").fetchone()
    dead = int(row[0]) if row else 0
    verdict.check("no dead letters", dead == 0, f"{dead} dead letters")
    return verdict
