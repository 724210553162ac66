"""The review of a submitted claim: started by the worker, decided against coverage.

The ingest queue runs it in the ingesting transaction and the submit task right after a
member's submit, so an HTTP claim and a queue-fed claim take one path from SUBMITTED on.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal

from models import adjudication as rules
from models.commands import SYSTEM, automatic_event_id
from models.enums import ClaimEvent, ClaimStatus, DocumentType
from models.names import DerivedEvent, Step
from service.changes import ChangeSet, ClaimState
from service.facts import AdjudicationFacts, load_adjudication_facts
from storage.unit_of_work import PlanJourneyContext

_DECISION_EVENTS = {
    rules.Decision.APPROVE: ClaimEvent.APPROVE,
    rules.Decision.REJECT: ClaimEvent.REJECT,
    rules.Decision.REQUEST_INFO: ClaimEvent.REQUEST_INFO,
}


def review_new_claims(
    ctx: PlanJourneyContext,
    changes: ChangeSet,
    claims: Sequence[ClaimState],
    document_types: Mapping[int, frozenset[DocumentType]] | None,
    *,
    enrolments: Mapping[int, rules.EnrolmentFacts] | None = None,
) -> None:
    """Start the review of just-submitted claims and decide them, in the same change set.

    ``document_types`` is for claims not stored yet (the ingest path); None reads the stored
    documents (a submit action applied on a stored claim). ``enrolments`` are the claims'
    member plans when the caller has just read them (the ingest path), None to read them.
    """
    submitted = [claim for claim in claims if claim.status is ClaimStatus.SUBMITTED]
    if not submitted:
        return
    for claim in submitted:
        changes.transition(
            claim,
            ClaimEvent.START_REVIEW,
            event_id=automatic_event_id(claim.id, Step.START_REVIEW, claim.version),
            actor=SYSTEM,
        )
    facts = load_adjudication_facts(
        ctx,
        submitted,
        lock_totals=True,
        unsaved_documents=document_types,
        known_enrolments=enrolments,
    )
    for claim in submitted:
        decide(
            changes, facts, claim, automatic_event_id(claim.id, DerivedEvent.DECIDE, claim.version)
        )
    facts.write_totals(ctx)


def decide(
    changes: ChangeSet, facts: AdjudicationFacts, claim: ClaimState, decision_id: uuid.UUID
) -> None:
    """Adjudicate an UNDER_REVIEW claim: approve, reject or ask for information, or refer it
    to a person with the breakdown as a suggestion."""
    result = facts.adjudicate(claim, changes.settings.auto_approval_threshold)
    decision = result.as_json()
    claim.adjudication = decision
    claim.changed = True
    changes.touched[claim.id] = claim
    event = _DECISION_EVENTS.get(result.decision)
    if event is None:
        claim.next_step = None
        claim.next_step_due_at = None
        claim.decision_reason_code = result.reason_codes[0].value
        return
    if event is ClaimEvent.APPROVE:
        assert result.breakdown is not None
        facts.record_approval(claim, result.breakdown, decision)
    elif event is ClaimEvent.REJECT:
        claim.approved_amount = Decimal("0.00")
        claim.member_responsibility = claim.claimed_amount
    changes.transition(
        claim,
        event,
        event_id=decision_id,
        actor=SYSTEM,
        reason_code=result.reason_codes[0].value,
        details=decision,
    )
