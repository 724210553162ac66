"""idempotency fingerprint: the request a claim's Idempotency-Key was first used for

A key reused with a different request is refused (422 PLAN_CLAIM_VAL_IDEMPOTENCY_KEY_REUSED)
instead of answered as a replay of the first: claims keep the SHA-256 of the canonical
request (models/idempotency.py: sha256 hex of the validated fields, keys sorted) beside the
key. Claims stored before have none and are answered as replays, as they were. (The column's
comment is short: models/tables.py is at its 600-line budget.)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 06:40:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        'claims',
        sa.Column(
            'request_fingerprint',
            sa.String(length=64),
            nullable=True,
            comment='Request hash',
        ),
        schema='plan',
    )
    op.alter_column(
        'claims',
        'idempotency_key',
        existing_type=sa.String(length=128),
        comment='Idempotency-Key',
        existing_comment="Submitter's Idempotency-Key; unique per user",
        schema='plan',
    )


def downgrade() -> None:
    op.alter_column(
        'claims',
        'idempotency_key',
        existing_type=sa.String(length=128),
        comment="Submitter's Idempotency-Key; unique per user",
        existing_comment='Idempotency-Key',
        schema='plan',
    )
    op.drop_column('claims', 'request_fingerprint', schema='plan')
