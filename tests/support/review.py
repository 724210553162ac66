"""Claims waiting for a reviewer, made through the service as the workers would, and the
review work done on them as the API does it (one unit of work, committed)."""

from __future__ import annotations

from typing import Any

from config import get_settings
from models.commands import Actor, automatic_event_id
from models.enums import ActorRole
from models.names import Step
from service import assignments
from service.changes import AutomaticStep
from storage.unit_of_work import PlanJourneyContext
from tests.support.factories import World, submit
from tests.support.harness import Harness, wait_until
from tests.support.outbox import OUTBOX_ITEMS
from tests.support.service import advance


def reviewer(name: str) -> Actor:
    return Actor(id=name, role=ActorRole.REVIEWER)


def admin(name: str = "admin-1") -> Actor:
    return Actor(id=name, role=ActorRole.ADMIN)


def waiting_claim(harness: Harness, world: World, user: str, **body: Any) -> int:
    """A claim UNDER_REVIEW in the reviewer queue (above the auto-approval threshold)."""
    body.setdefault("amount", "800.00")
    result = submit(world, user, **body)
    claim_id = result.claim_id
    assert claim_id is not None
    [row] = harness.query("SELECT next_step, version FROM plan.claims WHERE id = %s", (claim_id,))
    if row["next_step"] is not None:
        # With a worker running (the pipeline fixture) it may take the step first; the
        # step's derived event id makes it happen once either way.
        step = Step(row["next_step"])
        event_id = automatic_event_id(claim_id, step, row["version"])
        [outcome] = advance(AutomaticStep(claim_id, step, event_id))
        assert outcome.status in ("applied", "duplicate", "stale"), outcome
    wait_until(
        lambda: harness.scalar("SELECT status FROM plan.claims WHERE id = %s", (claim_id,))
        == "UNDER_REVIEW",
        timeout=30,
        what=f"claim {claim_id} to wait for a reviewer",
    )
    return claim_id


def take(claim_id: int, actor: Actor) -> assignments.Assignment:
    with PlanJourneyContext() as ctx:
        found = assignments.take_claim(ctx, claim_id=claim_id, actor=actor, settings=get_settings())
        ctx.commit()
    return found


def release(claim_id: int, actor: Actor) -> None:
    with PlanJourneyContext() as ctx:
        assignments.release_claim(ctx, claim_id=claim_id, actor=actor, settings=get_settings())
        ctx.commit()


def reassign(claim_id: int, reviewer_id: str, actor: Actor) -> assignments.Assignment:
    with PlanJourneyContext() as ctx:
        found = assignments.reassign_claim(
            ctx, claim_id=claim_id, reviewer_id=reviewer_id, actor=actor, settings=get_settings()
        )
        ctx.commit()
    return found


def activity(harness: Harness, claim_id: int) -> list[tuple[str, str, dict[str, Any] | None]]:
    rows = harness.query(
        "SELECT kind, actor_id, details FROM plan.claim_activity WHERE claim_id = %s ORDER BY id",
        (claim_id,),
    )
    return [(row["kind"], row["actor_id"], row["details"]) for row in rows]


def activity_events(harness: Harness, claim_id: int) -> list[dict[str, Any]]:
    """The activity events in the outbox for the claim, in the order they were written."""
    rows = harness.query(
        f"SELECT item FROM {OUTBOX_ITEMS} WHERE kind = 'event' AND claim_id = %s "
        "AND item ? 'actorId'",
        (claim_id,),
    )
    return [row["item"] for row in rows]
