"""The fingerprint an Idempotency-Key is stored with, and the rule that a key names one request."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from models.errors import ErrorCode, ValidationFailed
from models.idempotency import refuse_reused_key, request_fingerprint
from models.submission import ClaimSubmission

BODY = {
    "memberPlanId": 7,
    "procedureType": "CONSULTATION",
    "procedureCode": "C10101",
    "providerName": "Clinic",
    "serviceDate": "2026-11-30",
    "amount": "80.00",
    "documents": [
        {"type": "RECEIPT", "fileName": "r.pdf", "mimeType": "application/pdf", "sizeBytes": 9}
    ],
}


def fingerprint(body: dict[str, object]) -> str:
    claim = ClaimSubmission.model_validate(body, context={"today": date(2026, 12, 2)})
    return request_fingerprint("claim-submission", claim.model_dump())


def test_the_same_request_written_otherwise_has_the_same_fingerprint() -> None:
    reordered = dict(reversed(list(BODY.items())))
    assert fingerprint(reordered) == fingerprint(BODY)
    assert fingerprint({**BODY, "amount": 80}) == fingerprint(BODY)
    assert fingerprint({**BODY, "amount": "80.0"}) == fingerprint(BODY)
    assert fingerprint({**BODY, "currency": "BRL", "draft": False}) == fingerprint(BODY)
    assert fingerprint({**BODY, "providerName": "  Clinic "}) == fingerprint(BODY)


@pytest.mark.parametrize(
    "change",
    [
        {"amount": "80.01"},
        {"notes": "x"},
        {"draft": True},
        {"documents": []},
        {"serviceDate": "2026-11-29"},
        {"providerName": "clinic"},
    ],
)
def test_any_other_value_is_another_request(change: dict[str, object]) -> None:
    assert fingerprint({**BODY, **change}) != fingerprint(BODY)


def test_the_purpose_is_part_of_the_fingerprint() -> None:
    fields = {"amount": Decimal("1.00")}
    assert request_fingerprint("a", fields) != request_fingerprint("b", fields)
    assert len(request_fingerprint("a", fields)) == 64


def test_a_different_fingerprint_is_refused_and_a_missing_one_is_not() -> None:
    refuse_reused_key(None, "a" * 64)
    refuse_reused_key("a" * 64, "a" * 64)
    with pytest.raises(ValidationFailed) as refused:
        refuse_reused_key("a" * 64, "b" * 64)
    assert refused.value.code is ErrorCode.IDEMPOTENCY_KEY_REUSED
    assert refused.value.field == "Idempotency-Key"
