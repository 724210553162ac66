"""Member and reviewer actions, and the commands that fire their events.

``record_action`` checks a person's request against the claim as it is now (authorization,
the machine's edge, the body's rules) and records it as a queued action with its task as
outbox work. ``apply_actions`` is what the tasks run: it locks the claims, reads the actions
still queued, fires each one's event with the person as the actor (``fire_commands``, which
``apply_commands`` shares with expiry and the seed) and marks each applied or refused with its
code. The action id is the transition's event id, so a message delivered twice changes one
thing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from config import Settings
from models.commands import Actor, ClaimCommand, DocumentRef
from models.enums import ActionStatus, ActorRole, ClaimEvent, ClaimStatus, ReasonCode
from models.errors import (
    BusinessRuleViolation,
    ErrorCode,
    Forbidden,
    NotFound,
    PlanError,
)
from models.idempotency import key_reused
from models.lifecycle import can_fire, fire
from service.approvals import Approval, ReviewGate, is_reviewer_decision, load_gate
from service.changes import (
    LOCKED_COLUMNS,
    ChangeSet,
    ClaimState,
    Outcome,
    actions_t,
    applied_event_ids,
    claims_t,
    documents_json,
    lock_claims,
    take_claims,
)
from service.facts import documents_t, load_adjudication_facts
from service.review import review_new_claims
from storage.bulk import in_array, insert_rows, update_rows
from storage.unit_of_work import PlanJourneyContext


@dataclass(frozen=True, slots=True)
class RecordedAction:
    action_id: uuid.UUID
    claim_id: int
    event: ClaimEvent
    status: ActionStatus
    replayed: bool = False


# --------------------------------------------------------------------------- recording


def record_action(
    ctx: PlanJourneyContext,
    command: ClaimCommand,
    settings: Settings,
    *,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> RecordedAction:
    """Record a person's action if the claim, as it is now, allows it. The caller commits.

    Refused at once: another member's claim (404), a reviewer's own claim (403), an edge the
    machine does not hold (409), a body that breaks a rule (422). A second action while one
    is queued breaks the partial unique index: 409 PLAN_CLAIM_BUS_ACTION_PENDING.
    """
    if idempotency_key is not None:
        earlier = _action_by_key(ctx, command.actor.id, idempotency_key)
        if earlier is not None:
            return _replay(earlier, command)
    row = ctx.execute(sa.select(*LOCKED_COLUMNS).where(claims_t.c.id == command.claim_id)).first()
    if row is None:
        raise NotFound("No such claim", field="id")
    check_command(ClaimState(**row._asdict()), command)
    changes = ChangeSet.at(settings, now)
    if is_reviewer_decision(command):
        # Re-checked when the task applies it: the lease may expire or move meanwhile.
        load_gate(ctx, [command.claim_id], settings.four_eyes_threshold, changes.now).check(
            command.claim_id, command
        )
    changes.record_action(command, idempotency_key=idempotency_key)
    changes.write(ctx)
    return RecordedAction(command.event_id, command.claim_id, command.event, ActionStatus.QUEUED)


def _action_by_key(ctx: PlanJourneyContext, actor_id: str, key: str) -> Any:
    return ctx.execute(
        sa.select(actions_t).where(
            actions_t.c.actor_id == actor_id, actions_t.c.idempotency_key == key
        )
    ).first()


def _replay(earlier: Any, command: ClaimCommand) -> RecordedAction:
    """The action an Idempotency-Key already recorded, if the request is the same one."""
    asked = (
        command.claim_id,
        command.event,
        None if command.reason_code is None else str(command.reason_code),
        command.note,
        command.approved_amount,
        documents_json(command.documents),
    )
    stored = (
        earlier.claim_id,
        earlier.event,
        earlier.reason_code,
        earlier.note,
        earlier.approved_amount,
        earlier.documents,
    )
    if asked != stored:
        raise key_reused()
    return RecordedAction(
        earlier.id, earlier.claim_id, earlier.event, ActionStatus(earlier.status), replayed=True
    )


# --------------------------------------------------------------------------- applying


def apply_actions(
    ctx: PlanJourneyContext,
    action_ids: Iterable[uuid.UUID],
    settings: Settings,
    *,
    now: datetime | None = None,
) -> list[Outcome]:
    """Apply the actions among ``action_ids`` still queued, each once. The caller commits.

    The claims are locked before the actions are read, so two deliveries of one action
    serialize on its claim and the second finds it settled. A submit goes on to start the
    review and take the automatic decision in this transaction, as the ingest queue does.
    """
    ids = sorted(set(action_ids))
    claim_of: dict[uuid.UUID, int] = {
        row.id: row.claim_id
        for row in ctx.execute(
            sa.select(actions_t.c.id, actions_t.c.claim_id).where(in_array(actions_t.c.id, ids))
        )
    }
    claims = lock_claims(ctx, claim_of.values())
    queued = ctx.execute(
        sa.select(actions_t).where(
            in_array(actions_t.c.id, ids), actions_t.c.status == ActionStatus.QUEUED
        )
    ).all()
    commands = [command_of(row) for row in queued]
    changes = ChangeSet.at(settings, now)
    applied_before = applied_event_ids(ctx, (command.event_id for command in commands))
    outcomes = fire_commands(ctx, changes, commands, claims, applied_before)
    submitted = [
        claims[o.claim_id]
        for o in outcomes
        if o.status == "applied" and claims[o.claim_id].status is ClaimStatus.SUBMITTED
    ]
    review_new_claims(ctx, changes, submitted, None)
    changes.write(ctx)
    _settle(ctx, outcomes, claims, changes.now)
    settled = {row.id for row in queued}
    return [
        *outcomes,
        *(
            Outcome(
                claim_of.get(action_id, 0),
                action_id,
                "duplicate" if action_id in claim_of else "stale",
            )
            for action_id in ids
            if action_id not in settled
        ),
    ]


def command_of(action: Any) -> ClaimCommand:
    """The command a stored action fires: its person, its inputs, its id as the event id."""
    return ClaimCommand(
        claim_id=action.claim_id,
        event=action.event,
        event_id=action.id,
        actor=Actor(id=action.actor_id, role=ActorRole(action.actor_role)),
        reason_code=action.reason_code,
        note=action.note,
        approved_amount=action.approved_amount,
        documents=tuple(DocumentRef.model_validate(d) for d in action.documents or ()),
    )


def _settle(
    ctx: PlanJourneyContext,
    outcomes: Sequence[Outcome],
    claims: dict[int, ClaimState],
    now: datetime,
) -> None:
    """Mark each action applied or refused, with the claim's status at the end."""
    rows = []
    for outcome in outcomes:
        refusal = outcome.error if outcome.status in ("refused", "stale") else None
        claim = claims.get(outcome.claim_id)
        rows.append(
            {
                "id": outcome.event_id,
                "status": (ActionStatus.REFUSED if refusal else ActionStatus.APPLIED).value,
                "applied_at": now,
                "claim_status": None if claim is None else claim.status.value,
                "error_code": None if refusal is None else refusal.code.value,
                "error_message": None if refusal is None else refusal.message,
            }
        )
    update_rows(ctx, actions_t, rows, touch=None)


# --------------------------------------------------------------------------- firing commands


def apply_commands(
    ctx: PlanJourneyContext,
    commands: Sequence[ClaimCommand],
    settings: Settings,
    *,
    now: datetime | None = None,
) -> list[Outcome]:
    """Fire each command's event on its claim, once. The caller commits.

    A command whose event id was already applied is a duplicate and changes nothing. An event
    the claim's state does not allow is refused with PLAN_CLAIM_BUS_INVALID_STATUS_TRANSITION
    (or, for an automatic command overtaken by a person, skipped as stale).
    """
    unique, claims, applied_before = take_claims(ctx, commands)
    changes = ChangeSet.at(settings, now)
    outcomes = fire_commands(ctx, changes, list(unique.values()), claims, applied_before)
    changes.write(ctx)
    return outcomes


def fire_commands(
    ctx: PlanJourneyContext,
    changes: ChangeSet,
    commands: Sequence[ClaimCommand],
    claims: dict[int, ClaimState],
    applied_before: dict[uuid.UUID, int],
) -> list[Outcome]:
    """Fire each command on its locked claim into ``changes``; return what became of each.

    A person's decision also passes the review gate (only the holder decides; four eyes on
    large approvals), and once applied frees the claim's assignment."""
    gate = load_gate(
        ctx,
        [c.claim_id for c in commands if is_reviewer_decision(c)],
        changes.settings.four_eyes_threshold,
        changes.now,
    )
    approvals: list[tuple[ClaimState, ClaimCommand]] = []
    outcomes: list[Outcome] = []
    for command in commands:
        claim = claims.get(command.claim_id)
        refusal = _screen(command, claim, applied_before.get(command.event_id), gate)
        if refusal is not None:
            outcomes.append(refusal)
            continue
        assert claim is not None
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
        if is_reviewer_decision(command):
            gate.decided(claim, command.actor)
        outcomes.append(Outcome(claim.id, command.event_id, "applied", None, claim.status))

    if approvals:
        outcomes.extend(_approve(ctx, changes, approvals, gate))
    gate.write(ctx, changes)
    _attach_documents(
        ctx,
        changes.now,
        [
            c
            for c in commands
            if c.event is ClaimEvent.PROVIDE_INFO and c.documents and _was_applied(c, outcomes)
        ],
    )
    return outcomes


def _screen(
    command: ClaimCommand, claim: ClaimState | None, applied_to: int | None, gate: ReviewGate
) -> Outcome | None:
    """Why ``command`` must not fire (missing claim, duplicate, not allowed), or None."""
    if claim is None:
        return Outcome(command.claim_id, command.event_id, "refused", NotFound("No such claim"))
    if applied_to is not None:
        if applied_to != claim.id:
            return Outcome(claim.id, command.event_id, "refused", _reused_event_id(), claim.status)
        return Outcome(claim.id, command.event_id, "duplicate", None, claim.status)
    try:
        check_command(claim, command)
        gate.check(claim.id, command)
    except PlanError as refusal:
        kind = "stale" if command.is_automatic else "refused"
        return Outcome(claim.id, command.event_id, kind, refusal, claim.status)
    return None


def _approve(
    ctx: PlanJourneyContext,
    changes: ChangeSet,
    approvals: list[tuple[ClaimState, ClaimCommand]],
    gate: ReviewGate,
) -> list[Outcome]:
    """Reviewer approvals: the breakdown against coverage, spent from the year-to-date totals.

    An amount at or above the four-eyes threshold is first recorded as pending (nothing is
    spent, the claim stays under review); a second reviewer's approval of the same amount
    decides it, its history row naming the first approver."""
    outcomes: list[Outcome] = []
    facts = load_adjudication_facts(ctx, [claim for claim, _ in approvals], lock_totals=True)
    for claim, command in approvals:
        try:
            breakdown = facts.review_breakdown(claim, command.approved_amount)
        except PlanError as refusal:
            outcomes.append(Outcome(claim.id, command.event_id, "refused", refusal, claim.status))
            continue
        verdict = (
            gate.approval(claim.id, breakdown.benefit)
            if is_reviewer_decision(command)
            else Approval.SINGLE
        )
        if verdict is Approval.FIRST:
            gate.first_approval(claim, command, breakdown.benefit, changes.now)
            outcomes.append(Outcome(claim.id, command.event_id, "applied", None, claim.status))
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
        if verdict is Approval.SECOND:
            decision["firstApprover"] = gate.pending[claim.id].as_details()
        facts.record_approval(claim, breakdown, decision)
        changes.transition(
            claim,
            ClaimEvent.APPROVE,
            event_id=command.event_id,
            actor=command.actor,
            reason_code=str(reasons[0]),
            note=command.note,
            details=decision,
        )
        if is_reviewer_decision(command):
            gate.decided(claim, command.actor)
        outcomes.append(Outcome(claim.id, command.event_id, "applied", None, claim.status))
    facts.write_totals(ctx)
    return outcomes


def _reused_event_id() -> BusinessRuleViolation:
    return BusinessRuleViolation(
        "This event id was already used for another claim", code=ErrorCode.IDEMPOTENCY_CONFLICT
    )


def _was_applied(command: ClaimCommand, outcomes: list[Outcome]) -> bool:
    return any(o.event_id == command.event_id and o.status == "applied" for o in outcomes)


def _attach_documents(
    ctx: PlanJourneyContext, now: datetime, commands: list[ClaimCommand]
) -> None:
    rows = [
        {**document.model_dump(), "claim_id": command.claim_id, "uploaded_at": now}
        for command in commands
        for document in command.documents
    ]
    insert_rows(ctx, documents_t, rows)


def check_command(claim: ClaimState, command: ClaimCommand) -> None:
    """What refuses a command on the claim as it stands: the person, the machine, the rules of
    its event. The API runs it when the action is asked for, the task again when it applies."""
    _authorize(claim, command)
    if not can_fire(claim.status, command.event):
        fire(claim, command.event)  # raises InvalidTransition with its message
    for rule in EVENT_RULES.get(command.event, ()):
        rule(claim, command)


def _approved_amount_within_claim(claim: ClaimState, command: ClaimCommand) -> None:
    if command.approved_amount is not None and command.approved_amount > claim.claimed_amount:
        raise BusinessRuleViolation(
            "The approved amount cannot exceed the claimed amount",
            field="approvedAmount",
            code=ErrorCode.INVALID_APPROVED_AMOUNT,
        )


# The rules of one event beyond the machine's edge, checked on request and on application.
EVENT_RULES: dict[ClaimEvent, tuple[Callable[[ClaimState, ClaimCommand], None], ...]] = {
    ClaimEvent.APPROVE: (_approved_amount_within_claim,),
}


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
