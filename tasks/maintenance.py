"""Periodic work (celery beat): the sweeper, expiry of overdue claims, outbox pruning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from celery import shared_task

from config import get_settings
from models.base import table_of
from models.names import TaskName
from models.tables import OutboxMessage
from service.assignments import expire_leases
from service.steps import expire_overdue_claims, sweep_overdue_steps
from storage.unit_of_work import PlanJourneyContext
from tasks.base import PlanTask


@shared_task(name=TaskName.SWEEP, base=PlanTask)
def sweep() -> int:
    """Re-publish the automatic step of every claim that waited for it too long."""
    settings = get_settings()
    total = 0
    while True:
        with PlanJourneyContext() as ctx:
            swept = sweep_overdue_steps(ctx, settings, limit=settings.batch_size)
            ctx.commit()
        total += swept
        if swept < settings.batch_size:
            return total


@shared_task(name=TaskName.EXPIRE_OVERDUE, base=PlanTask)
def expire_overdue() -> int:
    """Expire claims whose deadline for additional information passed."""
    settings = get_settings()
    with PlanJourneyContext() as ctx:
        expired = expire_overdue_claims(ctx, settings, limit=settings.batch_size)
        ctx.commit()
    return expired


@shared_task(name=TaskName.EXPIRE_ASSIGNMENTS, base=PlanTask)
def expire_assignments() -> int:
    """Remove reviewers' leases that ended and audit each expiry (reads treat them as free
    already; this writes the activity row and the event)."""
    settings = get_settings()
    total = 0
    while True:
        with PlanJourneyContext() as ctx:
            expired = expire_leases(ctx, settings, limit=settings.batch_size)
            ctx.commit()
        total += expired
        if expired < settings.batch_size:
            return total


@shared_task(name=TaskName.PRUNE_OUTBOX, base=PlanTask)
def prune_outbox() -> int:
    """Delete outbox rows published longer ago than the retention period."""
    cutoff = datetime.now(UTC) - timedelta(days=get_settings().outbox_retention_days)
    table = table_of(OutboxMessage)
    with PlanJourneyContext() as ctx:
        result = ctx.execute(
            table.delete().where(table.c.published_at.is_not(None), table.c.published_at < cutoff)
        )
        ctx.commit()
    return int(getattr(result, "rowcount", 0) or 0)
