"""The claim write side: submissions, lifecycle events and automatic steps.

Every public function works inside one PlanJourneyContext (one transaction) and on many claims
at once, so that a batch and a single claim take the same path. Each transition goes through
the one state machine, writes one history row and one domain event to the outbox, and schedules
any automatic follow-up as outbox work; nothing is published from here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.dialects.postgresql import ARRAY

from config import Settings
from models import adjudication as rules
from models.base import table_of
from models.commands import SYSTEM, Actor, ClaimCommand, automatic_event_id
from models.enums import (
    ActorRole,
    ClaimEvent,
    ClaimStatus,
    DocumentType,
    MemberPlanStatus,
    ProcedureType,
    ReasonCode,
)
from models.errors import (
    BusinessRuleViolation,
    ConcurrentChange,
    ErrorCode,
    Forbidden,
    InvalidTransition,
    NotFound,
    PlanError,
    ValidationFailed,
)
from models.lifecycle import can_fire, domain_event_name, fire
from models.submission import ClaimSubmission, QueuedClaim, all_errors, refuse_unstorable_text
from models.tables import (
    LIVE_CLAIM,
    Claim,
    ClaimStatusHistory,
    Coverage,
    CoverageUsage,
    Document,
    MemberPlan,
    MemberYearTotals,
    OutboxMessage,
    Plan,
)
from storage.bulk import in_array, insert_rows, pipelined, select_by_keys, update_rows
from storage.unit_of_work import PlanJourneyContext

claims_t = table_of(Claim)
history_t = table_of(ClaimStatusHistory)
outbox_t = table_of(OutboxMessage)
documents_t = table_of(Document)

START_REVIEW_TASK = "plan.claims.start_review"
ADJUDICATE_TASK = "plan.claims.adjudicate"
STEP_TASKS = {"start_review": START_REVIEW_TASK, "adjudicate": ADJUDICATE_TASK}
CLAIMS_QUEUE = "claims"

_DECISION_EVENTS = {
    rules.Decision.APPROVE: ClaimEvent.APPROVE,
    rules.Decision.REJECT: ClaimEvent.REJECT,
    rules.Decision.REQUEST_INFO: ClaimEvent.REQUEST_INFO,
}
_LOCKED_COLUMNS = (
    claims_t.c.id,
    claims_t.c.status,
    claims_t.c.version,
    claims_t.c.user_id,
    claims_t.c.plan_id,
    claims_t.c.member_plan_id,
    claims_t.c.procedure_type,
    claims_t.c.procedure_code,
    claims_t.c.provider_name,
    claims_t.c.service_date,
    claims_t.c.claimed_amount,
    claims_t.c.approved_amount,
    claims_t.c.member_responsibility,
    claims_t.c.currency,
    claims_t.c.decision_reason_code,
    claims_t.c.adjudication,
    claims_t.c.next_step,
    claims_t.c.submitted_at,
    claims_t.c.decided_at,
    claims_t.c.info_due_at,
)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class ClaimState:
    """A claim row as the lifecycle sees it; the state machine moves ``status``."""

    id: int
    status: ClaimStatus
    version: int
    user_id: str
    plan_id: int
    member_plan_id: int
    procedure_type: ProcedureType
    procedure_code: str
    provider_name: str
    service_date: date
    claimed_amount: Decimal
    approved_amount: Decimal | None
    member_responsibility: Decimal | None
    currency: str
    decision_reason_code: str | None
    adjudication: dict[str, Any] | None
    next_step: str | None
    submitted_at: datetime | None
    decided_at: datetime | None
    info_due_at: datetime | None
    next_step_due_at: datetime | None = None
    changed: bool = False


@dataclass(frozen=True, slots=True)
class AutomaticStep:
    """Work the workers owe a claim: ``start_review`` or ``adjudicate``."""

    claim_id: int
    step: str
    event_id: uuid.UUID

    def to_message(self) -> dict[str, str | int]:
        return {"claimId": self.claim_id, "step": self.step, "eventId": str(self.event_id)}

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> AutomaticStep:
        step = str(message["step"])
        if step not in STEP_TASKS:
            raise ValueError(f"unknown automatic step {step!r}")
        return cls(int(message["claimId"]), step, uuid.UUID(str(message["eventId"])))


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one command or step: applied, or skipped with a reason."""

    claim_id: int
    event_id: uuid.UUID
    status: str  # applied | duplicate | stale | refused
    error: PlanError | None = None
    claim_status: ClaimStatus | None = None


@dataclass(slots=True)
class ChangeSet:
    """Rows one transaction writes, gathered first and written set-based at the end."""

    settings: Settings
    now: datetime = field(default_factory=utcnow)
    history: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    touched: dict[int, ClaimState] = field(default_factory=dict)
    # The automatic step each claim owes at commit: a later transition in the same
    # transaction settles it, so only what is still owed becomes outbox work.
    owed: dict[int, AutomaticStep] = field(default_factory=dict)

    def transition(
        self,
        claim: ClaimState,
        event: ClaimEvent,
        *,
        event_id: uuid.UUID,
        actor: Actor,
        reason_code: str | None = None,
        note: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        before = fire(claim, event)
        after = claim.status
        history_row = {
            "claim_id": claim.id,
            "event_id": event_id,
            "event": event.value,
            "from_status": before.value,
            "to_status": after.value,
            "actor_id": actor.id,
            "actor_role": actor.role.value,
            "reason_code": reason_code,
            "note": note,
            "details": details,
            "occurred_at": self.now,
        }
        self.history.append(history_row)
        claim.version += 1
        claim.changed = True
        claim.next_step = None
        claim.next_step_due_at = None
        self.owed.pop(claim.id, None)
        if after is ClaimStatus.SUBMITTED:
            claim.submitted_at = self.now
            self.schedule(claim, "start_review")
        elif event is ClaimEvent.PROVIDE_INFO:
            claim.info_due_at = None
            self.schedule(claim, "adjudicate")
        elif after is ClaimStatus.ADDITIONAL_INFO_REQUIRED:
            claim.info_due_at = self.now + timedelta(days=self.settings.info_deadline_days)
        if after.is_terminal:
            claim.decided_at = self.now
            claim.info_due_at = None
        if reason_code is not None:
            claim.decision_reason_code = reason_code
        self.touched[claim.id] = claim
        self.events.append(
            {
                "eventId": str(event_id),
                "type": domain_event_name(event, after),
                "claimId": claim.id,
                "userId": claim.user_id,
                "planId": claim.plan_id,
                "previousStatus": before.value,
                "newStatus": after.value,
                "claimedAmount": _money(claim.claimed_amount),
                "approvedAmount": _money(claim.approved_amount),
                "currency": claim.currency,
                "reasonCode": reason_code,
                "occurredAt": self.now.isoformat(),
            }
        )

    def schedule(self, claim: ClaimState, step: str, *, delay_s: int | None = None) -> None:
        """Owe the claim an automatic step; the sweeper re-publishes it if it does not happen."""
        claim.next_step = step
        claim.next_step_due_at = self.now + timedelta(
            seconds=self.settings.sweeper_stale_after_s if delay_s is None else delay_s
        )
        claim.changed = True
        self.touched[claim.id] = claim
        self.owed[claim.id] = AutomaticStep(
            claim.id, step, automatic_event_id(claim.id, step, claim.version)
        )

    def keep_only(self, claim_ids: set[int]) -> None:
        """Forget what was prepared for claims that were not stored after all."""
        self.history = [row for row in self.history if row["claim_id"] in claim_ids]
        self.events = [event for event in self.events if event["claimId"] in claim_ids]
        self.owed = {key: step for key, step in self.owed.items() if key in claim_ids}

    def write(self, ctx: PlanJourneyContext) -> None:
        # A second application of one event id breaks the unique constraint here and the
        # whole transaction rolls back: the constraint, not the read before, is the guard.
        with pipelined(ctx):
            insert_rows(ctx, history_t, self.history)
            update_rows(
                ctx,
                claims_t,
                [_claim_update(claim) for claim in self.touched.values() if claim.changed],
            )
            insert_rows(ctx, outbox_t, self.outbox_rows())

    def outbox_rows(self) -> list[dict[str, Any]]:
        """One row per event type and one per task, each carrying all of its items: the
        relay's work and the outbox's size grow with transactions, not with claims."""
        events: dict[str, list[dict[str, Any]]] = {}
        for event in self.events:
            events.setdefault(event["type"], []).append(event)
        work: dict[str, list[dict[str, Any]]] = {}
        for step in self.owed.values():
            work.setdefault(STEP_TASKS[step.step], []).append(step.to_message())
        return [
            *(
                _outbox_row("event", name, name, {"events": items}, items)
                for name, items in events.items()
            ),
            *(
                _outbox_row("task", name, CLAIMS_QUEUE, {"items": items}, items)
                for name, items in work.items()
            ),
        ]


def _outbox_row(
    kind: str, name: str, destination: str, payload: dict[str, Any], items: list[dict[str, Any]]
) -> dict[str, Any]:
    claims = {item["claimId"] for item in items}
    return {
        "kind": kind,
        "name": name,
        "destination": destination,
        "claim_id": claims.pop() if len(claims) == 1 else None,
        "item_count": len(items),
        "payload": payload,
    }


def _claim_update(claim: ClaimState) -> dict[str, Any]:
    return {
        "id": claim.id,
        "status": claim.status.value,
        "version": claim.version,
        "approved_amount": claim.approved_amount,
        "member_responsibility": claim.member_responsibility,
        "decision_reason_code": claim.decision_reason_code,
        "adjudication": claim.adjudication,
        "next_step": claim.next_step,
        "next_step_due_at": claim.next_step_due_at,
        "submitted_at": claim.submitted_at,
        "decided_at": claim.decided_at,
        "info_due_at": claim.info_due_at,
    }


def _money(amount: Decimal | None) -> str | None:
    return None if amount is None else f"{amount:.2f}"


# --------------------------------------------------------------------------- submissions


@dataclass(frozen=True, slots=True)
class SubmissionRequest:
    user_id: str
    claim: ClaimSubmission
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class SubmissionResult:
    claim_id: int | None
    status: ClaimStatus | None
    replayed: bool = False
    error: PlanError | None = None


def submit_claims(
    ctx: PlanJourneyContext,
    requests: Sequence[SubmissionRequest],
    settings: Settings,
    *,
    review_now: bool = False,
) -> list[SubmissionResult]:
    """Store claims with their documents, submit the ready ones, and owe each its review.

    With ``review_now`` (the worker's ingest path) the worker also starts the review and takes
    the automatic decision in this transaction: each claim still passes submit, start_review
    and its decision through the state machine with a history row and an event apiece, and is
    stored once with its final values. Items are answered one by one: a refused item does not
    stop the others. The caller commits.
    """
    results: list[SubmissionResult | None] = [None] * len(requests)
    replays = _existing_by_idempotency_key(ctx, requests)
    enrolments = _enrolments_of(ctx, {request.user_id for request in requests})
    changes = ChangeSet(settings)

    pending: list[tuple[int, SubmissionRequest, Enrolment]] = []
    for index, request in enumerate(requests):
        replay = replays.get((request.user_id, request.idempotency_key))
        if replay is not None:
            results[index] = SubmissionResult(replay[0], replay[1], replayed=True)
            continue
        try:
            enrolment = _enrolment_for(request, enrolments.get(request.user_id, []))
        except PlanError as refusal:
            results[index] = SubmissionResult(None, None, error=refusal)
            continue
        pending.append((index, request, enrolment))

    claim_ids = _allocate_claim_ids(ctx, len(pending))
    states: list[ClaimState] = []
    for claim_id, (_, request, enrolment) in zip(claim_ids, pending, strict=True):
        state = _draft(claim_id, request, enrolment)
        if request.claim.submit:
            changes.transition(
                state,
                ClaimEvent.SUBMIT,
                event_id=uuid.uuid4(),
                actor=Actor(id=request.user_id, role=ActorRole.MEMBER),
            )
        states.append(state)

    refused: set[int] = set()
    if review_now:
        # Deciding before the insert spends year-to-date totals, so what the unique indexes
        # would refuse is found first; a conflict left after that is a concurrent submission.
        refused = _refused_by_unique_indexes(ctx, states)
        _review_new_claims(
            ctx,
            changes,
            [state for state in states if state.id not in refused],
            {
                state.id: frozenset(document.type for document in request.claim.documents)
                for state, (_, request, _) in zip(states, pending, strict=True)
            },
        )

    inserted = {
        row.id
        for row in insert_rows(
            ctx,
            claims_t,
            [
                _claim_row(state, request)
                for state, (_, request, _) in zip(states, pending, strict=True)
                if state.id not in refused
            ],
            on_conflict_do_nothing=True,
            returning="id",
        )
    }
    if review_now and len(inserted) != len(states) - len(refused):
        raise ConcurrentChange("A concurrent submission stored the same claim first; retry")

    documents: list[dict[str, Any]] = []
    late_replays: list[int] = []
    for state, (index, request, _) in zip(states, pending, strict=True):
        if state.id not in inserted:
            # The live-duplicate index or a concurrent request with the same key refused it.
            if request.idempotency_key is not None:
                late_replays.append(index)
            else:
                results[index] = SubmissionResult(None, None, error=_duplicate_error())
            continue
        documents.extend(
            {**document.model_dump(), "claim_id": state.id, "type": document.type.value}
            for document in request.claim.documents
        )
        results[index] = SubmissionResult(state.id, state.status)

    # The rows were inserted with their final values; what remains is their history and outbox.
    changes.keep_only(inserted)
    changes.touched.clear()
    with pipelined(ctx):
        insert_rows(ctx, documents_t, documents)
        changes.write(ctx)
    if late_replays:
        # Same key as an earlier item or a concurrent request: answer with that claim.
        again = _existing_by_idempotency_key(ctx, [requests[index] for index in late_replays])
        for index in late_replays:
            request = requests[index]
            found = again.get((request.user_id, request.idempotency_key))
            results[index] = (
                SubmissionResult(found[0], found[1], replayed=True)
                if found
                else SubmissionResult(None, None, error=_duplicate_error())
            )
    return [result for result in results if result is not None]


def _refused_by_unique_indexes(ctx: PlanJourneyContext, states: Sequence[ClaimState]) -> set[int]:
    """New claims the unique indexes would refuse: a live duplicate stored or earlier in the batch.

    The comparison runs in PostgreSQL, so ``lower()`` is the index's own.
    """
    if not states:
        return set()
    rows = ctx.execute(
        _REFUSED_BY_UNIQUE_INDEXES,
        {
            "ids": [s.id for s in states],
            "users": [s.user_id for s in states],
            "dates": [s.service_date for s in states],
            "codes": [s.procedure_code for s in states],
            "providers": [s.provider_name for s in states],
        },
    )
    return {row.id for row in rows}


# The live-claim predicate is the partial index's own text (a constant, not input), so the
# planner matches the index.
_REFUSED_BY_UNIQUE_INDEXES = sa.text(
    f"""
    SELECT k.id FROM (
        SELECT n.*, row_number() OVER (
            PARTITION BY user_id, service_date, procedure_code, lower(provider_name) ORDER BY id
        ) AS position
        FROM unnest(:ids, :users, :dates, :codes, :providers)
            AS n(id, user_id, service_date, procedure_code, provider_name)
    ) AS k
    WHERE k.position > 1 OR EXISTS (
        SELECT 1 FROM plan.claims AS c
        WHERE c.user_id = k.user_id
          AND c.service_date = k.service_date
          AND c.procedure_code = k.procedure_code
          AND lower(c.provider_name) = lower(k.provider_name)
          AND {LIVE_CLAIM.text}
    )
    """  # noqa: S608
).bindparams(
    sa.bindparam("ids", type_=ARRAY(sa.BigInteger)),
    sa.bindparam("users", type_=ARRAY(sa.String)),
    sa.bindparam("dates", type_=ARRAY(sa.Date)),
    sa.bindparam("codes", type_=ARRAY(sa.String)),
    sa.bindparam("providers", type_=ARRAY(sa.String)),
)


def _review_new_claims(
    ctx: PlanJourneyContext,
    changes: ChangeSet,
    claims: Sequence[ClaimState],
    document_types: Mapping[int, frozenset[DocumentType]],
) -> None:
    submitted = [claim for claim in claims if claim.status is ClaimStatus.SUBMITTED]
    if not submitted:
        return
    for claim in submitted:
        changes.transition(
            claim,
            ClaimEvent.START_REVIEW,
            event_id=automatic_event_id(claim.id, "start_review", claim.version),
            actor=SYSTEM,
        )
    facts = load_adjudication_facts(
        ctx, submitted, lock_totals=True, unsaved_documents=document_types
    )
    for claim in submitted:
        _decide(changes, facts, claim, automatic_event_id(claim.id, "decide", claim.version))
    facts.write_totals(ctx)


@dataclass(frozen=True, slots=True)
class QueuedSubmission:
    """One item of a batch from a partner: the claim it became, or why it was refused."""

    index: int
    result: SubmissionResult | None = None
    errors: tuple[PlanError, ...] = ()


def submit_queued_claims(
    ctx: PlanJourneyContext,
    items: Sequence[Any],
    settings: Settings,
    *,
    fallback_key: Callable[[int], str | None] = lambda _: None,
    review_now: bool = False,
) -> list[QueuedSubmission]:
    """Validate each item (models.submission.QueuedClaim) and submit the valid ones together.

    Used by ``POST /claims/batch`` and the ``ingest`` queue. ``fallback_key`` names the
    idempotency key of an item that brings none (the ingest task derives it from the message);
    ``review_now`` is submit_claims'. The caller commits.
    """
    context = {"filing_window_days": settings.filing_window_days}
    outcomes: list[QueuedSubmission | None] = [None] * len(items)
    requests: list[SubmissionRequest] = []
    positions: list[int] = []
    for index, item in enumerate(items):
        try:
            refuse_unstorable_text(item)
            claim = QueuedClaim.model_validate(item, context=context)
        except ValidationError as invalid:
            outcomes[index] = QueuedSubmission(index, errors=tuple(all_errors(invalid)))
            continue
        except ValidationFailed as refusal:
            outcomes[index] = QueuedSubmission(index, errors=(refusal,))
            continue
        key = claim.idempotency_key or fallback_key(index)
        requests.append(SubmissionRequest(claim.user_id, claim, key))
        positions.append(index)
    for index, result in zip(
        positions, submit_claims(ctx, requests, settings, review_now=review_now), strict=True
    ):
        outcomes[index] = (
            QueuedSubmission(index, errors=(result.error,))
            if result.error is not None
            else QueuedSubmission(index, result=result)
        )
    return [outcome for outcome in outcomes if outcome is not None]


def _duplicate_error() -> BusinessRuleViolation:
    return BusinessRuleViolation(
        "A live claim for the same service date, procedure and provider already exists",
        field="procedureCode",
        code=ErrorCode.DUPLICATE_SUBMISSION,
    )


def _allocate_claim_ids(ctx: PlanJourneyContext, count: int) -> list[int]:
    """Take ids up front, so that history and outbox rows can be built before the insert."""
    if count == 0:
        return []
    return list(
        ctx.session.scalars(
            sa.text(
                "SELECT nextval(pg_get_serial_sequence('plan.claims', 'id')) "
                "FROM generate_series(1, :count)"
            ),
            {"count": count},
        )
    )


def _draft(claim_id: int, request: SubmissionRequest, enrolment: Enrolment) -> ClaimState:
    claim = request.claim
    return ClaimState(
        id=claim_id,
        status=ClaimStatus.DRAFT,
        version=1,
        user_id=request.user_id,
        plan_id=enrolment.plan_id,
        member_plan_id=enrolment.id,
        procedure_type=claim.procedure_type,
        procedure_code=claim.procedure_code,
        provider_name=claim.provider_name,
        service_date=claim.service_date,
        claimed_amount=claim.amount,
        approved_amount=None,
        member_responsibility=None,
        currency=claim.currency,
        decision_reason_code=None,
        adjudication=None,
        next_step=None,
        submitted_at=None,
        decided_at=None,
        info_due_at=None,
    )


def _claim_row(state: ClaimState, request: SubmissionRequest) -> dict[str, Any]:
    claim = request.claim
    return {
        "id": state.id,
        "member_plan_id": state.member_plan_id,
        "plan_id": state.plan_id,
        "user_id": state.user_id,
        "procedure_type": state.procedure_type.value,
        "procedure_code": state.procedure_code,
        "diagnosis_code": claim.diagnosis_code,
        "provider_name": state.provider_name,
        "service_date": state.service_date,
        "claimed_amount": state.claimed_amount,
        "currency": state.currency,
        "notes": claim.notes,
        "status": state.status.value,
        "version": state.version,
        "idempotency_key": request.idempotency_key,
        "submitted_at": state.submitted_at,
        "next_step": state.next_step,
        "next_step_due_at": state.next_step_due_at,
        "approved_amount": state.approved_amount,
        "member_responsibility": state.member_responsibility,
        "decision_reason_code": state.decision_reason_code,
        "adjudication": state.adjudication,
        "decided_at": state.decided_at,
        "info_due_at": state.info_due_at,
    }


def _existing_by_idempotency_key(
    ctx: PlanJourneyContext, requests: Iterable[SubmissionRequest]
) -> dict[tuple[str, str | None], tuple[int, ClaimStatus]]:
    keyed = sorted(
        {(r.user_id, r.idempotency_key) for r in requests if r.idempotency_key is not None}
    )
    rows = select_by_keys(
        ctx,
        claims_t,
        keyed,
        ("user_id", "idempotency_key"),
        ("id", "user_id", "idempotency_key", "status"),
    )
    return {(row.user_id, row.idempotency_key): (row.id, ClaimStatus(row.status)) for row in rows}


@dataclass(frozen=True, slots=True)
class Enrolment:
    """The columns of a member plan a submission needs (no ORM object on the hot path)."""

    id: int
    user_id: str
    plan_id: int
    start_date: date
    end_date: date | None
    status: MemberPlanStatus


def _enrolments_of(ctx: PlanJourneyContext, user_ids: set[str]) -> dict[str, list[Enrolment]]:
    by_user: dict[str, list[Enrolment]] = {}
    rows = select_by_keys(
        ctx,
        table_of(MemberPlan),
        [(user_id,) for user_id in sorted(user_ids)],
        ("user_id",),
        ("id", "user_id", "plan_id", "start_date", "end_date", "status"),
    )
    for row in sorted(rows, key=lambda row: row.id):
        by_user.setdefault(row.user_id, []).append(
            Enrolment(
                id=row.id,
                user_id=row.user_id,
                plan_id=row.plan_id,
                start_date=row.start_date,
                end_date=row.end_date,
                status=MemberPlanStatus(row.status),
            )
        )
    return by_user


def _enrolment_for(request: SubmissionRequest, enrolments: list[Enrolment]) -> Enrolment:
    claim = request.claim
    if claim.member_plan_id is not None:
        field_name = "memberPlanId"
        candidates = [e for e in enrolments if e.id == claim.member_plan_id]
    else:
        field_name = "planId"
        candidates = [e for e in enrolments if e.plan_id == claim.plan_id]
    for enrolment in candidates:
        if _enrolment_covers(enrolment, claim.service_date):
            return enrolment
    raise BusinessRuleViolation(
        "You have no enrolment in this plan that is active on the service date",
        field=field_name,
        code=ErrorCode.NO_COVERAGE,
    )


def _enrolment_covers(enrolment: Enrolment, service_date: date) -> bool:
    return (
        enrolment.status is MemberPlanStatus.ACTIVE
        and enrolment.start_date <= service_date
        and (enrolment.end_date is None or service_date <= enrolment.end_date)
    )


# --------------------------------------------------------------------------- lifecycle events


def lock_claims(ctx: PlanJourneyContext, claim_ids: Iterable[int]) -> dict[int, ClaimState]:
    """Lock the claims' rows in id order (so that concurrent batches cannot deadlock)."""
    ids = sorted(set(claim_ids))
    if not ids:
        return {}
    rows = ctx.execute(
        sa.select(*_LOCKED_COLUMNS)
        .where(in_array(claims_t.c.id, ids))
        .order_by(claims_t.c.id)
        .with_for_update()
    )
    return {row.id: ClaimState(**row._asdict()) for row in rows}


class _ClaimWork(Protocol):
    @property
    def claim_id(self) -> int: ...

    @property
    def event_id(self) -> uuid.UUID: ...


W = TypeVar("W", bound=_ClaimWork)


def _take_claims(
    ctx: PlanJourneyContext, work: Sequence[W]
) -> tuple[dict[uuid.UUID, W], dict[int, ClaimState], dict[uuid.UUID, int]]:
    """Drop repeated event ids, lock the claims, and find which event ids were applied before."""
    unique: dict[uuid.UUID, W] = {}
    for item in work:
        unique.setdefault(item.event_id, item)
    claims = lock_claims(ctx, (item.claim_id for item in unique.values()))
    return unique, claims, _applied_event_ids(ctx, unique)


def _applied_event_ids(
    ctx: PlanJourneyContext, event_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """Event ids already in the history, with the claim each was applied to."""
    ids = list(set(event_ids))
    if not ids:
        return {}
    rows = ctx.execute(
        sa.select(history_t.c.event_id, history_t.c.claim_id).where(
            in_array(history_t.c.event_id, ids)
        )
    )
    return {row.event_id: row.claim_id for row in rows}


def _reused_event_id() -> BusinessRuleViolation:
    return BusinessRuleViolation(
        "This event id was already used for another claim", code=ErrorCode.IDEMPOTENCY_CONFLICT
    )


def apply_commands(
    ctx: PlanJourneyContext, commands: Sequence[ClaimCommand], settings: Settings
) -> list[Outcome]:
    """Fire each command's event on its claim, once. The caller commits.

    A command whose event id was already applied is a duplicate and changes nothing. An event
    the claim's state does not allow is refused with PLAN_CLAIM_BUS_INVALID_STATUS_TRANSITION
    (or, for an automatic command overtaken by a person, skipped as stale).
    """
    unique, claims, applied_before = _take_claims(ctx, commands)
    changes = ChangeSet(settings)
    approvals: list[tuple[ClaimState, ClaimCommand]] = []
    outcomes: list[Outcome] = []

    for command in unique.values():
        claim = claims.get(command.claim_id)
        if claim is None:
            outcomes.append(
                Outcome(command.claim_id, command.event_id, "refused", NotFound("No such claim"))
            )
            continue
        if command.event_id in applied_before:
            if applied_before[command.event_id] != claim.id:
                outcomes.append(
                    Outcome(claim.id, command.event_id, "refused", _reused_event_id(), claim.status)
                )
                continue
            outcomes.append(Outcome(claim.id, command.event_id, "duplicate", None, claim.status))
            continue
        try:
            _authorize(claim, command)
            if not can_fire(claim.status, command.event):
                fire(claim, command.event)  # raises InvalidTransition with its message
        except PlanError as refusal:
            kind = "stale" if command.is_automatic else "refused"
            outcomes.append(Outcome(claim.id, command.event_id, kind, refusal, claim.status))
            continue
        if command.event is ClaimEvent.APPROVE:
            approvals.append((claim, command))
            continue
        changes.transition(
            claim,
            command.event,
            event_id=command.event_id,
            actor=command.actor,
            reason_code=_reason_for(command),
            note=command.note,
        )
        outcomes.append(Outcome(claim.id, command.event_id, "applied", None, claim.status))

    if approvals:
        facts = load_adjudication_facts(ctx, [claim for claim, _ in approvals], lock_totals=True)
        for claim, command in approvals:
            try:
                breakdown = facts.review_breakdown(claim, command.approved_amount)
            except PlanError as refusal:
                outcomes.append(
                    Outcome(claim.id, command.event_id, "refused", refusal, claim.status)
                )
                continue
            reasons = [command.reason_code or ReasonCode.REVIEWER_DECISION]
            if breakdown.benefit < breakdown.submitted:
                reasons.append(ReasonCode.PARTIAL_APPROVAL)
            decision = {
                "decision": "approve",
                "reasonCodes": [str(getattr(r, "value", r)) for r in reasons],
                "breakdown": breakdown.as_json(),
                "coverageId": facts.coverage_of(claim),
            }
            _record_approval(claim, breakdown, decision, facts)
            changes.transition(
                claim,
                ClaimEvent.APPROVE,
                event_id=command.event_id,
                actor=command.actor,
                reason_code=str(reasons[0]),
                note=command.note,
                details=decision,
            )
            outcomes.append(Outcome(claim.id, command.event_id, "applied", None, claim.status))
        facts.write_totals(ctx)

    _attach_documents(
        ctx,
        [
            c
            for c in unique.values()
            if c.event is ClaimEvent.PROVIDE_INFO and c.documents and _was_applied(c, outcomes)
        ],
    )
    changes.write(ctx)
    return outcomes


def _was_applied(command: ClaimCommand, outcomes: list[Outcome]) -> bool:
    return any(o.event_id == command.event_id and o.status == "applied" for o in outcomes)


def _attach_documents(ctx: PlanJourneyContext, commands: list[ClaimCommand]) -> None:
    rows = [
        {**document.model_dump(), "claim_id": command.claim_id}
        for command in commands
        for document in command.documents
    ]
    insert_rows(ctx, documents_t, rows)


def _authorize(claim: ClaimState, command: ClaimCommand) -> None:
    actor = command.actor
    if actor.role is ActorRole.MEMBER and claim.user_id != actor.id:
        raise NotFound("No such claim")
    if actor.role in (ActorRole.REVIEWER, ActorRole.ADMIN) and claim.user_id == actor.id:
        raise Forbidden(
            "A reviewer may not decide a claim they submitted", code=ErrorCode.SELF_REVIEW
        )


def _reason_for(command: ClaimCommand) -> str | None:
    if command.reason_code is not None:
        return str(command.reason_code)
    if command.event is ClaimEvent.CANCEL and command.actor.role is ActorRole.MEMBER:
        return ReasonCode.MEMBER_WITHDREW.value
    if command.event is ClaimEvent.EXPIRE:
        return ReasonCode.INFO_DEADLINE_PASSED.value
    if command.event in (ClaimEvent.REJECT, ClaimEvent.REQUEST_INFO):
        return ReasonCode.REVIEWER_DECISION.value
    return None


# --------------------------------------------------------------------------- automatic steps


def advance_claims(
    ctx: PlanJourneyContext, steps: Sequence[AutomaticStep], settings: Settings
) -> list[Outcome]:
    """Start the review of submitted claims and decide them against coverage. The caller commits.

    A step whose claim no longer owes it (already done, cancelled, a person acted) is stale and
    changes nothing, so the sweeper and redeliveries can publish a step as often as they like.
    """
    unique, claims, applied_before = _take_claims(ctx, steps)
    changes = ChangeSet(settings)
    outcomes: list[Outcome] = []
    to_decide: list[tuple[ClaimState, AutomaticStep]] = []

    for step in unique.values():
        claim = claims.get(step.claim_id)
        if claim is None:
            outcomes.append(Outcome(step.claim_id, step.event_id, "stale"))
            continue
        if step.event_id in applied_before:
            outcomes.append(Outcome(claim.id, step.event_id, "duplicate", None, claim.status))
            continue
        owed = automatic_event_id(claim.id, step.step, claim.version)
        if claim.next_step != step.step or owed != step.event_id:
            outcomes.append(Outcome(claim.id, step.event_id, "stale", None, claim.status))
            continue
        if step.step == "start_review":
            changes.transition(claim, ClaimEvent.START_REVIEW, event_id=step.event_id, actor=SYSTEM)
        to_decide.append((claim, step))

    if to_decide:
        facts = load_adjudication_facts(ctx, [claim for claim, _ in to_decide], lock_totals=True)
        for claim, step in to_decide:
            decision_id = (
                step.event_id
                if step.step == "adjudicate"
                else automatic_event_id(claim.id, "decide", claim.version)
            )
            _decide(changes, facts, claim, decision_id)
            outcomes.append(Outcome(claim.id, step.event_id, "applied", None, claim.status))
        facts.write_totals(ctx)
    changes.write(ctx)
    return outcomes


def _decide(
    changes: ChangeSet, facts: AdjudicationFacts, claim: ClaimState, decision_id: uuid.UUID
) -> None:
    """Adjudicate an UNDER_REVIEW claim: approve, reject or ask for information, or refer it
    to a person with the breakdown as a suggestion."""
    result = facts.adjudicate(claim, changes.settings.auto_approval_threshold)
    decision = result.as_json()
    claim.adjudication = decision
    claim.changed = True
    changes.touched[claim.id] = claim
    event = _DECISION_EVENTS.get(result.decision)
    if event is None:
        claim.next_step = None
        claim.next_step_due_at = None
        claim.decision_reason_code = result.reason_codes[0].value
        return
    if event is ClaimEvent.APPROVE:
        assert result.breakdown is not None
        _record_approval(claim, result.breakdown, decision, facts)
    elif event is ClaimEvent.REJECT:
        claim.approved_amount = Decimal("0.00")
        claim.member_responsibility = claim.claimed_amount
    changes.transition(
        claim,
        event,
        event_id=decision_id,
        actor=SYSTEM,
        reason_code=result.reason_codes[0].value,
        details=decision,
    )


def _record_approval(
    claim: ClaimState,
    breakdown: rules.Breakdown,
    decision: dict[str, Any],
    facts: AdjudicationFacts,
) -> None:
    claim.approved_amount = breakdown.benefit
    claim.member_responsibility = breakdown.member_responsibility
    claim.adjudication = decision
    facts.spend(claim, breakdown)


# --------------------------------------------------------------------------- adjudication facts


@dataclass(slots=True)
class AdjudicationFacts:
    """What adjudication needs for a batch of claims, loaded set-based, totals locked."""

    enrolments: dict[int, rules.EnrolmentFacts]
    plans: dict[int, rules.PlanFacts]
    coverages: dict[int, list[rules.CoverageFacts]]
    documents: dict[int, frozenset[DocumentType]]
    duplicates: set[int]
    totals: dict[tuple[int, int], list[Decimal]]  # (member_plan, year) -> [deductible, oop]
    usage: dict[tuple[int, int], dict[int, Decimal]]  # (member_plan, year) -> coverage -> used
    dirty_totals: set[tuple[int, int]] = field(default_factory=set)
    dirty_usage: set[tuple[int, int, int]] = field(default_factory=set)

    def claim_facts(self, claim: ClaimState) -> rules.ClaimFacts:
        return rules.ClaimFacts(
            procedure_type=claim.procedure_type,
            procedure_code=claim.procedure_code,
            service_date=claim.service_date,
            claimed_amount=claim.claimed_amount,
            document_types=self.documents.get(claim.id, frozenset()),
            is_duplicate=claim.id in self.duplicates,
        )

    def year_to_date(self, claim: ClaimState) -> rules.YearToDate:
        year = claim.service_date.year
        deductible, oop = self.totals.get((claim.member_plan_id, year), [Decimal(0), Decimal(0)])
        used = self.usage.get((claim.member_plan_id, year), {})
        return rules.YearToDate(deductible, oop, dict(used))

    def coverage_for(self, claim: ClaimState) -> rules.CoverageFacts | None:
        return rules.select_coverage(self.claim_facts(claim), self.coverages.get(claim.plan_id, []))

    def coverage_of(self, claim: ClaimState) -> int | None:
        coverage = self.coverage_for(claim)
        return None if coverage is None else coverage.coverage_id

    def adjudicate(self, claim: ClaimState, threshold: Decimal) -> rules.Adjudication:
        return rules.adjudicate(
            self.claim_facts(claim),
            self.enrolments[claim.member_plan_id],
            self.plans[claim.plan_id],
            self.coverages.get(claim.plan_id, []),
            self.year_to_date(claim),
            auto_approval_threshold=threshold,
        )

    def review_breakdown(self, claim: ClaimState, approved: Decimal | None) -> rules.Breakdown:
        coverage = self.coverage_for(claim)
        if coverage is None:
            if approved is None:
                raise BusinessRuleViolation(
                    "The plan does not cover this procedure: enter the approved amount",
                    field="approvedAmount",
                    code=ErrorCode.INVALID_APPROVED_AMOUNT,
                )
            return _uncovered_breakdown(claim.claimed_amount, approved)
        return rules.review_breakdown(
            claim.claimed_amount,
            coverage,
            self.plans[claim.plan_id],
            self.year_to_date(claim),
            approved,
        )

    def spend(self, claim: ClaimState, breakdown: rules.Breakdown) -> None:
        coverage = self.coverage_for(claim)
        year = claim.service_date.year
        after = rules.year_to_date_after(
            self.year_to_date(claim), breakdown, coverage.coverage_id if coverage else 0
        )
        key = (claim.member_plan_id, year)
        self.totals[key] = [after.deductible_paid, after.out_of_pocket_paid]
        self.dirty_totals.add(key)
        if coverage is not None:
            self.usage.setdefault(key, {})[coverage.coverage_id] = after.limit_used.get(
                coverage.coverage_id, Decimal(0)
            )
            self.dirty_usage.add((claim.member_plan_id, coverage.coverage_id, year))

    def write_totals(self, ctx: PlanJourneyContext) -> None:
        insert_rows(
            ctx,
            table_of(MemberYearTotals),
            [
                {
                    "member_plan_id": member_plan,
                    "year": year,
                    "deductible_paid": self.totals[(member_plan, year)][0],
                    "out_of_pocket_paid": self.totals[(member_plan, year)][1],
                }
                for member_plan, year in sorted(self.dirty_totals)
            ],
            upsert_on=("member_plan_id", "year"),
        )
        insert_rows(
            ctx,
            table_of(CoverageUsage),
            [
                {
                    "member_plan_id": member_plan,
                    "coverage_id": coverage,
                    "year": year,
                    "limit_used": self.usage[(member_plan, year)][coverage],
                }
                for member_plan, coverage, year in sorted(self.dirty_usage)
            ],
            upsert_on=("member_plan_id", "coverage_id", "year"),
        )


def _uncovered_breakdown(claimed: Decimal, approved: Decimal) -> rules.Breakdown:
    if approved > claimed:
        raise BusinessRuleViolation(
            "The approved amount cannot exceed the claimed amount",
            field="approvedAmount",
            code=ErrorCode.INVALID_APPROVED_AMOUNT,
        )
    return rules.Breakdown(
        submitted=claimed,
        eligible=approved,
        deductible=Decimal("0.00"),
        copay=Decimal("0.00"),
        coverage_percent=Decimal(100),
        benefit=approved,
        member_responsibility=claimed - approved,
    )


def coverage_facts(coverage: Coverage) -> rules.CoverageFacts:
    return rules.CoverageFacts(
        coverage_id=coverage.id,
        procedure_type=ProcedureType(coverage.procedure_type),
        procedure_code=coverage.procedure_code,
        coverage_percent=coverage.coverage_percent,
        copay=coverage.copay,
        deductible_applies=coverage.deductible_applies,
        annual_limit=coverage.annual_limit,
        waiting_period_days=coverage.waiting_period_days,
        preauthorization_required=coverage.preauthorization_required,
        effective_from=coverage.effective_from,
        effective_to=coverage.effective_to,
        active=coverage.active,
    )


def load_adjudication_facts(
    ctx: PlanJourneyContext,
    claims: Sequence[ClaimState],
    *,
    lock_totals: bool,
    unsaved_documents: Mapping[int, frozenset[DocumentType]] | None = None,
) -> AdjudicationFacts:
    """Load what adjudicating ``claims`` needs. ``unsaved_documents`` is for claims not stored
    yet: their documents come from the submission, and the unique index rules out duplicates."""
    member_plan_ids = sorted({c.member_plan_id for c in claims})
    plan_ids = sorted({c.plan_id for c in claims})
    claim_ids = [c.id for c in claims]
    enrolments = {
        row.id: rules.EnrolmentFacts(row.start_date, row.end_date, MemberPlanStatus(row.status))
        for row in ctx.execute(
            sa.select(
                MemberPlan.id, MemberPlan.start_date, MemberPlan.end_date, MemberPlan.status
            ).where(in_array(MemberPlan.id, member_plan_ids))
        )
    }
    plans = {
        row.id: rules.PlanFacts(row.annual_deductible, row.out_of_pocket_max)
        for row in ctx.execute(
            sa.select(Plan.id, Plan.annual_deductible, Plan.out_of_pocket_max).where(
                in_array(Plan.id, plan_ids)
            )
        )
    }
    coverages: dict[int, list[rules.CoverageFacts]] = {}
    for coverage in ctx.session.scalars(
        sa.select(Coverage).where(in_array(Coverage.plan_id, plan_ids))
    ):
        coverages.setdefault(coverage.plan_id, []).append(coverage_facts(coverage))
    if unsaved_documents is not None:
        documents = {claim.id: unsaved_documents.get(claim.id, frozenset()) for claim in claims}
        duplicates: set[int] = set()
    else:
        documents, duplicates = _stored_documents_and_duplicates(ctx, claim_ids)
    totals_t = table_of(MemberYearTotals)
    usage_t = table_of(CoverageUsage)
    keys = sorted({(c.member_plan_id, c.service_date.year) for c in claims})
    if lock_totals:
        # Year-to-date rows are locked after the claims (always in that order, sorted), so
        # two claims of one member decided at once cannot both spend the last of a limit.
        insert_rows(
            ctx,
            totals_t,
            [{"member_plan_id": mp, "year": year} for mp, year in keys],
            on_conflict_do_nothing=True,
        )
    key_columns = ("member_plan_id", "year")
    totals = {
        (row.member_plan_id, row.year): [row.deductible_paid, row.out_of_pocket_paid]
        for row in select_by_keys(
            ctx,
            totals_t,
            keys,
            key_columns,
            ("member_plan_id", "year", "deductible_paid", "out_of_pocket_paid"),
            lock=lock_totals,
        )
    }
    usage: dict[tuple[int, int], dict[int, Decimal]] = {}
    for row in select_by_keys(
        ctx, usage_t, keys, key_columns, ("member_plan_id", "coverage_id", "year", "limit_used")
    ):
        usage.setdefault((row.member_plan_id, row.year), {})[row.coverage_id] = row.limit_used
    return AdjudicationFacts(
        enrolments=enrolments,
        plans=plans,
        coverages=coverages,
        documents=documents,
        duplicates=duplicates,
        totals=totals,
        usage=usage,
    )


def _stored_documents_and_duplicates(
    ctx: PlanJourneyContext, claim_ids: list[int]
) -> tuple[dict[int, frozenset[DocumentType]], set[int]]:
    types: dict[int, set[DocumentType]] = {}
    for row in ctx.execute(
        sa.select(documents_t.c.claim_id, documents_t.c.type).where(
            in_array(documents_t.c.claim_id, claim_ids)
        )
    ):
        types.setdefault(row.claim_id, set()).add(DocumentType(row.type))
    other = claims_t.alias("other")
    duplicates = set(
        ctx.session.scalars(
            sa.select(claims_t.c.id)
            .join(
                other,
                sa.and_(
                    other.c.user_id == claims_t.c.user_id,
                    other.c.service_date == claims_t.c.service_date,
                    other.c.procedure_code == claims_t.c.procedure_code,
                    sa.func.lower(other.c.provider_name) == sa.func.lower(claims_t.c.provider_name),
                    other.c.id < claims_t.c.id,
                    # Literal, so the planner matches the live-duplicate partial index.
                    sa.text("other.status NOT IN ('REJECTED', 'CANCELLED', 'EXPIRED')"),
                ),
            )
            .where(in_array(claims_t.c.id, claim_ids))
        )
    )
    return {key: frozenset(value) for key, value in types.items()}, duplicates


# --------------------------------------------------------------------------- maintenance


def sweep_overdue_steps(ctx: PlanJourneyContext, settings: Settings, *, limit: int) -> int:
    """Re-publish the automatic step of claims that waited for it too long. The caller commits.

    The broker may have lost the message (a Redis restart, a worker killed with messages
    unacknowledged); the claim row says what is owed, and the step's derived event id makes
    a second copy harmless.
    """
    rows = ctx.execute(
        sa.select(*_LOCKED_COLUMNS)
        .where(claims_t.c.next_step.is_not(None), claims_t.c.next_step_due_at < utcnow())
        .order_by(claims_t.c.next_step_due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    changes = ChangeSet(settings)
    for row in rows:
        claim = ClaimState(**row._asdict())
        assert claim.next_step is not None
        changes.schedule(claim, claim.next_step)
    changes.write(ctx)
    return len(changes.touched)


def expire_overdue_claims(ctx: PlanJourneyContext, settings: Settings, *, limit: int) -> int:
    """Expire claims whose deadline for additional information has passed. The caller commits."""
    # Rows another transaction holds are skipped, not waited for: the next run takes them.
    overdue = ctx.execute(
        sa.select(claims_t.c.id, claims_t.c.version)
        .where(
            claims_t.c.status == ClaimStatus.ADDITIONAL_INFO_REQUIRED,
            claims_t.c.info_due_at < utcnow(),
        )
        .order_by(claims_t.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    commands = [
        ClaimCommand(
            claim_id=row.id,
            event=ClaimEvent.EXPIRE,
            event_id=automatic_event_id(row.id, "expire", row.version),
        )
        for row in overdue
    ]
    outcomes = apply_commands(ctx, commands, settings)
    return sum(1 for outcome in outcomes if outcome.status == "applied")


def refuse_if_any(outcomes: Sequence[Outcome]) -> None:
    """For single-claim callers (HTTP): surface a refusal as the domain error it is."""
    for outcome in outcomes:
        if outcome.error is not None and outcome.status in ("refused", "stale"):
            raise outcome.error


__all__ = [
    "AdjudicationFacts",
    "AutomaticStep",
    "ChangeSet",
    "ClaimState",
    "InvalidTransition",
    "Outcome",
    "SubmissionRequest",
    "SubmissionResult",
    "advance_claims",
    "apply_commands",
    "expire_overdue_claims",
    "lock_claims",
    "refuse_if_any",
    "submit_claims",
    "sweep_overdue_steps",
]
