"""PlanJourneyContext: the unit of work through which all data access goes.

One context is one transaction. Leaving the ``with`` block without ``commit()`` rolls back,
so a handler that raises half-way leaves nothing behind. Database errors leave as domain
errors with codes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import psycopg
import sqlalchemy as sa
from psycopg import errors as pg_errors
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from models.errors import (
    BusinessRuleViolation,
    ConcurrentChange,
    ErrorCode,
    PlanError,
    StorageUnavailable,
    ValidationFailed,
)
from models.idempotency import IDEMPOTENCY_KEY_FIELD
from storage.engine import get_session_factory

# Two requests with one key raced (claims or actions): the loser's retry reads the winner's answer.
_KEY_ALREADY_USED = (
    ErrorCode.IDEMPOTENCY_CONFLICT,
    IDEMPOTENCY_KEY_FIELD,
    "This Idempotency-Key was already used",
)
_CONSTRAINT_ERRORS: dict[str, tuple[ErrorCode, str, str]] = {
    "uq_claims_live_duplicate": (
        ErrorCode.DUPLICATE_SUBMISSION,
        "procedureCode",
        "A live claim for the same service date, procedure and provider already exists",
    ),
    "uq_claims_user_idempotency_key": _KEY_ALREADY_USED,
    "uq_claim_actions_actor_idempotency_key": _KEY_ALREADY_USED,
    "uq_claim_actions_queued": (
        ErrorCode.ACTION_PENDING,
        "id",
        "Another action on this claim is waiting to be applied; try again once it is",
    ),
    "ck_claims_approved_amount_range": (
        ErrorCode.INVALID_APPROVED_AMOUNT,
        "approvedAmount",
        "The approved amount must be between 0 and the claimed amount",
    ),
}


_RACED_CONSTRAINTS = frozenset(
    {"uq_claim_status_history_event_id", "pk_member_year_totals", "pk_coverage_usage"}
)


def domain_error_from(error: DBAPIError | psycopg.Error) -> PlanError:
    """Translate a database error into a domain error; never echo SQL or parameters.

    Takes SQLAlchemy's wrapper or the driver's own error (the set-based writes in
    worker/bulk.py use the driver directly).
    """
    driver_error = error.orig if isinstance(error, DBAPIError) else error
    if isinstance(driver_error, pg_errors.IntegrityError) or isinstance(error, IntegrityError):
        constraint = getattr(getattr(driver_error, "diag", None), "constraint_name", None) or ""
        if constraint in _CONSTRAINT_ERRORS:
            code, field, message = _CONSTRAINT_ERRORS[constraint]
            return BusinessRuleViolation(message, field=field, code=code)
        if constraint in _RACED_CONSTRAINTS:
            # Another transaction applied the same event first; a retry reads it and skips.
            return ConcurrentChange("The same event was applied concurrently; retry")
        return BusinessRuleViolation(
            f"The change breaks the data rule {constraint or 'of the schema'}",
            code=ErrorCode.INTEGRITY_VIOLATION,
        )
    if isinstance(driver_error, pg_errors.DataError) or isinstance(error, DataError):
        return ValidationFailed(
            "A value is not acceptable to the database (out of range or not valid text)",
            code=ErrorCode.INVALID_INPUT,
        )
    if isinstance(driver_error, pg_errors.TransactionRollback | pg_errors.LockNotAvailable):
        return ConcurrentChange("The change collided with another one; retry")
    if isinstance(error, OperationalError) or isinstance(
        driver_error, pg_errors.OperationalError | pg_errors.QueryCanceled
    ):
        return StorageUnavailable("The database is unavailable; try again shortly")
    return StorageUnavailable("The database refused the request")


class PlanJourneyContext:
    """A transaction over the ``plan`` schema with the journey's queries close at hand."""

    def __init__(self, session_factory: sessionmaker[Session] | None = None) -> None:
        self._session_factory = session_factory or get_session_factory()
        self._session: Session | None = None
        self._committed = False
        self._driver: psycopg.Connection[Any] | None = None

    def __enter__(self) -> Self:
        self._session = self._session_factory()
        self._committed = False
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._session is not None
        try:
            if not self._committed:
                self._session.rollback()
        finally:
            self._session.close()
            self._session = None
            self._driver = None
        if isinstance(exc, DBAPIError | psycopg.Error):
            raise domain_error_from(exc) from exc

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("PlanJourneyContext used outside its 'with' block")
        return self._session

    @property
    def connection(self) -> sa.Connection:
        return self.session.connection()

    @property
    def driver_connection(self) -> psycopg.Connection[Any]:
        """The psycopg connection of this transaction, for storage.bulk's statements; looked
        up once per transaction (the session's lookup costs more than a one-row statement)."""
        if self._driver is None:
            driver = self.connection.connection.driver_connection
            assert isinstance(driver, psycopg.Connection)
            self._driver = driver
        return self._driver

    def execute(
        self,
        statement: sa.Executable,
        parameters: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
    ) -> sa.Result[Any]:
        return self.session.execute(statement, parameters)

    def commit(self) -> None:
        self._driver = None  # the session hands its connection back to the pool
        try:
            self.session.commit()
        except DBAPIError as error:
            raise domain_error_from(error) from error
        self._committed = True
