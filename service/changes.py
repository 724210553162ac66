"""The change set: what one transaction does to claims, and the one writer of its rows.

Each transition goes through the one state machine and adds one history row and one domain
event; an automatic follow-up becomes outbox work if it is still owed at commit; a person's
action is recorded queued, with its task as outbox work. Nothing else inserts into
``claim_status_history``, ``claim_actions`` or ``outbox``; nothing is published from here.
Every outbox row's payload is ``{"items": [...]}``: the events of one type, or the work items
of one task, that the transaction wrote.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa

from config import Settings
from models.base import table_of
from models.commands import Actor, ClaimCommand, DocumentRef, automatic_event_id
from models.enums import ActionStatus, ActivityKind, ClaimEvent, ClaimStatus, ProcedureType
from models.errors import PlanError
from models.events import ActivityEventPayload, ClaimEventPayload
from models.history_chain import GENESIS, chain_hash
from models.lifecycle import domain_event_name, fire
from models.money import money_text
from models.names import ACTION_TASKS, STEP_TASKS, TASK_QUEUES, Queue, Step, TaskName
from models.review import ClaimActivity
from models.tables import Claim, ClaimAction, ClaimStatusHistory, OutboxMessage
from storage.bulk import in_array, insert_rows, pipelined, update_rows
from storage.unit_of_work import PlanJourneyContext

claims_t = table_of(Claim)
history_t = table_of(ClaimStatusHistory)
outbox_t = table_of(OutboxMessage)
actions_t = table_of(ClaimAction)
activity_t = table_of(ClaimActivity)

LOCKED_COLUMNS = (
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
    claims_t.c.history_hash,
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
    # Hash of the claim's last history row (None before the first): the next row chains on it.
    history_hash: str | None = None
    next_step_due_at: datetime | None = None
    changed: bool = False


@dataclass(frozen=True, slots=True)
class AutomaticStep:
    """Work the workers owe a claim: ``start_review`` or ``adjudicate``."""

    claim_id: int
    step: Step
    event_id: uuid.UUID

    def to_message(self) -> dict[str, str | int]:
        return {"claimId": self.claim_id, "step": self.step.value, "eventId": str(self.event_id)}

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> AutomaticStep:
        try:
            step = Step(str(message["step"]))
        except ValueError:
            raise ValueError(f"unknown automatic step {message['step']!r}") from None
        return cls(int(message["claimId"]), step, uuid.UUID(str(message["eventId"])))


@dataclass(frozen=True, slots=True)
class QueuedAction:
    """A person's action whose task is owed: its message carries ``action_id`` only."""

    action_id: uuid.UUID
    claim_id: int
    event: ClaimEvent


def documents_json(documents: Sequence[DocumentRef]) -> list[dict[str, Any]] | None:
    """Documents sent with an action, as its row stores them."""
    if not documents:
        return None
    return [document.model_dump(mode="json", by_alias=True) for document in documents]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one command or step: applied, or skipped with a reason."""

    claim_id: int
    event_id: uuid.UUID
    status: str  # applied | duplicate | stale | refused
    error: PlanError | None = None
    claim_status: ClaimStatus | None = None


class ClaimOfActivity(Protocol):
    """What an activity's event says about its claim (a ClaimState, or a row of one)."""

    @property
    def id(self) -> int: ...

    @property
    def user_id(self) -> str: ...

    @property
    def plan_id(self) -> int: ...


@dataclass(slots=True)
class ChangeSet:
    """Rows one transaction writes, gathered first and written set-based at the end.

    ``now`` is the time of every change: the seed passes an earlier one for back-dated claims.
    """

    settings: Settings
    now: datetime = field(default_factory=utcnow)
    history: list[dict[str, Any]] = field(default_factory=list)
    events: list[ClaimEventPayload | ActivityEventPayload] = field(default_factory=list)
    touched: dict[int, ClaimState] = field(default_factory=dict)
    # The automatic step each claim owes at commit, with the claim's version then: a later
    # transition in the same transaction settles it, so only what is still owed becomes
    # outbox work (and only then is its event id derived).
    owed: dict[int, tuple[Step, int]] = field(default_factory=dict)
    # People's actions recorded here (rows), and the actions whose task is owed as outbox work.
    actions: list[dict[str, Any]] = field(default_factory=list)
    action_work: list[QueuedAction] = field(default_factory=list)
    # Work for a task other than the automatic steps (a dead letter sent again).
    work: list[tuple[TaskName, Queue, list[Any]]] = field(default_factory=list)
    activities: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def at(cls, settings: Settings, now: datetime | None) -> ChangeSet:
        """A change set whose changes happen at ``now`` (the present when None)."""
        return cls(settings) if now is None else cls(settings, now=now)

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
        row: dict[str, Any] = {
            "claim_id": claim.id,
            "event_id": event_id,
            "event": event.value,
            "from_status": before.value,
            "to_status": claim.status.value,
            "actor_id": actor.id,
            "actor_role": actor.role.value,
            "reason_code": reason_code,
            "note": note,
            "details": details,
            "occurred_at": self.now,
        }
        # The chain runs in memory: a claim's rows of one transaction chain on each other, a
        # locked claim's first one on the hash its row recorded, a new claim's on the genesis.
        claim.history_hash = row["hash"] = chain_hash(claim.history_hash or GENESIS, row)
        self.history.append(row)
        self._follow(claim, event, reason_code)
        self.events.append(self._event(claim, event, before, event_id, reason_code))

    def _follow(self, claim: ClaimState, event: ClaimEvent, reason_code: str | None) -> None:
        """What a transition also does to its claim: version, timestamps, the next step."""
        after = claim.status
        claim.version += 1
        claim.changed = True
        claim.next_step = None
        claim.next_step_due_at = None
        self.owed.pop(claim.id, None)
        if after is ClaimStatus.SUBMITTED:
            claim.submitted_at = self.now
            self.schedule(claim, Step.START_REVIEW)
        elif event is ClaimEvent.PROVIDE_INFO:
            claim.info_due_at = None
            self.schedule(claim, Step.ADJUDICATE)
        elif after is ClaimStatus.ADDITIONAL_INFO_REQUIRED:
            claim.info_due_at = self.now + timedelta(days=self.settings.info_deadline_days)
        if after.is_terminal:
            claim.decided_at = self.now
            claim.info_due_at = None
        if reason_code is not None:
            claim.decision_reason_code = reason_code
        self.touched[claim.id] = claim

    def _event(
        self,
        claim: ClaimState,
        event: ClaimEvent,
        before: ClaimStatus,
        event_id: uuid.UUID,
        reason_code: str | None,
    ) -> ClaimEventPayload:
        return {
            "eventId": str(event_id),
            "type": domain_event_name(event, claim.status),
            "claimId": claim.id,
            "userId": claim.user_id,
            "planId": claim.plan_id,
            "previousStatus": before.value,
            "newStatus": claim.status.value,
            "claimedAmount": _money(claim.claimed_amount),
            "approvedAmount": _money(claim.approved_amount),
            "currency": claim.currency,
            "reasonCode": reason_code,
            "occurredAt": self.now.isoformat(),
        }

    def activity(
        self,
        claim: ClaimOfActivity,
        kind: ActivityKind,
        *,
        actor: Actor,
        details: dict[str, Any] | None = None,
        event_id: uuid.UUID | None = None,
    ) -> None:
        """Review work that is not a transition (a take, a release, a first approval): one
        activity row and one domain event, written with everything else at the end."""
        event_id = event_id or uuid.uuid4()
        self.activities.append(
            {
                "claim_id": claim.id,
                "event_id": event_id,
                "kind": kind.value,
                "actor_id": actor.id,
                "actor_role": actor.role.value,
                "details": details,
                "occurred_at": self.now,
            }
        )
        event: ActivityEventPayload = {
            "eventId": str(event_id),
            "type": kind.event_type,
            "claimId": claim.id,
            "userId": claim.user_id,
            "planId": claim.plan_id,
            "actorId": actor.id,
            "actorRole": actor.role.value,
            "occurredAt": self.now.isoformat(),
        }
        event.update(details or {})  # type: ignore[typeddict-item]
        self.events.append(event)

    def schedule(self, claim: ClaimState, step: Step, *, delay_s: int | None = None) -> None:
        """Owe the claim an automatic step; the sweeper re-publishes it if it does not happen."""
        claim.next_step = step.value
        claim.next_step_due_at = self.now + timedelta(
            seconds=self.settings.sweeper_stale_after_s if delay_s is None else delay_s
        )
        claim.changed = True
        self.touched[claim.id] = claim
        self.owed[claim.id] = (step, claim.version)

    def record_action(self, command: ClaimCommand, *, idempotency_key: str | None = None) -> None:
        """Record a person's action, queued, with the outbox work of its task.

        Its inputs (note, reason, amount, documents) are stored in the row; the message
        carries the action's id only.
        """
        self.actions.append(
            {
                "id": command.event_id,
                "claim_id": command.claim_id,
                "event": command.event.value,
                "status": ActionStatus.QUEUED.value,
                "actor_id": command.actor.id,
                "actor_role": command.actor.role.value,
                "reason_code": None if command.reason_code is None else str(command.reason_code),
                "note": command.note,
                "approved_amount": command.approved_amount,
                "documents": documents_json(command.documents),
                "idempotency_key": idempotency_key,
                "requested_at": self.now,
                "due_at": self.now + timedelta(seconds=self.settings.sweeper_stale_after_s),
            }
        )
        self.republish_action(QueuedAction(command.event_id, command.claim_id, command.event))

    def republish_action(self, action: QueuedAction) -> None:
        """Owe the task of an action still queued (the sweeper's re-publication)."""
        self.action_work.append(action)

    def enqueue(self, task: TaskName, queue: Queue, items: list[Any]) -> None:
        """Send ``items`` to ``task`` on ``queue`` once the transaction commits."""
        if items:
            self.work.append((task, queue, items))

    def keep_only(self, claim_ids: set[int]) -> None:
        """Forget what was prepared for claims that were not stored after all."""
        self.history = [row for row in self.history if row["claim_id"] in claim_ids]
        self.events = [event for event in self.events if event["claimId"] in claim_ids]
        self.owed = {key: step for key, step in self.owed.items() if key in claim_ids}
        self.actions = [row for row in self.actions if row["claim_id"] in claim_ids]
        self.action_work = [work for work in self.action_work if work.claim_id in claim_ids]
        self.activities = [row for row in self.activities if row["claim_id"] in claim_ids]

    def write(self, ctx: PlanJourneyContext) -> None:
        # A second application of one event id breaks the unique constraint here and the
        # whole transaction rolls back: the constraint, not the read before, is the guard.
        with pipelined(ctx):
            insert_rows(ctx, history_t, self.history)
            insert_rows(ctx, actions_t, self.actions)
            insert_rows(ctx, activity_t, self.activities)
            update_rows(
                ctx,
                claims_t,
                [
                    _claim_update(claim, self.now)
                    for claim in self.touched.values()
                    if claim.changed
                ],
                touch=None,
            )
            insert_rows(ctx, outbox_t, self.outbox_rows())

    def outbox_rows(self) -> list[dict[str, Any]]:
        """One row per event type and one per task, each carrying all of its items: the
        relay's work and the outbox's size grow with transactions, not with claims."""
        events: dict[str, list[Any]] = {}
        for event in self.events:
            events.setdefault(event["type"], []).append(event)
        work: dict[tuple[TaskName, Queue], list[tuple[Any, int | None]]] = {}
        for claim_id, (step, version) in self.owed.items():
            task = STEP_TASKS[step]
            owed = AutomaticStep(claim_id, step, automatic_event_id(claim_id, step, version))
            work.setdefault((task, TASK_QUEUES[task]), []).append((owed.to_message(), claim_id))
        for action in self.action_work:
            task = ACTION_TASKS[action.event]
            work.setdefault((task, TASK_QUEUES[task]), []).append(
                (str(action.action_id), action.claim_id)
            )
        for task, queue, items in self.work:
            work.setdefault((task, queue), []).extend(
                (item, item.get("claimId") if isinstance(item, dict) else None) for item in items
            )
        return [
            *(
                _outbox_row("event", name, name, items, [item["claimId"] for item in items])
                for name, items in events.items()
            ),
            *(
                _outbox_row(
                    "task",
                    task.value,
                    queue.value,
                    [item for item, _ in items],
                    [claim_id for _, claim_id in items],
                )
                for (task, queue), items in work.items()
            ),
        ]


def _outbox_row(
    kind: str, name: str, destination: str, items: list[Any], claim_ids: list[int | None]
) -> dict[str, Any]:
    claims = set(claim_ids)
    return {
        "kind": kind,
        "name": name,
        "destination": destination,
        "claim_id": claims.pop() if len(claims) == 1 else None,
        "item_count": len(items),
        "payload": {"items": items},
    }


def _claim_update(claim: ClaimState, now: datetime) -> dict[str, Any]:
    return {
        "id": claim.id,
        "updated_at": now,
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
        "history_hash": claim.history_hash,
    }


def _money(amount: Decimal | None) -> str | None:
    return None if amount is None else money_text(amount)


# --------------------------------------------------------------------------- taking claims


def lock_claims(ctx: PlanJourneyContext, claim_ids: Iterable[int]) -> dict[int, ClaimState]:
    """Lock the claims' rows in id order (so that concurrent batches cannot deadlock)."""
    ids = sorted(set(claim_ids))
    if not ids:
        return {}
    rows = ctx.execute(
        sa.select(*LOCKED_COLUMNS)
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


def take_claims(
    ctx: PlanJourneyContext, work: Sequence[W]
) -> tuple[dict[uuid.UUID, W], dict[int, ClaimState], dict[uuid.UUID, int]]:
    """Drop repeated event ids, lock the claims, and find which event ids were applied before."""
    unique: dict[uuid.UUID, W] = {}
    for item in work:
        unique.setdefault(item.event_id, item)
    claims = lock_claims(ctx, (item.claim_id for item in unique.values()))
    return unique, claims, applied_event_ids(ctx, unique)


def applied_event_ids(
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
