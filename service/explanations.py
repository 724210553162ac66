"""The explanation of benefits of a decided claim: each line of its breakdown with a sentence,
the decision and its reasons as sentences, and the balances right after it.

The amounts are the ones the deciding history row stored (the breakdown adjudication spent);
the sentences come from models.explanations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from models import explanations as wording
from models.enums import ClaimEvent, ClaimStatus
from models.errors import BusinessRuleViolation, ErrorCode
from service import queries
from service.balances import Balances, CoverageBalance, balances_after
from storage.unit_of_work import PlanJourneyContext

ZERO = Decimal("0.00")
DECISION_EVENTS = frozenset(
    {ClaimEvent.APPROVE, ClaimEvent.REJECT, ClaimEvent.REQUEST_INFO, ClaimEvent.EXPIRE}
)
EXPLAINED_STATUSES = frozenset(
    {
        ClaimStatus.APPROVED,
        ClaimStatus.REJECTED,
        ClaimStatus.ADDITIONAL_INFO_REQUIRED,
        ClaimStatus.EXPIRED,
    }
)


class DecisionKind(StrEnum):
    APPROVED = "approved"
    PARTIAL = "partial"
    DENIED = "denied"
    INFO_REQUESTED = "info_requested"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Line:
    category: str
    label: str
    amount: str
    sentence: str


@dataclass(frozen=True, slots=True)
class Sentence:
    code: str
    sentence: str


@dataclass(frozen=True, slots=True)
class Explanation:
    claim_id: int
    status: ClaimStatus
    currency: str
    language: str
    decision: Sentence
    reasons: tuple[Sentence, ...]
    lines: tuple[Line, ...]
    note: str | None
    decided_at: datetime
    balances_after: Balances


@dataclass(frozen=True, slots=True)
class _Amounts:
    submitted: Decimal
    eligible: Decimal
    deductible: Decimal
    copay: Decimal
    coverage_percent: Decimal | None
    benefit: Decimal

    @property
    def coinsurance(self) -> Decimal:
        return self.eligible - self.deductible - self.copay - self.benefit

    @property
    def member_pays(self) -> Decimal:
        return self.submitted - self.benefit


def explain_claim(ctx: PlanJourneyContext, *, claim_id: int, owner: str | None) -> Explanation:
    """The explanation of a decided claim; 409 PLAN_CLAIM_BUS_NOT_DECIDED before a decision."""
    view = queries.get_claim(ctx, claim_id=claim_id, owner=owner)
    claim = view.claim
    status = ClaimStatus(claim["status"])
    decision_row = _deciding_row(view.history)
    if status not in EXPLAINED_STATUSES or decision_row is None:
        raise BusinessRuleViolation(
            f"The claim is {status.value}: it has no decision to explain yet",
            field="id",
            code=ErrorCode.CLAIM_NOT_DECIDED,
        )
    after = balances_after(ctx, claim=claim, decided_in=decision_row["id"])
    return explanation_of(claim, decision_row, after)


def explanation_of(claim: Any, decision_row: Any, after: Balances) -> Explanation:
    """Pure: the explanation from the claim, its deciding history row and the balances after."""
    event = ClaimEvent(decision_row["event"])
    details: dict[str, Any] = decision_row["details"] or {}
    if event is ClaimEvent.REQUEST_INFO and not details:
        details = claim["adjudication"] or {}
    amounts = _amounts(claim["claimed_amount"], details.get("breakdown"), event)
    kind = _kind(event, amounts)
    reason_codes = list(details.get("reasonCodes") or [])
    if decision_row["reason_code"] and decision_row["reason_code"] not in reason_codes:
        reason_codes.insert(0, decision_row["reason_code"])
    coverage = after.coverage(details.get("coverageId"))
    return Explanation(
        claim_id=claim["id"],
        status=ClaimStatus(claim["status"]),
        currency=claim["currency"],
        language=wording.LANGUAGE,
        decision=Sentence(kind.value, _decision_sentence(kind, amounts, claim)),
        reasons=tuple(Sentence(code, wording.reason(code)) for code in reason_codes),
        lines=_lines(amounts, claim["procedure_type"], coverage, after, kind),
        note=decision_row["note"],
        decided_at=decision_row["occurred_at"],
        balances_after=after,
    )


def _deciding_row(history: Sequence[Any]) -> Any | None:
    return next(
        (row for row in reversed(history) if ClaimEvent(row["event"]) in DECISION_EVENTS), None
    )


def _amounts(claimed: Decimal, breakdown: dict[str, str] | None, event: ClaimEvent) -> _Amounts:
    if breakdown is None or event is ClaimEvent.EXPIRE:
        return _Amounts(claimed, ZERO, ZERO, ZERO, None, ZERO)
    return _Amounts(
        submitted=Decimal(breakdown["submitted"]),
        eligible=Decimal(breakdown["eligible"]),
        deductible=Decimal(breakdown["deductible"]),
        copay=Decimal(breakdown["copay"]),
        coverage_percent=Decimal(breakdown["coveragePercent"]),
        benefit=Decimal(breakdown["benefit"]),
    )


def _kind(event: ClaimEvent, amounts: _Amounts) -> DecisionKind:
    if event is ClaimEvent.APPROVE:
        return (
            DecisionKind.APPROVED if amounts.benefit >= amounts.submitted else DecisionKind.PARTIAL
        )
    if event is ClaimEvent.REQUEST_INFO:
        return DecisionKind.INFO_REQUESTED
    if event is ClaimEvent.EXPIRE:
        return DecisionKind.EXPIRED
    return DecisionKind.DENIED


def _decision_sentence(kind: DecisionKind, amounts: _Amounts, claim: Any) -> str:
    if kind is DecisionKind.INFO_REQUESTED:
        due = claim["info_due_at"]
        if due is None:
            return wording.say("decision.info_requested.no_date")
        return wording.say("decision.info_requested", due=due.date().isoformat())
    return wording.say(
        f"decision.{kind.value}", submitted=_text(amounts.submitted), benefit=_text(amounts.benefit)
    )


def _lines(
    amounts: _Amounts,
    procedure: str,
    coverage: CoverageBalance | None,
    after: Balances,
    kind: DecisionKind,
) -> tuple[Line, ...]:
    submitted = _text(amounts.submitted)
    lines = [_line("submitted", amounts.submitted, wording.say("submitted", submitted=submitted))]
    lines.append(_eligible_line(amounts, procedure, coverage, kind))
    paid = kind is not DecisionKind.DENIED and kind is not DecisionKind.EXPIRED
    if paid:
        lines.append(_deductible_line(amounts, procedure, coverage, after))
        copay_key = "copay.taken" if amounts.copay > ZERO else "copay.none"
        lines.append(
            _line(
                "copay",
                amounts.copay,
                wording.say(copay_key, copay=_text(amounts.copay), procedure=procedure),
            )
        )
        if amounts.coverage_percent is not None:
            rest = amounts.eligible - amounts.deductible - amounts.copay
            sentence = (
                wording.say(
                    "coveragePercent",
                    percent=_percent(amounts.coverage_percent),
                    rest=_text(rest),
                    coinsurance=_text(amounts.coinsurance),
                )
                if rest > ZERO
                else wording.say("coveragePercent.none")
            )
            lines.append(
                Line(
                    "coveragePercent",
                    wording.LABELS["coveragePercent"],
                    _percent(amounts.coverage_percent),
                    sentence,
                )
            )
    plan_key = "planPays" if amounts.benefit > ZERO else "planPays.none"
    lines.append(
        _line("planPays", amounts.benefit, wording.say(plan_key, benefit=_text(amounts.benefit)))
    )
    lines.append(_line("youPay", amounts.member_pays, _you_pay(amounts)))
    return tuple(lines)


def _eligible_line(
    amounts: _Amounts, procedure: str, coverage: CoverageBalance | None, kind: DecisionKind
) -> Line:
    values = {
        "submitted": _text(amounts.submitted),
        "eligible": _text(amounts.eligible),
        "procedure": procedure,
    }
    if kind in (DecisionKind.DENIED, DecisionKind.EXPIRED) or amounts.eligible == ZERO:
        key = "eligible.none"
    elif amounts.eligible >= amounts.submitted:
        key = "eligible.all"
    elif (
        coverage is not None
        and coverage.remaining is not None
        and _capped_by_limit(amounts, coverage, kind)
    ):
        key = "eligible.limit"
        values["left"] = _text(amounts.eligible)
    else:
        key = "eligible.reviewer"
    return _line("eligible", amounts.eligible, wording.say(key, **values))


def _capped_by_limit(amounts: _Amounts, coverage: CoverageBalance, kind: DecisionKind) -> bool:
    # After an approval the limit spent this claim's eligible amount; an estimate spent nothing.
    assert coverage.remaining is not None
    spent = amounts.eligible if kind in (DecisionKind.APPROVED, DecisionKind.PARTIAL) else ZERO
    return coverage.remaining + spent == amounts.eligible


def _deductible_line(
    amounts: _Amounts, procedure: str, coverage: CoverageBalance | None, after: Balances
) -> Line:
    year = str(after.year)
    if amounts.deductible > ZERO:
        sentence = wording.say(
            "deductible.taken",
            deductible=_text(amounts.deductible),
            annual=_text(after.plan.annual_deductible),
            year=year,
            remaining=_text(after.deductible_remaining),
        )
    elif coverage is not None and not coverage.coverage.deductible_applies:
        sentence = wording.say("deductible.not_applicable", procedure=procedure)
    elif after.deductible_remaining == ZERO and after.plan.annual_deductible > ZERO:
        sentence = wording.say("deductible.met", year=year)
    else:
        sentence = wording.say("deductible.none")
    return _line("deductible", amounts.deductible, sentence)


def _you_pay(amounts: _Amounts) -> str:
    if amounts.member_pays == ZERO:
        return wording.say("youPay.none")
    parts = [
        wording.say(f"youPay.part.{name}", amount=_text(amount))
        for name, amount in (
            ("deductible", amounts.deductible),
            ("copay", amounts.copay),
            ("coinsurance", amounts.coinsurance),
            ("not_eligible", amounts.submitted - amounts.eligible),
        )
        if amount > ZERO
    ]
    return wording.say("youPay", total=_text(amounts.member_pays), parts=wording.listing(parts))


def _line(category: str, amount: Decimal, sentence: str) -> Line:
    return Line(category, wording.LABELS[category], _text(amount), sentence)


def _text(amount: Decimal) -> str:
    return f"{amount:.2f}"


def _percent(percent: Decimal) -> str:
    return f"{percent.normalize():f}"
