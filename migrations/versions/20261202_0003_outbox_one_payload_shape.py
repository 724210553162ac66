"""outbox rows carry one payload shape: {"items": [...]}

Events and task work alike: a row's payload is {"items": [...]} and item_count counts them.
Rows of the older shapes are converted: {"events": [...]} (event rows), a bare event (event
rows written before 0002), {"item": x} (task rows written before 0002) and {"args": [...]}
(dead-letter replays: a batch task's first argument is its items; the single-claim ingest
task becomes ingest_batch with that claim as its one item; a task without arguments, such as
a replayed maintenance task, carries no items and publishes nothing, as beat runs it anyway).

The downgrade gives event rows back their {"events": [...]}; task rows keep {"items": [...]},
which the code of 0002 reads.

Revision ID: 0003
Revises: 0004 (chained after it: 0004 landed first)
Create Date: 2026-12-02 06:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0003'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_PAYLOAD = '{"items": [...]}: the events or work items it carries'
_ITEM_COUNT = 'Events or work items the payload carries (payload.items)'
_OLD_PAYLOAD = 'Message body'
_OLD_ITEM_COUNT = 'Events or work items the payload carries (payload.events / payload.items)'


def _comments(payload: str, old_payload: str, item_count: str, old_item_count: str) -> None:
    op.alter_column(
        'outbox',
        'payload',
        existing_type=postgresql.JSONB(astext_type=sa.Text()),
        comment=payload,
        existing_comment=old_payload,
        existing_nullable=False,
        schema='plan',
    )
    op.alter_column(
        'outbox',
        'item_count',
        existing_type=sa.Integer(),
        comment=item_count,
        existing_comment=old_item_count,
        existing_nullable=False,
        existing_server_default=sa.text('1'),
        schema='plan',
    )


def upgrade() -> None:
    _comments(_PAYLOAD, _OLD_PAYLOAD, _ITEM_COUNT, _OLD_ITEM_COUNT)
    op.execute(
        """
        UPDATE plan.outbox
        SET payload = jsonb_build_object('items', payload->'events')
        WHERE kind = 'event' AND jsonb_typeof(payload->'events') = 'array'
        """
    )
    op.execute(
        """
        UPDATE plan.outbox
        SET payload = jsonb_build_object('items', jsonb_build_array(payload))
        WHERE kind = 'event' AND NOT payload ? 'items'
        """
    )
    op.execute(
        """
        UPDATE plan.outbox
        SET payload = jsonb_build_object('items', jsonb_build_array(payload->'item'))
        WHERE kind = 'task' AND payload ? 'item' AND NOT payload ? 'items'
        """
    )
    op.execute(
        """
        UPDATE plan.outbox
        SET name = 'plan.claims.ingest_batch',
            payload = jsonb_build_object('items', payload->'args')
        WHERE kind = 'task' AND name = 'plan.claims.ingest' AND payload ? 'args'
        """
    )
    op.execute(
        """
        UPDATE plan.outbox
        SET payload = jsonb_build_object(
            'items',
            CASE WHEN jsonb_typeof(payload->'args'->0) = 'array'
                 THEN payload->'args'->0 ELSE '[]'::jsonb END
        )
        WHERE kind = 'task' AND payload ? 'args' AND NOT payload ? 'items'
        """
    )
    op.execute(
        """
        UPDATE plan.outbox
        SET item_count = jsonb_array_length(payload->'items')
        WHERE jsonb_array_length(payload->'items') >= 1
          AND item_count <> jsonb_array_length(payload->'items')
        """
    )


def downgrade() -> None:
    _comments(_OLD_PAYLOAD, _PAYLOAD, _OLD_ITEM_COUNT, _ITEM_COUNT)
    op.execute(
        """
        UPDATE plan.outbox
        SET payload = jsonb_build_object('events', payload->'items')
        WHERE kind = 'event' AND payload ? 'items'
        """
    )
