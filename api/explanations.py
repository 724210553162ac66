"""The explanation of benefits of a decided claim, in words a member understands."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter

from api.auth import CurrentUser
from api.balances import PlanBalances
from api.errors import error_responses
from api.params import ClaimId
from api.schemas import _Answer
from models.enums import ClaimStatus
from service.explanations import Explanation, explain_claim
from storage.unit_of_work import PlanJourneyContext

router = APIRouter(tags=["claims"])


class ExplanationLine(_Answer):
    category: str
    label: str
    amount: str
    sentence: str


class ExplainedCode(_Answer):
    code: str
    sentence: str


class ClaimExplanation(_Answer):
    """Amounts in the claim's currency, as exact decimal strings (coveragePercent: percent)."""

    claim_id: int
    status: ClaimStatus
    currency: str
    language: str
    decision: ExplainedCode
    reasons: list[ExplainedCode]
    lines: list[ExplanationLine]
    note: str | None
    decided_at: datetime
    balances_after: PlanBalances

    @classmethod
    def of(cls, explanation: Explanation) -> ClaimExplanation:
        return cls(
            claim_id=explanation.claim_id,
            status=explanation.status,
            currency=explanation.currency,
            language=explanation.language,
            decision=ExplainedCode.model_validate(explanation.decision),
            reasons=[ExplainedCode.model_validate(reason) for reason in explanation.reasons],
            lines=[ExplanationLine.model_validate(line) for line in explanation.lines],
            note=explanation.note,
            decided_at=explanation.decided_at,
            balances_after=PlanBalances.of(explanation.balances_after),
        )


@router.get(
    "/claims/{id}/explanation",
    response_model=ClaimExplanation,
    summary="Why a decided claim paid what it paid: each line, the decision and its reasons "
    "as sentences, and the balances after it",
    responses=error_responses(401, 404, 409, 422, 503),
)
def get_explanation(user: CurrentUser, claim_id: ClaimId) -> ClaimExplanation:
    owner = user.id if user.is_member else None
    with PlanJourneyContext() as ctx:
        explanation = explain_claim(ctx, claim_id=claim_id, owner=owner)
    return ClaimExplanation.of(explanation)
