"""review work: assignments (leases), pending first approvals, activity

claim_assignments holds the reviewer who took a claim and until when; pending_approvals the
first approval of an amount at or above the four-eyes threshold; claim_activity is the
append-only audit of review work that is not a status transition (a trigger refuses UPDATE
and DELETE).

Revision ID: 0005
Revises: 0007
Create Date: 2026-12-02 05:40:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0005'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROLES = "'member', 'reviewer', 'admin', 'system'"
_KINDS = "'taken', 'renewed', 'released', 'expired', 'reassigned', 'approval_pending'"


def upgrade() -> None:
    op.create_table(
        'claim_assignments',
        sa.Column('claim_id', sa.BigInteger(), nullable=False, comment='The claim'),
        sa.Column('reviewer_id', sa.String(length=128), nullable=False,
                  comment='Reviewer holding it'),
        sa.Column('taken_at', sa.DateTime(timezone=True), nullable=False,
                  comment='When this reviewer took it'),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False,
                  comment='When the lease ends unless renewed'),
        sa.CheckConstraint('expires_at > taken_at',
                           name=op.f('ck_claim_assignments_lease_positive')),
        sa.ForeignKeyConstraint(['claim_id'], ['plan.claims.id'],
                                name=op.f('fk_claim_assignments_claim_id_claims'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('claim_id', name=op.f('pk_claim_assignments')),
        schema='plan',
        comment='Which reviewer holds a claim under review, until when; a lease past '
        'expires_at holds nothing (the row is cleared by the next take or by beat)',
    )
    op.create_index(op.f('ix_claim_assignments_reviewer'), 'claim_assignments',
                    ['reviewer_id'], unique=False, schema='plan')
    op.create_index(op.f('ix_claim_assignments_expires_at'), 'claim_assignments',
                    ['expires_at'], unique=False, schema='plan')
    op.create_table(
        'pending_approvals',
        sa.Column('claim_id', sa.BigInteger(), nullable=False, comment='The claim'),
        sa.Column('reviewer_id', sa.String(length=128), nullable=False,
                  comment='The first approver'),
        sa.Column('reviewer_role', sa.Enum('member', 'reviewer', 'admin', 'system',
                                           name='pending_approval_role', native_enum=False,
                                           create_constraint=True, length=32),
                  nullable=False, comment='Reviewer or admin'),
        sa.Column('approved_amount', sa.Numeric(precision=12, scale=2), nullable=False,
                  comment='Amount the first approved'),
        sa.Column('reason_code', sa.String(length=64), nullable=True, comment='Why, if given'),
        sa.Column('note', sa.Text(), nullable=True, comment="First approver's note"),
        sa.Column('approved_at', sa.DateTime(timezone=True), nullable=False,
                  comment='When the first approval was applied'),
        sa.CheckConstraint('approved_amount >= 0',
                           name=op.f('ck_pending_approvals_approved_amount_not_negative')),
        sa.ForeignKeyConstraint(['claim_id'], ['plan.claims.id'],
                                name=op.f('fk_pending_approvals_claim_id_claims'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('claim_id', name=op.f('pk_pending_approvals')),
        schema='plan',
        comment='First approvals at or above the four-eyes threshold, waiting for a second '
        'reviewer; the row goes when the claim is decided',
    )
    op.create_table(
        'claim_activity',
        sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column('claim_id', sa.BigInteger(), nullable=False, comment='The claim'),
        sa.Column('event_id', sa.UUID(), nullable=False,
                  comment='Id of the domain event it was published as'),
        sa.Column('kind', sa.Enum('taken', 'renewed', 'released', 'expired', 'reassigned',
                                  'approval_pending', name='activity_kind', native_enum=False,
                                  create_constraint=True, length=32),
                  nullable=False, comment='What happened'),
        sa.Column('actor_id', sa.String(length=128), nullable=False, comment='Who did it'),
        sa.Column('actor_role', sa.Enum('member', 'reviewer', 'admin', 'system',
                                        name='activity_actor_role', native_enum=False,
                                        create_constraint=True, length=32),
                  nullable=False, comment='In which role'),
        sa.Column('details', postgresql.JSONB(none_as_null=True, astext_type=sa.Text()),
                  nullable=True, comment='Reviewer, lease end, amount: what the kind needs'),
        sa.Column('occurred_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
                  nullable=False, comment='When it happened'),
        sa.ForeignKeyConstraint(['claim_id'], ['plan.claims.id'],
                                name=op.f('fk_claim_activity_claim_id_claims')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_claim_activity')),
        sa.UniqueConstraint('event_id', name=op.f('uq_claim_activity_event_id')),
        schema='plan',
        comment='Append-only audit of review work that is not a transition: takes, renewals, '
        'releases, expiries, reassignments, first approvals',
    )
    op.create_index('ix_claim_activity_claim_order', 'claim_activity', ['claim_id', 'id'],
                    unique=False, schema='plan')
    op.execute(
        """
        CREATE FUNCTION plan.refuse_activity_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'claim_activity is append-only' USING ERRCODE = 'check_violation',
                CONSTRAINT = 'claim_activity_append_only';
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER claim_activity_append_only BEFORE UPDATE OR DELETE ON plan.claim_activity "
        "FOR EACH ROW EXECUTE FUNCTION plan.refuse_activity_change()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS claim_activity_append_only ON plan.claim_activity")
    op.execute("DROP FUNCTION IF EXISTS plan.refuse_activity_change()")
    op.drop_index('ix_claim_activity_claim_order', table_name='claim_activity', schema='plan')
    op.drop_table('claim_activity', schema='plan')
    op.drop_table('pending_approvals', schema='plan')
    op.drop_index(op.f('ix_claim_assignments_expires_at'), table_name='claim_assignments',
                  schema='plan')
    op.drop_index(op.f('ix_claim_assignments_reviewer'), table_name='claim_assignments',
                  schema='plan')
    op.drop_table('claim_assignments', schema='plan')
