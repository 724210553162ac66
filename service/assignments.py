"""Who works on a claim under review: taking it for a lease, renewing, releasing, an
administrator's reassignment, and the lease's expiry (DOMAIN.md section 1a).

A lease is a row of ``claim_assignments`` whose ``expires_at`` lies ahead: a row past it holds
nothing, so an expired lease frees the claim by itself, at read time. The beat task
``plan.maintenance.expire_assignments`` removes such rows and audits them (``expired``), and a
take over an expired lease audits the expiry too. Taking is one conditional upsert, so two
reviewers taking at once cannot both win. Every change writes its activity row and domain
event through the change set, in the caller's transaction; the caller commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from config import Settings
from models.base import table_of
from models.commands import SYSTEM, Actor
from models.enums import ActivityKind, ActorRole, ClaimStatus
from models.errors import ErrorCode, Forbidden, InvalidTransition, NotFound, ReviewConflict
from models.review import ClaimAssignment
from models.tables import Claim
from service.changes import ChangeSet, ClaimOfActivity, utcnow
from storage.bulk import in_array
from storage.unit_of_work import PlanJourneyContext

claims_t = table_of(Claim)
assignments_t = table_of(ClaimAssignment)


@dataclass(frozen=True, slots=True)
class Assignment:
    claim_id: int
    reviewer_id: str
    taken_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ReviewedClaim:
    """The columns of a claim that review work checks and its events carry."""

    id: int
    user_id: str
    plan_id: int
    status: ClaimStatus


def _claim_for_review(ctx: PlanJourneyContext, claim_id: int) -> ReviewedClaim:
    """The claim, share-locked so that no decision moves it on until this transaction ends."""
    row = ctx.execute(
        sa.select(claims_t.c.id, claims_t.c.user_id, claims_t.c.plan_id, claims_t.c.status)
        .where(claims_t.c.id == claim_id)
        .with_for_update(read=True)
    ).one_or_none()
    if row is None:
        raise NotFound("No such claim", field="id", code=ErrorCode.CLAIM_NOT_FOUND)
    return ReviewedClaim(row.id, row.user_id, row.plan_id, ClaimStatus(row.status))


def _require_under_review(claim: ReviewedClaim) -> None:
    if claim.status is not ClaimStatus.UNDER_REVIEW:
        raise InvalidTransition(
            f"Only a claim under review can be assigned; this one is {claim.status.value}"
        )


def _refuse_own_claim(claim: ReviewedClaim, reviewer_id: str) -> None:
    if claim.user_id == reviewer_id:
        raise Forbidden(
            "A reviewer may not work on a claim they submitted", code=ErrorCode.SELF_REVIEW
        )


def _current(ctx: PlanJourneyContext, claim_id: int) -> Assignment | None:
    """The claim's assignment row, live or expired, locked for this transaction."""
    row = ctx.execute(
        sa.select(assignments_t).where(assignments_t.c.claim_id == claim_id).with_for_update()
    ).one_or_none()
    return None if row is None else Assignment(**row._asdict())


def _lease_details(assignment: Assignment) -> dict[str, str]:
    return {"reviewerId": assignment.reviewer_id, "expiresAt": assignment.expires_at.isoformat()}


def _audit_expiry(changes: ChangeSet, claim: ReviewedClaim, prior: Assignment | None) -> None:
    if prior is not None and prior.expires_at <= changes.now:
        changes.activity(
            claim, ActivityKind.EXPIRED, actor=SYSTEM, details=_lease_details(prior)
        )


def take_claim(
    ctx: PlanJourneyContext,
    *,
    claim_id: int,
    actor: Actor,
    settings: Settings,
    now: datetime | None = None,
) -> Assignment:
    """Take the claim for ``REVIEW_LEASE_MINUTES``, or renew the lease the actor holds."""
    claim = _claim_for_review(ctx, claim_id)
    _require_under_review(claim)
    _refuse_own_claim(claim, actor.id)
    changes = ChangeSet.at(settings, now)
    now = changes.now
    prior = _current(ctx, claim_id)
    statement = insert(assignments_t).values(
        claim_id=claim_id,
        reviewer_id=actor.id,
        taken_at=now,
        expires_at=now + timedelta(minutes=settings.review_lease_minutes),
    )
    held = assignments_t.c.expires_at > now
    mine = assignments_t.c.reviewer_id == statement.excluded.reviewer_id
    # The WHERE is evaluated on the row as it is when this statement gets it (after a
    # concurrent taker committed), so of two reviewers taking at once exactly one updates.
    upsert = statement.on_conflict_do_update(
        index_elements=[assignments_t.c.claim_id],
        set_={
            "reviewer_id": statement.excluded.reviewer_id,
            "taken_at": sa.case(
                (sa.and_(held, mine), assignments_t.c.taken_at),
                else_=statement.excluded.taken_at,
            ),
            "expires_at": statement.excluded.expires_at,
        },
        where=sa.or_(sa.not_(held), mine),
    ).returning(*assignments_t.c)
    row = ctx.execute(upsert).one_or_none()
    if row is None:
        holder = _current(ctx, claim_id)
        raise ReviewConflict(
            f"Claim {claim_id} is taken by {holder.reviewer_id if holder else 'another reviewer'}"
            + (f" until {holder.expires_at.isoformat()}" if holder else ""),
            code=ErrorCode.ASSIGNED_TO_ANOTHER,
        )
    assignment = Assignment(**row._asdict())
    renewed = prior is not None and prior.reviewer_id == actor.id and prior.expires_at > now
    if not renewed:
        _audit_expiry(changes, claim, prior)
    changes.activity(
        claim,
        ActivityKind.RENEWED if renewed else ActivityKind.TAKEN,
        actor=actor,
        details=_lease_details(assignment),
    )
    changes.write(ctx)
    return assignment


def release_claim(
    ctx: PlanJourneyContext, *, claim_id: int, actor: Actor, settings: Settings
) -> None:
    """Give the claim back to the queue: its holder, or an administrator."""
    claim = _claim_for_review(ctx, claim_id)
    changes = ChangeSet(settings)
    current = _current(ctx, claim_id)
    if current is None or current.expires_at <= changes.now:
        raise ReviewConflict(f"Nobody holds claim {claim_id}", code=ErrorCode.NOT_ASSIGNED)
    if current.reviewer_id != actor.id and actor.role is not ActorRole.ADMIN:
        raise Forbidden(
            f"Claim {claim_id} is held by {current.reviewer_id}: only they or an "
            "administrator may release it",
            code=ErrorCode.FORBIDDEN,
        )
    ctx.execute(assignments_t.delete().where(assignments_t.c.claim_id == claim_id))
    changes.activity(
        claim,
        ActivityKind.RELEASED,
        actor=actor,
        details={"reviewerId": current.reviewer_id, "reason": "released"},
    )
    changes.write(ctx)


def reassign_claim(
    ctx: PlanJourneyContext,
    *,
    claim_id: int,
    reviewer_id: str,
    actor: Actor,
    settings: Settings,
) -> Assignment:
    """An administrator hands the claim to ``reviewer_id`` for a fresh lease."""
    claim = _claim_for_review(ctx, claim_id)
    _require_under_review(claim)
    _refuse_own_claim(claim, reviewer_id)
    changes = ChangeSet(settings)
    now = changes.now
    prior = _current(ctx, claim_id)
    assignment = Assignment(
        claim_id=claim_id,
        reviewer_id=reviewer_id,
        taken_at=now,
        expires_at=now + timedelta(minutes=settings.review_lease_minutes),
    )
    lease = {
        "reviewer_id": assignment.reviewer_id,
        "taken_at": assignment.taken_at,
        "expires_at": assignment.expires_at,
    }
    statement = insert(assignments_t).values(claim_id=claim_id, **lease)
    ctx.execute(
        statement.on_conflict_do_update(index_elements=[assignments_t.c.claim_id], set_=lease)
    )
    _audit_expiry(changes, claim, prior)
    live_prior = prior is not None and prior.expires_at > now
    changes.activity(
        claim,
        ActivityKind.REASSIGNED,
        actor=actor,
        details={
            **_lease_details(assignment),
            "previousReviewerId": prior.reviewer_id if prior is not None and live_prior else None,
        },
    )
    changes.write(ctx)
    return assignment


def lease_live(now: datetime) -> sa.ColumnElement[bool]:
    """A lease holds until its ``expires_at`` on the service's clock, the clock that wrote it
    (``ChangeSet.now``), never the database's: two clocks would let a skew between them
    lengthen or shorten every lease."""
    return assignments_t.c.expires_at > now


def live_holder(
    ctx: PlanJourneyContext, claim_id: int, *, now: datetime | None = None
) -> str | None:
    """The reviewer whose lease on the claim has not expired at ``now``, if any (no lock)."""
    return ctx.execute(
        sa.select(assignments_t.c.reviewer_id).where(
            assignments_t.c.claim_id == claim_id, lease_live(now or utcnow())
        )
    ).scalar_one_or_none()


def require_holder(ctx: PlanJourneyContext, claim_id: int, actor: Actor) -> None:
    """Only the reviewer holding the claim decides it (administrators included)."""
    holder = live_holder(ctx, claim_id)
    if holder != actor.id:
        raise ReviewConflict(
            f"Take claim {claim_id} before deciding it"
            + (f": {holder} holds it" if holder is not None else ""),
            code=ErrorCode.NOT_ASSIGNED,
        )


def release_decided(
    ctx: PlanJourneyContext,
    changes: ChangeSet,
    decided: Sequence[tuple[ClaimOfActivity, Actor]],
    *,
    reason: str = "decision",
) -> None:
    """A decision (or a first approval) applied frees the claim: drop the assignments of the
    given claims and audit each release as done by the deciding person."""
    if not decided:
        return
    ids = [claim.id for claim, _ in decided]
    released = {
        row.claim_id: row.reviewer_id
        for row in ctx.execute(
            assignments_t.delete()
            .where(in_array(assignments_t.c.claim_id, ids))
            .returning(assignments_t.c.claim_id, assignments_t.c.reviewer_id)
        )
    }
    for claim, actor in decided:
        if claim.id in released:
            changes.activity(
                claim,
                ActivityKind.RELEASED,
                actor=actor,
                details={"reviewerId": released[claim.id], "reason": reason},
            )


def expire_leases(ctx: PlanJourneyContext, settings: Settings, *, limit: int) -> int:
    """Remove leases past their end and audit each expiry. The caller commits.

    Rows another transaction holds (a take renewing them) are skipped, not waited for.
    """
    changes = ChangeSet(settings)
    overdue = (
        sa.select(assignments_t.c.claim_id)
        .where(assignments_t.c.expires_at <= changes.now)
        .order_by(assignments_t.c.expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    expired = ctx.execute(
        assignments_t.delete()
        .where(assignments_t.c.claim_id.in_(overdue.scalar_subquery()))
        .returning(*assignments_t.c)
    ).all()
    if not expired:
        return 0
    claims = {
        row.id: ReviewedClaim(row.id, row.user_id, row.plan_id, ClaimStatus(row.status))
        for row in ctx.execute(
            sa.select(
                claims_t.c.id, claims_t.c.user_id, claims_t.c.plan_id, claims_t.c.status
            ).where(in_array(claims_t.c.id, [row.claim_id for row in expired]))
        )
    }
    for row in expired:
        changes.activity(
            claims[row.claim_id],
            ActivityKind.EXPIRED,
            actor=SYSTEM,
            details=_lease_details(Assignment(**row._asdict())),
        )
    changes.write(ctx)
    return len(expired)
