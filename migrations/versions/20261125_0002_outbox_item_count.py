"""outbox rows carry many items

One transaction writes one outbox row per event type and per task, carrying all of its
events (payload.events) or work items (payload.items), instead of one row per claim and step.
item_count lets the relay bound a batch by items rather than rows.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 04:50:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        'outbox',
        sa.Column(
            'item_count',
            sa.Integer(),
            server_default=sa.text('1'),
            nullable=False,
            comment='Events or work items the payload carries (payload.events / payload.items)',
        ),
        schema='plan',
    )
    op.create_check_constraint(
        op.f('ck_outbox_item_count_positive'), 'outbox', 'item_count >= 1', schema='plan'
    )
    op.alter_column(
        'outbox',
        'claim_id',
        existing_type=sa.BigInteger(),
        comment='Claim it concerns, when it concerns one',
        existing_comment='Claim it concerns',
        existing_nullable=True,
        schema='plan',
    )
    op.create_table_comment(
        'outbox',
        'Messages written with the change that caused them, published after commit; one row '
        'per event type or task per transaction, carrying all its items',
        existing_comment='Messages written with the change that caused them, published after commit',
        schema='plan',
    )


def downgrade() -> None:
    op.create_table_comment(
        'outbox',
        'Messages written with the change that caused them, published after commit',
        schema='plan',
    )
    op.alter_column(
        'outbox',
        'claim_id',
        existing_type=sa.BigInteger(),
        comment='Claim it concerns',
        existing_nullable=True,
        schema='plan',
    )
    op.drop_constraint(op.f('ck_outbox_item_count_positive'), 'outbox', schema='plan')
    op.drop_column('outbox', 'item_count', schema='plan')
