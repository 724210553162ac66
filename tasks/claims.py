"""Thin claim tasks: parse the message, run one service function in one unit of work.

Every message carries a list of items (the relay batches them), each with its event id, so
a redelivered or duplicated message has the effect of one. The action tasks (submit, approve,
reject, request_info, provide_info, cancel) take action ids only: the person, the note, the
amount and the documents stay in the action's row, so Flower shows no personal data.
"""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import structlog
from celery import shared_task

from config import get_settings
from models.enums import ClaimEvent
from models.names import Queue, TaskName
from service.actions import apply_actions
from service.changes import AutomaticStep, Outcome
from service.dead_letters import record_dead_letter
from service.steps import advance_claims
from service.submissions import submit_queued_claims
from storage.unit_of_work import PlanJourneyContext
from tasks.base import PlanTask
from worker.metrics import record_outcomes

log = structlog.get_logger("plan.tasks")


def _summary(outcomes: list[Outcome]) -> dict[str, int]:
    record_outcomes(outcomes)
    return dict(Counter(outcome.status for outcome in outcomes))


def _run_steps(messages: list[dict[str, Any]]) -> dict[str, int]:
    steps = [AutomaticStep.from_message(message) for message in messages]
    with PlanJourneyContext() as ctx:
        outcomes = advance_claims(ctx, steps, get_settings())
        ctx.commit()
    return _summary(outcomes)


def _run_actions(event: ClaimEvent, action_ids: list[Any]) -> dict[str, int]:
    ids = [uuid.UUID(str(action_id)) for action_id in action_ids]
    with PlanJourneyContext() as ctx:
        outcomes = apply_actions(ctx, ids, get_settings())
        ctx.commit()
    for outcome in outcomes:
        if outcome.status == "refused" and outcome.error is not None:
            log.info(
                "claim.action_refused",
                claim_id=outcome.claim_id,
                action_id=str(outcome.event_id),
                claim_event=event.value,
                code=outcome.error.code.value,
            )
    return _summary(outcomes)


@shared_task(name=TaskName.START_REVIEW, base=PlanTask)
def start_review(steps: list[dict[str, Any]]) -> dict[str, int]:
    return _run_steps(steps)


@shared_task(name=TaskName.ADJUDICATE, base=PlanTask)
def adjudicate(steps: list[dict[str, Any]]) -> dict[str, int]:
    return _run_steps(steps)


@shared_task(name=TaskName.SUBMIT, base=PlanTask)
def submit(action_ids: list[str]) -> dict[str, int]:
    return _run_actions(ClaimEvent.SUBMIT, action_ids)


@shared_task(name=TaskName.APPROVE, base=PlanTask)
def approve(action_ids: list[str]) -> dict[str, int]:
    return _run_actions(ClaimEvent.APPROVE, action_ids)


@shared_task(name=TaskName.REJECT, base=PlanTask)
def reject(action_ids: list[str]) -> dict[str, int]:
    return _run_actions(ClaimEvent.REJECT, action_ids)


@shared_task(name=TaskName.REQUEST_INFO, base=PlanTask)
def request_info(action_ids: list[str]) -> dict[str, int]:
    return _run_actions(ClaimEvent.REQUEST_INFO, action_ids)


@shared_task(name=TaskName.PROVIDE_INFO, base=PlanTask)
def provide_info(action_ids: list[str]) -> dict[str, int]:
    return _run_actions(ClaimEvent.PROVIDE_INFO, action_ids)


@shared_task(name=TaskName.CANCEL, base=PlanTask)
def cancel(action_ids: list[str]) -> dict[str, int]:
    return _run_actions(ClaimEvent.CANCEL, action_ids)


@shared_task(name=TaskName.INGEST, base=PlanTask, bind=True)
def ingest(self: PlanTask, claim: Any) -> dict[str, int]:
    """Submit a claim another service sent (``send_task("plan.claims.ingest", args=[claim])``)."""
    return _ingest(self, [claim])


@shared_task(name=TaskName.INGEST_BATCH, base=PlanTask, bind=True)
def ingest_batch(self: PlanTask, claims: list[Any]) -> dict[str, int]:
    """The same for many claims in one message: one transaction for the whole list."""
    if not isinstance(claims, list):
        claims = [claims]
    return _ingest(self, claims)


def _ingest(task: PlanTask, claims: list[Any]) -> dict[str, int]:
    # The worker is the one that starts reviews, so it reviews and decides what it ingests
    # in the same transaction instead of owing itself a message per claim. Without a key of
    # its own, an item is keyed by the message id (the same on every redelivery) and its
    # position, so a redelivered message never files a claim twice.
    with PlanJourneyContext() as ctx:
        outcomes = submit_queued_claims(
            ctx,
            claims,
            get_settings(),
            fallback_key=lambda position: f"task:{task.request.id}:{position}",
            review_now=True,
        )
        ctx.commit()
    counts: Counter[str] = Counter()
    for outcome in outcomes:
        if outcome.result is None:
            _record_invalid(task, claims[outcome.index], [e.as_dict() for e in outcome.errors])
            counts["refused"] += 1
        else:
            counts["replayed" if outcome.result.replayed else "submitted"] += 1
    return dict(counts)


def _record_invalid(task: PlanTask, raw: Any, errors: list[dict[str, Any]]) -> None:
    record_dead_letter(
        task_name=TaskName.INGEST,
        queue=Queue.INGEST,
        payload={"args": [raw]},
        reason="invalid",
        errors=errors,
    )
    log.warning(
        "claim.ingest_invalid",
        task_id=task.request.id,
        codes=[error.get("code") for error in errors],
    )
