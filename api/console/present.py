"""How the console words things: amounts, waiting times, reasons and events in plain words."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

REASONS = {
    "EXPIRED_COVERAGE": "The enrolment was not active on the service date.",
    "NOT_COVERED": "The plan does not cover this procedure.",
    "WAITING_PERIOD": "The coverage's waiting period had not been served.",
    "MISSING_PREAUTHORIZATION": "The procedure needs a pre-authorisation that is missing.",
    "DUPLICATE_CLAIM": "An earlier claim covers the same service.",
    "INSUFFICIENT_DOCUMENTATION": "A receipt or an invoice is missing.",
    "EXCEEDS_COVERAGE_LIMIT": "The coverage's annual limit is used up.",
    "WITHIN_AUTO_APPROVAL": "Within the automatic approval threshold.",
    "ABOVE_AUTO_APPROVAL_THRESHOLD": "Above the automatic approval threshold: a person decides.",
    "PARTIAL_APPROVAL": "The plan pays less than the amount claimed.",
    "OUT_OF_POCKET_MAXIMUM_REACHED": "The member reached the year's out-of-pocket maximum.",
    "DEDUCTIBLE_APPLIED": "Part of the amount counts towards the year's deductible.",
    "REVIEWER_DECISION": "Decided by a reviewer.",
    "INFO_DEADLINE_PASSED": "The deadline for additional information passed.",
    "MEMBER_WITHDREW": "The member withdrew the claim.",
}

# What a reviewer may give as the reason of a rejection.
REJECTION_REASONS = (
    "NOT_COVERED",
    "DUPLICATE_CLAIM",
    "EXPIRED_COVERAGE",
    "WAITING_PERIOD",
    "MISSING_PREAUTHORIZATION",
    "EXCEEDS_COVERAGE_LIMIT",
    "INSUFFICIENT_DOCUMENTATION",
    "REVIEWER_DECISION",
)

BREAKDOWN_LINES = (
    ("submitted", "Claimed"),
    ("eligible", "Eligible (within the annual limit)"),
    ("deductible", "Deductible the member pays"),
    ("copay", "Copay the member pays"),
    ("coveragePercent", "Share the plan pays"),
    ("benefit", "Benefit: the plan pays"),
    ("memberResponsibility", "The member pays"),
)

ACTIVITY = {
    "taken": "took the claim",
    "renewed": "renewed the lease",
    "released": "released the claim",
    "expired": "lease expired",
    "reassigned": "reassigned the claim",
    "approval_pending": "approved; a second reviewer must confirm",
}


def money(amount: Any, currency: str = "") -> str:
    if amount is None or amount == "":
        return "—"
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        return str(amount)
    text = f"{value:,.2f}"
    return f"{text} {currency}".strip()


def percent(value: Any) -> str:
    return f"{Decimal(str(value)):g} %"


def reason(code: str | None) -> str:
    if not code:
        return ""
    return REASONS.get(code, code.replace("_", " ").capitalize() + ".")


def waited(since: datetime | None, now: datetime | None = None) -> str:
    if since is None:
        return "—"
    seconds = max(0, int(((now or datetime.now(UTC)) - since).total_seconds()))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else "just now"


def moment(value: datetime | None) -> str:
    return "—" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def words(value: Any) -> str:
    return str(getattr(value, "value", value)).replace("_", " ").lower()


FILTERS = {
    "money": money,
    "percent": percent,
    "reason": reason,
    "waited": waited,
    "moment": moment,
    "words": words,
}
