"""Member and reviewer commands: each command's event fired on its claim, once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from config import Settings
from models.commands import ClaimCommand
from models.enums import ActorRole, ClaimEvent, ReasonCode
from models.errors import BusinessRuleViolation, ErrorCode, Forbidden, NotFound, PlanError
from models.lifecycle import can_fire, fire
from service.changes import ChangeSet, ClaimState, Outcome, take_claims
from service.facts import documents_t, load_adjudication_facts
from storage.bulk import insert_rows
from storage.unit_of_work import PlanJourneyContext


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
    approvals: list[tuple[ClaimState, ClaimCommand]] = []
    outcomes: list[Outcome] = []

    for command in unique.values():
        claim = claims.get(command.claim_id)
        refusal = _screen(command, claim, applied_before.get(command.event_id))
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
        outcomes.append(Outcome(claim.id, command.event_id, "applied", None, claim.status))

    if approvals:
        outcomes.extend(_approve(ctx, changes, approvals))
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


def _screen(
    command: ClaimCommand, claim: ClaimState | None, applied_to: int | None
) -> Outcome | None:
    """Why ``command`` must not fire (missing claim, duplicate, not allowed), or None."""
    if claim is None:
        return Outcome(command.claim_id, command.event_id, "refused", NotFound("No such claim"))
    if applied_to is not None:
        if applied_to != claim.id:
            return Outcome(claim.id, command.event_id, "refused", _reused_event_id(), claim.status)
        return Outcome(claim.id, command.event_id, "duplicate", None, claim.status)
    try:
        _authorize(claim, command)
        if not can_fire(claim.status, command.event):
            fire(claim, command.event)  # raises InvalidTransition with its message
    except PlanError as refusal:
        kind = "stale" if command.is_automatic else "refused"
        return Outcome(claim.id, command.event_id, kind, refusal, claim.status)
    return None


def _approve(
    ctx: PlanJourneyContext,
    changes: ChangeSet,
    approvals: list[tuple[ClaimState, ClaimCommand]],
) -> list[Outcome]:
    """Reviewer approvals: the breakdown against coverage, spent from the year-to-date totals."""
    outcomes: list[Outcome] = []
    facts = load_adjudication_facts(ctx, [claim for claim, _ in approvals], lock_totals=True)
    for claim, command in approvals:
        try:
            breakdown = facts.review_breakdown(claim, command.approved_amount)
        except PlanError as refusal:
            outcomes.append(Outcome(claim.id, command.event_id, "refused", refusal, claim.status))
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
        outcomes.append(Outcome(claim.id, command.event_id, "applied", None, claim.status))
    facts.write_totals(ctx)
    return outcomes


def _reused_event_id() -> BusinessRuleViolation:
    return BusinessRuleViolation(
        "This event id was already used for another claim", code=ErrorCode.IDEMPOTENCY_CONFLICT
    )


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
