"""Database refusals leave the unit of work as domain errors with the codes of DOMAIN.md."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from psycopg import errors as pg_errors

from models.errors import ErrorCode
from storage.unit_of_work import domain_error_from


def _unique_violation(constraint: str) -> pg_errors.UniqueViolation:
    class Violation(pg_errors.UniqueViolation):
        diag = SimpleNamespace(constraint_name=constraint)  # type: ignore[assignment]

    return Violation("duplicate key value violates unique constraint")


@pytest.mark.parametrize(
    ("constraint", "code", "field"),
    [
        ("uq_claims_user_idempotency_key", ErrorCode.IDEMPOTENCY_CONFLICT, "Idempotency-Key"),
        (
            "uq_claim_actions_actor_idempotency_key",
            ErrorCode.IDEMPOTENCY_CONFLICT,
            "Idempotency-Key",
        ),
        ("uq_claims_live_duplicate", ErrorCode.DUPLICATE_SUBMISSION, "procedureCode"),
        ("uq_claim_actions_queued", ErrorCode.ACTION_PENDING, "id"),
    ],
)
def test_a_named_unique_index_becomes_its_domain_error(
    constraint: str, code: ErrorCode, field: str
) -> None:
    error = domain_error_from(_unique_violation(constraint))

    assert error.code is code
    assert getattr(error, "field", None) == field


def test_an_unnamed_rule_is_an_integrity_violation_without_sql() -> None:
    error = domain_error_from(_unique_violation("uq_something_else"))

    assert error.code is ErrorCode.INTEGRITY_VIOLATION
    assert "duplicate key" not in str(error)
