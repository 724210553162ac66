"""Messages the workers gave up on, where an operator can list and replay them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from config import get_settings
from models.base import table_of
from models.names import TASK_QUEUES, TaskName
from models.tables import DeadLetter
from service.changes import ChangeSet
from storage.unit_of_work import PlanJourneyContext

dead_letters_t = table_of(DeadLetter)


def record_dead_letter(
    *, task_name: str, queue: str, payload: Any, reason: str, errors: list[dict[str, Any]]
) -> int:
    with PlanJourneyContext() as ctx:
        dead_letter_id = ctx.session.scalar(
            dead_letters_t.insert()
            .values(task_name=task_name, queue=queue, payload=payload, reason=reason, errors=errors)
            .returning(dead_letters_t.c.id)
        )
        ctx.commit()
    assert dead_letter_id is not None
    return int(dead_letter_id)


def list_dead_letters(*, include_replayed: bool = False, limit: int = 100) -> list[sa.RowMapping]:
    with PlanJourneyContext() as ctx:
        query = sa.select(dead_letters_t).order_by(dead_letters_t.c.id).limit(limit)
        if not include_replayed:
            query = query.where(dead_letters_t.c.replayed_at.is_(None))
        return list(ctx.execute(query).mappings())


def take_for_replay(dead_letter_id: int) -> tuple[str, str]:
    """Mark a dead letter replayed and send its items again through the outbox."""
    with PlanJourneyContext() as ctx:
        letter = ctx.session.get(DeadLetter, dead_letter_id, with_for_update=True)
        if letter is None:
            raise LookupError(f"No dead letter {dead_letter_id}")
        if letter.replayed_at is not None:
            raise LookupError(f"Dead letter {dead_letter_id} was already replayed")
        task, items = _replay_items(dead_letter_id, letter.task_name, letter.payload)
        letter.replayed_at = datetime.now(UTC)
        changes = ChangeSet(get_settings())
        changes.enqueue(task, TASK_QUEUES[task], items)
        changes.write(ctx)
        ctx.commit()
        return task.value, TASK_QUEUES[task].value


def _replay_items(dead_letter_id: int, task_name: str, payload: Any) -> tuple[TaskName, list[Any]]:
    """The task and work items a dead letter's arguments stand for.

    Claim tasks take a list of items; the single-claim ingest task is sent again as
    ingest_batch with its claim as the one item. A task without items (a periodic one) is
    not sent again: beat runs it anyway.
    """
    args = payload.get("args", []) if isinstance(payload, dict) else []
    if task_name == TaskName.INGEST and args:
        return TaskName.INGEST_BATCH, list(args)
    if task_name in TASK_QUEUES and args and isinstance(args[0], list) and args[0]:
        return TaskName(task_name), list(args[0])
    raise LookupError(
        f"Dead letter {dead_letter_id} carries no work items to send again ({task_name})"
    )
