"""Automatic steps: starting reviews, deciding claims against coverage, sweeping and expiry."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa

from config import Settings
from models.commands import SYSTEM, ClaimCommand, automatic_event_id
from models.enums import ActionStatus, ClaimEvent, ClaimStatus
from models.names import DerivedEvent, Step
from service.actions import apply_commands
from service.changes import (
    LOCKED_COLUMNS,
    AutomaticStep,
    ChangeSet,
    ClaimState,
    Outcome,
    QueuedAction,
    actions_t,
    claims_t,
    take_claims,
    utcnow,
)
from service.facts import load_adjudication_facts
from service.review import decide
from storage.unit_of_work import PlanJourneyContext


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


def sweep_overdue_steps(ctx: PlanJourneyContext, settings: Settings, *, limit: int) -> int:
    """Re-publish the automatic steps and the people's actions that waited too long; return
    how many. The caller commits.

    The broker may have lost the message (a Redis restart, a worker killed with messages
    unacknowledged); the claim row says what step is owed and the action row that it is still
    queued, and the step's derived event id (the action's id) makes a second copy harmless.
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
    for action in _overdue_actions(ctx, changes, limit):
        changes.republish_action(action)
    changes.write(ctx)
    return len(changes.touched) + len(changes.action_work)


def _overdue_actions(ctx: PlanJourneyContext, changes: ChangeSet, limit: int) -> list[QueuedAction]:
    """Queued actions past their due time, due again one SWEEPER_STALE_AFTER_S from now."""
    # Rows a worker is settling are skipped: it is applying them right now.
    overdue = (
        sa.select(actions_t.c.id)
        .where(actions_t.c.status == ActionStatus.QUEUED, actions_t.c.due_at < changes.now)
        .order_by(actions_t.c.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = ctx.execute(
        actions_t.update()
        .where(actions_t.c.id.in_(overdue))
        .values(due_at=changes.now + timedelta(seconds=changes.settings.sweeper_stale_after_s))
        .returning(actions_t.c.id, actions_t.c.claim_id, actions_t.c.event)
    )
    return [QueuedAction(row.id, row.claim_id, ClaimEvent(row.event)) for row in rows]


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
