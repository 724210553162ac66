"""The tables of review work (DOMAIN.md section 1a): who holds a claim under review, first
approvals waiting for a second reviewer, and the append-only activity."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from models.base import MONEY, Base, enum_type
from models.enums import ActivityKind, ActorRole


class ClaimAssignment(Base):
    __tablename__ = "claim_assignments"
    __table_args__ = (
        sa.CheckConstraint("expires_at > taken_at", name="lease_positive"),
        sa.Index("ix_claim_assignments_reviewer", "reviewer_id"),
        sa.Index("ix_claim_assignments_expires_at", "expires_at"),
        {
            "comment": "Which reviewer holds a claim under review, until when; a lease past "
            "expires_at holds nothing (the row is cleared by the next take or by beat)"
        },
    )

    claim_id: Mapped[int] = mapped_column(
        sa.ForeignKey("claims.id", ondelete="CASCADE"), primary_key=True, comment="The claim"
    )
    reviewer_id: Mapped[str] = mapped_column(sa.String(128), comment="Reviewer holding it")
    taken_at: Mapped[datetime] = mapped_column(comment="When this reviewer took it")
    expires_at: Mapped[datetime] = mapped_column(comment="When the lease ends unless renewed")


class PendingApproval(Base):
    __tablename__ = "pending_approvals"
    __table_args__ = (
        sa.CheckConstraint("approved_amount >= 0", name="approved_amount_not_negative"),
        {
            "comment": "First approvals at or above the four-eyes threshold, waiting for a "
            "second reviewer; the row goes when the claim is decided"
        },
    )

    claim_id: Mapped[int] = mapped_column(
        sa.ForeignKey("claims.id", ondelete="CASCADE"), primary_key=True, comment="The claim"
    )
    reviewer_id: Mapped[str] = mapped_column(sa.String(128), comment="The first approver")
    reviewer_role: Mapped[ActorRole] = mapped_column(
        enum_type(ActorRole, "pending_approval_role"), comment="Reviewer or admin"
    )
    approved_amount: Mapped[Decimal] = mapped_column(MONEY, comment="Amount the first approved")
    reason_code: Mapped[str | None] = mapped_column(sa.String(64), comment="Why, if given")
    note: Mapped[str | None] = mapped_column(sa.Text, comment="First approver's note")
    approved_at: Mapped[datetime] = mapped_column(comment="When the first approval was applied")


class ClaimActivity(Base):
    __tablename__ = "claim_activity"
    __table_args__ = (
        sa.Index("ix_claim_activity_claim_order", "claim_id", "id"),
        {"comment": "Append-only audit of review work that is not a transition: takes, "
         "renewals, releases, expiries, reassignments, first approvals"},
    )

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    claim_id: Mapped[int] = mapped_column(
        sa.ForeignKey("claims.id"), comment="The claim"
    )
    event_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), unique=True, comment="Id of the domain event it was published as"
    )
    kind: Mapped[ActivityKind] = mapped_column(
        enum_type(ActivityKind, "activity_kind"), comment="What happened"
    )
    actor_id: Mapped[str] = mapped_column(sa.String(128), comment="Who did it")
    actor_role: Mapped[ActorRole] = mapped_column(
        enum_type(ActorRole, "activity_actor_role"), comment="In which role"
    )
    details: Mapped[dict[str, Any] | None] = mapped_column(
        JSONB(none_as_null=True), comment="Reviewer, lease end, amount: what the kind needs"
    )
    occurred_at: Mapped[datetime] = mapped_column(
        server_default=sa.func.now(), comment="When it happened"
    )
