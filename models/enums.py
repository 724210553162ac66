"""The vocabularies of DOMAIN.md, as plain enums shared by the tables and the pure rules."""

from __future__ import annotations

from enum import Enum, StrEnum


class ClaimStatus(Enum):
    DRAFT = "DRAFT"
    SUBMITTED = "SUBMITTED"
    UNDER_REVIEW = "UNDER_REVIEW"
    ADDITIONAL_INFO_REQUIRED = "ADDITIONAL_INFO_REQUIRED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {ClaimStatus.APPROVED, ClaimStatus.REJECTED, ClaimStatus.CANCELLED, ClaimStatus.EXPIRED}
)


class ClaimEvent(StrEnum):
    SUBMIT = "submit"
    START_REVIEW = "start_review"
    APPROVE = "approve"
    REJECT = "reject"
    REQUEST_INFO = "request_info"
    PROVIDE_INFO = "provide_info"
    CANCEL = "cancel"
    EXPIRE = "expire"


# The events a person asks for (DOMAIN.md section 1); each is recorded as an action first.
PERSON_EVENTS = frozenset(
    {
        ClaimEvent.SUBMIT,
        ClaimEvent.APPROVE,
        ClaimEvent.REJECT,
        ClaimEvent.REQUEST_INFO,
        ClaimEvent.PROVIDE_INFO,
        ClaimEvent.CANCEL,
    }
)


class ActionStatus(StrEnum):
    """What became of a person's action: waiting for a worker, applied, or refused."""

    QUEUED = "queued"
    APPLIED = "applied"
    REFUSED = "refused"


class ActorRole(StrEnum):
    MEMBER = "member"
    REVIEWER = "reviewer"
    ADMIN = "admin"
    SYSTEM = "system"


class PlanType(StrEnum):
    HEALTH = "HEALTH"
    DENTAL = "DENTAL"
    VISION = "VISION"
    PHARMACY = "PHARMACY"
    MENTAL = "MENTAL"
    OTHER = "OTHER"


class PlanTier(StrEnum):
    BASIC = "BASIC"
    STANDARD = "STANDARD"
    PREMIUM = "PREMIUM"
    FAMILY = "FAMILY"
    SENIOR = "SENIOR"


class MemberPlanStatus(StrEnum):
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    TERMINATED = "TERMINATED"


class ProcedureType(StrEnum):
    CONSULTATION = "CONSULTATION"
    DIAGNOSTIC = "DIAGNOSTIC"
    LABORATORY = "LABORATORY"
    IMAGING = "IMAGING"
    THERAPY = "THERAPY"
    SURGERY = "SURGERY"
    MEDICATION = "MEDICATION"
    PREVENTIVE = "PREVENTIVE"
    EMERGENCY = "EMERGENCY"
    OTHER = "OTHER"


class BenefitCategory(StrEnum):
    WELLNESS = "WELLNESS"
    HOSPITAL = "HOSPITAL"
    EMERGENCY = "EMERGENCY"
    SPECIALIST = "SPECIALIST"
    PRIMARY_CARE = "PRIMARY_CARE"
    DIAGNOSTIC = "DIAGNOSTIC"
    MATERNITY = "MATERNITY"
    MENTAL_HEALTH = "MENTAL_HEALTH"
    DENTAL = "DENTAL"
    VISION = "VISION"
    PHARMACY = "PHARMACY"
    GYM = "GYM"
    NUTRITION = "NUTRITION"
    TELEHEALTH = "TELEHEALTH"
    TRANSPORTATION = "TRANSPORTATION"
    OTHER = "OTHER"


class DocumentType(StrEnum):
    RECEIPT = "RECEIPT"
    REFERRAL = "REFERRAL"
    PRESCRIPTION = "PRESCRIPTION"
    MEDICAL_REPORT = "MEDICAL_REPORT"
    INSURANCE_CARD = "INSURANCE_CARD"
    IDENTITY_DOCUMENT = "IDENTITY_DOCUMENT"
    AUTHORIZATION_FORM = "AUTHORIZATION_FORM"
    INVOICE = "INVOICE"
    OTHER = "OTHER"


class VerificationStatus(StrEnum):
    PENDING = "PENDING"
    VERIFIED = "VERIFIED"
    REJECTED = "REJECTED"


class ReasonCode(StrEnum):
    """Why a claim was decided the way it was (DOMAIN.md section 4)."""

    EXPIRED_COVERAGE = "EXPIRED_COVERAGE"
    NOT_COVERED = "NOT_COVERED"
    WAITING_PERIOD = "WAITING_PERIOD"
    MISSING_PREAUTHORIZATION = "MISSING_PREAUTHORIZATION"
    DUPLICATE_CLAIM = "DUPLICATE_CLAIM"
    INSUFFICIENT_DOCUMENTATION = "INSUFFICIENT_DOCUMENTATION"
    EXCEEDS_COVERAGE_LIMIT = "EXCEEDS_COVERAGE_LIMIT"
    WITHIN_AUTO_APPROVAL = "WITHIN_AUTO_APPROVAL"
    ABOVE_AUTO_APPROVAL_THRESHOLD = "ABOVE_AUTO_APPROVAL_THRESHOLD"
    PARTIAL_APPROVAL = "PARTIAL_APPROVAL"
    OUT_OF_POCKET_MAXIMUM_REACHED = "OUT_OF_POCKET_MAXIMUM_REACHED"
    DEDUCTIBLE_APPLIED = "DEDUCTIBLE_APPLIED"
    REVIEWER_DECISION = "REVIEWER_DECISION"
    INFO_DEADLINE_PASSED = "INFO_DEADLINE_PASSED"
    MEMBER_WITHDREW = "MEMBER_WITHDREW"


class ActivityKind(StrEnum):
    """Review work on a claim that is audited but is not a status transition (DOMAIN.md 1a)."""

    TAKEN = "taken"
    RENEWED = "renewed"
    RELEASED = "released"
    EXPIRED = "expired"
    REASSIGNED = "reassigned"
    APPROVAL_PENDING = "approval_pending"

    @property
    def event_type(self) -> str:
        return _ACTIVITY_EVENTS[self]


_ACTIVITY_EVENTS = {
    ActivityKind.TAKEN: "claim.assigned",
    ActivityKind.RENEWED: "claim.assignment_renewed",
    ActivityKind.RELEASED: "claim.released",
    ActivityKind.EXPIRED: "claim.assignment_expired",
    ActivityKind.REASSIGNED: "claim.reassigned",
    ActivityKind.APPROVAL_PENDING: "claim.approval_pending",
}
