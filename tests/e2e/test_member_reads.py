"""Balances, explanations of benefits and the FHIR export, on claims decided by a real worker.

The year of claims below is computed by hand (plan: deductible 500.00, out-of-pocket maximum
700.00, consultation 80 % with an annual limit of 2,000.00) and must equal what adjudication
stored in member_year_totals and coverage_usage, and what the balances route answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.claimresponse import ClaimResponse
from fhir.resources.explanationofbenefit import ExplanationOfBenefit
from fhir.resources.operationoutcome import OperationOutcome

from tests.e2e.conftest import MEMBER, Headers, take, wait_for_status
from tests.support.factories import World, claim_body, make_world
from tests.support.harness import Harness
from tests.unit.test_fhir_value_sets import assert_codes_in_value_sets

# (claimed, eligible, deductible, benefit, reasons) in the order the claims are decided.
YEAR = [
    (
        "300.00",
        "300.00",
        "300.00",
        "0.00",
        ["WITHIN_AUTO_APPROVAL", "PARTIAL_APPROVAL", "DEDUCTIBLE_APPLIED"],
    ),
    (
        "700.00",
        "700.00",
        "200.00",
        "400.00",
        ["WITHIN_AUTO_APPROVAL", "PARTIAL_APPROVAL", "DEDUCTIBLE_APPLIED"],
    ),
    (
        "900.00",
        "900.00",
        "0.00",
        "800.00",
        ["WITHIN_AUTO_APPROVAL", "PARTIAL_APPROVAL", "OUT_OF_POCKET_MAXIMUM_REACHED"],
    ),
    (
        "1200.00",
        "100.00",
        "0.00",
        "100.00",
        [
            "WITHIN_AUTO_APPROVAL",
            "PARTIAL_APPROVAL",
            "EXCEEDS_COVERAGE_LIMIT",
            "OUT_OF_POCKET_MAXIMUM_REACHED",
        ],
    ),
]


@pytest.fixture
def auto_pipeline(harness: Harness) -> Iterator[Harness]:
    """A worker that decides claims up to 5,000.00 itself, and the relay."""
    harness.extra_env["AUTO_APPROVAL_THRESHOLD"] = "5000.00"
    harness.start_worker()
    harness.start_relay()
    yield harness


@pytest.fixture
def year_world(harness: Harness) -> World:
    return make_world(
        users=(MEMBER, "member-2"),
        deductible=Decimal("500.00"),
        out_of_pocket_max=Decimal("700.00"),
        consultation_limit=Decimal("2000.00"),
    )


def _file(api: TestClient, world: World, headers: Headers, **body: Any) -> int:
    response = api.post(
        "/claims", json=claim_body(world, MEMBER, days_ago=1, **body), headers=headers
    )
    assert response.status_code == 202, response.text
    return int(response.json()["id"])


def _decided(
    api: TestClient, world: World, headers: Headers, status: str, **body: Any
) -> dict[str, Any]:
    return wait_for_status(api, _file(api, world, headers, **body), headers, status)


def test_balances_over_a_year_equal_what_adjudication_spent(
    api: TestClient, year_world: World, member: Headers, reviewer: Headers, auto_pipeline: Harness
) -> None:
    claims = []
    for claimed, eligible, deductible, benefit, reasons in YEAR:
        claim = _decided(api, year_world, member, "APPROVED", amount=claimed)
        breakdown = claim["adjudication"]["breakdown"]
        assert (breakdown["eligible"], breakdown["deductible"], breakdown["benefit"]) == (
            eligible,
            deductible,
            benefit,
        ), claim["adjudication"]
        assert claim["adjudication"]["reasonCodes"] == reasons
        claims.append(claim)
    exhausted = _decided(api, year_world, member, "REJECTED", amount="50.00")
    assert exhausted["decisionReasonCode"] == "EXCEEDS_COVERAGE_LIMIT"

    year = int(claims[0]["serviceDate"][:4])
    member_plan = year_world.members[MEMBER]
    response = api.get(f"/me/plans/{member_plan}/balances", params={"year": year}, headers=member)
    assert response.status_code == 200, response.text
    balances = response.json()
    assert balances["deductible"] == {"annual": "500.00", "met": "500.00", "remaining": "0.00"}
    assert balances["outOfPocket"] == {"maximum": "700.00", "met": "700.00", "remaining": "0.00"}
    by_type = {c["procedureType"]: c for c in balances["coverages"]}
    assert by_type["CONSULTATION"]["annualLimit"] == "2000.00"
    assert by_type["CONSULTATION"]["used"] == "2000.00"
    assert by_type["CONSULTATION"]["remaining"] == "0.00"
    assert by_type["PREVENTIVE"]["annualLimit"] is None
    assert by_type["PREVENTIVE"]["remaining"] is None
    assert by_type["PREVENTIVE"]["used"] == "0.00"

    # The very rows adjudication locked and spent, and the sums of the stored breakdowns.
    totals = auto_pipeline.query(
        "SELECT deductible_paid, out_of_pocket_paid FROM plan.member_year_totals "
        "WHERE member_plan_id = %s AND year = %s",
        (member_plan, year),
    )[0]
    used = auto_pipeline.scalar(
        "SELECT limit_used FROM plan.coverage_usage WHERE member_plan_id = %s AND year = %s",
        (member_plan, year),
    )
    spent = [c["adjudication"]["breakdown"] for c in claims]
    assert (
        Decimal(balances["deductible"]["met"])
        == totals["deductible_paid"]
        == sum(Decimal(b["deductible"]) for b in spent)
    )
    assert (
        Decimal(balances["outOfPocket"]["met"])
        == totals["out_of_pocket_paid"]
        == sum(Decimal(b["eligible"]) - Decimal(b["benefit"]) for b in spent)
    )
    assert (
        Decimal(by_type["CONSULTATION"]["used"])
        == used
        == sum(Decimal(b["eligible"]) for b in spent)
    )

    # Reviewers read any enrolment; another member reads none; a year without claims is empty.
    assert (
        api.get(f"/me/plans/{member_plan}/balances", params={"year": year}, headers=reviewer).json()
        == balances
    )
    other = api.get(f"/me/plans/{member_plan}/balances", headers=_other(api))
    assert other.status_code == 404
    assert other.json()["error"]["code"] == "PLAN_ENROLMENT_NOT_FOUND"
    empty = api.get(f"/me/plans/{member_plan}/balances", params={"year": year - 1}, headers=member)
    assert empty.json()["deductible"] == {"annual": "500.00", "met": "0.00", "remaining": "500.00"}

    _explanations_of_the_year(api, member, claims, exhausted)


def _other(api: TestClient) -> Headers:
    from tests.e2e.conftest import bearer

    return bearer("member-2", "member")


def _explanations_of_the_year(
    api: TestClient, member: Headers, claims: list[dict[str, Any]], exhausted: dict[str, Any]
) -> None:
    def explain(claim: dict[str, Any]) -> dict[str, Any]:
        response = api.get(f"/claims/{claim['id']}/explanation", headers=member)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def lines(explanation: dict[str, Any]) -> dict[str, dict[str, str]]:
        return {line["category"]: line for line in explanation["lines"]}

    crossing = explain(claims[1])
    assert crossing["decision"]["code"] == "partial"
    assert lines(crossing)["deductible"]["sentence"] == (
        f"200.00 went towards your deductible of 500.00 for {crossing['balancesAfter']['year']}; "
        "0.00 of it is left."
    )
    # Balances as they were right after this claim, not today's.
    assert crossing["balancesAfter"]["outOfPocket"]["met"] == "600.00"
    assert crossing["balancesAfter"]["coverages"][0]["used"] == "1000.00"
    assert lines(crossing)["youPay"]["sentence"] == (
        "You pay 300.00: 200.00 deductible and 100.00 of your share after the coverage percent."
    )

    capped = explain(claims[3])
    assert lines(capped)["eligible"]["sentence"] == (
        "The plan's annual limit for CONSULTATION had 100.00 left, so 100.00 of the 1200.00 "
        "was eligible."
    )
    assert (
        lines(capped)["youPay"]["sentence"] == "You pay 1100.00: 1100.00 the plan does not cover."
    )
    assert {r["code"] for r in capped["reasons"]} >= {"EXCEEDS_COVERAGE_LIMIT"}
    assert capped["balancesAfter"]["coverages"][0]["remaining"] == "0.00"

    oop = explain(claims[2])
    assert "You reached your out-of-pocket maximum" in " ".join(
        r["sentence"] for r in oop["reasons"]
    )

    rejected = explain(exhausted)
    assert rejected["decision"] == {
        "code": "denied",
        "sentence": "Your claim was rejected: the plan pays nothing.",
    }
    assert rejected["reasons"][0]["code"] == "EXCEEDS_COVERAGE_LIMIT"
    assert lines(rejected)["planPays"]["amount"] == "0.00"
    assert lines(rejected)["youPay"]["amount"] == "50.00"


def test_explanations_of_full_info_requested_rejected_and_reviewer_partial_decisions(
    api: TestClient, world: World, member: Headers, reviewer: Headers, auto_pipeline: Harness
) -> None:
    full = _decided(api, world, member, "APPROVED", amount="60.00", procedure_type="PREVENTIVE")
    info = _decided(api, world, member, "ADDITIONAL_INFO_REQUIRED", receipt=False)
    not_covered = _decided(api, world, member, "REJECTED", procedure_type="SURGERY")
    auto_pipeline.query(
        "UPDATE plan.coverages SET preauthorization_required = true WHERE id = %s RETURNING id",
        (world.coverage_ids[next(iter(world.coverage_ids))],),
    )
    no_preauth = _decided(api, world, member, "REJECTED")
    auto_pipeline.query(
        "UPDATE plan.coverages SET preauthorization_required = false, waiting_period_days = 100000 "
        "RETURNING id"
    )
    waiting = _decided(api, world, member, "REJECTED")
    auto_pipeline.query("UPDATE plan.coverages SET waiting_period_days = 0 RETURNING id")

    def explain(claim: dict[str, Any], headers: Headers = member) -> dict[str, Any]:
        response = api.get(f"/claims/{claim['id']}/explanation", headers=headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    approved = explain(full)
    assert approved["decision"] == {
        "code": "approved",
        "sentence": "Your claim was approved: the plan pays all of the 60.00.",
    }
    assert [line["category"] for line in approved["lines"]] == [
        "submitted",
        "eligible",
        "deductible",
        "copay",
        "coveragePercent",
        "planPays",
        "youPay",
    ]
    assert approved["lines"][-1]["sentence"] == "You pay nothing."
    assert approved["lines"][2]["sentence"] == "The deductible does not apply to PREVENTIVE."

    asked = explain(info)
    assert asked["decision"]["code"] == "info_requested"
    assert asked["decision"]["sentence"].startswith("We need more information")
    assert asked["reasons"][0] == {
        "code": "INSUFFICIENT_DOCUMENTATION",
        "sentence": "We need a receipt or an invoice for this claim.",
    }

    for claim, code, sentence in (
        (not_covered, "NOT_COVERED", "Your plan does not cover this procedure."),
        (no_preauth, "MISSING_PREAUTHORIZATION", "This procedure needs a pre-authorisation"),
        (waiting, "WAITING_PERIOD", "The waiting period of this coverage had not ended"),
    ):
        explanation = explain(claim)
        assert explanation["decision"]["code"] == "denied"
        assert explanation["reasons"][0]["code"] == code
        assert explanation["reasons"][0]["sentence"].startswith(sentence)

    # A reviewer approves less than claimed, with a note; a claim under review has nothing yet.
    waiting_review = _decided(api, world, member, "UNDER_REVIEW", amount="6000.00")
    early = api.get(f"/claims/{waiting_review['id']}/explanation", headers=member)
    assert early.status_code == 409
    assert early.json()["error"]["code"] == "PLAN_CLAIM_BUS_NOT_DECIDED"
    take(api, waiting_review["id"], reviewer)  # only the holder decides
    decided = api.post(
        f"/claims/{waiting_review['id']}/decision",
        json={"decision": "approve", "approvedAmount": "4000.00", "note": "Two sessions only"},
        headers=reviewer,
    )
    assert decided.status_code == 202, decided.text
    wait_for_status(api, waiting_review["id"], member, "APPROVED")
    partial = explain(waiting_review)
    assert partial["decision"] == {
        "code": "partial",
        "sentence": "Your claim was approved in part: the plan pays 4000.00 of the 6000.00.",
    }
    assert partial["note"] == "Two sessions only"
    assert explain(waiting_review, reviewer) == partial
    assert (
        api.get(f"/claims/{waiting_review['id']}/explanation", headers=_other(api)).status_code
        == 404
    )

    chain = api.get(f"/claims/{waiting_review['id']}/history", headers=member).json()["items"]
    assert [item["event"] for item in chain] == ["submit", "start_review", "approve"]
    assert all(len(item["hash"]) == 64 for item in chain)
    assert len({item["hash"] for item in chain}) == 3

    _fhir_of(api, member, [full, info, not_covered, waiting_review])


def _fhir_of(api: TestClient, member: Headers, claims: list[dict[str, Any]]) -> None:
    outcomes = []
    for claim in claims:
        for kind, model in (
            ("ClaimResponse", ClaimResponse),
            ("ExplanationOfBenefit", ExplanationOfBenefit),
        ):
            response = api.get(f"/fhir/{kind}/{claim['id']}", headers=member)
            assert response.status_code == 200, response.text
            assert response.headers["content-type"] == "application/fhir+json"
            resource = response.json()
            model.model_validate(resource)
            assert_codes_in_value_sets(resource)
            outcomes.append(resource["outcome"])
    assert outcomes == ["complete"] * 2 + ["queued"] * 2 + ["error"] * 2 + ["partial"] * 2

    partial = api.get(f"/fhir/ClaimResponse/{claims[-1]['id']}", headers=member).json()
    assert partial["processNote"][0]["text"] == "Two sessions only"
    assert partial["decision"]["coding"][0]["code"] == "partial"

    for path, headers, status, issue in (
        (f"/fhir/ClaimResponse/{claims[0]['id']}", _other(api), 404, "not-found"),
        (f"/fhir/ExplanationOfBenefit/{claims[0]['id']}", {}, 401, "login"),
        ("/fhir/ClaimResponse/0", member, 422, "invalid"),
        ("/fhir/Patient/1", member, 404, "not-found"),
    ):
        response = api.get(path, headers=headers)
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/fhir+json"
        outcome = OperationOutcome.model_validate(response.json())
        assert outcome.issue[0].code == issue
