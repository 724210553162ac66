"""Growth: the same pipeline run on tables that already hold a million decided claims.

The stored claims are written straight in SQL (``INSERT ... SELECT FROM generate_series``), in
chunks, each with what the pipeline would have left behind: its receipt, three history rows
(submit, start_review, approve) and three published outbox events. They belong to the same
members and spread over the same service dates as the new claims, so the hot-path lookups
(duplicates, idempotency keys, documents, year-to-date rows) search among them. The tables are
then analysed, as autovacuum would have done.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg

from bench.world import PROCEDURE_CODE, SERVICE_DAYS, World

CHUNK = 250_000
_ADJUDICATION = (
    '{"decision": "approve", "reasonCodes": ["WITHIN_AUTO_APPROVAL"], "coverageId": %(coverage)s,'
    ' "breakdown": {"submitted": "50.00", "eligible": "50.00", "deductible": "0.00",'
    ' "copay": "0.00", "coveragePercent": "80", "benefit": "40.00",'
    ' "memberResponsibility": "10.00"}}'
)

_CLAIMS = """
WITH stored AS (
INSERT INTO plan.claims (member_plan_id, plan_id, user_id, procedure_type, procedure_code,
    diagnosis_code, provider_name, service_date, claimed_amount, currency, approved_amount,
    member_responsibility, status, decision_reason_code, adjudication, submitted_at, decided_at,
    version, idempotency_key, created_at, updated_at)
SELECT (%(member_plans)s::bigint[])[1 + g %% %(members)s],
       %(plan)s,
       (%(users)s::text[])[1 + g %% %(members)s],
       'CONSULTATION', %(code)s, 'J45.909', 'Stored clinic ' || g,
       current_date - (1 + g %% %(days)s)::integer,
       a.amount, 'BRL', round(a.amount * 0.8, 2), a.amount - round(a.amount * 0.8, 2),
       'APPROVED', 'WITHIN_AUTO_APPROVAL', %(adjudication)s::jsonb,
       t.at, t.at + interval '40 milliseconds', 4, 'stored-' || g, t.at, t.at
FROM generate_series(%(low)s::bigint, %(high)s::bigint) AS g,
     LATERAL (SELECT ((2000 + (g * 37) %% 8001) / 100.0)::numeric(12, 2) AS amount) AS a,
     LATERAL (SELECT now() - make_interval(secs => (g %% 2592000)::float8) AS at) AS t
ORDER BY g
RETURNING id)
SELECT min(id), max(id) FROM stored
"""

_DOCUMENTS = """
INSERT INTO plan.documents (claim_id, type, file_name, mime_type, size_bytes, uploaded_at)
SELECT id, 'RECEIPT', 'receipt.pdf', 'application/pdf', 2048, created_at
FROM plan.claims WHERE id BETWEEN %(first)s AND %(last)s
"""

_STEPS = """
(VALUES (1, 'submit', 'DRAFT', 'SUBMITTED', NULL, 'claim.submitted'),
        (2, 'start_review', 'SUBMITTED', 'UNDER_REVIEW', NULL, 'claim.under_review'),
        (3, 'approve', 'UNDER_REVIEW', 'APPROVED', 'WITHIN_AUTO_APPROVAL', 'claim.approved'))
    AS e(n, event, from_status, to_status, reason, domain_event)
"""

_HISTORY = f"""
INSERT INTO plan.claim_status_history (claim_id, event_id, event, from_status, to_status,
    actor_id, actor_role, reason_code, details, occurred_at, hash)
SELECT c.id, gen_random_uuid(), e.event, e.from_status, e.to_status,
       CASE WHEN e.n = 1 THEN c.user_id ELSE 'system' END,
       CASE WHEN e.n = 1 THEN 'member' ELSE 'system' END,
       e.reason, CASE WHEN e.n = 3 THEN c.adjudication END,
       c.submitted_at + (e.n - 1) * interval '20 milliseconds',
       -- Filler for the table's size only: these chains are not verified.
       repeat('0', 64)
FROM plan.claims AS c CROSS JOIN {_STEPS}
WHERE c.id BETWEEN %(first)s AND %(last)s
ORDER BY c.id, e.n
"""

_OUTBOX = f"""
INSERT INTO plan.outbox (kind, name, destination, payload, claim_id, item_count, created_at,
    published_at)
SELECT 'event', e.domain_event, e.domain_event,
       jsonb_build_object('items', jsonb_agg(
           jsonb_build_object('eventId', h.event_id, 'type', e.domain_event, 'claimId', c.id,
                              'userId', c.user_id, 'planId', c.plan_id,
                              'previousStatus', e.from_status, 'newStatus', e.to_status,
                              'claimedAmount', c.claimed_amount::text, 'currency', 'BRL',
                              'occurredAt', h.occurred_at) ORDER BY c.id)),
       NULL, count(*), max(h.occurred_at), max(h.occurred_at) + interval '5 milliseconds'
FROM plan.claims AS c
JOIN plan.claim_status_history AS h ON h.claim_id = c.id
JOIN {_STEPS} ON e.event = h.event
WHERE c.id BETWEEN %(first)s AND %(last)s
GROUP BY c.id / 500, e.n, e.domain_event
ORDER BY c.id / 500, e.n
"""


def preload(
    conn: psycopg.Connection[Any], world: World, count: int, *, log: Any = print
) -> dict[str, Any]:
    """Store ``count`` decided claims with their documents, history and published events."""
    started = time.monotonic()
    parameters = {
        "member_plans": list(world.member_plan_ids),
        "users": list(world.users),
        "members": len(world.users),
        "plan": world.plan_id,
        "code": PROCEDURE_CODE,
        "days": SERVICE_DAYS,
        "adjudication": _ADJUDICATION % {"coverage": world.coverage_id},
    }
    for low in range(1, count + 1, CHUNK):
        high = min(low + CHUNK - 1, count)
        with conn.transaction():
            row = conn.execute(_CLAIMS, {**parameters, "low": low, "high": high}).fetchone()
            assert row is not None
            span = {"first": row[0], "last": row[1]}
            conn.execute(_DOCUMENTS, span)
            conn.execute(_HISTORY, span)
            conn.execute(_OUTBOX, span)
        log(f"  stored {high:,} of {count:,} claims ({time.monotonic() - started:.0f}s)")
    conn.execute("VACUUM ANALYZE")
    sizes = {
        str(name): str(size)
        for name, size in conn.execute(
            "SELECT relname, pg_size_pretty(pg_total_relation_size(c.oid)) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'plan' AND c.relkind = 'r' ORDER BY pg_total_relation_size(c.oid)"
            " DESC LIMIT 6"
        )
    }
    return {
        "stored_claims": count,
        "preload_seconds": round(time.monotonic() - started, 1),
        "table_sizes": sizes,
    }
