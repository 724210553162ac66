"""Automatic steps: starting reviews, deciding claims against coverage, sweeping and expiry."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa

from config import Settings
from models import adjudication as rules
from models.commands import SYSTEM, ClaimCommand, automatic_event_id
from models.enums import ClaimEvent, ClaimStatus, DocumentType
from models.names import DerivedEvent, Step
from service.actions import apply_commands
from service.changes import (
    LOCKED_COLUMNS,
    AutomaticStep,
    ChangeSet,
    ClaimState,
    Outcome,
    claims_t,
    take_claims,
    utcnow,
)
from service.facts import AdjudicationFacts, load_adjudication_facts
from storage.unit_of_work import PlanJourneyContext

_DECISION_EVENTS = {
    rules.Decision.APPROVE: ClaimEvent.APPROVE,
    rules.Decision.REJECT: ClaimEvent.REJECT,
    rules.Decision.REQUEST_INFO: ClaimEvent.REQUEST_INFO,
}


def advance_claims(
    ctx: PlanJourneyContext,
    steps: Sequence[AutomaticStep],
    settings: Settings,
    *,
    now: datetime | None = None,
) -> list[Outcome]:
    """Start the review of submitted claims and decide them against coverage. The caller commits.

    A step whose claim no longer owes it (already done, cancelled, a person acted) is stale and
    changes nothing, so the sweeper and redeliveries can publish a step as often as they like.
    """
    unique, claims, applied_before = take_claims(ctx, steps)
    changes = ChangeSet.at(settings, now)
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
        if step.step == Step.START_REVIEW:
            changes.transition(claim, ClaimEvent.START_REVIEW, event_id=step.event_id, actor=SYSTEM)
        to_decide.append((claim, step))

    if to_decide:
        facts = load_adjudication_facts(ctx, [claim for claim, _ in to_decide], lock_totals=True)
        for claim, step in to_decide:
            decision_id = (
                step.event_id
                if step.step == Step.ADJUDICATE
                else automatic_event_id(claim.id, DerivedEvent.DECIDE, claim.version)
            )
            decide(changes, facts, claim, decision_id)
            outcomes.append(Outcome(claim.id, step.event_id, "applied", None, claim.status))
        facts.write_totals(ctx)
    changes.write(ctx)
    return outcomes


def review_new_claims(
    ctx: PlanJourneyContext,
    changes: ChangeSet,
    claims: Sequence[ClaimState],
    document_types: Mapping[int, frozenset[DocumentType]],
) -> None:
    """Start the review of just-submitted claims and decide them, in the same change set."""
    submitted = [claim for claim in claims if claim.status is ClaimStatus.SUBMITTED]
    if not submitted:
        return
    for claim in submitted:
        changes.transition(
            claim,
            ClaimEvent.START_REVIEW,
            event_id=automatic_event_id(claim.id, Step.START_REVIEW, claim.version),
            actor=SYSTEM,
        )
    facts = load_adjudication_facts(
        ctx, submitted, lock_totals=True, unsaved_documents=document_types
    )
    for claim in submitted:
        decide(
            changes, facts, claim, automatic_event_id(claim.id, DerivedEvent.DECIDE, claim.version)
        )
    facts.write_totals(ctx)


def decide(
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
        facts.record_approval(claim, result.breakdown, decision)
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


def sweep_overdue_steps(ctx: PlanJourneyContext, settings: Settings, *, limit: int) -> int:
    """Re-publish the automatic step of claims that waited for it too long. The caller commits.

    The broker may have lost the message (a Redis restart, a worker killed with messages
    unacknowledged); the claim row says what is owed, and the step's derived event id makes
    a second copy harmless.
    """
    rows = ctx.execute(
        sa.select(*LOCKED_COLUMNS)
        .where(claims_t.c.next_step.is_not(None), claims_t.c.next_step_due_at < utcnow())
        .order_by(claims_t.c.next_step_due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    changes = ChangeSet(settings)
    for row in rows:
        claim = ClaimState(**row._asdict())
        assert claim.next_step is not None
        changes.schedule(claim, Step(claim.next_step))
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
            event_id=automatic_event_id(row.id, DerivedEvent.EXPIRE, row.version),
        )
        for row in overdue
    ]
    outcomes = apply_commands(ctx, commands, settings)
    return sum(1 for outcome in outcomes if outcome.status == "applied")
