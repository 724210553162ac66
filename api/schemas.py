"""What the API answers, in camelCase. Amounts and percentages are decimal strings ("80.00"),
so that no client reads a rounded float."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_camel

from api.errors import ErrorDetail
from models.enums import (
    ActionStatus,
    ActivityKind,
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
from models.money import money_text
from service.queries import Page

Money = Annotated[
    Decimal,
    PlainSerializer(money_text, return_type=str, when_used="json"),
    Field(json_schema_extra={"pattern": r"^[0-9]+\.[0-9]{2}$"}),
]


class _Answer(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, from_attributes=True, frozen=True
    )


class ClaimLinks(_Answer):
    self: str
    history: str

    @classmethod
    def of(cls, claim_id: int) -> ClaimLinks:
        return cls(self=f"/claims/{claim_id}", history=f"/claims/{claim_id}/history")


class SubmissionLinks(ClaimLinks):
    action: str | None = Field(
        None, description="The submit action a worker applies; absent for a draft"
    )

    @classmethod
    def of_submission(cls, claim_id: int, action_id: uuid.UUID | None) -> SubmissionLinks:
        return cls(
            self=f"/claims/{claim_id}",
            history=f"/claims/{claim_id}/history",
            action=None if action_id is None else action_path(claim_id, action_id),
        )


class ClaimAccepted(_Answer):
    """A submission stored: the claim's id, its status, and the submit action that follows."""

    id: int
    status: ClaimStatus
    replayed: bool = Field(False, description="True when an Idempotency-Key replay found it")
    links: SubmissionLinks


def action_path(claim_id: int, action_id: uuid.UUID) -> str:
    return f"/claims/{claim_id}/actions/{action_id}"


class ActionLinks(_Answer):
    self: str
    claim: str

    @classmethod
    def of(cls, claim_id: int, action_id: uuid.UUID) -> ActionLinks:
        return cls(self=action_path(claim_id, action_id), claim=f"/claims/{claim_id}")


class ActionAccepted(_Answer):
    """A member's or reviewer's action recorded; a worker applies it (poll links.self)."""

    action_id: uuid.UUID
    claim_id: int
    event: ClaimEvent
    status: ActionStatus
    links: ActionLinks


class ActionActor(_Answer):
    id: str
    role: ActorRole


class ActionError(_Answer):
    code: str
    message: str


class ActionView(_Answer):
    """An action and what became of it: queued, applied, or refused with its code."""

    action_id: uuid.UUID
    claim_id: int
    event: ClaimEvent
    status: ActionStatus
    actor: ActionActor
    requested_at: datetime
    applied_at: datetime | None
    claim_status: ClaimStatus | None = Field(
        description="The claim's status when the worker's transaction ended"
    )
    error: ActionError | None

    @classmethod
    def of(cls, row: Mapping[Any, Any]) -> ActionView:
        return cls(
            action_id=row["id"],
            claim_id=row["claim_id"],
            event=row["event"],
            status=row["status"],
            actor=ActionActor(id=row["actor_id"], role=row["actor_role"]),
            requested_at=row["requested_at"],
            applied_at=row["applied_at"],
            claim_status=row["claim_status"],
            error=(
                None
                if row["error_code"] is None
                else ActionError(code=row["error_code"], message=row["error_message"] or "")
            ),
        )


class ClaimSummary(_Answer):
    id: int
    status: ClaimStatus
    user_id: str
    plan_id: int
    member_plan_id: int
    procedure_type: ProcedureType
    procedure_code: str
    service_date: date
    amount: Money = Field(validation_alias="claimed_amount")
    approved_amount: Money | None
    currency: str
    submitted_at: datetime | None
    decided_at: datetime | None
    created_at: datetime


class Breakdown(_Answer):
    """FHIR adjudication categories of a decision, as decimal strings."""

    model_config = ConfigDict(extra="allow")

    submitted: str
    eligible: str
    deductible: str
    copay: str
    coverage_percent: str
    benefit: str
    member_responsibility: str


class Adjudication(_Answer):
    """The latest decision or suggestion: why, and how the amounts were reached."""

    model_config = ConfigDict(extra="allow")

    decision: str
    reason_codes: list[str]
    breakdown: Breakdown | None = None
    coverage_id: int | None = None


class ClaimDocument(_Answer):
    id: int
    type: DocumentType
    file_name: str
    mime_type: str
    size_bytes: int
    sha256: str | None
    storage_key: str | None
    verification_status: VerificationStatus
    uploaded_at: datetime


class HistoryEntry(_Answer):
    id: int
    event: ClaimEvent
    from_status: ClaimStatus
    to_status: ClaimStatus
    actor_id: str
    actor_role: ActorRole
    reason_code: str | None
    note: str | None
    details: dict[str, Any] | None
    occurred_at: datetime
    hash: str = Field(
        description="SHA-256 over the previous row's hash and this row: the tamper-evident chain"
    )


class PendingApprovalOut(_Answer):
    """A first approval at or above the four-eyes threshold, waiting for a second reviewer."""

    reviewer_id: str
    approved_amount: Money
    at: datetime


class AssignmentOut(_Answer):
    """Who holds a claim under review, and until when."""

    claim_id: int
    reviewer_id: str
    expires_at: datetime


class ClaimDetail(ClaimSummary):
    diagnosis_code: str | None
    provider_name: str
    member_responsibility: Money | None
    decision_reason_code: str | None
    adjudication: Adjudication | None
    notes: str | None
    info_due_at: datetime | None
    version: int
    updated_at: datetime
    documents: list[ClaimDocument]
    history: list[HistoryEntry]
    pending_approval: PendingApprovalOut | None = None
    links: ClaimLinks


class _Paged(_Answer):
    page: int
    size: int
    has_more: bool

    @classmethod
    def of(cls, found: Page) -> Self:
        return cls.model_validate(
            {
                "items": found.items,
                "page": found.page,
                "size": found.size,
                "has_more": found.has_more,
            }
        )


class ClaimPage(_Paged):
    items: list[ClaimSummary]


class ActionPage(_Answer):
    items: list[ActionView]
    page: int
    size: int
    has_more: bool

    @classmethod
    def of(cls, found: Page) -> ActionPage:
        return cls(
            items=[ActionView.of(row) for row in found.items],
            page=found.page,
            size=found.size,
            has_more=found.has_more,
        )


class ClaimHistory(_Answer):
    claim_id: int
    items: list[HistoryEntry]


class BatchItemResult(_Answer):
    """One item of a batch: its id, status and submit action, or the rules it broke."""

    index: int
    id: int | None = None
    status: ClaimStatus | None = None
    action_id: uuid.UUID | None = None
    replayed: bool | None = None
    errors: list[ErrorDetail] | None = None


class BatchResult(_Answer):
    results: list[BatchItemResult]


class PlanSummary(_Answer):
    id: int
    code: str
    name: str
    description: str | None
    type: PlanType
    tier: PlanTier
    monthly_premium: Money
    currency: str
    annual_deductible: Money
    out_of_pocket_max: Money | None
    coinsurance_percent: Money
    effective_from: date
    effective_to: date | None
    active: bool


class PlanCoverage(_Answer):
    id: int
    procedure_type: ProcedureType
    procedure_code: str | None
    coverage_percent: Money
    copay: Money
    deductible_applies: bool
    annual_limit: Money | None
    waiting_period_days: int
    preauthorization_required: bool
    effective_from: date
    effective_to: date | None
    active: bool


class BenefitOut(_Answer):
    id: int
    category: BenefitCategory
    code: str
    name: str
    description: str | None
    limitations: str | None
    coverage_percent: Money | None
    discount_percent: Money | None
    annual_limit: Money | None


class PlanBenefit(BenefitOut):
    active: bool


class PlanDetail(PlanSummary):
    coverages: list[PlanCoverage]
    benefits: list[PlanBenefit]


class PlanPage(_Paged):
    items: list[PlanSummary]


class Enrolment(_Answer):
    """One of the caller's enrolments; its ``id`` is the memberPlanId a claim names."""

    id: int
    plan_id: int
    plan_code: str
    plan_name: str
    plan_type: PlanType
    member_number: str
    start_date: date
    end_date: date | None
    status: MemberPlanStatus


class Enrolments(_Answer):
    items: list[Enrolment]


class Health(_Answer):
    status: str


class Readiness(_Answer):
    status: str
    database: str
    broker: str


class QueueAssignment(_Answer):
    reviewer_id: str
    expires_at: datetime


class QueueItem(ClaimSummary):
    """A claim waiting for a person: its assignment, its pending approval, since when."""

    plan_code: str
    assignment: QueueAssignment | None
    pending_approval: PendingApprovalOut | None
    waiting_since: datetime

    @classmethod
    def of_row(cls, row: Any) -> QueueItem:
        return cls.model_validate(
            {
                **row,
                "assignment": None
                if row["assignment_reviewer_id"] is None
                else {
                    "reviewer_id": row["assignment_reviewer_id"],
                    "expires_at": row["assignment_expires_at"],
                },
                "pending_approval": None
                if row["pending_reviewer_id"] is None
                else {
                    "reviewer_id": row["pending_reviewer_id"],
                    "approved_amount": row["pending_approved_amount"],
                    "at": row["pending_at"],
                },
            }
        )


class ReviewQueuePage(_Answer):
    items: list[QueueItem]
    page: int
    size: int
    has_more: bool

    @classmethod
    def of(cls, found: Page) -> ReviewQueuePage:
        return cls(
            items=[QueueItem.of_row(row) for row in found.items],
            page=found.page,
            size=found.size,
            has_more=found.has_more,
        )


class ActivityActor(_Answer):
    id: str | None = Field(description="Withheld from members for reviewers and administrators")
    role: ActorRole


class ActivityEntry(_Answer):
    id: int
    kind: ActivityKind
    actor: ActivityActor
    details: dict[str, Any] | None
    occurred_at: datetime

    @classmethod
    def of_row(cls, row: dict[str, Any]) -> ActivityEntry:
        return cls.model_validate(
            {**row, "actor": {"id": row["actor_id"], "role": row["actor_role"]}}
        )


class ClaimActivityList(_Answer):
    claim_id: int
    items: list[ActivityEntry]
