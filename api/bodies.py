"""Request bodies: UTF-8 JSON read with exact decimals, shaped within limits, text PostgreSQL can
store, then the model.

Pydantic's JSON mode hands numbers to validators as floats, so 12.000000000000000001 would
pass as 12.00: the body is parsed here with exact decimals and validated in Python mode
instead, which the amount rules read exactly.

A number no field can hold (``1e999999999999999999999``: beyond what a Decimal represents, or
any exponent past ``MAX_EXPONENT``) is not an error of the document but of the field that
carries it: it is read as an ``OutOfRangeNumber``, which every field refuses with its own
code and name. Depth, keys per object and the count of values are capped before validation,
whose cost grows with every unknown key it reports.
"""

from __future__ import annotations

import codecs
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from api.errors import UnsupportedMediaType
from config import Settings
from models.errors import ErrorCode, ValidationFailed
from models.submission import first_error, refuse_unstorable_text

M = TypeVar("M", bound=BaseModel)

# No amount, id or size of this service needs more: 1e308 is already far past every maximum.
MAX_EXPONENT = 1000
_MAX_NUMBER_CHARS = 1100  # the digits of such a number, its sign, point and exponent

# PostgreSQL text refuses NUL, and UTF-8 cannot encode a lone surrogate; JSON can carry
# either only as a \u escape, so bodies without one skip the walk.
_ESCAPE = b"\\u"


@dataclass(frozen=True, slots=True)
class JsonLimits:
    max_depth: int
    max_object_keys: int
    max_values: int

    @classmethod
    def of(cls, settings: Settings) -> JsonLimits:
        return cls(
            max_depth=settings.json_max_depth,
            max_object_keys=settings.json_max_object_keys,
            max_values=settings.json_max_values,
        )


class OutOfRangeNumber:
    """A JSON number too large or too precise for any field; validators refuse it by type."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "OutOfRangeNumber()"


_OUT_OF_RANGE = OutOfRangeNumber()


def _decimal(text: str) -> Decimal | OutOfRangeNumber:
    if len(text) > _MAX_NUMBER_CHARS:
        return _OUT_OF_RANGE
    try:
        number = Decimal(text)
    except ArithmeticError:  # an exponent beyond what the decimal module represents
        return _OUT_OF_RANGE
    return number if -MAX_EXPONENT <= number.adjusted() <= MAX_EXPONENT else _OUT_OF_RANGE


def _integer(text: str) -> int | OutOfRangeNumber:
    # Python refuses to read integers of more than 4,300 digits; none of ours has 30.
    return int(text) if len(text) <= MAX_EXPONENT else _OUT_OF_RANGE


def _not_a_json_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _not_json() -> ValidationFailed:
    return ValidationFailed(
        "The request body must be a JSON document", code=ErrorCode.INVALID_INPUT
    )


def decode_utf8(raw: bytes) -> str:
    """The body as text: UTF-8 (RFC 8259), without a byte order mark; else 415."""
    if raw.startswith(codecs.BOM_UTF8):
        raise UnsupportedMediaType("The request body must be UTF-8 without a byte order mark")
    # JSON text never holds a raw NUL byte, and UTF-16 or UTF-32 JSON always does (RFC 4627's
    # detection): the decoder below would take it for UTF-8.
    if b"\x00" in raw:
        raise UnsupportedMediaType("The request body must be JSON encoded in UTF-8")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UnsupportedMediaType("The request body must be JSON encoded in UTF-8") from None


def read_json(raw: bytes, limits: JsonLimits) -> Any:
    """The JSON document of a UTF-8 body, within ``limits``, its strings storable."""
    text = decode_utf8(raw)
    try:
        document = json.loads(
            text,
            parse_float=_decimal,
            parse_int=_integer,
            parse_constant=_not_a_json_constant,
        )
    except (ValueError, RecursionError):
        raise _not_json() from None
    refuse_oversized_shape(document, limits)
    if _ESCAPE in raw:
        refuse_unstorable_text(document)
    return document


def _path(parts: tuple[str | int, ...]) -> str | None:
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path or None


def refuse_oversized_shape(document: object, limits: JsonLimits) -> None:
    """Refuse a document nested deeper, with more keys in one object, or with more values in
    all than ``limits`` allow; without recursion, and before any validator sees it."""
    values = 0
    waiting: list[tuple[object, int, tuple[str | int, ...]]] = [(document, 1, ())]
    while waiting:
        node, depth, path = waiting.pop()
        if isinstance(node, dict):
            if len(node) > limits.max_object_keys:
                raise ValidationFailed(
                    f"{_path(path) or 'the request body'} has {len(node)} keys; an object may"
                    f" have at most {limits.max_object_keys}",
                    field=_path(path),
                    code=ErrorCode.INVALID_INPUT,
                )
            children: list[tuple[str | int, object]] = list(node.items())
        elif isinstance(node, list):
            children = list(enumerate(node))
        else:
            continue
        if depth > limits.max_depth:
            raise ValidationFailed(
                f"The request body nests deeper than {limits.max_depth} levels",
                field=_path(path),
                code=ErrorCode.INVALID_INPUT,
            )
        values += len(children)
        if values > limits.max_values:
            raise ValidationFailed(
                f"The request body holds more than {limits.max_values} values",
                code=ErrorCode.INVALID_INPUT,
            )
        waiting.extend(
            (child, depth + 1, (*path, key))
            for key, child in children
            if isinstance(child, dict | list)
        )


def validate(model: type[M], document: object, context: dict[str, Any] | None = None) -> M:
    try:
        return model.model_validate(document, context=context)
    except ValidationError as exc:
        raise first_error(exc) from None
