"""Messages the workers gave up on, where an operator can list and replay them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from models.base import table_of
from models.tables import DeadLetter
from service.outbox import enqueue_task
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
    """Mark a dead letter replayed and return it; the caller re-sends it through the outbox."""

    with PlanJourneyContext() as ctx:
        letter = ctx.session.get(DeadLetter, dead_letter_id, with_for_update=True)
        if letter is None:
            raise LookupError(f"No dead letter {dead_letter_id}")
        if letter.replayed_at is not None:
            raise LookupError(f"Dead letter {dead_letter_id} was already replayed")
        letter.replayed_at = datetime.now(UTC)
        args = letter.payload.get("args", []) if isinstance(letter.payload, dict) else []
        enqueue_task(ctx, letter.task_name, letter.queue, args)
        replayed = (letter.task_name, letter.queue)
        ctx.commit()
        return replayed
