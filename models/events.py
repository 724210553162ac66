"""The domain events other services read: a claim transition's, and review work's (a take,
a release, a first approval: audited as activity, not transitions)."""

from __future__ import annotations

from typing import NotRequired, TypedDict


class ClaimEventPayload(TypedDict):
    eventId: str
    type: str
    claimId: int
    userId: str
    planId: int
    previousStatus: str
    newStatus: str
    claimedAmount: str | None
    approvedAmount: str | None
    currency: str
    reasonCode: str | None
    occurredAt: str


class ActivityEventPayload(TypedDict):
    eventId: str
    type: str
    claimId: int
    userId: str
    planId: int
    actorId: str
    actorRole: str
    occurredAt: str
    reviewerId: NotRequired[str]
    previousReviewerId: NotRequired[str | None]
    expiresAt: NotRequired[str]
    approvedAmount: NotRequired[str]
    reason: NotRequired[str]
