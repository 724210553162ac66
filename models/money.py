"""Amounts: Decimal cents, written as decimal strings with two places ("80.00")."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def money_text(amount: Decimal) -> str:
    """The amount as the API, the domain events and the adjudication details write it."""
    return f"{cents(amount):f}"
