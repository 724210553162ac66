"""The names the processes share: Celery task names, queue names and automatic step names.

Tasks, the Celery app, the service's outbox rows, the Procfile's worker (which consumes every
queue of ``Queue``), the demo and the test harness all take them from here.
"""

from __future__ import annotations

from enum import StrEnum

from models.enums import ClaimEvent


class Queue(StrEnum):
    CLAIMS = "claims"
    REVIEWS = "reviews"
    INGEST = "ingest"
    MAINTENANCE = "maintenance"


class TaskName(StrEnum):
    START_REVIEW = "plan.claims.start_review"
    ADJUDICATE = "plan.claims.adjudicate"
    SUBMIT = "plan.claims.submit"
    APPROVE = "plan.claims.approve"
    REJECT = "plan.claims.reject"
    REQUEST_INFO = "plan.claims.request_info"
    PROVIDE_INFO = "plan.claims.provide_info"
    CANCEL = "plan.claims.cancel"
    INGEST = "plan.claims.ingest"
    INGEST_BATCH = "plan.claims.ingest_batch"
    SWEEP = "plan.maintenance.sweep"
    EXPIRE_OVERDUE = "plan.maintenance.expire_overdue"
    EXPIRE_ASSIGNMENTS = "plan.maintenance.expire_assignments"
    PRUNE_OUTBOX = "plan.maintenance.prune_outbox"


class Step(StrEnum):
    """An automatic step a claim can owe (``claims.next_step``)."""

    START_REVIEW = "start_review"
    ADJUDICATE = "adjudicate"


class DerivedEvent(StrEnum):
    """Automatic transitions whose event id is derived but that are never owed as a step."""

    DECIDE = "decide"
    EXPIRE = "expire"


# The channel the outbox trigger (migration 0001, plan.notify_outbox) notifies and the relay
# listens on.
OUTBOX_CHANNEL = "plan_outbox"

TASK_QUEUES: dict[TaskName, Queue] = {
    TaskName.START_REVIEW: Queue.CLAIMS,
    TaskName.ADJUDICATE: Queue.CLAIMS,
    # A submit starts the review and decides in the same transaction: bulk work, like the
    # automatic steps. People's other actions are quick and someone waits for them.
    TaskName.SUBMIT: Queue.CLAIMS,
    TaskName.APPROVE: Queue.REVIEWS,
    TaskName.REJECT: Queue.REVIEWS,
    TaskName.REQUEST_INFO: Queue.REVIEWS,
    TaskName.PROVIDE_INFO: Queue.REVIEWS,
    TaskName.CANCEL: Queue.REVIEWS,
    TaskName.INGEST: Queue.INGEST,
    TaskName.INGEST_BATCH: Queue.INGEST,
    TaskName.SWEEP: Queue.MAINTENANCE,
    TaskName.EXPIRE_OVERDUE: Queue.MAINTENANCE,
    TaskName.EXPIRE_ASSIGNMENTS: Queue.MAINTENANCE,
    TaskName.PRUNE_OUTBOX: Queue.MAINTENANCE,
}

STEP_TASKS: dict[Step, TaskName] = {
    Step.START_REVIEW: TaskName.START_REVIEW,
    Step.ADJUDICATE: TaskName.ADJUDICATE,
}

# The task that applies the queued actions of each event a person asks for.
ACTION_TASKS: dict[ClaimEvent, TaskName] = {
    ClaimEvent.SUBMIT: TaskName.SUBMIT,
    ClaimEvent.APPROVE: TaskName.APPROVE,
    ClaimEvent.REJECT: TaskName.REJECT,
    ClaimEvent.REQUEST_INFO: TaskName.REQUEST_INFO,
    ClaimEvent.PROVIDE_INFO: TaskName.PROVIDE_INFO,
    ClaimEvent.CANCEL: TaskName.CANCEL,
}
