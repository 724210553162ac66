"""The hand-written SQL of the running processes, named."""

from __future__ import annotations

import sqlalchemy as sa

# The oldest waiting outbox rows, locked, cut where the items they carry reach the batch size
# (the first row always goes). Rows locked but not taken are released at commit. The payload
# comes as its JSON text, which the relay decodes with orjson.
NEXT_OUTBOX_BATCH = sa.text(
    """
    WITH waiting AS (
        SELECT id, item_count FROM plan.outbox
        WHERE published_at IS NULL
        ORDER BY id
        LIMIT :rows
        FOR UPDATE SKIP LOCKED
    ), taken AS (
        SELECT id FROM (
            SELECT id, sum(item_count) OVER (ORDER BY id) - item_count AS items_before
            FROM waiting
        ) AS w
        WHERE items_before < :items
    )
    SELECT o.id, o.kind, o.name, o.destination, o.item_count, o.payload::text AS payload
    FROM plan.outbox AS o JOIN taken USING (id)
    ORDER BY o.id
    """
)
