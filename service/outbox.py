"""The one place that writes work and events to the outbox outside the claim service."""

from __future__ import annotations

from typing import Any

from models.base import table_of
from models.tables import OutboxMessage
from storage.unit_of_work import PlanJourneyContext


def enqueue_task(ctx: PlanJourneyContext, task_name: str, queue: str, args: list[Any]) -> None:
    """Publish ``task_name(*args)`` once this transaction commits (the relay sends it)."""
    ctx.execute(
        table_of(OutboxMessage).insert().values(
            kind="task", name=task_name, destination=queue, payload={"args": args}
        )
    )
