"""Domain errors. Each carries a code from DOMAIN.md and a message a person can act on."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    INVALID_AMOUNT = "PLAN_CLAIM_VAL_INVALID_AMOUNT"
    INVALID_PROCEDURE_CODE = "PLAN_CLAIM_VAL_INVALID_PROCEDURE_CODE"
    INVALID_DIAGNOSIS_CODE = "PLAN_CLAIM_VAL_INVALID_DIAGNOSIS_CODE"
    INVALID_SERVICE_DATE = "PLAN_CLAIM_VAL_INVALID_SERVICE_DATE"
    INVALID_DOCUMENT = "PLAN_CLAIM_VAL_INVALID_DOCUMENT"
    INVALID_INPUT = "PLAN_CLAIM_VAL_INVALID_INPUT"
    NO_COVERAGE = "PLAN_CLAIM_BUS_NO_COVERAGE"
    DUPLICATE_SUBMISSION = "PLAN_CLAIM_BUS_DUPLICATE_SUBMISSION"
    INVALID_STATUS_TRANSITION = "PLAN_CLAIM_BUS_INVALID_STATUS_TRANSITION"
    ACTION_PENDING = "PLAN_CLAIM_BUS_ACTION_PENDING"
    INVALID_APPROVED_AMOUNT = "PLAN_CLAIM_BUS_INVALID_APPROVED_AMOUNT"
    SELF_REVIEW = "PLAN_CLAIM_BUS_SELF_REVIEW_FORBIDDEN"
    ASSIGNED_TO_ANOTHER = "PLAN_CLAIM_BUS_ASSIGNED_TO_ANOTHER"
    NOT_ASSIGNED = "PLAN_CLAIM_BUS_NOT_ASSIGNED"
    SECOND_APPROVER_REQUIRED = "PLAN_CLAIM_BUS_SECOND_APPROVER_REQUIRED"
    CLAIM_NOT_FOUND = "PLAN_CLAIM_NOT_FOUND"
    ACTION_NOT_FOUND = "PLAN_CLAIM_ACTION_NOT_FOUND"
    PLAN_NOT_FOUND = "PLAN_PLAN_NOT_FOUND"
    ENROLMENT_NOT_FOUND = "PLAN_ENROLMENT_NOT_FOUND"
    CLAIM_NOT_DECIDED = "PLAN_CLAIM_BUS_NOT_DECIDED"
    IDEMPOTENCY_CONFLICT = "PLAN_CLAIM_BUS_IDEMPOTENCY_CONFLICT"
    IDEMPOTENCY_KEY_REUSED = "PLAN_CLAIM_VAL_IDEMPOTENCY_KEY_REUSED"
    DATABASE_UNAVAILABLE = "PLAN_SYS_DATABASE_UNAVAILABLE"
    INTEGRITY_VIOLATION = "PLAN_SYS_INTEGRITY_VIOLATION"
    UNAUTHENTICATED = "PLAN_AUTH_UNAUTHENTICATED"
    FORBIDDEN = "PLAN_AUTH_FORBIDDEN"
    # Refusals of the HTTP exchange itself, before any rule of the domain is read.
    CONTENT_TOO_LARGE = "PLAN_HTTP_CONTENT_TOO_LARGE"
    UNSUPPORTED_MEDIA_TYPE = "PLAN_HTTP_UNSUPPORTED_MEDIA_TYPE"
    REQUEST_TIMEOUT = "PLAN_HTTP_REQUEST_TIMEOUT"


class PlanError(Exception):
    """Base of every error the service reports with a code."""

    code: ErrorCode = ErrorCode.INVALID_INPUT

    def __init__(self, message: str, *, field: str | None = None, code: ErrorCode | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code

    def as_dict(self) -> dict[str, str | None]:
        return {"code": self.code.value, "message": self.message, "field": self.field}


class ValidationFailed(PlanError):
    """Input that breaks a rule of DOMAIN.md section 3."""


class BusinessRuleViolation(PlanError):
    """A well-formed request the domain refuses (no coverage, duplicate, ...)."""


class InvalidTransition(PlanError):
    code = ErrorCode.INVALID_STATUS_TRANSITION


class ReviewConflict(PlanError):
    """Review work the claim's assignment or pending approval does not allow now (409)."""

    code = ErrorCode.NOT_ASSIGNED


class NotFound(PlanError):
    code = ErrorCode.CLAIM_NOT_FOUND


class Forbidden(PlanError):
    code = ErrorCode.FORBIDDEN


class StorageUnavailable(PlanError):
    """The database could not be reached; the caller may retry."""

    code = ErrorCode.DATABASE_UNAVAILABLE


class ConcurrentChange(StorageUnavailable):
    """Another transaction changed the same rows first; running again resolves it."""
