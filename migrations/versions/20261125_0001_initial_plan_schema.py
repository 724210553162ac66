"""initial plan schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 01:34:59.223711+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('dead_letters',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('task_name', sa.String(length=128), nullable=False, comment='Celery task name'),
    sa.Column('queue', sa.String(length=64), nullable=False, comment='Queue to replay it on'),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False, comment="The task's arguments as received"),
    sa.Column('reason', sa.String(length=16), nullable=False, comment='invalid or exhausted'),
    sa.Column('errors', postgresql.JSONB(astext_type=sa.Text()), nullable=False, comment='What went wrong, without personal data'),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False, comment='When the row was written'),
    sa.Column('replayed_at', sa.DateTime(timezone=True), nullable=True, comment='When an operator replayed it'),
    sa.CheckConstraint("reason IN ('invalid', 'exhausted')", name=op.f('ck_dead_letters_reason_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dead_letters')),
    schema='plan',
    comment='Messages that could not be processed: invalid input or retries exhausted'
    )
    op.create_index('ix_dead_letters_open', 'dead_letters', ['id'], unique=False, schema='plan', postgresql_where=sa.text('replayed_at IS NULL'))
    op.create_table('outbox',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False, comment='task (work) or event (domain event)'),
    sa.Column('name', sa.String(length=64), nullable=False, comment='Task name or event type'),
    sa.Column('destination', sa.String(length=64), nullable=False, comment='Queue of a task, routing key of an event'),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False, comment='Message body'),
    sa.Column('claim_id', sa.BigInteger(), nullable=True, comment='Claim it concerns'),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False, comment='When the row was written'),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True, comment='When the relay handed it to the broker; NULL while waiting'),
    sa.CheckConstraint("kind IN ('task', 'event')", name=op.f('ck_outbox_kind_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    schema='plan',
    comment='Messages written with the change that caused them, published after commit'
    )
    op.create_index('ix_outbox_published_at', 'outbox', ['published_at'], unique=False, schema='plan')
    op.create_index('ix_outbox_unpublished', 'outbox', ['id'], unique=False, schema='plan', postgresql_where=sa.text('published_at IS NULL'))
    op.create_table('plans',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False, comment='Business key, e.g. SEED-HEALTH-001'),
    sa.Column('name', sa.String(length=200), nullable=False, comment='Name shown to members'),
    sa.Column('description', sa.Text(), nullable=True, comment='Longer description'),
    sa.Column('type', sa.Enum('HEALTH', 'DENTAL', 'VISION', 'PHARMACY', 'MENTAL', 'OTHER', name='plan_type', native_enum=False, create_constraint=True, length=32, schema='plan'), nullable=False, comment='Line'),
    sa.Column('tier', sa.Enum('BASIC', 'STANDARD', 'PREMIUM', 'FAMILY', 'SENIOR', name='plan_tier', native_enum=False, create_constraint=True, length=32, schema='plan'), nullable=False, comment='Tier'),
    sa.Column('monthly_premium', sa.Numeric(precision=12, scale=2), nullable=False, comment='Premium per month'),
    sa.Column('currency', sa.String(length=3), server_default='BRL', nullable=False, comment='ISO 4217 currency of every amount'),
    sa.Column('annual_deductible', sa.Numeric(precision=12, scale=2), nullable=False, comment='What a member pays each year before the plan shares costs'),
    sa.Column('out_of_pocket_max', sa.Numeric(precision=12, scale=2), nullable=True, comment='Most a member pays in cost sharing per year; NULL for no maximum'),
    sa.Column('coinsurance_percent', sa.Numeric(precision=5, scale=2), nullable=False, comment="Member's default share after the deductible, 0-100"),
    sa.Column('effective_from', sa.Date(), nullable=False, comment='First day the plan is sold'),
    sa.Column('effective_to', sa.Date(), nullable=True, comment='Last day; NULL if open'),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False, comment='Offered and usable'),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False, comment='When the row was written'),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False, comment='When the row last changed'),
    sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f('ck_plans_currency_iso')),
    sa.CheckConstraint('annual_deductible >= 0', name=op.f('ck_plans_deductible_not_negative')),
    sa.CheckConstraint('coinsurance_percent BETWEEN 0 AND 100', name=op.f('ck_plans_coinsurance_percent_range')),
    sa.CheckConstraint('effective_to IS NULL OR effective_to >= effective_from', name=op.f('ck_plans_effective_dates_order')),
    sa.CheckConstraint('monthly_premium >= 0', name=op.f('ck_plans_premium_not_negative')),
    sa.CheckConstraint('out_of_pocket_max IS NULL OR out_of_pocket_max >= 0', name=op.f('ck_plans_oop_max_not_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plans')),
    sa.UniqueConstraint('code', name=op.f('uq_plans_code')),
    schema='plan',
    comment='The plan catalogue: what a member can be enrolled in'
    )
    op.create_table('benefits',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('plan_id', sa.BigInteger(), nullable=False, comment='The plan'),
    sa.Column('category', sa.Enum('WELLNESS', 'HOSPITAL', 'EMERGENCY', 'SPECIALIST', 'PRIMARY_CARE', 'DIAGNOSTIC', 'MATERNITY', 'MENTAL_HEALTH', 'DENTAL', 'VISION', 'PHARMACY', 'GYM', 'NUTRITION', 'TELEHEALTH', 'TRANSPORTATION', 'OTHER', name='benefit_category', native_enum=False, create_constraint=True, length=32, schema='plan'), nullable=False, comment='Benefit category'),
    sa.Column('code', sa.String(length=32), nullable=False, comment='Business key within the plan'),
    sa.Column('name', sa.String(length=200), nullable=False, comment='Name shown to members'),
    sa.Column('description', sa.Text(), nullable=True, comment='What the benefit is'),
    sa.Column('limitations', sa.Text(), nullable=True, comment='Conditions and exclusions'),
    sa.Column('coverage_percent', sa.Numeric(precision=5, scale=2), nullable=True, comment='Share paid'),
    sa.Column('discount_percent', sa.Numeric(precision=5, scale=2), nullable=True, comment='Discount given'),
    sa.Column('annual_limit', sa.Numeric(precision=12, scale=2), nullable=True, comment='Most per year'),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False, comment='Offered'),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False, comment='When the row was written'),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False, comment='When the row last changed'),
    sa.CheckConstraint('annual_limit IS NULL OR annual_limit > 0', name=op.f('ck_benefits_annual_limit_positive')),
    sa.CheckConstraint('coverage_percent IS NULL OR coverage_percent BETWEEN 0 AND 100', name=op.f('ck_benefits_coverage_percent_range')),
    sa.CheckConstraint('discount_percent IS NULL OR discount_percent BETWEEN 0 AND 100', name=op.f('ck_benefits_discount_percent_range')),
    sa.ForeignKeyConstraint(['plan_id'], ['plan.plans.id'], name=op.f('fk_benefits_plan_id_plans'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_benefits')),
    sa.UniqueConstraint('plan_id', 'code', name=op.f('uq_benefits_plan_id_code')),
    schema='plan',
    comment='Extra benefits of a plan: discounts, wellness programmes, services'
    )
    op.create_table('coverages',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('plan_id', sa.BigInteger(), nullable=False, comment='The plan'),
    sa.Column('procedure_type', sa.Enum('CONSULTATION', 'DIAGNOSTIC', 'LABORATORY', 'IMAGING', 'THERAPY', 'SURGERY', 'MEDICATION', 'PREVENTIVE', 'EMERGENCY', 'OTHER', name='coverage_procedure_type', native_enum=False, create_constraint=True, length=32, schema='plan'), nullable=False, comment='Procedure type covered'),
    sa.Column('procedure_code', sa.String(length=16), nullable=True, comment='One procedure code; NULL covers the whole type'),
    sa.Column('coverage_percent', sa.Numeric(precision=5, scale=2), nullable=False, comment="Plan's share, 0-100"),
    sa.Column('copay', sa.Numeric(precision=12, scale=2), server_default='0', nullable=False, comment='Fixed member payment per claim'),
    sa.Column('deductible_applies', sa.Boolean(), server_default=sa.text('true'), nullable=False, comment='Whether the annual deductible is taken first'),
    sa.Column('annual_limit', sa.Numeric(precision=12, scale=2), nullable=True, comment='Most eligible amount per member per year; NULL for none'),
    sa.Column('waiting_period_days', sa.Integer(), server_default='0', nullable=False, comment='Days after enrolment before it applies'),
    sa.Column('preauthorization_required', sa.Boolean(), server_default=sa.text('false'), nullable=False, comment='Needs an AUTHORIZATION_FORM document'),
    sa.Column('effective_from', sa.Date(), nullable=False, comment='First day the row applies'),
    sa.Column('effective_to', sa.Date(), nullable=True, comment='Last day; NULL if open'),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False, comment='In force'),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False, comment='When the row was written'),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False, comment='When the row last changed'),
    sa.CheckConstraint('annual_limit IS NULL OR annual_limit > 0', name=op.f('ck_coverages_annual_limit_positive')),
    sa.CheckConstraint('copay >= 0', name=op.f('ck_coverages_copay_not_negative')),
    sa.CheckConstraint('coverage_percent BETWEEN 0 AND 100', name=op.f('ck_coverages_coverage_percent_range')),
    sa.CheckConstraint('effective_to IS NULL OR effective_to >= effective_from', name=op.f('ck_coverages_effective_dates_order')),
    sa.CheckConstraint('waiting_period_days >= 0', name=op.f('ck_coverages_waiting_period_not_negative')),
    sa.ForeignKeyConstraint(['plan_id'], ['plan.plans.id'], name=op.f('fk_coverages_plan_id_plans'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coverages')),
    sa.UniqueConstraint('plan_id', 'procedure_type', 'procedure_code', name=op.f('uq_coverages_plan_id_procedure_type_procedure_code'), postgresql_nulls_not_distinct=True),
    schema='plan',
    comment='What a plan pays per procedure type (or one procedure code)'
    )
    op.create_table('member_plans',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('user_id', sa.String(length=128), nullable=False, comment='User id from the users service'),
    sa.Column('plan_id', sa.BigInteger(), nullable=False, comment='The plan'),
    sa.Column('member_number', sa.String(length=32), nullable=False, comment="Number printed on the member's card"),
    sa.Column('start_date', sa.Date(), nullable=False, comment='First covered day'),
    sa.Column('end_date', sa.Date(), nullable=True, comment='Last covered day; NULL open'),
    sa.Column('status', sa.Enum('ACTIVE', 'SUSPENDED', 'TERMINATED', name='member_plan_status', native_enum=False, create_constraint=True, length=32, schema='plan'), nullable=False, comment='Enrolment status'),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False, comment='When the row was written'),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False, comment='When the row last changed'),
    sa.CheckConstraint('end_date IS NULL OR end_date >= start_date', name=op.f('ck_member_plans_enrolment_dates_order')),
    sa.ForeignKeyConstraint(['plan_id'], ['plan.plans.id'], name=op.f('fk_member_plans_plan_id_plans'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member_plans')),
    sa.UniqueConstraint('member_number', name=op.f('uq_member_plans_member_number')),
    sa.UniqueConstraint('user_id', 'plan_id', 'start_date', name=op.f('uq_member_plans_user_id_plan_id_start_date')),
    schema='plan',
    comment='Enrolments: which user (of the users service) is in which plan, and when'
    )
    op.create_index(op.f('ix_member_plans_plan_id'), 'member_plans', ['plan_id'], unique=False, schema='plan')
    op.create_index(op.f('ix_member_plans_user_id_status'), 'member_plans', ['user_id', 'status'], unique=False, schema='plan')
    op.create_table('claims',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('member_plan_id', sa.BigInteger(), nullable=False, comment='Enrolment the claim is made under'),
    sa.Column('plan_id', sa.BigInteger(), nullable=False, comment="The enrolment's plan, kept here for filtering"),
    sa.Column('user_id', sa.String(length=128), nullable=False, comment='Member who submitted it'),
    sa.Column('procedure_type', sa.Enum('CONSULTATION', 'DIAGNOSTIC', 'LABORATORY', 'IMAGING', 'THERAPY', 'SURGERY', 'MEDICATION', 'PREVENTIVE', 'EMERGENCY', 'OTHER', name='claim_procedure_type', native_enum=False, create_constraint=True, length=32, schema='plan'), nullable=False, comment='Kind of procedure'),
    sa.Column('procedure_code', sa.String(length=16), nullable=False, comment='Procedure code'),
    sa.Column('diagnosis_code', sa.String(length=8), nullable=True, comment='ICD-10 code'),
    sa.Column('provider_name', sa.String(length=200), nullable=False, comment='Who provided the service'),
    sa.Column('service_date', sa.Date(), nullable=False, comment='When the service was provided'),
    sa.Column('claimed_amount', sa.Numeric(precision=12, scale=2), nullable=False, comment='Amount billed (submitted)'),
    sa.Column('currency', sa.String(length=3), server_default='BRL', nullable=False, comment='ISO 4217 currency'),
    sa.Column('approved_amount', sa.Numeric(precision=12, scale=2), nullable=True, comment='Benefit the plan pays; below claimed_amount for a partial approval'),
    sa.Column('member_responsibility', sa.Numeric(precision=12, scale=2), nullable=True, comment='claimed_amount - approved_amount once decided'),
    sa.Column('status', sa.Enum('DRAFT', 'SUBMITTED', 'UNDER_REVIEW', 'ADDITIONAL_INFO_REQUIRED', 'APPROVED', 'REJECTED', 'CANCELLED', 'EXPIRED', name='claim_status', native_enum=False, create_constraint=True, length=32, schema='plan'), server_default='DRAFT', nullable=False, comment='Lifecycle state (DOMAIN.md section 1)'),
    sa.Column('decision_reason_code', sa.String(length=64), nullable=True, comment='Main reason of the latest decision'),
    sa.Column('adjudication', postgresql.JSONB(astext_type=sa.Text()), nullable=True, comment='Latest decision or suggestion: reasons and amount breakdown'),
    sa.Column('notes', sa.Text(), nullable=True, comment="Member's notes"),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True, comment='When it was submitted'),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True, comment='When it reached a terminal state'),
    sa.Column('info_due_at', sa.DateTime(timezone=True), nullable=True, comment='Deadline for additional information; expires after it'),
    sa.Column('next_step', sa.String(length=16), nullable=True, comment='Automatic step the workers owe this claim; NULL when none'),
    sa.Column('next_step_due_at', sa.DateTime(timezone=True), nullable=True, comment='When the sweeper re-publishes next_step if it has not happened'),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False, comment='Bumped by every transition'),
    sa.Column('idempotency_key', sa.String(length=128), nullable=True, comment="Submitter's Idempotency-Key; unique per user"),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False, comment='When the row was written'),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False, comment='When the row last changed'),
    sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f('ck_claims_currency_iso')),
    sa.CheckConstraint("next_step IS NULL OR next_step IN ('start_review', 'adjudicate')", name=op.f('ck_claims_next_step_known')),
    sa.CheckConstraint('approved_amount IS NULL OR approved_amount BETWEEN 0 AND claimed_amount', name=op.f('ck_claims_approved_amount_range')),
    sa.CheckConstraint('claimed_amount <= 1000000', name=op.f('ck_claims_claimed_amount_max')),
    sa.CheckConstraint('claimed_amount > 0', name=op.f('ck_claims_claimed_amount_positive')),
    sa.CheckConstraint('member_responsibility IS NULL OR member_responsibility BETWEEN 0 AND claimed_amount', name=op.f('ck_claims_member_responsibility_range')),
    sa.CheckConstraint('version >= 1', name=op.f('ck_claims_version_positive')),
    sa.ForeignKeyConstraint(['member_plan_id'], ['plan.member_plans.id'], name=op.f('fk_claims_member_plan_id_member_plans'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['plan_id'], ['plan.plans.id'], name=op.f('fk_claims_plan_id_plans'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_claims')),
    schema='plan',
    comment='Insurance claims and where each stands in its lifecycle'
    )
    op.create_index('ix_claims_info_due', 'claims', ['info_due_at'], unique=False, schema='plan', postgresql_where=sa.text("status = 'ADDITIONAL_INFO_REQUIRED'"))
    op.create_index(op.f('ix_claims_member_plan_id'), 'claims', ['member_plan_id'], unique=False, schema='plan')
    op.create_index('ix_claims_next_step_due', 'claims', ['next_step_due_at'], unique=False, schema='plan', postgresql_where=sa.text('next_step IS NOT NULL'))
    op.create_index(op.f('ix_claims_plan_id'), 'claims', ['plan_id'], unique=False, schema='plan')
    op.create_index('ix_claims_review_queue', 'claims', ['submitted_at'], unique=False, schema='plan', postgresql_where=sa.text("status = 'UNDER_REVIEW' AND next_step IS NULL"))
    op.create_index('ix_claims_status_created', 'claims', ['status', sa.literal_column('created_at DESC')], unique=False, schema='plan')
    op.create_index('ix_claims_user_created', 'claims', ['user_id', sa.literal_column('created_at DESC')], unique=False, schema='plan')
    op.create_index('uq_claims_live_duplicate', 'claims', ['user_id', 'service_date', 'procedure_code', sa.literal_column('lower(provider_name)')], unique=True, schema='plan', postgresql_where=sa.text("status NOT IN ('REJECTED', 'CANCELLED', 'EXPIRED')"))
    op.create_index('uq_claims_user_idempotency_key', 'claims', ['user_id', 'idempotency_key'], unique=True, schema='plan', postgresql_where=sa.text('idempotency_key IS NOT NULL'))
    op.create_table('coverage_usage',
    sa.Column('member_plan_id', sa.BigInteger(), nullable=False),
    sa.Column('coverage_id', sa.BigInteger(), nullable=False),
    sa.Column('year', sa.SmallInteger(), nullable=False, comment='Calendar year'),
    sa.Column('limit_used', sa.Numeric(precision=12, scale=2), server_default='0', nullable=False, comment='Used so far'),
    sa.CheckConstraint('limit_used >= 0', name=op.f('ck_coverage_usage_limit_used_not_negative')),
    sa.ForeignKeyConstraint(['coverage_id'], ['plan.coverages.id'], name=op.f('fk_coverage_usage_coverage_id_coverages'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['member_plan_id'], ['plan.member_plans.id'], name=op.f('fk_coverage_usage_member_plan_id_member_plans'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('member_plan_id', 'coverage_id', 'year', name=op.f('pk_coverage_usage')),
    schema='plan',
    comment="Eligible amounts counted against a coverage's annual limit, per enrolment"
    )
    op.create_table('member_year_totals',
    sa.Column('member_plan_id', sa.BigInteger(), nullable=False),
    sa.Column('year', sa.SmallInteger(), nullable=False, comment='Calendar year'),
    sa.Column('deductible_paid', sa.Numeric(precision=12, scale=2), server_default='0', nullable=False, comment='Deductible met so far'),
    sa.Column('out_of_pocket_paid', sa.Numeric(precision=12, scale=2), server_default='0', nullable=False, comment='Member cost sharing so far'),
    sa.CheckConstraint('deductible_paid >= 0', name=op.f('ck_member_year_totals_deductible_not_negative')),
    sa.CheckConstraint('out_of_pocket_paid >= 0', name=op.f('ck_member_year_totals_oop_not_negative')),
    sa.ForeignKeyConstraint(['member_plan_id'], ['plan.member_plans.id'], name=op.f('fk_member_year_totals_member_plan_id_member_plans'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('member_plan_id', 'year', name=op.f('pk_member_year_totals')),
    schema='plan',
    comment='Year-to-date cost sharing of an enrolment; locked while a claim is decided'
    )
    op.create_table('claim_status_history',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('claim_id', sa.BigInteger(), nullable=False, comment='The claim'),
    sa.Column('event_id', sa.UUID(), nullable=False, comment='Idempotency key of the message that caused it: a second delivery is a no-op'),
    sa.Column('event', sa.Enum('submit', 'start_review', 'approve', 'reject', 'request_info', 'provide_info', 'cancel', 'expire', name='history_event', native_enum=False, create_constraint=True, length=32, schema='plan'), nullable=False, comment='Event fired on the state machine'),
    sa.Column('from_status', sa.Enum('DRAFT', 'SUBMITTED', 'UNDER_REVIEW', 'ADDITIONAL_INFO_REQUIRED', 'APPROVED', 'REJECTED', 'CANCELLED', 'EXPIRED', name='history_from_status', native_enum=False, create_constraint=True, length=32, schema='plan'), nullable=False, comment='State before'),
    sa.Column('to_status', sa.Enum('DRAFT', 'SUBMITTED', 'UNDER_REVIEW', 'ADDITIONAL_INFO_REQUIRED', 'APPROVED', 'REJECTED', 'CANCELLED', 'EXPIRED', name='history_to_status', native_enum=False, create_constraint=True, length=32, schema='plan'), nullable=False, comment='State after'),
    sa.Column('actor_id', sa.String(length=128), nullable=False, comment='Who caused it'),
    sa.Column('actor_role', sa.Enum('member', 'reviewer', 'admin', 'system', name='actor_role', native_enum=False, create_constraint=True, length=32, schema='plan'), nullable=False, comment='In which role'),
    sa.Column('reason_code', sa.String(length=64), nullable=True, comment='Why'),
    sa.Column('note', sa.Text(), nullable=True, comment='Free text from the actor'),
    sa.Column('details', postgresql.JSONB(astext_type=sa.Text()), nullable=True, comment='Decision reasons and amount breakdown, when the event decided'),
    sa.Column('occurred_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False, comment='When it happened'),
    sa.ForeignKeyConstraint(['claim_id'], ['plan.claims.id'], name=op.f('fk_claim_status_history_claim_id_claims'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_claim_status_history')),
    sa.UniqueConstraint('event_id', name=op.f('uq_claim_status_history_event_id')),
    schema='plan',
    comment="Append-only audit: one row per transition, in the transition's transaction"
    )
    op.create_index('ix_claim_status_history_claim_order', 'claim_status_history', ['claim_id', 'id'], unique=False, schema='plan')
    op.create_table('documents',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('claim_id', sa.BigInteger(), nullable=False, comment='The claim'),
    sa.Column('type', sa.Enum('RECEIPT', 'REFERRAL', 'PRESCRIPTION', 'MEDICAL_REPORT', 'INSURANCE_CARD', 'IDENTITY_DOCUMENT', 'AUTHORIZATION_FORM', 'INVOICE', 'OTHER', name='document_type', native_enum=False, create_constraint=True, length=32, schema='plan'), nullable=False, comment='What the document is'),
    sa.Column('file_name', sa.String(length=255), nullable=False, comment='Original file name'),
    sa.Column('mime_type', sa.String(length=64), nullable=False, comment='Content type'),
    sa.Column('size_bytes', sa.Integer(), nullable=False, comment='Size, at most 10 MB'),
    sa.Column('sha256', sa.String(length=64), nullable=True, comment='Content hash, hex'),
    sa.Column('storage_key', sa.String(length=512), nullable=True, comment='Object store key'),
    sa.Column('verification_status', sa.Enum('PENDING', 'VERIFIED', 'REJECTED', name='verification_status', native_enum=False, create_constraint=True, length=32, schema='plan'), server_default='PENDING', nullable=False, comment='Whether a person checked it'),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False, comment='When it was attached'),
    sa.CheckConstraint("mime_type IN ('application/pdf', 'image/jpeg', 'image/png')", name=op.f('ck_documents_mime_type_allowed')),
    sa.CheckConstraint("sha256 IS NULL OR sha256 ~ '^[0-9a-f]{64}$'", name=op.f('ck_documents_sha256_hex')),
    sa.CheckConstraint('size_bytes > 0 AND size_bytes <= 10485760', name=op.f('ck_documents_size_range')),
    sa.ForeignKeyConstraint(['claim_id'], ['plan.claims.id'], name=op.f('fk_documents_claim_id_claims'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_documents')),
    schema='plan',
    comment='Metadata of the files a claim was filed with (the files live elsewhere)'
    )
    op.create_index(op.f('ix_documents_claim_id'), 'documents', ['claim_id'], unique=False, schema='plan')

    # The relay LISTENs on this channel, so a committed outbox row goes out at once
    # instead of at the next poll.
    op.execute(
        """
        CREATE FUNCTION plan.notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('plan_outbox', '');
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER outbox_notify AFTER INSERT ON plan.outbox "
        "FOR EACH STATEMENT EXECUTE FUNCTION plan.notify_outbox()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS outbox_notify ON plan.outbox")
    op.execute("DROP FUNCTION IF EXISTS plan.notify_outbox()")
    op.drop_index(op.f('ix_documents_claim_id'), table_name='documents', schema='plan')
    op.drop_table('documents', schema='plan')
    op.drop_index('ix_claim_status_history_claim_order', table_name='claim_status_history', schema='plan')
    op.drop_table('claim_status_history', schema='plan')
    op.drop_table('member_year_totals', schema='plan')
    op.drop_table('coverage_usage', schema='plan')
    op.drop_index('uq_claims_user_idempotency_key', table_name='claims', schema='plan', postgresql_where=sa.text('idempotency_key IS NOT NULL'))
    op.drop_index('uq_claims_live_duplicate', table_name='claims', schema='plan', postgresql_where=sa.text("status NOT IN ('REJECTED', 'CANCELLED', 'EXPIRED')"))
    op.drop_index('ix_claims_user_created', table_name='claims', schema='plan')
    op.drop_index('ix_claims_status_created', table_name='claims', schema='plan')
    op.drop_index('ix_claims_review_queue', table_name='claims', schema='plan', postgresql_where=sa.text("status = 'UNDER_REVIEW' AND next_step IS NULL"))
    op.drop_index(op.f('ix_claims_plan_id'), table_name='claims', schema='plan')
    op.drop_index('ix_claims_next_step_due', table_name='claims', schema='plan', postgresql_where=sa.text('next_step IS NOT NULL'))
    op.drop_index(op.f('ix_claims_member_plan_id'), table_name='claims', schema='plan')
    op.drop_index('ix_claims_info_due', table_name='claims', schema='plan', postgresql_where=sa.text("status = 'ADDITIONAL_INFO_REQUIRED'"))
    op.drop_table('claims', schema='plan')
    op.drop_index(op.f('ix_member_plans_user_id_status'), table_name='member_plans', schema='plan')
    op.drop_index(op.f('ix_member_plans_plan_id'), table_name='member_plans', schema='plan')
    op.drop_table('member_plans', schema='plan')
    op.drop_table('coverages', schema='plan')
    op.drop_table('benefits', schema='plan')
    op.drop_table('plans', schema='plan')
    op.drop_index('ix_outbox_unpublished', table_name='outbox', schema='plan', postgresql_where=sa.text('published_at IS NULL'))
    op.drop_index('ix_outbox_published_at', table_name='outbox', schema='plan')
    op.drop_table('outbox', schema='plan')
    op.drop_index('ix_dead_letters_open', table_name='dead_letters', schema='plan', postgresql_where=sa.text('replayed_at IS NULL'))
    op.drop_table('dead_letters', schema='plan')
