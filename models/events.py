"""The domain event a claim transition publishes (the body other services read)."""

from __future__ import annotations

from typing import TypedDict


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
