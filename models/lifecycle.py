"""The claim lifecycle: one ``transitions`` machine, declared once, holding DOMAIN.md section 1.

The machine has no models of its own. Events are fired on any object with a ``status``
attribute (a loaded claim row, or a light stand-in in batch work); the machine only checks
the edge and moves ``status``. History, outbox and locking belong to the service layer.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Protocol

from transitions import Machine, MachineError, State

from models.enums import ClaimEvent, ClaimStatus
from models.errors import InvalidTransition

S = ClaimStatus
E = ClaimEvent

TRANSITIONS: tuple[tuple[ClaimEvent, tuple[ClaimStatus, ...], ClaimStatus], ...] = (
    (E.SUBMIT, (S.DRAFT,), S.SUBMITTED),
    (E.START_REVIEW, (S.SUBMITTED,), S.UNDER_REVIEW),
    (E.APPROVE, (S.UNDER_REVIEW,), S.APPROVED),
    (E.REJECT, (S.UNDER_REVIEW,), S.REJECTED),
    (E.REQUEST_INFO, (S.UNDER_REVIEW,), S.ADDITIONAL_INFO_REQUIRED),
    (E.PROVIDE_INFO, (S.ADDITIONAL_INFO_REQUIRED,), S.UNDER_REVIEW),
    (E.CANCEL, (S.DRAFT, S.SUBMITTED, S.ADDITIONAL_INFO_REQUIRED), S.CANCELLED),
    (E.EXPIRE, (S.ADDITIONAL_INFO_REQUIRED,), S.EXPIRED),
)

# The domain event each transition emits (DOMAIN.md section 5), keyed by the state it enters.
DOMAIN_EVENT_BY_STATUS: dict[ClaimStatus, str] = {
    S.SUBMITTED: "claim.submitted",
    S.UNDER_REVIEW: "claim.under_review",
    S.APPROVED: "claim.approved",
    S.REJECTED: "claim.rejected",
    S.ADDITIONAL_INFO_REQUIRED: "claim.additional_info_required",
    S.CANCELLED: "claim.cancelled",
    S.EXPIRED: "claim.expired",
}


def domain_event_name(event: ClaimEvent, to_status: ClaimStatus) -> str:
    if event is E.PROVIDE_INFO:
        return "claim.info_provided"
    return DOMAIN_EVENT_BY_STATUS[to_status]


class HasStatus(Protocol):
    status: ClaimStatus


class _ClaimState(State):
    """A state whose name is read once: ``State.name`` reads the enum member's name (a
    property in itself) on each of the half-dozen times a trigger asks for it."""

    name = ""  # shadows the property of State, so that the instance attribute is used

    def __init__(self, name: str | Enum, *args: Any, **kwargs: Any) -> None:
        super().__init__(name, *args, **kwargs)
        self.name = name.name if isinstance(name, Enum) else name


class _ClaimMachine(Machine):
    state_cls = _ClaimState


claim_machine = _ClaimMachine(
    model=None,
    states=ClaimStatus,
    transitions=[
        {"trigger": event.value, "source": [s.name for s in sources], "dest": dest.name}
        for event, sources, dest in TRANSITIONS
    ],
    initial=None,
    auto_transitions=False,
    send_event=True,
    model_attribute="status",
    ignore_invalid_triggers=False,
)


def can_fire(status: ClaimStatus, event: ClaimEvent) -> bool:
    return status.name in claim_machine.events[event.value].transitions


def fire(claim: HasStatus, event: ClaimEvent, **event_kwargs: Any) -> ClaimStatus:
    """Move ``claim.status`` along ``event``; refuse an edge the table does not hold.

    Returns the state the claim was in before.
    """
    before = claim.status
    try:
        claim_machine.events[event.value].trigger(claim, **event_kwargs)
    except MachineError as refusal:
        raise InvalidTransition(
            f"A claim in {before.value} cannot be {_past_tense(event)}",
            field="status",
        ) from refusal
    return before


def _past_tense(event: ClaimEvent) -> str:
    return {
        E.SUBMIT: "submitted",
        E.START_REVIEW: "put under review",
        E.APPROVE: "approved",
        E.REJECT: "rejected",
        E.REQUEST_INFO: "sent back for more information",
        E.PROVIDE_INFO: "given more information",
        E.CANCEL: "cancelled",
        E.EXPIRE: "expired",
    }[event]


def mermaid_diagram() -> str:
    """The state diagram, drawn from the machine itself."""
    lines = ["stateDiagram-v2", f"    [*] --> {S.DRAFT.name}"]
    for event_name, event in claim_machine.events.items():
        for source, transitions in event.transitions.items():
            for transition in transitions:
                lines.append(f"    {source} --> {transition.dest}: {event_name}")
    lines.extend(f"    {s.name} --> [*]" for s in ClaimStatus if s.is_terminal)
    return "\n".join(lines) + "\n"


def lifecycle_document() -> str:
    """docs/lifecycle.md: the diagram with a few words on the automatic steps."""
    return f"""# Claim lifecycle

Drawn from the state machine in `models/lifecycle.py` (`make diagram` rewrites this file; a
unit test fails when it is stale). Every arrow is one event; every transition writes one
history row and one domain event (DOMAIN.md sections 1 and 5).

```mermaid
{mermaid_diagram()}```

Every event is fired by a Celery task. A person's request (`submit`, `cancel`,
`provide_info` from a member; `approve`, `reject`, `request_info` from a reviewer) is first
recorded as an *action* (`plan.claim_actions`, `GET /claims/{{id}}/actions/{{actionId}}`):
checked at once against the claim's current state (an edge this diagram does not hold is
refused with `409 PLAN_CLAIM_BUS_INVALID_STATUS_TRANSITION`), queued, then applied by the
task `plan.claims.<event>` with the person as the history row's actor, or refused with its
code if the claim moved on meanwhile. One person's action waits per claim at a time
(`409 PLAN_CLAIM_BUS_ACTION_PENDING`). The action's id is the transition's event id.

- `submit` (the action `POST /claims` records, or `POST /claims/{{id}}/submit` for a draft):
  the task fires `submit`, `start_review` and the automatic decision in one transaction
  (approve, reject, request_info, or leave in UNDER_REVIEW for a reviewer). A claim the
  worker ingests from the `ingest` queue takes the same path in the ingesting transaction.

Automatic steps owed by the workers (`claims.next_step`):

- `start_review`: owed by a claim left in SUBMITTED (rows from before actions, the seed); the
  worker fires `start_review` and adjudicates in the same transaction.
- `adjudicate`: owed after `provide_info`; the worker adjudicates again.

Expiry is not owed by a claim: the scheduler (`plan.maintenance.expire_overdue`) fires `expire`
when the information deadline passes.
"""


__all__ = [
    "TRANSITIONS",
    "HasStatus",
    "can_fire",
    "claim_machine",
    "domain_event_name",
    "fire",
    "lifecycle_document",
    "mermaid_diagram",
]
