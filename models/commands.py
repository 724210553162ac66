"""Messages the workers act on: one command per claim event, carried by value in JSON."""

from __future__ import annotations

import uuid
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from models.enums import ActorRole, ClaimEvent, ReasonCode

# Event ids of automatic steps are derived, not drawn, so that re-publishing a step (the
# sweeper, a redelivery) always carries the id of the first publication.
AUTOMATIC_STEP_NAMESPACE = uuid.UUID("5b0e3f1c-3f4e-4c52-9a43-0c6f3c1d2b10")

SYSTEM_ACTOR_ID = "system"


def automatic_event_id(claim_id: int, step: str, version: int) -> uuid.UUID:
    return uuid.uuid5(AUTOMATIC_STEP_NAMESPACE, f"{claim_id}:{step}:{version}")


class Actor(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1, max_length=128)
    role: ActorRole


SYSTEM = Actor(id=SYSTEM_ACTOR_ID, role=ActorRole.SYSTEM)


class DocumentRef(BaseModel):
    """A document attached with provide_info, already validated by models.submission."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    type: str
    file_name: str
    mime_type: str
    size_bytes: int
    sha256: str | None = None
    storage_key: str | None = None


class ClaimCommand(BaseModel):
    """Fire ``event`` on ``claim_id`` once: ``event_id`` is the idempotency key."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    claim_id: int = Field(gt=0)
    event: ClaimEvent
    event_id: uuid.UUID
    actor: Actor = SYSTEM
    reason_code: ReasonCode | str | None = None
    note: str | None = Field(default=None, max_length=2000)
    approved_amount: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=2)
    documents: tuple[DocumentRef, ...] = ()

    @property
    def is_automatic(self) -> bool:
        return self.actor.role is ActorRole.SYSTEM

    def to_message(self) -> dict[str, object]:
        return self.model_dump(mode="json", by_alias=True, exclude_defaults=True)
