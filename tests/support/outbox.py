"""The outbox as items: a row carries all the events of one type (or work items of one task)
that one transaction wrote in ``payload.items``, so tests that ask about one claim look inside
the rows."""

OUTBOX_ITEMS = """(
    SELECT o.id AS row_id, o.kind, o.name, o.destination, o.published_at, i.item,
           (i.item->>'claimId')::bigint AS claim_id
    FROM plan.outbox AS o
    CROSS JOIN LATERAL jsonb_array_elements(o.payload->'items')
        WITH ORDINALITY AS i(item, position)
    ORDER BY o.id, i.position
) AS outbox_items"""
