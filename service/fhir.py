"""A claim as HL7 FHIR R5 resources (ClaimResponse, ExplanationOfBenefit) and errors as
OperationOutcome, built and validated with the ``fhir.resources`` models.

The code values come from the FHIR value sets named beside each constant (the models do not
check them; tests/unit/test_fhir_value_sets.py does); reason codes and procedure codes use
code systems of this service under ``Settings.fhir_base_url``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
import sqlalchemy as sa
from fhir.resources.claimresponse import ClaimResponse
from fhir.resources.explanationofbenefit import ExplanationOfBenefit
from fhir.resources.operationoutcome import OperationOutcome

from config import Settings
from models.enums import ClaimStatus, PlanType, ProcedureType, ReasonCode
from models.tables import MemberPlan, Plan
from service import queries
from storage.unit_of_work import PlanJourneyContext

MEDIA_TYPE = "application/fhir+json"

ADJUDICATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/adjudication"
DECISION_SYSTEM = "http://terminology.hl7.org/CodeSystem/claimdecision"  # VS claim-decision
CLAIM_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/claim-type"  # VS claim-type
NOTE_TYPE_SYSTEM = "http://hl7.org/fhir/note-type"  # VS note-type
UCUM = "http://unitsofmeasure.org"

# ClaimResponse.outcome (VS remittance-outcome): a rejection on one of these rules is "error".
HARD_RULES = frozenset(
    {
        ReasonCode.EXPIRED_COVERAGE,
        ReasonCode.NOT_COVERED,
        ReasonCode.WAITING_PERIOD,
        ReasonCode.MISSING_PREAUTHORIZATION,
        ReasonCode.DUPLICATE_CLAIM,
        ReasonCode.EXCEEDS_COVERAGE_LIMIT,
    }
)
UNDECIDED = frozenset(
    {
        ClaimStatus.DRAFT,
        ClaimStatus.SUBMITTED,
        ClaimStatus.UNDER_REVIEW,
        ClaimStatus.ADDITIONAL_INFO_REQUIRED,
    }
)
_BREAKDOWN_CATEGORIES = (
    ("submitted", "submitted"),
    ("eligible", "eligible"),
    ("deductible", "deductible"),
    ("copay", "copay"),
    ("benefit", "benefit"),
)
_DISPOSITIONS = {
    ClaimStatus.DRAFT: "The claim is a draft and has not been submitted.",
    ClaimStatus.SUBMITTED: "The claim was received and waits for review.",
    ClaimStatus.UNDER_REVIEW: "The claim is under review.",
    ClaimStatus.ADDITIONAL_INFO_REQUIRED: "More information is needed to decide the claim.",
    ClaimStatus.APPROVED: "The claim was approved.",
    ClaimStatus.REJECTED: "The claim was rejected.",
    ClaimStatus.CANCELLED: "The claim was withdrawn by the member.",
    ClaimStatus.EXPIRED: "The claim expired: the requested information did not arrive.",
}
PARTIAL_DISPOSITION = "The claim was approved in part."
# HTTP status -> OperationOutcome.issue.code (VS issue-type).
ISSUE_TYPES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    409: "conflict",
    422: "invalid",
    503: "transient",
}


@dataclass(frozen=True, slots=True)
class FhirClaim:
    claim: Mapping[str, Any]
    history: Sequence[sa.RowMapping]
    plan_name: str
    plan_type: PlanType
    member_number: str


def load_fhir_claim(ctx: PlanJourneyContext, *, claim_id: int, owner: str | None) -> FhirClaim:
    view = queries.get_claim(ctx, claim_id=claim_id, owner=owner)
    extra = ctx.execute(
        sa.select(Plan.name, Plan.type, MemberPlan.member_number)
        .join(MemberPlan, MemberPlan.plan_id == Plan.id)
        .where(MemberPlan.id == view.claim["member_plan_id"])
    ).one()
    key = ctx.execute(
        sa.select(queries.claims_t.c.idempotency_key).where(queries.claims_t.c.id == claim_id)
    ).scalar_one()
    claim = {**view.claim, "idempotency_key": key}
    return FhirClaim(claim, view.history, extra.name, PlanType(extra.type), extra.member_number)


def outcome_of(view: FhirClaim) -> str:
    status = ClaimStatus(view.claim["status"])
    if status in UNDECIDED:
        return "queued"
    if status is ClaimStatus.REJECTED and view.claim["decision_reason_code"] in HARD_RULES:
        return "error"
    if status is ClaimStatus.APPROVED and _is_partial(view):
        return "partial"
    return "complete"


def decision_of(view: FhirClaim) -> str | None:
    status = ClaimStatus(view.claim["status"])
    if status in UNDECIDED:
        return "pending"
    if status is ClaimStatus.APPROVED:
        return "partial" if _is_partial(view) else "approved"
    if status in (ClaimStatus.REJECTED, ClaimStatus.EXPIRED):
        return "denied"
    return None  # withdrawn: not adjudicated


def claim_response(view: FhirClaim, settings: Settings) -> dict[str, Any]:
    """The claim as a validated R5 ClaimResponse, in FHIR JSON."""
    resource = {"resourceType": "ClaimResponse", **_common(view, settings)}
    resource["requestor"] = {"display": view.claim["provider_name"]}
    resource["request"] = {"identifier": _identifier(settings, "claim-id", str(view.claim["id"]))}
    resource["item"] = [
        {
            "itemSequence": 1,
            "adjudication": resource["adjudication"],
            **_review_outcome(view, settings),
        }
    ]
    return _validated(ClaimResponse, resource)


def explanation_of_benefit(view: FhirClaim, settings: Settings) -> dict[str, Any]:
    """The claim as a validated R5 ExplanationOfBenefit, in FHIR JSON."""
    claim = view.claim
    resource = {"resourceType": "ExplanationOfBenefit", **_common(view, settings)}
    resource["provider"] = {"display": claim["provider_name"]}
    resource["claim"] = {"identifier": _identifier(settings, "claim-id", str(claim["id"]))}
    resource["insurance"] = [
        {
            "focal": True,
            "coverage": {
                "identifier": _identifier(settings, "member-number", view.member_number),
                "display": view.plan_name,
            },
        }
    ]
    resource["item"] = [
        {
            "sequence": 1,
            "productOrService": {
                "coding": [
                    {
                        "system": f"{settings.fhir_base_url}/CodeSystem/procedure-code",
                        "code": claim["procedure_code"],
                    }
                ],
                "text": str(claim["procedure_type"]),
            },
            "servicedDate": claim["service_date"].isoformat(),
            "net": _money(claim["claimed_amount"], claim["currency"]),
            "adjudication": resource["adjudication"],
            **_review_outcome(view, settings),
        }
    ]
    return _validated(ExplanationOfBenefit, resource)


def operation_outcome(status: int, code: str, message: str, settings_base: str) -> dict[str, Any]:
    """An error of a /fhir route as a validated OperationOutcome (issue-type from the status)."""
    resource = {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": ISSUE_TYPES.get(status, "processing"),
                "details": {
                    "coding": [{"system": f"{settings_base}/CodeSystem/error-code", "code": code}],
                    "text": message,
                },
                "diagnostics": message,
            }
        ],
    }
    return _validated(OperationOutcome, resource)


def _common(view: FhirClaim, settings: Settings) -> dict[str, Any]:
    claim = view.claim
    resource: dict[str, Any] = {
        "id": str(claim["id"]),
        "identifier": [
            _identifier(settings, "claim-id", str(claim["id"])),
            *(
                [_identifier(settings, "idempotency-key", claim["idempotency_key"])]
                if claim["idempotency_key"]
                else []
            ),
        ],
        "status": "active",
        "type": {"coding": [{"system": CLAIM_TYPE_SYSTEM, "code": _claim_type(view)}]},
        "use": "claim",
        "patient": {"identifier": _identifier(settings, "user-id", claim["user_id"])},
        "created": claim["created_at"].isoformat(),
        "insurer": {"display": settings.insurer_name},
        "outcome": outcome_of(view),
        "disposition": (
            PARTIAL_DISPOSITION
            if outcome_of(view) == "partial"
            else _DISPOSITIONS[ClaimStatus(claim["status"])]
        ),
        "adjudication": _adjudication(view, settings),
        "total": _totals(view),
    }
    decision = decision_of(view)
    if decision is not None:
        resource["decision"] = _decision(decision)
    notes = [row["note"] for row in view.history if row["note"] and row["actor_role"] != "member"]
    if notes:
        resource["processNote"] = [
            {
                "number": number,
                "type": {"coding": [{"system": NOTE_TYPE_SYSTEM, "code": "display"}]},
                "text": note,
            }
            for number, note in enumerate(notes, start=1)
        ]
    return resource


def _breakdown(view: FhirClaim) -> dict[str, str] | None:
    status = ClaimStatus(view.claim["status"])
    adjudication = view.claim["adjudication"] or {}
    if status is ClaimStatus.APPROVED:
        breakdown: dict[str, str] | None = adjudication.get("breakdown")
        return breakdown
    if status in (ClaimStatus.REJECTED, ClaimStatus.EXPIRED):
        claimed = f"{view.claim['claimed_amount']:.2f}"
        return {"submitted": claimed, "eligible": "0.00", "benefit": "0.00"}
    return None


def _adjudication(view: FhirClaim, settings: Settings) -> list[dict[str, Any]]:
    currency = view.claim["currency"]
    breakdown = _breakdown(view)
    if breakdown is None:
        return [_category_money("submitted", view.claim["claimed_amount"], currency)]
    entries = [
        _category_money(category, Decimal(breakdown[key]), currency)
        for key, category in _BREAKDOWN_CATEGORIES
        if key in breakdown
    ]
    if "coveragePercent" in breakdown:
        entries.append(
            {
                "category": _category("eligpercent"),
                "quantity": {
                    "value": Decimal(breakdown["coveragePercent"]),
                    "unit": "%",
                    "system": UCUM,
                    "code": "%",
                },
            }
        )
    reason = view.claim["decision_reason_code"]
    if reason:
        for entry in entries:
            if entry["category"]["coding"][0]["code"] == "benefit":
                entry["reason"] = _reason(settings, reason)
    return entries


def _totals(view: FhirClaim) -> list[dict[str, Any]]:
    currency = view.claim["currency"]
    breakdown = _breakdown(view) or {"submitted": f"{view.claim['claimed_amount']:.2f}"}
    return [
        _category_money(category, Decimal(breakdown[key]), currency)
        for key, category in _BREAKDOWN_CATEGORIES
        if key in breakdown
    ]


def _review_outcome(view: FhirClaim, settings: Settings) -> dict[str, Any]:
    decision = decision_of(view)
    if decision is None:
        return {}
    adjudication = view.claim["adjudication"] or {}
    codes: list[str] = list(adjudication.get("reasonCodes") or [])
    main = view.claim["decision_reason_code"]
    if main and main not in codes:
        codes.insert(0, main)
    outcome: dict[str, Any] = {"decision": _decision(decision)}
    if codes and decision != "pending":
        outcome["reason"] = [_reason(settings, code) for code in codes]
    return {"reviewOutcome": outcome}


def _is_partial(view: FhirClaim) -> bool:
    approved = view.claim["approved_amount"]
    return approved is not None and approved < view.claim["claimed_amount"]


def _claim_type(view: FhirClaim) -> str:
    by_plan = {PlanType.DENTAL: "oral", PlanType.VISION: "vision", PlanType.PHARMACY: "pharmacy"}
    if view.plan_type in by_plan:
        return by_plan[view.plan_type]
    procedure = ProcedureType(view.claim["procedure_type"])
    if procedure is ProcedureType.MEDICATION:
        return "pharmacy"
    if procedure in (ProcedureType.SURGERY, ProcedureType.EMERGENCY):
        return "institutional"
    return "professional"


def _decision(code: str) -> dict[str, Any]:
    return {"coding": [{"system": DECISION_SYSTEM, "code": code}]}


def _category(code: str) -> dict[str, Any]:
    return {"coding": [{"system": ADJUDICATION_SYSTEM, "code": code}]}


def _category_money(code: str, amount: Decimal, currency: str) -> dict[str, Any]:
    return {"category": _category(code), "amount": _money(amount, currency)}


def _money(amount: Decimal, currency: str) -> dict[str, Any]:
    return {"value": Decimal(f"{amount:.2f}"), "currency": currency}


def _reason(settings: Settings, code: str) -> dict[str, Any]:
    return {
        "coding": [{"system": f"{settings.fhir_base_url}/CodeSystem/claim-reason", "code": code}]
    }


def _identifier(settings: Settings, kind: str, value: str) -> dict[str, str]:
    return {"system": f"{settings.fhir_base_url}/identifier/{kind}", "value": value}


def _validated(model: Any, resource: dict[str, Any]) -> dict[str, Any]:
    validated = model.model_validate(resource)
    result: dict[str, Any] = orjson.loads(validated.model_dump_json())
    return result
