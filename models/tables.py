"""The Plan Service's tables (DOMAIN.md section 2), the outbox and the operator's dead letters."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import (
    MONEY,
    PERCENT,
    Base,
    created_at_column,
    enum_type,
    updated_at_column,
)
from models.enums import (
    ActionStatus,
    ActorRole,
    BenefitCategory,
    ClaimEvent,
    ClaimStatus,
    DocumentType,
    MemberPlanStatus,
    PlanTier,
    PlanType,
    ProcedureType,
    VerificationStatus,
)

MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
LIVE_CLAIM = sa.text("status NOT IN ('REJECTED', 'CANCELLED', 'EXPIRED')")


class Plan(Base):
    __tablename__ = "plans"
    __table_args__ = (
        sa.CheckConstraint("monthly_premium >= 0", name="premium_not_negative"),
        sa.CheckConstraint("annual_deductible >= 0", name="deductible_not_negative"),
        sa.CheckConstraint(
            "out_of_pocket_max IS NULL OR out_of_pocket_max >= 0", name="oop_max_not_negative"
        ),
        sa.CheckConstraint(
            "coinsurance_percent BETWEEN 0 AND 100", name="coinsurance_percent_range"
        ),
        sa.CheckConstraint(
            "effective_to IS NULL OR effective_to >= effective_from", name="effective_dates_order"
        ),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_iso"),
        {"comment": "The plan catalogue: what a member can be enrolled in"},
    )

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    code: Mapped[str] = mapped_column(
        sa.String(32), unique=True, comment="Business key, e.g. SEED-HEALTH-001"
    )
    name: Mapped[str] = mapped_column(sa.String(200), comment="Name shown to members")
    description: Mapped[str | None] = mapped_column(sa.Text, comment="Longer description")
    type: Mapped[PlanType] = mapped_column(enum_type(PlanType, "plan_type"), comment="Line")
    tier: Mapped[PlanTier] = mapped_column(enum_type(PlanTier, "plan_tier"), comment="Tier")
    monthly_premium: Mapped[Decimal] = mapped_column(MONEY, comment="Premium per month")
    currency: Mapped[str] = mapped_column(
        sa.String(3), server_default="BRL", comment="ISO 4217 currency of every amount"
    )
    annual_deductible: Mapped[Decimal] = mapped_column(
        MONEY, comment="What a member pays each year before the plan shares costs"
    )
    out_of_pocket_max: Mapped[Decimal | None] = mapped_column(
        MONEY, comment="Most a member pays in cost sharing per year; NULL for no maximum"
    )
    coinsurance_percent: Mapped[Decimal] = mapped_column(
        PERCENT, comment="Member's default share after the deductible, 0-100"
    )
    effective_from: Mapped[date] = mapped_column(sa.Date, comment="First day the plan is sold")
    effective_to: Mapped[date | None] = mapped_column(sa.Date, comment="Last day; NULL if open")
    active: Mapped[bool] = mapped_column(
        sa.Boolean, server_default=sa.true(), comment="Offered and usable"
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()

    coverages: Mapped[list[Coverage]] = relationship(back_populates="plan", lazy="raise")
    benefits: Mapped[list[Benefit]] = relationship(back_populates="plan", lazy="raise")


class MemberPlan(Base):
    __tablename__ = "member_plans"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "plan_id", "start_date"),
        sa.UniqueConstraint("id", "plan_id"),  # what a claim's (enrolment, plan) refers to
        sa.CheckConstraint(
            "end_date IS NULL OR end_date >= start_date", name="enrolment_dates_order"
        ),
        sa.Index(None, "user_id", "status"),
        {"comment": "Enrolments: which user (of the users service) is in which plan, and when"},
    )

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    user_id: Mapped[str] = mapped_column(sa.String(128), comment="User id from the users service")
    plan_id: Mapped[int] = mapped_column(
        sa.ForeignKey("plans.id", ondelete="RESTRICT"), index=True, comment="The plan"
    )
    member_number: Mapped[str] = mapped_column(
        sa.String(32), unique=True, comment="Number printed on the member's card"
    )
    start_date: Mapped[date] = mapped_column(sa.Date, comment="First covered day")
    end_date: Mapped[date | None] = mapped_column(sa.Date, comment="Last covered day; NULL open")
    status: Mapped[MemberPlanStatus] = mapped_column(
        enum_type(MemberPlanStatus, "member_plan_status"), comment="Enrolment status"
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()

    plan: Mapped[Plan] = relationship(lazy="raise")


class Coverage(Base):
    __tablename__ = "coverages"
    __table_args__ = (
        sa.UniqueConstraint(
            "plan_id", "procedure_type", "procedure_code", postgresql_nulls_not_distinct=True
        ),
        sa.CheckConstraint("coverage_percent BETWEEN 0 AND 100", name="coverage_percent_range"),
        sa.CheckConstraint("copay >= 0", name="copay_not_negative"),
        sa.CheckConstraint(
            "annual_limit IS NULL OR annual_limit > 0", name="annual_limit_positive"
        ),
        sa.CheckConstraint("waiting_period_days >= 0", name="waiting_period_not_negative"),
        sa.CheckConstraint(
            "effective_to IS NULL OR effective_to >= effective_from", name="effective_dates_order"
        ),
        {"comment": "What a plan pays per procedure type (or one procedure code)"},
    )

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    plan_id: Mapped[int] = mapped_column(
        sa.ForeignKey("plans.id", ondelete="CASCADE"), comment="The plan"
    )
    procedure_type: Mapped[ProcedureType] = mapped_column(
        enum_type(ProcedureType, "coverage_procedure_type"), comment="Procedure type covered"
    )
    procedure_code: Mapped[str | None] = mapped_column(
        sa.String(16), comment="One procedure code; NULL covers the whole type"
    )
    coverage_percent: Mapped[Decimal] = mapped_column(PERCENT, comment="Plan's share, 0-100")
    copay: Mapped[Decimal] = mapped_column(
        MONEY, server_default="0", comment="Fixed member payment per claim"
    )
    deductible_applies: Mapped[bool] = mapped_column(
        sa.Boolean, server_default=sa.true(), comment="Whether the annual deductible is taken first"
    )
    annual_limit: Mapped[Decimal | None] = mapped_column(
        MONEY, comment="Most eligible amount per member per year; NULL for none"
    )
    waiting_period_days: Mapped[int] = mapped_column(
        sa.Integer, server_default="0", comment="Days after enrolment before it applies"
    )
    preauthorization_required: Mapped[bool] = mapped_column(
        sa.Boolean, server_default=sa.false(), comment="Needs an AUTHORIZATION_FORM document"
    )
    effective_from: Mapped[date] = mapped_column(sa.Date, comment="First day the row applies")
    effective_to: Mapped[date | None] = mapped_column(sa.Date, comment="Last day; NULL if open")
    active: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.true(), comment="In force")
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()

    plan: Mapped[Plan] = relationship(back_populates="coverages", lazy="raise")


class Benefit(Base):
    __tablename__ = "benefits"
    __table_args__ = (
        sa.UniqueConstraint("plan_id", "code"),
        sa.CheckConstraint(
            "coverage_percent IS NULL OR coverage_percent BETWEEN 0 AND 100",
            name="coverage_percent_range",
        ),
        sa.CheckConstraint(
            "discount_percent IS NULL OR discount_percent BETWEEN 0 AND 100",
            name="discount_percent_range",
        ),
        sa.CheckConstraint(
            "annual_limit IS NULL OR annual_limit > 0", name="annual_limit_positive"
        ),
        {"comment": "Extra benefits of a plan: discounts, wellness programmes, services"},
    )

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    plan_id: Mapped[int] = mapped_column(
        sa.ForeignKey("plans.id", ondelete="CASCADE"), comment="The plan"
    )
    category: Mapped[BenefitCategory] = mapped_column(
        enum_type(BenefitCategory, "benefit_category"), comment="Benefit category"
    )
    code: Mapped[str] = mapped_column(sa.String(32), comment="Business key within the plan")
    name: Mapped[str] = mapped_column(sa.String(200), comment="Name shown to members")
    description: Mapped[str | None] = mapped_column(sa.Text, comment="What the benefit is")
    limitations: Mapped[str | None] = mapped_column(sa.Text, comment="Conditions and exclusions")
    coverage_percent: Mapped[Decimal | None] = mapped_column(PERCENT, comment="Share paid")
    discount_percent: Mapped[Decimal | None] = mapped_column(PERCENT, comment="Discount given")
    annual_limit: Mapped[Decimal | None] = mapped_column(MONEY, comment="Most per year")
    active: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.true(), comment="Offered")
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()

    plan: Mapped[Plan] = relationship(back_populates="benefits", lazy="raise")


class Claim(Base):
    __tablename__ = "claims"
    __table_args__ = (
        sa.ForeignKeyConstraint(  # the claim's plan is its enrolment's: one key, one check
            ["member_plan_id", "plan_id"], ["member_plans.id", "member_plans.plan_id"]
        ),
        sa.CheckConstraint("claimed_amount > 0", name="claimed_amount_positive"),
        sa.CheckConstraint("claimed_amount <= 1000000", name="claimed_amount_max"),
        sa.CheckConstraint(
            "approved_amount IS NULL OR approved_amount BETWEEN 0 AND claimed_amount",
            name="approved_amount_range",
        ),
        sa.CheckConstraint(
            "member_responsibility IS NULL OR member_responsibility BETWEEN 0 AND claimed_amount",
            name="member_responsibility_range",
        ),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_iso"),
        sa.CheckConstraint("version >= 1", name="version_positive"),
        sa.CheckConstraint(
            "next_step IS NULL OR next_step IN ('start_review', 'adjudicate')",
            name="next_step_known",
        ),
        sa.Index(
            "uq_claims_user_idempotency_key",
            "user_id",
            "idempotency_key",
            unique=True,
            postgresql_where=sa.text("idempotency_key IS NOT NULL"),
        ),
        sa.Index(
            "uq_claims_live_duplicate",
            "user_id",
            "service_date",
            "procedure_code",
            sa.text("lower(provider_name)"),
            unique=True,
            postgresql_where=LIVE_CLAIM,
        ),
        sa.Index("ix_claims_user_created", "user_id", sa.text("created_at DESC")),
        sa.Index("ix_claims_status_created", "status", sa.text("created_at DESC")),
        sa.Index(
            "ix_claims_review_queue",
            "submitted_at",
            postgresql_where=sa.text("status = 'UNDER_REVIEW' AND next_step IS NULL"),
        ),
        sa.Index(
            "ix_claims_next_step_due",
            "next_step_due_at",
            postgresql_where=sa.text("next_step IS NOT NULL"),
        ),
        sa.Index(
            "ix_claims_info_due",
            "info_due_at",
            postgresql_where=sa.text("status = 'ADDITIONAL_INFO_REQUIRED'"),
        ),
        {"comment": "Insurance claims and where each stands in its lifecycle"},
    )

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    member_plan_id: Mapped[int] = mapped_column(
        sa.BigInteger, index=True, comment="Enrolment the claim is made under"
    )
    plan_id: Mapped[int] = mapped_column(
        sa.BigInteger, index=True, comment="The enrolment's plan, kept here for filtering"
    )
    user_id: Mapped[str] = mapped_column(sa.String(128), comment="Member who submitted it")
    procedure_type: Mapped[ProcedureType] = mapped_column(
        enum_type(ProcedureType, "claim_procedure_type"), comment="Kind of procedure"
    )
    procedure_code: Mapped[str] = mapped_column(sa.String(16), comment="Procedure code")
    diagnosis_code: Mapped[str | None] = mapped_column(sa.String(8), comment="ICD-10 code")
    provider_name: Mapped[str] = mapped_column(sa.String(200), comment="Who provided the service")
    service_date: Mapped[date] = mapped_column(sa.Date, comment="When the service was provided")
    claimed_amount: Mapped[Decimal] = mapped_column(MONEY, comment="Amount billed (submitted)")
    currency: Mapped[str] = mapped_column(
        sa.String(3), server_default="BRL", comment="ISO 4217 currency"
    )
    approved_amount: Mapped[Decimal | None] = mapped_column(
        MONEY, comment="Benefit the plan pays; below claimed_amount for a partial approval"
    )
    member_responsibility: Mapped[Decimal | None] = mapped_column(
        MONEY, comment="claimed_amount - approved_amount once decided"
    )
    status: Mapped[ClaimStatus] = mapped_column(
        enum_type(ClaimStatus, "claim_status"),
        server_default=ClaimStatus.DRAFT.value,
        comment="Lifecycle state (DOMAIN.md section 1)",
    )
    decision_reason_code: Mapped[str | None] = mapped_column(
        sa.String(64), comment="Main reason of the latest decision"
    )
    adjudication: Mapped[dict[str, Any] | None] = mapped_column(
        JSONB(none_as_null=True),
        comment="Latest decision or suggestion: reasons and amount breakdown",
    )
    notes: Mapped[str | None] = mapped_column(sa.Text, comment="Member's notes")
    submitted_at: Mapped[datetime | None] = mapped_column(comment="When it was submitted")
    decided_at: Mapped[datetime | None] = mapped_column(comment="When it reached a terminal state")
    info_due_at: Mapped[datetime | None] = mapped_column(
        comment="Deadline for additional information; expires after it"
    )
    next_step: Mapped[str | None] = mapped_column(
        sa.String(16), comment="Automatic step the workers owe this claim; NULL when none"
    )
    next_step_due_at: Mapped[datetime | None] = mapped_column(
        comment="When the sweeper re-publishes next_step if it has not happened"
    )
    version: Mapped[int] = mapped_column(
        sa.Integer, server_default="1", comment="Bumped by every transition"
    )
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(128), comment="Idempotency-Key")
    history_hash: Mapped[str | None] = mapped_column(
        sa.String(64), comment="Hash of the claim's last history row; NULL before the first"
    )
    request_fingerprint: Mapped[str | None] = mapped_column(sa.String(64), comment="Request hash")
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()

    documents: Mapped[list[Document]] = relationship(
        back_populates="claim", lazy="raise", order_by="Document.id"
    )


class Document(Base):
    __tablename__ = "documents"
    __table_args__ = (
        sa.CheckConstraint(
            f"size_bytes > 0 AND size_bytes <= {MAX_DOCUMENT_BYTES}", name="size_range"
        ),
        sa.CheckConstraint(
            "mime_type IN ('application/pdf', 'image/jpeg', 'image/png')", name="mime_type_allowed"
        ),
        sa.CheckConstraint("sha256 IS NULL OR sha256 ~ '^[0-9a-f]{64}$'", name="sha256_hex"),
        {"comment": "Metadata of the files a claim was filed with (the files live elsewhere)"},
    )

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    claim_id: Mapped[int] = mapped_column(
        sa.ForeignKey("claims.id", ondelete="CASCADE"), index=True, comment="The claim"
    )
    type: Mapped[DocumentType] = mapped_column(
        enum_type(DocumentType, "document_type"), comment="What the document is"
    )
    file_name: Mapped[str] = mapped_column(sa.String(255), comment="Original file name")
    mime_type: Mapped[str] = mapped_column(sa.String(64), comment="Content type")
    size_bytes: Mapped[int] = mapped_column(sa.Integer, comment="Size, at most 10 MB")
    sha256: Mapped[str | None] = mapped_column(sa.String(64), comment="Content hash, hex")
    storage_key: Mapped[str | None] = mapped_column(sa.String(512), comment="Object store key")
    verification_status: Mapped[VerificationStatus] = mapped_column(
        enum_type(VerificationStatus, "verification_status"),
        server_default=VerificationStatus.PENDING.value,
        comment="Whether a person checked it",
    )
    uploaded_at: Mapped[datetime] = mapped_column(
        server_default=sa.func.now(), comment="When it was attached"
    )

    claim: Mapped[Claim] = relationship(back_populates="documents", lazy="raise")


class ClaimStatusHistory(Base):
    __tablename__ = "claim_status_history"
    __table_args__ = (
        sa.Index("ix_claim_status_history_claim_order", "claim_id", "id"),
        sa.CheckConstraint("hash ~ '^[0-9a-f]{64}$'", name="hash_hex"),
        {"comment": "Append-only audit: one row per transition, in the transition's transaction"},
    )

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    claim_id: Mapped[int] = mapped_column(
        sa.ForeignKey("claims.id", ondelete="CASCADE"), comment="The claim"
    )
    event_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        unique=True,
        comment="Idempotency key of the message that caused it: a second delivery is a no-op",
    )
    event: Mapped[ClaimEvent] = mapped_column(
        enum_type(ClaimEvent, "history_event"), comment="Event fired on the state machine"
    )
    from_status: Mapped[ClaimStatus] = mapped_column(
        enum_type(ClaimStatus, "history_from_status"), comment="State before"
    )
    to_status: Mapped[ClaimStatus] = mapped_column(
        enum_type(ClaimStatus, "history_to_status"), comment="State after"
    )
    actor_id: Mapped[str] = mapped_column(sa.String(128), comment="Who caused it")
    actor_role: Mapped[ActorRole] = mapped_column(
        enum_type(ActorRole, "actor_role"), comment="In which role"
    )
    reason_code: Mapped[str | None] = mapped_column(sa.String(64), comment="Why")
    note: Mapped[str | None] = mapped_column(sa.Text, comment="Free text from the actor")
    details: Mapped[dict[str, Any] | None] = mapped_column(
        JSONB(none_as_null=True),
        comment="Decision reasons and amount breakdown, when the event decided",
    )
    occurred_at: Mapped[datetime] = mapped_column(
        server_default=sa.func.now(), comment="When it happened"
    )
    hash: Mapped[str] = mapped_column(
        sa.String(64),
        comment="SHA-256 (hex) over the previous row's hash of the claim and this row "
        "(models/history_chain.py)",
    )


class ClaimAction(Base):
    """A person's request to fire an event on a claim, applied later by a worker."""

    __tablename__ = "claim_actions"
    __table_args__ = (
        sa.CheckConstraint(
            "event IN ('submit', 'approve', 'reject', 'request_info', 'provide_info', 'cancel')",
            name="event_of_a_person",
        ),
        sa.CheckConstraint(
            "(status = 'queued') = (applied_at IS NULL)", name="applied_at_when_settled"
        ),
        sa.CheckConstraint(
            "(status = 'refused') = (error_code IS NOT NULL)", name="error_when_refused"
        ),
        sa.CheckConstraint(
            "approved_amount IS NULL OR approved_amount >= 0", name="approved_amount_not_negative"
        ),
        # One person's action at a time per claim: a second one breaks this index.
        sa.Index(
            "uq_claim_actions_queued",
            "claim_id",
            unique=True,
            postgresql_where=sa.text("status = 'queued'"),
        ),
        sa.Index(
            "uq_claim_actions_actor_idempotency_key",
            "actor_id",
            "idempotency_key",
            unique=True,
            postgresql_where=sa.text("idempotency_key IS NOT NULL"),
        ),
        sa.Index("ix_claim_actions_claim_requested", "claim_id", sa.text("requested_at DESC")),
        sa.Index(
            "ix_claim_actions_queued_due", "due_at", postgresql_where=sa.text("status = 'queued'")
        ),
        {"comment": "People's actions on claims: queued, then applied or refused by a worker"},
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        primary_key=True,
        comment="The action's id, and the event id of the transition it causes",
    )
    claim_id: Mapped[int] = mapped_column(
        sa.ForeignKey("claims.id", ondelete="CASCADE"), comment="The claim"
    )
    event: Mapped[ClaimEvent] = mapped_column(
        enum_type(ClaimEvent, "action_event"), comment="Event to fire on the state machine"
    )
    status: Mapped[ActionStatus] = mapped_column(
        enum_type(ActionStatus, "action_status"),
        server_default=ActionStatus.QUEUED.value,
        comment="queued, applied or refused",
    )
    actor_id: Mapped[str] = mapped_column(sa.String(128), comment="Who asked for it")
    actor_role: Mapped[ActorRole] = mapped_column(
        enum_type(ActorRole, "action_actor_role"), comment="In which role"
    )
    reason_code: Mapped[str | None] = mapped_column(sa.String(64), comment="Reviewer's reason")
    note: Mapped[str | None] = mapped_column(sa.Text, comment="Free text from the actor")
    approved_amount: Mapped[Decimal | None] = mapped_column(
        MONEY, comment="Amount a reviewer approves; NULL for the suggested benefit"
    )
    documents: Mapped[list[dict[str, Any]] | None] = mapped_column(
        JSONB(none_as_null=True), comment="Documents sent with provide_info"
    )
    idempotency_key: Mapped[str | None] = mapped_column(
        sa.String(128), comment="The actor's Idempotency-Key; unique per actor"
    )
    requested_at: Mapped[datetime] = mapped_column(
        server_default=sa.func.now(), comment="When it was asked for"
    )
    due_at: Mapped[datetime] = mapped_column(
        comment="When the sweeper re-publishes it if it is still queued"
    )
    applied_at: Mapped[datetime | None] = mapped_column(
        comment="When a worker applied or refused it; NULL while queued"
    )
    claim_status: Mapped[ClaimStatus | None] = mapped_column(
        enum_type(ClaimStatus, "action_claim_status"),
        comment="The claim's status when the worker's transaction ended",
    )
    error_code: Mapped[str | None] = mapped_column(sa.String(64), comment="Why it was refused")
    error_message: Mapped[str | None] = mapped_column(sa.Text, comment="The refusal, for people")


class MemberYearTotals(Base):
    __tablename__ = "member_year_totals"
    __table_args__ = (
        sa.CheckConstraint("deductible_paid >= 0", name="deductible_not_negative"),
        sa.CheckConstraint("out_of_pocket_paid >= 0", name="oop_not_negative"),
        {"comment": "Year-to-date cost sharing of an enrolment; locked while a claim is decided"},
    )

    member_plan_id: Mapped[int] = mapped_column(
        sa.ForeignKey("member_plans.id", ondelete="CASCADE"), primary_key=True
    )
    year: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True, comment="Calendar year")
    deductible_paid: Mapped[Decimal] = mapped_column(
        MONEY, server_default="0", comment="Deductible met so far"
    )
    out_of_pocket_paid: Mapped[Decimal] = mapped_column(
        MONEY, server_default="0", comment="Member cost sharing so far"
    )


class CoverageUsage(Base):
    __tablename__ = "coverage_usage"
    __table_args__ = (
        sa.CheckConstraint("limit_used >= 0", name="limit_used_not_negative"),
        {"comment": "Eligible amounts counted against a coverage's annual limit, per enrolment"},
    )

    member_plan_id: Mapped[int] = mapped_column(
        sa.ForeignKey("member_plans.id", ondelete="CASCADE"), primary_key=True
    )
    coverage_id: Mapped[int] = mapped_column(
        sa.ForeignKey("coverages.id", ondelete="CASCADE"), primary_key=True
    )
    year: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True, comment="Calendar year")
    limit_used: Mapped[Decimal] = mapped_column(MONEY, server_default="0", comment="Used so far")


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        sa.CheckConstraint("kind IN ('task', 'event')", name="kind_known"),
        sa.CheckConstraint("item_count >= 1", name="item_count_positive"),
        sa.Index("ix_outbox_unpublished", "id", postgresql_where=sa.text("published_at IS NULL")),
        sa.Index("ix_outbox_published_at", "published_at"),
        {
            "comment": "Messages written with the change that caused them, published after "
            "commit; one row per event type or task per transaction, carrying all its items"
        },
    )

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(8), comment="task (work) or event (domain event)")
    name: Mapped[str] = mapped_column(sa.String(64), comment="Task name or event type")
    destination: Mapped[str] = mapped_column(
        sa.String(64), comment="Queue of a task, routing key of an event"
    )
    payload: Mapped[dict[str, Any]] = mapped_column(
        JSONB(none_as_null=True), comment='{"items": [...]}: the events or work items it carries'
    )
    claim_id: Mapped[int | None] = mapped_column(
        sa.BigInteger, comment="Claim it concerns, when it concerns one"
    )
    item_count: Mapped[int] = mapped_column(
        sa.Integer,
        server_default=sa.text("1"),
        comment="Events or work items the payload carries (payload.items)",
    )
    created_at: Mapped[datetime] = created_at_column()
    published_at: Mapped[datetime | None] = mapped_column(
        comment="When the relay handed it to the broker; NULL while waiting"
    )


class DeadLetter(Base):
    __tablename__ = "dead_letters"
    __table_args__ = (
        sa.CheckConstraint("reason IN ('invalid', 'exhausted')", name="reason_known"),
        sa.Index("ix_dead_letters_open", "id", postgresql_where=sa.text("replayed_at IS NULL")),
        {"comment": "Messages that could not be processed: invalid input or retries exhausted"},
    )

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    task_name: Mapped[str] = mapped_column(sa.String(128), comment="Celery task name")
    queue: Mapped[str] = mapped_column(sa.String(64), comment="Queue to replay it on")
    payload: Mapped[Any] = mapped_column(
        JSONB(none_as_null=True), comment="The task's arguments as received"
    )
    reason: Mapped[str] = mapped_column(sa.String(16), comment="invalid or exhausted")
    errors: Mapped[Any] = mapped_column(
        JSONB(none_as_null=True), comment="What went wrong, without personal data"
    )
    created_at: Mapped[datetime] = created_at_column()
    replayed_at: Mapped[datetime | None] = mapped_column(comment="When an operator replayed it")
