"""claim status history hash chain

Each claim_status_history row gets hash = SHA-256 over the previous row's hash of the same
claim and a canonical encoding of the row (models/history_chain.py); the claim row keeps the
hash of its last history row. The chains of the rows already stored are computed here, claim
by claim in id order, a page of rows at a time.

Revision ID: 0007
Revises: 0003
Create Date: 2026-12-02 06:00:00+00:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

from models.history_chain import GENESIS, chain_hash

revision: str = '0007'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PAGE = 5000

_PAGE_OF_ROWS = sa.text(
    """
    SELECT id, claim_id, event_id, event, from_status, to_status, actor_id, actor_role,
           reason_code, note, details, occurred_at
    FROM plan.claim_status_history
    WHERE (claim_id, id) > (:claim_id, :id)
    ORDER BY claim_id, id
    LIMIT :page
    """
)
_SET_ROW_HASHES = sa.text(
    """
    UPDATE plan.claim_status_history AS h SET hash = v.hash
    FROM unnest(:ids, :hashes) AS v(id, hash)
    WHERE h.id = v.id
    """
).bindparams(
    sa.bindparam('ids', type_=ARRAY(sa.BigInteger)),
    sa.bindparam('hashes', type_=ARRAY(sa.String)),
)
_SET_CLAIM_TAILS = sa.text(
    """
    UPDATE plan.claims AS c SET history_hash = last.hash
    FROM (SELECT DISTINCT ON (claim_id) claim_id, hash
          FROM plan.claim_status_history ORDER BY claim_id, id DESC) AS last
    WHERE c.id = last.claim_id
    """
)


def _fill_chains(bind: Any) -> None:
    claim_id, row_id, previous = 0, 0, GENESIS
    while True:
        rows = bind.execute(
            _PAGE_OF_ROWS, {'claim_id': claim_id, 'id': row_id, 'page': PAGE}
        ).mappings().all()
        if not rows:
            break
        ids, hashes = [], []
        for row in rows:
            if row['claim_id'] != claim_id:
                claim_id, previous = row['claim_id'], GENESIS
            previous = chain_hash(previous, row)
            row_id = row['id']
            ids.append(row_id)
            hashes.append(previous)
        bind.execute(_SET_ROW_HASHES, {'ids': ids, 'hashes': hashes})
    bind.execute(_SET_CLAIM_TAILS)


def upgrade() -> None:
    op.add_column(
        'claim_status_history',
        sa.Column(
            'hash',
            sa.String(length=64),
            nullable=True,
            comment="SHA-256 (hex) over the previous row's hash of the claim and this row "
            "(models/history_chain.py)",
        ),
        schema='plan',
    )
    op.add_column(
        'claims',
        sa.Column(
            'history_hash',
            sa.String(length=64),
            nullable=True,
            comment="Hash of the claim's last history row; NULL before the first",
        ),
        schema='plan',
    )
    _fill_chains(op.get_bind())
    op.alter_column(
        'claim_status_history', 'hash', existing_type=sa.String(length=64), nullable=False,
        schema='plan',
    )
    op.create_check_constraint(
        op.f('ck_claim_status_history_hash_hex'),
        'claim_status_history',
        "hash ~ '^[0-9a-f]{64}$'",
        schema='plan',
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f('ck_claim_status_history_hash_hex'), 'claim_status_history', schema='plan'
    )
    op.drop_column('claims', 'history_hash', schema='plan')
    op.drop_column('claim_status_history', 'hash', schema='plan')
