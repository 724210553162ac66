"""The hand-written SQL of the claim service, named (everything else is SQLAlchemy Core)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from models.tables import LIVE_CLAIM

# New claims the unique indexes would refuse: a live duplicate stored, or one earlier in the
# batch. The live-claim predicate is the partial index's own text (a constant, not input), so
# the planner matches the index; the comparison runs in PostgreSQL, so ``lower()`` is its own.
REFUSED_BY_UNIQUE_INDEXES = sa.text(
    f"""
    SELECT k.id FROM (
        SELECT n.*, row_number() OVER (
            PARTITION BY user_id, service_date, procedure_code, lower(provider_name) ORDER BY id
        ) AS position
        FROM unnest(:ids, :users, :dates, :codes, :providers)
            AS n(id, user_id, service_date, procedure_code, provider_name)
    ) AS k
    WHERE k.position > 1 OR EXISTS (
        SELECT 1 FROM plan.claims AS c
        WHERE c.user_id = k.user_id
          AND c.service_date = k.service_date
          AND c.procedure_code = k.procedure_code
          AND lower(c.provider_name) = lower(k.provider_name)
          AND {LIVE_CLAIM.text}
    )
    """  # noqa: S608
).bindparams(
    sa.bindparam("ids", type_=ARRAY(sa.BigInteger)),
    sa.bindparam("users", type_=ARRAY(sa.String)),
    sa.bindparam("dates", type_=ARRAY(sa.Date)),
    sa.bindparam("codes", type_=ARRAY(sa.String)),
    sa.bindparam("providers", type_=ARRAY(sa.String)),
)

# Ids taken up front, so that history and outbox rows can be built before the insert. Run by
# storage.bulk.read_later (psycopg's placeholders), beside the other reads of a submission.
ALLOCATE_CLAIM_IDS = (
    "SELECT nextval(pg_get_serial_sequence('plan.claims', 'id')) AS id"
    " FROM generate_series(1, %(count)s::integer)"
)

# The live-claim predicate on the alias ``other``, literal so that the planner matches the
# live-duplicate partial index.
OTHER_CLAIM_IS_LIVE = sa.text("other.status NOT IN ('REJECTED', 'CANCELLED', 'EXPIRED')")
