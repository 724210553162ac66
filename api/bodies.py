"""Request bodies: JSON read with exact decimals, text PostgreSQL can store, then the model.

Pydantic's JSON mode hands numbers to validators as floats, so 12.000000000000000001 would
pass as 12.00: the body is parsed here with ``parse_float=Decimal`` and validated in Python
mode instead, which the amount rules read exactly.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from models.errors import ErrorCode, ValidationFailed
from models.submission import first_error, refuse_unstorable_text

M = TypeVar("M", bound=BaseModel)

# PostgreSQL text refuses NUL, and UTF-8 cannot encode a lone surrogate; JSON can carry
# either only as a \u escape, so bodies without one skip the walk.
_ESCAPE = b"\\u"


def _not_a_json_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def read_json(raw: bytes) -> Any:
    try:
        return json.loads(raw, parse_float=Decimal, parse_constant=_not_a_json_constant)
    except (ValueError, RecursionError):
        raise ValidationFailed(
            "The request body must be a JSON document", code=ErrorCode.INVALID_INPUT
        ) from None


def validate(model: type[M], document: object, context: dict[str, Any] | None = None) -> M:
    try:
        return model.model_validate(document, context=context)
    except ValidationError as exc:
        raise first_error(exc) from None


def parse_body(model: type[M], raw: bytes, context: dict[str, Any] | None = None) -> M:
    """The body as ``model``, or the first rule it breaks as ValidationFailed."""
    document = read_json(raw)
    if _ESCAPE in raw:
        refuse_unstorable_text(document)
    return validate(model, document, context)
