"""Submissions: claims stored with their documents, the ready ones submitted and owed a review."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.dialects.postgresql import distinct_on

from config import Settings
from models import adjudication as rules
from models.base import table_of
from models.commands import Actor, ClaimCommand
from models.enums import ActorRole, ClaimEvent, ClaimStatus, MemberPlanStatus
from models.errors import (
    BusinessRuleViolation,
    ConcurrentChange,
    ErrorCode,
    PlanError,
    ValidationFailed,
)
from models.idempotency import refuse_reused_key, request_fingerprint
from models.submission import ClaimSubmission, QueuedClaim, all_errors, refuse_unstorable_text
from models.tables import MemberPlan
from service import sql
from service.changes import ChangeSet, ClaimState, actions_t, claims_t, utcnow
from service.facts import documents_t
from service.review import review_new_claims
from storage.bulk import in_array, insert_rows, pipelined, read_later, select_by_keys
from storage.unit_of_work import PlanJourneyContext


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
    action_id: uuid.UUID | None = None  # the submit action a worker applies; None for a draft


# A claim stored under an Idempotency-Key: its answer as a replay, and its request's fingerprint.
_StoredUnderKey = tuple[SubmissionResult, str | None]
_SUBMISSION_FIELDS = set(ClaimSubmission.model_fields)


@dataclass(frozen=True, slots=True)
class MemberEnrolment:
    """The columns of a member plan a submission needs (no ORM object on the hot path)."""

    id: int
    user_id: str
    plan_id: int
    facts: rules.EnrolmentFacts  # dates and status: what adjudication checks again


@dataclass(frozen=True, slots=True)
class _Pending:
    """A request that passed the enrolment check, with its position and new claim."""

    index: int
    request: SubmissionRequest
    state: ClaimState
    enrolment: MemberEnrolment
    submit_action: ClaimCommand | None = None


def submit_claims(
    ctx: PlanJourneyContext,
    requests: Sequence[SubmissionRequest],
    settings: Settings,
    *,
    review_now: bool = False,
    now: datetime | None = None,
) -> list[SubmissionResult]:
    """Store claims with their documents, each ready one with a queued submit action.

    The submit task fires submit, start_review and the automatic decision later, in one
    transaction. With ``review_now`` (the worker's ingest path, where the worker is the one
    that would apply the action) the claim is submitted, put under review and decided in this
    transaction instead: each claim still passes each event through the state machine with a
    history row and an event apiece, and is stored once with its final values. Items are
    answered one by one: a refused item does not stop the others. The caller commits.
    """
    results: list[SubmissionResult | None] = [None] * len(requests)
    changes = ChangeSet.at(settings, now)
    pending = _draft_claims(ctx, changes, requests, results, submit_now=review_now)

    refused: set[int] = set()
    if review_now:
        # Deciding before the insert spends year-to-date totals, so what the unique indexes
        # would refuse is found first; a conflict left after that is a concurrent submission.
        refused = _refused_by_unique_indexes(ctx, [p.state for p in pending])
        review_new_claims(
            ctx,
            changes,
            [p.state for p in pending if p.state.id not in refused],
            {
                p.state.id: frozenset(document.type for document in p.request.claim.documents)
                for p in pending
            },
            enrolments={p.enrolment.id: p.enrolment.facts for p in pending},
        )

    inserted = _insert_claims(ctx, [p for p in pending if p.state.id not in refused], changes.now)
    if review_now and len(inserted) != len(pending) - len(refused):
        raise ConcurrentChange("A concurrent submission stored the same claim first; retry")

    documents, late_replays = _answer_stored(pending, inserted, results, changes.now)
    for p in pending:
        if p.submit_action is not None and p.state.id in inserted:
            changes.record_action(p.submit_action)
    # The rows were inserted with their final values; what remains is their history, their
    # actions and the outbox.
    changes.keep_only(inserted)
    changes.touched.clear()
    with pipelined(ctx):
        insert_rows(ctx, documents_t, documents)
        changes.write(ctx)
    _answer_late_replays(ctx, requests, late_replays, results)
    return [result for result in results if result is not None]


def _draft_claims(
    ctx: PlanJourneyContext,
    changes: ChangeSet,
    requests: Sequence[SubmissionRequest],
    results: list[SubmissionResult | None],
    *,
    submit_now: bool,
) -> list[_Pending]:
    """Answer replays and refusals in ``results``; draft a claim for the rest, and submit it
    (``submit_now``) or prepare its submit action."""
    # The three reads share one round trip. An id is taken for every request: one that is
    # answered as a replay or refused leaves a gap in the sequence, as a rollback would.
    with pipelined(ctx):
        stored = _stored_under_keys(ctx, requests)
        enrolled = _enrolments_of(ctx, {request.user_id for request in requests})
        allocated = read_later(ctx, sql.ALLOCATE_CLAIM_IDS, {"count": len(requests)})
    replays = _replays(ctx, stored())
    enrolments = _enrolments_by_user(enrolled())
    claim_ids = [row.id for row in allocated()]
    accepted: list[tuple[int, SubmissionRequest, MemberEnrolment]] = []
    for index, request in enumerate(requests):
        replay = replays.get((request.user_id, request.idempotency_key))
        if replay is not None:
            results[index] = _replay_of(request, replay)
            continue
        try:
            enrolment = _enrolment_for(request, enrolments.get(request.user_id, []))
        except PlanError as refusal:
            results[index] = SubmissionResult(None, None, error=refusal)
            continue
        accepted.append((index, request, enrolment))

    pending: list[_Pending] = []
    members: dict[str, Actor] = {}  # one frozen Actor per member of the batch
    for index, request, enrolment in accepted:
        claim_id = claim_ids[index]
        state = _draft(claim_id, request, enrolment)
        if request.claim.draft:
            pending.append(_Pending(index, request, state, enrolment))
            continue
        member = members.get(request.user_id)
        if member is None:
            member = members[request.user_id] = Actor(id=request.user_id, role=ActorRole.MEMBER)
        if submit_now:
            changes.transition(state, ClaimEvent.SUBMIT, event_id=uuid.uuid4(), actor=member)
            pending.append(_Pending(index, request, state, enrolment))
        else:
            submit = ClaimCommand(
                claim_id=claim_id, event=ClaimEvent.SUBMIT, event_id=uuid.uuid4(), actor=member
            )
            pending.append(_Pending(index, request, state, enrolment, submit))
    return pending


def _insert_claims(ctx: PlanJourneyContext, pending: Sequence[_Pending], now: datetime) -> set[int]:
    rows = insert_rows(
        ctx,
        claims_t,
        [_claim_row(p.state, p.request, now) for p in pending],
        on_conflict_do_nothing=True,
        returning="id",
    )
    return {row.id for row in rows}


def _answer_stored(
    pending: Sequence[_Pending],
    inserted: set[int],
    results: list[SubmissionResult | None],
    now: datetime,
) -> tuple[list[dict[str, Any]], list[int]]:
    """Answer the stored claims; return their document rows and the positions to look up again."""
    documents: list[dict[str, Any]] = []
    late_replays: list[int] = []
    for p in pending:
        if p.state.id not in inserted:
            # The live-duplicate index or a concurrent request with the same key refused it.
            if p.request.idempotency_key is not None:
                late_replays.append(p.index)
            else:
                results[p.index] = SubmissionResult(None, None, error=_duplicate_error())
            continue
        documents.extend(
            {
                "claim_id": p.state.id,
                "type": document.type.value,
                "file_name": document.file_name,
                "mime_type": document.mime_type,
                "size_bytes": document.size_bytes,
                "sha256": document.sha256,
                "storage_key": document.storage_key,
                "uploaded_at": now,
            }
            for document in p.request.claim.documents
        )
        action_id = None if p.submit_action is None else p.submit_action.event_id
        results[p.index] = SubmissionResult(p.state.id, p.state.status, action_id=action_id)
    return documents, late_replays


def _answer_late_replays(
    ctx: PlanJourneyContext,
    requests: Sequence[SubmissionRequest],
    late_replays: list[int],
    results: list[SubmissionResult | None],
) -> None:
    """Same key as an earlier item or a concurrent request: answer with that claim."""
    if not late_replays:
        return
    again = _replays(ctx, _stored_under_keys(ctx, [requests[index] for index in late_replays])())
    for index in late_replays:
        request = requests[index]
        found = again.get((request.user_id, request.idempotency_key))
        results[index] = (
            _replay_of(request, found)
            if found
            else SubmissionResult(None, None, error=_duplicate_error())
        )


def _refused_by_unique_indexes(ctx: PlanJourneyContext, states: Sequence[ClaimState]) -> set[int]:
    """New claims a unique index would refuse: a live duplicate stored or earlier in the batch."""
    if not states:
        return set()
    rows = ctx.execute(
        sql.REFUSED_BY_UNIQUE_INDEXES,
        {
            "ids": [s.id for s in states],
            "users": [s.user_id for s in states],
            "dates": [s.service_date for s in states],
            "codes": [s.procedure_code for s in states],
            "providers": [s.provider_name for s in states],
        },
    )
    return {row.id for row in rows}


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
    now: datetime | None = None,
) -> list[QueuedSubmission]:
    """Validate each item (models.submission.QueuedClaim) and submit the valid ones together.

    Used by ``POST /claims/batch`` and the ``ingest`` queue. ``fallback_key`` names the
    idempotency key of an item that brings none (the ingest task derives it from the message);
    ``review_now`` and ``now`` are submit_claims'. The caller commits.
    """
    # Today, read once for the whole batch (the filing window is counted from the real day).
    context = {"filing_window_days": settings.filing_window_days, "today": utcnow().date()}
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
    submitted = submit_claims(ctx, requests, settings, review_now=review_now, now=now)
    for index, result in zip(positions, submitted, strict=True):
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


def _draft(claim_id: int, request: SubmissionRequest, enrolment: MemberEnrolment) -> ClaimState:
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


def _claim_row(state: ClaimState, request: SubmissionRequest, now: datetime) -> dict[str, Any]:
    claim = request.claim
    return {
        "created_at": now,
        "updated_at": now,
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
        "request_fingerprint": None if request.idempotency_key is None else _fingerprint(request),
        "submitted_at": state.submitted_at,
        "next_step": state.next_step,
        "next_step_due_at": state.next_step_due_at,
        "approved_amount": state.approved_amount,
        "member_responsibility": state.member_responsibility,
        "decision_reason_code": state.decision_reason_code,
        "adjudication": state.adjudication,
        "decided_at": state.decided_at,
        "info_due_at": state.info_due_at,
        "history_hash": state.history_hash,
    }


def _fingerprint(request: SubmissionRequest) -> str:
    # The fields of a submission, whichever route carried it (a batch item's user id and key
    # are not part of what the key names).
    return request_fingerprint(
        "claim-submission", request.claim.model_dump(include=_SUBMISSION_FIELDS)
    )


def _replay_of(request: SubmissionRequest, found: _StoredUnderKey) -> SubmissionResult:
    """The stored claim's answer for a repeat of its request; the refusal for another one."""
    result, stored_fingerprint = found
    try:
        refuse_reused_key(stored_fingerprint, _fingerprint(request))
    except ValidationFailed as reused:
        return SubmissionResult(None, None, error=reused)
    return result


def _stored_under_keys(
    ctx: PlanJourneyContext, requests: Iterable[SubmissionRequest]
) -> Callable[[], list[Any]]:
    """The claims already stored under the requests' idempotency keys (read when called)."""
    keyed = sorted(
        {(r.user_id, r.idempotency_key) for r in requests if r.idempotency_key is not None}
    )
    return select_by_keys(
        ctx,
        claims_t,
        keyed,
        ("user_id", "idempotency_key"),
        ("id", "user_id", "idempotency_key", "status", "request_fingerprint"),
    )


def _replays(
    ctx: PlanJourneyContext, rows: Sequence[Any]
) -> dict[tuple[str, str | None], _StoredUnderKey]:
    """The claims stored under the requests' keys, answered as replays with their latest
    submit action, each with the fingerprint of the request that stored it."""
    if not rows:
        return {}
    submits: dict[int, uuid.UUID] = {
        action.claim_id: action.id
        for action in ctx.execute(
            sa.select(actions_t.c.claim_id, actions_t.c.id)
            .where(
                in_array(actions_t.c.claim_id, [row.id for row in rows]),
                actions_t.c.event == ClaimEvent.SUBMIT,
            )
            .order_by(actions_t.c.claim_id, actions_t.c.requested_at.desc())
            .ext(distinct_on(actions_t.c.claim_id))
        )
    }
    return {
        (row.user_id, row.idempotency_key): (
            SubmissionResult(
                row.id, ClaimStatus(row.status), replayed=True, action_id=submits.get(row.id)
            ),
            row.request_fingerprint,
        )
        for row in rows
    }


def _enrolments_of(ctx: PlanJourneyContext, user_ids: set[str]) -> Callable[[], list[Any]]:
    """The members' enrolments (read when called)."""
    return select_by_keys(
        ctx,
        table_of(MemberPlan),
        [(user_id,) for user_id in sorted(user_ids)],
        ("user_id",),
        ("id", "user_id", "plan_id", "start_date", "end_date", "status"),
    )


def _enrolments_by_user(rows: Sequence[Any]) -> dict[str, list[MemberEnrolment]]:
    by_user: dict[str, list[MemberEnrolment]] = {}
    for row in sorted(rows, key=lambda row: row.id):
        by_user.setdefault(row.user_id, []).append(
            MemberEnrolment(
                id=row.id,
                user_id=row.user_id,
                plan_id=row.plan_id,
                facts=rules.EnrolmentFacts(
                    row.start_date, row.end_date, MemberPlanStatus(row.status)
                ),
            )
        )
    return by_user


def _enrolment_for(
    request: SubmissionRequest, enrolments: list[MemberEnrolment]
) -> MemberEnrolment:
    claim = request.claim
    if claim.member_plan_id is not None:
        field_name = "memberPlanId"
        candidates = [e for e in enrolments if e.id == claim.member_plan_id]
    else:
        field_name = "planId"
        candidates = [e for e in enrolments if e.plan_id == claim.plan_id]
    for enrolment in candidates:
        if enrolment.facts.covers(claim.service_date):
            return enrolment
    raise BusinessRuleViolation(
        "You have no enrolment in this plan that is active on the service date",
        field=field_name,
        code=ErrorCode.NO_COVERAGE,
    )
