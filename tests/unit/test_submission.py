"""The input rules of DOMAIN.md section 3 at their boundaries, as endpoint and queue see them."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from pydantic import BaseModel, ValidationError

from models.errors import ErrorCode, ValidationFailed
from models.submission import (
    MAX_DOCUMENT_BYTES,
    AdditionalInfo,
    ClaimSubmission,
    DocumentIn,
    QueuedClaim,
    ReviewDecision,
    SubmissionContext,
    all_errors,
    first_error,
    refuse_unstorable_text,
)

M = TypeVar("M", bound=BaseModel)

TODAY = date(2025, 6, 15)
CONTEXT: SubmissionContext = {"today": TODAY}


def document(**overrides: Any) -> dict[str, Any]:
    return {
        "type": "RECEIPT",
        "fileName": "receipt.pdf",
        "mimeType": "application/pdf",
        "sizeBytes": 2048,
        **overrides,
    }


def claim(**overrides: Any) -> dict[str, Any]:
    return {
        "memberPlanId": 7,
        "procedureType": "CONSULTATION",
        "procedureCode": "10101012",
        "diagnosisCode": "K08",
        "providerName": "Clinica Sorriso",
        "serviceDate": "2025-06-01",
        "amount": "125.50",
        "documents": [document()],
        **overrides,
    }


def claim_without(*fields: str, **overrides: Any) -> dict[str, Any]:
    data = claim(**overrides)
    for field in fields:
        del data[field]
    return data


@pytest.fixture(params=["python", "json"])
def source(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def validate(model: type[M], data: dict[str, Any], source: str = "python", **context: Any) -> M:
    full_context = {**CONTEXT, **context}
    if source == "json":
        payload = json.dumps(data, default=str)
        return model.model_validate_json(payload, context=full_context)
    return model.model_validate(data, context=full_context)


def rejection(
    model: type[BaseModel], data: dict[str, Any], source: str = "python", **context: Any
) -> ValidationFailed:
    with pytest.raises(ValidationError) as caught:
        validate(model, data, source, **context)
    return first_error(caught.value)


def assert_rejected(failure: ValidationFailed, code: ErrorCode, field: str | None) -> None:
    assert (failure.code, failure.field) == (code, field), failure.message


# Amount


@pytest.mark.parametrize(
    "amount", ["0.01", 0.01, "1000000.00", 1000000.00, 1000000, "125.5", " 125.50 "]
)
def test_amount_within_limits_is_accepted(amount: object, source: str) -> None:
    accepted = validate(ClaimSubmission, claim(amount=amount), source).amount
    assert accepted == Decimal(str(amount).strip())


@pytest.mark.parametrize(
    ("amount", "reason"),
    [
        (0, "greater than 0"),
        ("0.00", "greater than 0"),
        ("-0.01", "greater than 0"),
        ("1000000.01", "at most 1000000.00"),
        (1000000.01, "at most 1000000.00"),
        ("0.001", "2 decimal places"),
        (125.505, "2 decimal places"),
        ("abc", "number"),
        ("", "number"),
        ("NaN", "number"),
        ("Infinity", "number"),
        ("1e2", "number"),
        ("1_000", "number"),
        (True, "number"),
        (None, "number"),
        ([1], "number"),
    ],
)
def test_amount_outside_the_rules_is_rejected(amount: object, reason: str, source: str) -> None:
    failure = rejection(ClaimSubmission, claim(amount=amount), source)
    assert_rejected(failure, ErrorCode.INVALID_AMOUNT, "amount")
    assert reason in failure.message


def test_a_json_number_amount_is_read_as_its_decimal_text_not_as_a_float() -> None:
    accepted = ClaimSubmission.model_validate_json(
        json.dumps(claim(amount=0.1)), context=CONTEXT
    ).amount
    assert accepted == Decimal("0.1")
    assert accepted != Decimal.from_float(0.1)
    assert str(accepted) == "0.1"


def test_a_python_float_amount_is_read_as_its_shortest_repr() -> None:
    accepted = ClaimSubmission.model_validate(claim(amount=0.1), context=CONTEXT).amount
    assert str(accepted) == "0.1"


def test_a_string_amount_keeps_its_trailing_zero() -> None:
    accepted = ClaimSubmission.model_validate_json(
        json.dumps(claim(amount="125.50")), context=CONTEXT
    ).amount
    assert str(accepted) == "125.50"


def test_json_infinity_from_an_overflowing_number_is_rejected() -> None:
    payload = json.dumps(claim(amount=1)).replace('"amount": 1', '"amount": 1e400')
    with pytest.raises(ValidationError) as caught:
        ClaimSubmission.model_validate_json(payload, context=CONTEXT)
    assert_rejected(first_error(caught.value), ErrorCode.INVALID_AMOUNT, "amount")


def test_a_json_number_beyond_float_precision_is_rounded_before_the_rules_see_it() -> None:
    # pydantic-core reads JSON numbers as 64-bit floats (pydantic/pydantic#9180): digits past
    # the 17th are gone before any validator runs, so this 16-decimal amount passes as 125.5.
    payload = json.dumps(claim(amount=1)).replace('"amount": 1', '"amount": 125.5000000000000001')
    accepted = ClaimSubmission.model_validate_json(payload, context=CONTEXT).amount
    assert accepted == Decimal("125.5")


def test_a_missing_amount_reports_the_amount_code(source: str) -> None:
    data = claim_without("amount")
    failure = rejection(ClaimSubmission, data, source)
    assert_rejected(failure, ErrorCode.INVALID_AMOUNT, "amount")
    assert failure.message == "amount is required"


# Procedure and diagnosis codes


@pytest.mark.parametrize("code", ["ABC", "10101012", "A.B-1", "0" * 16, "J45.9-X"])
def test_procedure_code_of_3_to_16_allowed_characters_is_accepted(code: str, source: str) -> None:
    assert validate(ClaimSubmission, claim(procedureCode=code), source).procedure_code == code


@pytest.mark.parametrize("code", ["AB", "0" * 17, "abc", "AbC", "AB C", "AB_1", "AB/1", "", "ÁBC"])
def test_procedure_code_outside_its_form_is_rejected(code: str, source: str) -> None:
    failure = rejection(ClaimSubmission, claim(procedureCode=code), source)
    assert_rejected(failure, ErrorCode.INVALID_PROCEDURE_CODE, "procedureCode")


def test_procedure_code_that_is_not_a_string_reports_its_code(source: str) -> None:
    failure = rejection(ClaimSubmission, claim(procedureCode=10101012), source)
    assert_rejected(failure, ErrorCode.INVALID_PROCEDURE_CODE, "procedureCode")


@pytest.mark.parametrize("code", ["K08", "J45.909", "S72.001A", "A00.0", "U07.1", "C4A.1", "Z99"])
def test_icd10_diagnosis_code_is_accepted(code: str, source: str) -> None:
    assert validate(ClaimSubmission, claim(diagnosisCode=code), source).diagnosis_code == code


def test_diagnosis_code_is_optional(source: str) -> None:
    data = claim_without("diagnosisCode")
    assert validate(ClaimSubmission, data, source).diagnosis_code is None


@pytest.mark.parametrize(
    "code", ["k08", "K8", "K08.", "K08.12345", "08K", "J45909", "KK8", "K08-1", "", "K08.1.2"]
)
def test_diagnosis_code_outside_icd10_form_is_rejected(code: str, source: str) -> None:
    failure = rejection(ClaimSubmission, claim(diagnosisCode=code), source)
    assert_rejected(failure, ErrorCode.INVALID_DIAGNOSIS_CODE, "diagnosisCode")


# Service date


@pytest.mark.parametrize("days_ago", [0, 1, 365])
def test_service_date_from_today_back_to_the_filing_window_is_accepted(
    days_ago: int, source: str
) -> None:
    service_date = TODAY - timedelta(days=days_ago)
    data = claim(serviceDate=service_date.isoformat())
    assert validate(ClaimSubmission, data, source).service_date == service_date


@pytest.mark.parametrize(("days_ago", "reason"), [(-1, "future"), (366, "365 days")])
def test_service_date_in_the_future_or_past_the_filing_window_is_rejected(
    days_ago: int, reason: str, source: str
) -> None:
    data = claim(serviceDate=(TODAY - timedelta(days=days_ago)).isoformat())
    failure = rejection(ClaimSubmission, data, source)
    assert_rejected(failure, ErrorCode.INVALID_SERVICE_DATE, "serviceDate")
    assert reason in failure.message


def test_filing_window_comes_from_the_validation_context(source: str) -> None:
    inside = claim(serviceDate=(TODAY - timedelta(days=30)).isoformat())
    outside = claim(serviceDate=(TODAY - timedelta(days=31)).isoformat())
    assert validate(ClaimSubmission, inside, source, filing_window_days=30)
    failure = rejection(ClaimSubmission, outside, source, filing_window_days=30)
    assert_rejected(failure, ErrorCode.INVALID_SERVICE_DATE, "serviceDate")
    assert "30 days" in failure.message


def test_without_context_today_is_the_real_date() -> None:
    recent = claim(serviceDate=(date.today() - timedelta(days=2)).isoformat())
    assert ClaimSubmission.model_validate(recent).service_date < date.today()
    future = claim(serviceDate=(date.today() + timedelta(days=2)).isoformat())
    with pytest.raises(ValidationError) as caught:
        ClaimSubmission.model_validate(future)
    assert first_error(caught.value).code == ErrorCode.INVALID_SERVICE_DATE


@pytest.mark.parametrize(
    "service_date",
    ["2025/06/01", "01/06/2025", "2025-02-30", "2025-6-1", "2025-06-01T00:00:00", "", 20250601],
)
def test_service_date_not_written_yyyy_mm_dd_is_rejected(service_date: object, source: str) -> None:
    failure = rejection(ClaimSubmission, claim(serviceDate=service_date), source)
    assert_rejected(failure, ErrorCode.INVALID_SERVICE_DATE, "serviceDate")
    assert "YYYY-MM-DD" in failure.message


def test_service_date_accepts_a_date_but_not_a_datetime_object() -> None:
    assert validate(ClaimSubmission, claim(serviceDate=date(2025, 6, 1))).service_date == date(
        2025, 6, 1
    )
    failure = rejection(ClaimSubmission, claim(serviceDate=datetime(2025, 6, 1)))
    assert_rejected(failure, ErrorCode.INVALID_SERVICE_DATE, "serviceDate")


# Documents


def test_five_documents_are_accepted(source: str) -> None:
    data = claim(documents=[document() for _ in range(5)])
    assert len(validate(ClaimSubmission, data, source).documents) == 5


def test_six_documents_are_rejected(source: str) -> None:
    failure = rejection(ClaimSubmission, claim(documents=[document() for _ in range(6)]), source)
    assert_rejected(failure, ErrorCode.INVALID_DOCUMENT, "documents")
    assert "at most 5" in failure.message


def test_documents_default_to_an_empty_list(source: str) -> None:
    data = claim_without("documents")
    assert validate(ClaimSubmission, data, source).documents == []


def test_a_document_of_exactly_10_mb_is_accepted(source: str) -> None:
    data = claim(documents=[document(sizeBytes=10 * 1024 * 1024)])
    assert validate(ClaimSubmission, data, source).documents[0].size_bytes == MAX_DOCUMENT_BYTES


@pytest.mark.parametrize("size", [10 * 1024 * 1024 + 1, 0, -1])
def test_a_document_over_10_mb_or_empty_is_rejected(size: int, source: str) -> None:
    data = claim(documents=[document(), document(sizeBytes=size)])
    failure = rejection(ClaimSubmission, data, source)
    assert_rejected(failure, ErrorCode.INVALID_DOCUMENT, "documents[1].sizeBytes")


@pytest.mark.parametrize(
    ("file_name", "mime_type"),
    [
        ("receipt.pdf", "application/pdf"),
        ("RECEIPT.PDF", "application/pdf"),
        ("photo.jpg", "image/jpeg"),
        ("photo.JPEG", "image/jpeg"),
        ("scan.png", "IMAGE/PNG"),
        ("two.dots.png", "image/png"),
    ],
)
def test_pdf_jpeg_and_png_documents_are_accepted(
    file_name: str, mime_type: str, source: str
) -> None:
    data = claim(documents=[document(fileName=file_name, mimeType=mime_type)])
    accepted = validate(ClaimSubmission, data, source).documents[0]
    assert (accepted.file_name, accepted.mime_type) == (file_name, mime_type.lower())


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"fileName": "setup.exe", "mimeType": "application/pdf"}, "fileName"),
        ({"fileName": "receipt", "mimeType": "application/pdf"}, "fileName"),
        ({"fileName": ".pdf", "mimeType": "application/pdf"}, "fileName"),
        ({"fileName": "../../etc/receipt.pdf"}, "fileName"),
        ({"fileName": "a" * 252 + ".pdf"}, "fileName"),
        ({"fileName": ""}, "fileName"),
        ({"mimeType": "application/x-msdownload"}, "mimeType"),
        ({"mimeType": "image/gif"}, "mimeType"),
        ({"mimeType": "image/png"}, "mimeType"),
        ({"fileName": "photo.jpg", "mimeType": "application/pdf"}, "mimeType"),
        ({"type": "SELFIE"}, "type"),
        ({"type": "receipt"}, "type"),
        ({"sizeBytes": "2048"}, "sizeBytes"),
        ({"sizeBytes": True}, "sizeBytes"),
        ({"sha256": "A" * 64}, "sha256"),
        ({"sha256": "a" * 63}, "sha256"),
        ({"storageKey": "k" * 513}, "storageKey"),
        ({"checksum": "abc"}, "checksum"),
    ],
)
def test_a_document_breaking_a_rule_reports_its_field_and_the_document_code(
    overrides: dict[str, Any], field: str, source: str
) -> None:
    data = claim(documents=[document(), document(**overrides)])
    failure = rejection(ClaimSubmission, data, source)
    assert_rejected(failure, ErrorCode.INVALID_DOCUMENT, f"documents[1].{field}")


def test_a_missing_document_field_reports_the_document_code(source: str) -> None:
    broken = document()
    del broken["mimeType"]
    failure = rejection(ClaimSubmission, claim(documents=[broken]), source)
    assert_rejected(failure, ErrorCode.INVALID_DOCUMENT, "documents[0].mimeType")
    assert failure.message == "documents[0].mimeType is required"


def test_sha256_and_storage_key_are_kept_when_valid(source: str) -> None:
    digest = "0123456789abcdef" * 4
    data = claim(documents=[document(sha256=digest, storageKey="claims/7/receipt.pdf")])
    accepted = validate(ClaimSubmission, data, source).documents[0]
    assert (accepted.sha256, accepted.storage_key) == (digest, "claims/7/receipt.pdf")


def test_a_document_validated_alone_reports_the_document_code(source: str) -> None:
    failure = rejection(DocumentIn, document(sizeBytes="many"), source)
    assert_rejected(failure, ErrorCode.INVALID_DOCUMENT, "sizeBytes")


# Plan, free text, currency, unknown fields


def test_a_claim_without_member_plan_id_or_plan_id_is_rejected(source: str) -> None:
    data = claim_without("memberPlanId")
    failure = rejection(ClaimSubmission, data, source)
    assert_rejected(failure, ErrorCode.INVALID_INPUT, "memberPlanId")
    assert failure.message == "memberPlanId or planId is required"


def test_a_null_member_plan_id_without_plan_id_is_rejected(source: str) -> None:
    failure = rejection(ClaimSubmission, claim(memberPlanId=None), source)
    assert_rejected(failure, ErrorCode.INVALID_INPUT, "memberPlanId")


def test_plan_id_alone_names_the_plan(source: str) -> None:
    data = claim_without("memberPlanId", planId=3)
    accepted = validate(ClaimSubmission, data, source)
    assert (accepted.plan_id, accepted.member_plan_id) == (3, None)


def test_an_invalid_plan_id_is_reported_once_without_the_required_message(source: str) -> None:
    data = claim_without("memberPlanId", planId="three")
    with pytest.raises(ValidationError) as caught:
        validate(ClaimSubmission, data, source)
    assert [(f.code, f.field) for f in all_errors(caught.value)] == [
        (ErrorCode.INVALID_INPUT, "planId")
    ]


@pytest.mark.parametrize("member_plan_id", [0, -1, True, "7", 7.5])
def test_member_plan_id_must_be_a_positive_integer(member_plan_id: object, source: str) -> None:
    failure = rejection(ClaimSubmission, claim(memberPlanId=member_plan_id), source)
    assert_rejected(failure, ErrorCode.INVALID_INPUT, "memberPlanId")


@pytest.mark.parametrize(
    ("model", "overrides", "field"),
    [
        (ClaimSubmission, {"procedureType": "MASSAGE"}, "procedureType"),
        (ClaimSubmission, {"providerName": ""}, "providerName"),
        (ClaimSubmission, {"providerName": "   "}, "providerName"),
        (ClaimSubmission, {"providerName": "x" * 201}, "providerName"),
        (ClaimSubmission, {"notes": "x" * 2001}, "notes"),
        (ClaimSubmission, {"currency": "usd"}, "currency"),
        (ClaimSubmission, {"currency": "REAL"}, "currency"),
        (ClaimSubmission, {"draft": "yes"}, "draft"),
        (ClaimSubmission, {"userId": "someone"}, "userId"),
        (QueuedClaim, {}, "userId"),
        (QueuedClaim, {"userId": ""}, "userId"),
        (QueuedClaim, {"userId": "u" * 129}, "userId"),
        (QueuedClaim, {"userId": "seed-user-1", "idempotencyKey": ""}, "idempotencyKey"),
        (QueuedClaim, {"userId": "seed-user-1", "idempotencyKey": "k" * 129}, "idempotencyKey"),
    ],
)
def test_other_fields_breaking_a_rule_report_the_input_code(
    model: type[BaseModel], overrides: dict[str, Any], field: str, source: str
) -> None:
    failure = rejection(model, claim(**overrides), source)
    assert_rejected(failure, ErrorCode.INVALID_INPUT, field)


def test_free_text_at_its_limits_is_accepted_and_stripped(source: str) -> None:
    data = claim(providerName="  " + "p" * 200 + "  ", notes="n" * 2000, currency="USD")
    accepted = validate(ClaimSubmission, data, source)
    assert accepted.provider_name == "p" * 200
    assert accepted.notes == "n" * 2000
    assert accepted.currency == "USD"


def test_defaults_are_brl_and_not_a_draft(source: str) -> None:
    accepted = validate(ClaimSubmission, claim(), source)
    assert (accepted.currency, accepted.draft, accepted.notes) == ("BRL", False, None)


def test_snake_case_field_names_are_accepted_too(source: str) -> None:
    data = {
        "member_plan_id": 7,
        "procedure_type": "SURGERY",
        "procedure_code": "ABC",
        "provider_name": "Hospital",
        "service_date": "2025-06-01",
        "amount": 10,
        "documents": [
            {"type": "INVOICE", "file_name": "a.png", "mime_type": "image/png", "size_bytes": 1}
        ],
    }
    accepted = validate(ClaimSubmission, data, source)
    assert accepted.documents[0].file_name == "a.png"


def test_an_unknown_field_is_reported_as_sent(source: str) -> None:
    failure = rejection(ClaimSubmission, claim(total_amount=5), source)
    assert_rejected(failure, ErrorCode.INVALID_INPUT, "total_amount")
    assert "not an accepted field" in failure.message


def test_a_body_that_is_not_json_has_no_field() -> None:
    with pytest.raises(ValidationError) as caught:
        ClaimSubmission.model_validate_json("{not json", context=CONTEXT)
    failure = first_error(caught.value)
    assert_rejected(failure, ErrorCode.INVALID_INPUT, None)
    assert failure.message.startswith("the request body: Invalid JSON")


def test_personal_text_never_appears_in_messages_or_the_error_text(source: str) -> None:
    secret = "Maria da Silva, HIV clinic"
    data = claim(providerName=secret * 10, notes=secret * 100)
    with pytest.raises(ValidationError) as caught:
        validate(ClaimSubmission, data, source)
    assert {f.field for f in all_errors(caught.value)} == {"providerName", "notes"}
    assert all("Maria" not in f.message for f in all_errors(caught.value))
    assert "Maria" not in str(caught.value)


def test_an_unknown_field_does_not_echo_its_value(source: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validate(ClaimSubmission, claim(patientName="Maria da Silva"), source)
    assert first_error(caught.value).field == "patientName"
    assert "Maria" not in str(caught.value)


def test_all_errors_lists_every_broken_rule_in_field_order(source: str) -> None:
    data = claim(procedureCode="x", amount="0", documents=[document(sizeBytes=0)])
    with pytest.raises(ValidationError) as caught:
        validate(ClaimSubmission, data, source)
    assert [(f.code, f.field) for f in all_errors(caught.value)] == [
        (ErrorCode.INVALID_PROCEDURE_CODE, "procedureCode"),
        (ErrorCode.INVALID_AMOUNT, "amount"),
        (ErrorCode.INVALID_DOCUMENT, "documents[0].sizeBytes"),
    ]
    assert first_error(caught.value).field == "procedureCode"


def test_the_error_type_is_the_domain_code() -> None:
    with pytest.raises(ValidationError) as caught:
        validate(ClaimSubmission, claim(amount="0"))
    assert caught.value.errors()[0]["type"] == "PLAN_CLAIM_VAL_INVALID_AMOUNT"


# Queue shape


def test_a_queued_claim_survives_a_round_trip_through_json(source: str) -> None:
    queued = validate(
        QueuedClaim,
        claim(userId="seed-user-1", idempotencyKey="k" * 128, amount=0.1),
        source,
    )
    message = queued.model_dump(mode="json", by_alias=True)
    assert message["amount"] == "0.1"
    assert message["userId"] == "seed-user-1"
    assert validate(QueuedClaim, message, source) == queued


# Reviewer decision and additional information


@pytest.mark.parametrize("amount", [0, "0.00", "0.01", "1000000.00", 99.99])
def test_approved_amount_from_zero_to_the_maximum_is_accepted(amount: object, source: str) -> None:
    decision = validate(ReviewDecision, {"decision": "approve", "approvedAmount": amount}, source)
    assert decision.approved_amount == Decimal(str(amount))


def test_a_negative_zero_approved_amount_becomes_zero(source: str) -> None:
    decision = validate(ReviewDecision, {"decision": "approve", "approvedAmount": "-0"}, source)
    assert str(decision.approved_amount) == "0"


@pytest.mark.parametrize("amount", ["-0.01", "0.001", "1000000.01", "abc", "NaN"])
def test_approved_amount_breaking_money_rules_is_rejected(amount: object, source: str) -> None:
    failure = rejection(ReviewDecision, {"decision": "approve", "approvedAmount": amount}, source)
    assert_rejected(failure, ErrorCode.INVALID_APPROVED_AMOUNT, "approvedAmount")


def test_a_review_decision_reads_camel_case(source: str) -> None:
    data = {"decision": "reject", "reasonCode": "NOT_COVERED", "note": "  see policy  "}
    decision = validate(ReviewDecision, data, source)
    assert (decision.decision, decision.reason_code, decision.note) == (
        "reject",
        "NOT_COVERED",
        "see policy",
    )
    assert decision.approved_amount is None


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"decision": "maybe"}, "decision"),
        ({"decision": "APPROVE"}, "decision"),
        ({}, "decision"),
        ({"decision": "reject", "reasonCode": "not_covered"}, "reasonCode"),
        ({"decision": "reject", "reasonCode": "R" * 65}, "reasonCode"),
        ({"decision": "reject", "note": "n" * 2001}, "note"),
    ],
)
def test_a_review_decision_breaking_a_rule_reports_the_input_code(
    data: dict[str, Any], field: str, source: str
) -> None:
    assert_rejected(rejection(ReviewDecision, data, source), ErrorCode.INVALID_INPUT, field)


@pytest.mark.parametrize("count", [1, 5])
def test_additional_info_with_one_to_five_documents_is_accepted(count: int, source: str) -> None:
    data = {"note": "the receipt", "documents": [document() for _ in range(count)]}
    assert len(validate(AdditionalInfo, data, source).documents) == count


@pytest.mark.parametrize("count", [0, 6])
def test_additional_info_with_no_or_six_documents_is_rejected(count: int, source: str) -> None:
    data = {"documents": [document() for _ in range(count)]}
    failure = rejection(AdditionalInfo, data, source)
    assert_rejected(failure, ErrorCode.INVALID_DOCUMENT, "documents")


def test_additional_info_without_documents_is_rejected(source: str) -> None:
    failure = rejection(AdditionalInfo, {"note": "here"}, source)
    assert_rejected(failure, ErrorCode.INVALID_DOCUMENT, "documents")


def test_additional_info_reports_a_bad_document_by_its_path(source: str) -> None:
    data = {"documents": [document(), document(fileName="virus.exe")]}
    failure = rejection(AdditionalInfo, data, source)
    assert_rejected(failure, ErrorCode.INVALID_DOCUMENT, "documents[1].fileName")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"notes": "line\x00break"}, "notes"),
        ({"documents": [{"fileName": "a\ud800.pdf"}]}, "documents[0].fileName"),
        ({"bad\x00key": 1}, None),
        ({"huge": 2**70, "notes": "\x00"}, "notes"),
    ],
)
def test_text_postgresql_cannot_store_is_refused_with_its_field(
    body: dict[str, Any], field: str | None
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        refuse_unstorable_text(body)
    assert refused.value.code is ErrorCode.INVALID_INPUT
    assert refused.value.field == field


@pytest.mark.parametrize(
    "body",
    [
        {"notes": "plain text, accents: ação, emoji: 🦷"},
        {"notes": "a literal backslash-u: \\u0000 is only text"},
        {"huge": 2**70, "list": [1, "two", None, 3.5]},
    ],
)
def test_text_postgresql_can_store_passes(body: dict[str, Any]) -> None:
    refuse_unstorable_text(body)
