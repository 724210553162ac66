"""claim enrolment key: a claim's (member_plan_id, plan_id) refers to its enrolment

Claims had two foreign keys, one to member_plans (the enrolment) and one to plans (the plan,
kept on the claim for filtering), and nothing said the plan was the enrolment's. One composite
key, claims (member_plan_id, plan_id) -> member_plans (id, plan_id), says it, and PostgreSQL
checks one key per claim row instead of two. The plan stays referenced through member_plans'
own key to plans. Rows stored before are validated: a claim whose plan is not its enrolment's
stops the upgrade with PostgreSQL's error naming the key.

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-02 22:10:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0008'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_unique_constraint(
        op.f('uq_member_plans_id_plan_id'), 'member_plans', ['id', 'plan_id'], schema='plan'
    )
    op.drop_constraint(
        'fk_claims_member_plan_id_member_plans', 'claims', type_='foreignkey', schema='plan'
    )
    op.drop_constraint('fk_claims_plan_id_plans', 'claims', type_='foreignkey', schema='plan')
    op.create_foreign_key(
        op.f('fk_claims_member_plan_id_member_plans'),
        'claims',
        'member_plans',
        ['member_plan_id', 'plan_id'],
        ['id', 'plan_id'],
        source_schema='plan',
        referent_schema='plan',
    )


def downgrade() -> None:
    op.drop_constraint(
        'fk_claims_member_plan_id_member_plans', 'claims', type_='foreignkey', schema='plan'
    )
    op.create_foreign_key(
        op.f('fk_claims_plan_id_plans'),
        'claims',
        'plans',
        ['plan_id'],
        ['id'],
        source_schema='plan',
        referent_schema='plan',
        ondelete='RESTRICT',
    )
    op.create_foreign_key(
        op.f('fk_claims_member_plan_id_member_plans'),
        'claims',
        'member_plans',
        ['member_plan_id'],
        ['id'],
        source_schema='plan',
        referent_schema='plan',
        ondelete='RESTRICT',
    )
    op.drop_constraint('uq_member_plans_id_plan_id', 'member_plans', type_='unique', schema='plan')
