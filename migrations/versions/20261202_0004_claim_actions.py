"""claim actions: a person's request, queued, then applied or refused by a worker

Members and reviewers no longer change a claim inside their HTTP request: the request is
recorded here (with its inputs, so that task messages carry ids only) and a Celery task
applies it. The action's id is the event id of the transition it causes. The partial unique
index on queued actions lets one person's action per claim wait at a time.

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-02 05:39:26.127506+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0004'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('claim_actions',
    sa.Column('id', sa.UUID(), nullable=False, comment="The action's id, and the event id of the transition it causes"),
    sa.Column('claim_id', sa.BigInteger(), nullable=False, comment='The claim'),
    sa.Column('event', sa.Enum('submit', 'start_review', 'approve', 'reject', 'request_info', 'provide_info', 'cancel', 'expire', name='action_event', native_enum=False, create_constraint=True, length=32, schema='plan'), nullable=False, comment='Event to fire on the state machine'),
    sa.Column('status', sa.Enum('queued', 'applied', 'refused', name='action_status', native_enum=False, create_constraint=True, length=32, schema='plan'), server_default='queued', nullable=False, comment='queued, applied or refused'),
    sa.Column('actor_id', sa.String(length=128), nullable=False, comment='Who asked for it'),
    sa.Column('actor_role', sa.Enum('member', 'reviewer', 'admin', 'system', name='action_actor_role', native_enum=False, create_constraint=True, length=32, schema='plan'), nullable=False, comment='In which role'),
    sa.Column('reason_code', sa.String(length=64), nullable=True, comment="Reviewer's reason"),
    sa.Column('note', sa.Text(), nullable=True, comment='Free text from the actor'),
    sa.Column('approved_amount', sa.Numeric(precision=12, scale=2), nullable=True, comment='Amount a reviewer approves; NULL for the suggested benefit'),
    sa.Column('documents', postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), nullable=True, comment='Documents sent with provide_info'),
    sa.Column('idempotency_key', sa.String(length=128), nullable=True, comment="The actor's Idempotency-Key; unique per actor"),
    sa.Column('requested_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False, comment='When it was asked for'),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False, comment='When the sweeper re-publishes it if it is still queued'),
    sa.Column('applied_at', sa.DateTime(timezone=True), nullable=True, comment='When a worker applied or refused it; NULL while queued'),
    sa.Column('claim_status', sa.Enum('DRAFT', 'SUBMITTED', 'UNDER_REVIEW', 'ADDITIONAL_INFO_REQUIRED', 'APPROVED', 'REJECTED', 'CANCELLED', 'EXPIRED', name='action_claim_status', native_enum=False, create_constraint=True, length=32, schema='plan'), nullable=True, comment="The claim's status when the worker's transaction ended"),
    sa.Column('error_code', sa.String(length=64), nullable=True, comment='Why it was refused'),
    sa.Column('error_message', sa.Text(), nullable=True, comment='The refusal, for people'),
    sa.CheckConstraint("(status = 'queued') = (applied_at IS NULL)", name=op.f('ck_claim_actions_applied_at_when_settled')),
    sa.CheckConstraint("(status = 'refused') = (error_code IS NOT NULL)", name=op.f('ck_claim_actions_error_when_refused')),
    sa.CheckConstraint("event IN ('submit', 'approve', 'reject', 'request_info', 'provide_info', 'cancel')", name=op.f('ck_claim_actions_event_of_a_person')),
    sa.CheckConstraint('approved_amount IS NULL OR approved_amount >= 0', name=op.f('ck_claim_actions_approved_amount_not_negative')),
    sa.ForeignKeyConstraint(['claim_id'], ['plan.claims.id'], name=op.f('fk_claim_actions_claim_id_claims'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_claim_actions')),
    schema='plan',
    comment="People's actions on claims: queued, then applied or refused by a worker"
    )
    op.create_index('ix_claim_actions_claim_requested', 'claim_actions', ['claim_id', sa.literal_column('requested_at DESC')], unique=False, schema='plan')
    op.create_index('ix_claim_actions_queued_due', 'claim_actions', ['due_at'], unique=False, schema='plan', postgresql_where=sa.text("status = 'queued'"))
    op.create_index('uq_claim_actions_actor_idempotency_key', 'claim_actions', ['actor_id', 'idempotency_key'], unique=True, schema='plan', postgresql_where=sa.text('idempotency_key IS NOT NULL'))
    op.create_index('uq_claim_actions_queued', 'claim_actions', ['claim_id'], unique=True, schema='plan', postgresql_where=sa.text("status = 'queued'"))


def downgrade() -> None:
    op.drop_index('uq_claim_actions_queued', table_name='claim_actions', schema='plan', postgresql_where=sa.text("status = 'queued'"))
    op.drop_index('uq_claim_actions_actor_idempotency_key', table_name='claim_actions', schema='plan', postgresql_where=sa.text('idempotency_key IS NOT NULL'))
    op.drop_index('ix_claim_actions_queued_due', table_name='claim_actions', schema='plan', postgresql_where=sa.text("status = 'queued'"))
    op.drop_index('ix_claim_actions_claim_requested', table_name='claim_actions', schema='plan')
    op.drop_table('claim_actions', schema='plan')
