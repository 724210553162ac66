"""Reading a JSON body: UTF-8 only, numbers no field can hold, and the shape caps."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from api.bodies import JsonLimits, OutOfRangeNumber, read_json
from api.errors import UnsupportedMediaType
from models.errors import ValidationFailed

LIMITS = JsonLimits(max_depth=4, max_object_keys=3, max_values=10)


def test_numbers_are_exact_decimals_and_ints() -> None:
    assert read_json(b'{"a": 12.000000000000000001, "b": 7}', LIMITS) == {
        "a": Decimal("12.000000000000000001"),
        "b": 7,
    }


@pytest.mark.parametrize(
    "number",
    ["1e999999999999999999999", "-1e-999999999999999999999", "1e1001", "1" * 1001, "1e-1001"],
)
def test_a_number_no_field_can_hold_is_read_as_out_of_range(number: str) -> None:
    assert isinstance(read_json(f'{{"a": {number}}}'.encode(), LIMITS)["a"], OutOfRangeNumber)


@pytest.mark.parametrize(
    "raw",
    [
        '{"a": 1}'.encode("utf-16"),
        '{"a": 1}'.encode("utf-16-le"),
        b'\xef\xbb\xbf{"a": 1}',
        b'{"a": "\xff"}',
        '{"a": 1}'.encode("utf-32"),
    ],
)
def test_only_utf8_without_a_byte_order_mark_is_read(raw: bytes) -> None:
    with pytest.raises(UnsupportedMediaType):
        read_json(raw, LIMITS)


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ('{"a": [[[[1]]]]}', "a[0][0][0]"),
        ('{"a": {"b": 1, "c": 2, "d": 3, "e": 4}}', "a"),
        ('{"a": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}', None),
        ("[" * 5000 + "]" * 5000, None),
        ('{"a": NaN}', None),
    ],
)
def test_a_body_past_the_shape_caps_is_refused_before_validation(
    document: str, field: str | None
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        read_json(document.encode(), LIMITS)
    assert refused.value.field == field


def test_a_body_within_the_caps_is_read() -> None:
    document: Any = read_json(b'{"a": [[1]], "b": {"c": 1, "d": 2, "e": 3}}', LIMITS)
    assert document["b"]["e"] == 3
