"""Claim service calls as the tasks make them (one unit of work, committed), and the locks
tests hold to make two transactions really overlap."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg

from config import Settings, get_settings
from models.commands import ClaimCommand, automatic_event_id
from models.errors import PlanError
from models.names import Step
from service.actions import apply_commands
from service.approvals import is_reviewer_decision
from service.assignments import live_holder, take_claim
from service.changes import AutomaticStep, Outcome
from service.steps import advance_claims
from storage.unit_of_work import PlanJourneyContext
from tests.support.harness import Harness, admin_conninfo

T = TypeVar("T")


def committed(
    service: Callable[[PlanJourneyContext, list[Any], Settings], T], items: list[Any]
) -> T:
    """Run a claim service function in one unit of work and commit, as the tasks do."""
    with PlanJourneyContext() as ctx:
        result = service(ctx, items, get_settings())
        ctx.commit()
    return result


def take_for(commands: Iterable[ClaimCommand]) -> None:
    """Take each claim a reviewer's decision is for, for that reviewer, as clients do before
    deciding (only the holder decides); a claim that cannot be taken is left as it is, so
    that the decision meets the refusal the test is about."""
    wanted = {(c.claim_id, c.actor) for c in commands if is_reviewer_decision(c)}
    for claim_id, actor in sorted(wanted, key=lambda pair: (pair[0], pair[1].id)):
        with PlanJourneyContext() as ctx:
            if live_holder(ctx, claim_id) == actor.id:
                continue  # held already: no renewal, so that nothing else changes
            try:
                take_claim(ctx, claim_id=claim_id, actor=actor, settings=get_settings())
            except PlanError:
                continue
            ctx.commit()


def apply(*commands: ClaimCommand) -> list[Outcome]:
    """Apply commands as a task does, reviewers' decisions by the reviewer holding the claim."""
    take_for(commands)
    return committed(apply_commands, list(commands))


def owed_step(harness: Harness, claim_id: int) -> AutomaticStep:
    row = harness.query("SELECT next_step, version FROM plan.claims WHERE id = %s", (claim_id,))[0]
    assert row["next_step"] is not None, f"claim {claim_id} owes no automatic step"
    step = Step(row["next_step"])
    return AutomaticStep(claim_id, step, automatic_event_id(claim_id, step, row["version"]))


def advance(*steps: AutomaticStep) -> list[Outcome]:
    return committed(advance_claims, list(steps))


@contextmanager
def row_lock_held(harness: Harness, sql: str, params: tuple[object, ...]) -> Iterator[None]:
    """Hold ``SELECT ... FOR UPDATE`` on a row until the block ends (then roll back)."""
    with psycopg.connect(admin_conninfo(harness.database_url)) as gate:
        assert gate.execute(sql, params).fetchall(), "the gate locked no row"
        try:
            yield
        finally:
            gate.rollback()


def blocked_sessions(harness: Harness) -> int:
    """Service connections of this test waiting for a lock."""
    return int(
        harness.scalar(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = %s AND application_name = 'plan-service' AND wait_event_type = 'Lock'",
            (harness.database_name,),
        )
    )
