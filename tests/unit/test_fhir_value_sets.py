"""Every code the FHIR export emits belongs to its FHIR R5 value set.

``fhir.resources`` validates structure and types, not terminology, so the value sets below are
copied by hand from the R5 specification (hl7.org/fhir/R5): each test renders the resources
of claims in every state and checks every coded value in them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from fhir.resources.claimresponse import ClaimResponse
from fhir.resources.explanationofbenefit import ExplanationOfBenefit
from fhir.resources.operationoutcome import OperationOutcome

from config import Settings
from models.enums import ClaimStatus, PlanType, ReasonCode
from service.fhir import FhirClaim, claim_response, explanation_of_benefit, operation_outcome

SETTINGS = Settings(environment="test")
OWN = SETTINGS.fhir_base_url

# Coding systems -> the codes their R5 value sets allow.
CODE_SYSTEMS: dict[str, frozenset[str]] = {
    # ValueSet adjudication (Adjudication Value Codes), CodeSystem adjudication
    "http://terminology.hl7.org/CodeSystem/adjudication": frozenset(
        {
            "submitted",
            "copay",
            "eligible",
            "deductible",
            "unallocdeduct",
            "eligpercent",
            "tax",
            "benefit",
        }
    ),
    # ValueSet claim-decision (Claim Adjudication Decision Codes), R5
    "http://terminology.hl7.org/CodeSystem/claimdecision": frozenset(
        {"denied", "approved", "partial", "pending"}
    ),
    # ValueSet claim-type
    "http://terminology.hl7.org/CodeSystem/claim-type": frozenset(
        {"institutional", "oral", "pharmacy", "professional", "vision"}
    ),
    # ValueSet note-type
    "http://hl7.org/fhir/note-type": frozenset({"display", "print", "printoper"}),
    # The service's own reason codes
    f"{OWN}/CodeSystem/claim-reason": frozenset(code.value for code in ReasonCode),
}
OPEN_SYSTEMS = {f"{OWN}/CodeSystem/procedure-code", f"{OWN}/CodeSystem/error-code"}
# Primitive code elements -> their required value sets.
FM_STATUS = frozenset({"active", "cancelled", "draft", "entered-in-error"})  # VS fm-status
CLAIM_USE = frozenset({"claim", "preauthorization", "predetermination"})  # VS claim-use
REMITTANCE_OUTCOME = frozenset({"queued", "complete", "error", "partial"})  # VS remittance-outcome
ISSUE_SEVERITY = frozenset({"fatal", "error", "warning", "information", "success"})
ISSUE_TYPE = frozenset(
    {
        "invalid",
        "structure",
        "required",
        "value",
        "invariant",
        "security",
        "login",
        "unknown",
        "expired",
        "forbidden",
        "suppressed",
        "processing",
        "not-supported",
        "duplicate",
        "multiple-matches",
        "not-found",
        "deleted",
        "too-long",
        "code-invalid",
        "extension",
        "too-costly",
        "business-rule",
        "conflict",
        "limited-filter",
        "transient",
        "lock-error",
        "no-store",
        "exception",
        "timeout",
        "incomplete",
        "throttled",
        "informational",
        "success",
    }
)


def claim(status: ClaimStatus, **overrides: Any) -> FhirClaim:
    row: dict[str, Any] = {
        "id": 41,
        "status": status.value,
        "user_id": "member-1",
        "plan_id": 3,
        "member_plan_id": 5,
        "procedure_type": "IMAGING",
        "procedure_code": "IMG-100",
        "service_date": date(2026, 3, 1),
        "claimed_amount": Decimal("450.00"),
        "approved_amount": None,
        "member_responsibility": None,
        "currency": "BRL",
        "decision_reason_code": None,
        "adjudication": None,
        "provider_name": "Clinic",
        "created_at": datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
        "idempotency_key": "key-1",
    }
    row.update(overrides)
    history = [
        {"note": "Receipt checked", "actor_role": "reviewer"},
        {"note": "member text", "actor_role": "member"},
    ]
    return FhirClaim(row, history, "Health plan", PlanType.HEALTH, "M-1")  # type: ignore[arg-type]


def _breakdown(benefit: str, eligible: str = "300.00") -> dict[str, Any]:
    return {
        "decision": "approve",
        "reasonCodes": ["WITHIN_AUTO_APPROVAL", "EXCEEDS_COVERAGE_LIMIT"],
        "breakdown": {
            "submitted": "450.00",
            "eligible": eligible,
            "deductible": "50.00",
            "copay": "10.00",
            "coveragePercent": "80",
            "benefit": benefit,
            "memberResponsibility": f"{Decimal('450.00') - Decimal(benefit):.2f}",
        },
        "coverageId": 9,
    }


CLAIMS = {
    "draft": claim(ClaimStatus.DRAFT),
    "under_review": claim(ClaimStatus.UNDER_REVIEW),
    "info": claim(
        ClaimStatus.ADDITIONAL_INFO_REQUIRED, decision_reason_code="INSUFFICIENT_DOCUMENTATION"
    ),
    "partial": claim(
        ClaimStatus.APPROVED,
        approved_amount=Decimal("192.00"),
        decision_reason_code="WITHIN_AUTO_APPROVAL",
        adjudication=_breakdown("192.00"),
    ),
    "full": claim(
        ClaimStatus.APPROVED,
        claimed_amount=Decimal("450.00"),
        approved_amount=Decimal("450.00"),
        decision_reason_code="REVIEWER_DECISION",
        adjudication=_breakdown("450.00", "450.00"),
    ),
    "hard_rule": claim(ClaimStatus.REJECTED, decision_reason_code="NOT_COVERED"),
    "reviewer_reject": claim(ClaimStatus.REJECTED, decision_reason_code="REVIEWER_DECISION"),
    "cancelled": claim(ClaimStatus.CANCELLED, decision_reason_code="MEMBER_WITHDREW"),
    "expired": claim(ClaimStatus.EXPIRED, decision_reason_code="INFO_DEADLINE_PASSED"),
}


def codings(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if "system" in node and "code" in node:
            yield node
        for value in node.values():
            yield from codings(value)
    elif isinstance(node, list):
        for value in node:
            yield from codings(value)


def assert_codes_in_value_sets(resource: dict[str, Any]) -> None:
    for coding in codings(resource):
        system, code = coding["system"], coding["code"]
        if system in OPEN_SYSTEMS or system == "http://unitsofmeasure.org":
            continue
        assert system in CODE_SYSTEMS, f"unexpected code system {system}"
        assert code in CODE_SYSTEMS[system], f"{code} is not in the value set of {system}"
    assert resource["status"] in FM_STATUS
    assert resource["use"] in CLAIM_USE
    assert resource["outcome"] in REMITTANCE_OUTCOME


@pytest.mark.parametrize("name", sorted(CLAIMS))
def test_every_rendered_resource_validates_and_uses_value_set_codes(name: str) -> None:
    view = CLAIMS[name]
    for render, model in (
        (claim_response, ClaimResponse),
        (explanation_of_benefit, ExplanationOfBenefit),
    ):
        resource = render(view, SETTINGS)
        model.model_validate(resource)
        assert_codes_in_value_sets(resource)
        assert resource["status"] == "active"
        assert resource["use"] == "claim"
        assert resource["patient"] == {
            "identifier": {"system": f"{OWN}/identifier/user-id", "value": "member-1"}
        }


@pytest.mark.parametrize(
    ("name", "outcome", "decision"),
    [
        ("draft", "queued", "pending"),
        ("under_review", "queued", "pending"),
        ("info", "queued", "pending"),
        ("full", "complete", "approved"),
        ("partial", "partial", "partial"),
        ("hard_rule", "error", "denied"),
        ("reviewer_reject", "complete", "denied"),
        ("expired", "complete", "denied"),
        ("cancelled", "complete", None),
    ],
)
def test_outcome_and_decision_follow_the_claim(
    name: str, outcome: str, decision: str | None
) -> None:
    resource = claim_response(CLAIMS[name], SETTINGS)
    assert resource["outcome"] == outcome
    found = resource.get("decision", {}).get("coding", [{}])[0].get("code")
    assert found == decision


def test_a_partial_approval_carries_every_adjudication_category_and_the_reasons() -> None:
    resource = claim_response(CLAIMS["partial"], SETTINGS)
    categories = {
        entry["category"]["coding"][0]["code"]: entry for entry in resource["adjudication"]
    }
    assert set(categories) == {
        "submitted",
        "eligible",
        "deductible",
        "copay",
        "eligpercent",
        "benefit",
    }
    assert categories["eligible"]["amount"] == {"value": 300.0, "currency": "BRL"}
    assert categories["eligpercent"]["quantity"]["value"] == 80
    assert [t["category"]["coding"][0]["code"] for t in resource["total"]] == [
        "submitted",
        "eligible",
        "deductible",
        "copay",
        "benefit",
    ]
    reasons = [c["coding"][0]["code"] for c in resource["item"][0]["reviewOutcome"]["reason"]]
    assert reasons == ["WITHIN_AUTO_APPROVAL", "EXCEEDS_COVERAGE_LIMIT"]
    assert resource["processNote"] == [
        {
            "number": 1,
            "type": {"coding": [{"system": "http://hl7.org/fhir/note-type", "code": "display"}]},
            "text": "Receipt checked",
        }
    ]
    assert {i["system"].rsplit("/", 1)[1]: i["value"] for i in resource["identifier"]} == {
        "claim-id": "41",
        "idempotency-key": "key-1",
    }


@pytest.mark.parametrize("status", [401, 403, 404, 409, 422, 503])
def test_errors_render_as_operation_outcomes_with_issue_type_codes(status: int) -> None:
    outcome = operation_outcome(status, "PLAN_CLAIM_NOT_FOUND", "No such claim", OWN)
    OperationOutcome.model_validate(outcome)
    [issue] = outcome["issue"]
    assert issue["severity"] in ISSUE_SEVERITY
    assert issue["code"] in ISSUE_TYPE
    assert issue["details"]["coding"][0]["code"] == "PLAN_CLAIM_NOT_FOUND"
