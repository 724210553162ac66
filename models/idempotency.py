"""An Idempotency-Key names one request: a repeat of that request gets the first answer, a
different request under the same key is refused (draft-ietf-httpapi-idempotency-key-header).

The request is remembered as a fingerprint: the SHA-256 of its canonical form (the validated
fields, keys sorted, amounts without trailing zeros), so that key order, whitespace, ``80``
against ``"80.00"`` or an omitted default do not make the same request a different one.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson

from models.errors import BusinessRuleViolation, ErrorCode, ValidationFailed

IDEMPOTENCY_KEY_FIELD = "Idempotency-Key"


def _canonical(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    raise TypeError(f"{type(value).__name__} has no canonical form")


def request_fingerprint(purpose: str, fields: Mapping[str, Any]) -> str:
    """The SHA-256 (hex) of a request's ``fields`` for ``purpose`` (what the key is for).

    ``fields`` are the validated values (a model's ``model_dump()``): strings, numbers,
    Decimals, dates, enums, UUIDs, and lists and mappings of them.
    """
    canonical = orjson.dumps(
        {"purpose": purpose, "fields": fields},
        default=_canonical,
        option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
    )
    return hashlib.sha256(canonical).hexdigest()


def key_reused() -> ValidationFailed:
    return ValidationFailed(
        "This Idempotency-Key was used for a different request; use a new key",
        field=IDEMPOTENCY_KEY_FIELD,
        code=ErrorCode.IDEMPOTENCY_KEY_REUSED,
    )


def key_in_flight() -> BusinessRuleViolation:
    """A request with this key is still being processed (409): retry once it is answered."""
    return BusinessRuleViolation(
        "A request with this Idempotency-Key is still being processed; retry after it has"
        " been answered",
        field=IDEMPOTENCY_KEY_FIELD,
        code=ErrorCode.IDEMPOTENCY_CONFLICT,
    )


def refuse_reused_key(stored: str | None, fingerprint: str) -> None:
    """Refuse a request whose fingerprint is not the one stored with its key.

    A key stored without a fingerprint (before they were kept) cannot tell: it is answered
    as a repeat, as it was then.
    """
    if stored is not None and not hmac.compare_digest(stored, fingerprint):
        raise key_reused()
