"""Every sentence a member reads about their claims and balances, in English.

This module holds wording only: the explanation of benefits (service.explanations) picks a
message by its key and fills in amounts already formatted as exact decimal strings. A
translation is a copy of this one file with the same keys and placeholders.
"""

from __future__ import annotations

from collections.abc import Mapping

LANGUAGE = "en"

LABELS: Mapping[str, str] = {
    "submitted": "Amount claimed",
    "eligible": "Eligible amount",
    "deductible": "Deductible",
    "copay": "Copay",
    "coveragePercent": "Coverage percent",
    "planPays": "Plan pays",
    "youPay": "You pay",
}

MESSAGES: Mapping[str, str] = {
    # the lines of the breakdown
    "submitted": "You claimed {submitted}.",
    "eligible.all": "All of the {submitted} was eligible.",
    "eligible.limit": (
        "The plan's annual limit for {procedure} had {left} left, so {eligible} of the "
        "{submitted} was eligible."
    ),
    "eligible.reviewer": "The reviewer accepted {eligible} of the {submitted} as eligible.",
    "eligible.none": "Nothing was eligible, because the plan does not pay this claim.",
    "deductible.taken": (
        "{deductible} went towards your deductible of {annual} for {year}; {remaining} of it "
        "is left."
    ),
    "deductible.met": "Your deductible for {year} was already met, so none was taken.",
    "deductible.not_applicable": "The deductible does not apply to {procedure}.",
    "deductible.none": "No deductible was taken from this claim.",
    "copay.taken": "You pay a fixed copay of {copay} for {procedure}.",
    "copay.none": "There is no copay for {procedure} on this claim.",
    "coveragePercent": (
        "The plan pays {percent}% of what is left after the deductible and the copay "
        "({rest}); your share of it is {coinsurance}."
    ),
    "coveragePercent.none": "Nothing was left to share after the deductible and the copay.",
    "planPays": "The plan pays {benefit}.",
    "planPays.none": "The plan pays nothing for this claim.",
    "youPay": "You pay {total}: {parts}.",
    "youPay.none": "You pay nothing.",
    "youPay.part.deductible": "{amount} deductible",
    "youPay.part.copay": "{amount} copay",
    "youPay.part.coinsurance": "{amount} of your share after the coverage percent",
    "youPay.part.not_eligible": "{amount} the plan does not cover",
    "youPay.part.joiner": ", ",
    "youPay.part.last_joiner": " and ",
    # the decision
    "decision.approved": "Your claim was approved: the plan pays all of the {submitted}.",
    "decision.partial": (
        "Your claim was approved in part: the plan pays {benefit} of the {submitted}."
    ),
    "decision.denied": "Your claim was rejected: the plan pays nothing.",
    "decision.info_requested": (
        "We need more information before we can decide your claim; please send it by {due}. "
        "The amounts below are an estimate until then."
    ),
    "decision.info_requested.no_date": (
        "We need more information before we can decide your claim. "
        "The amounts below are an estimate until then."
    ),
    "decision.expired": (
        "Your claim expired: the information we asked for did not arrive by the deadline, "
        "so the plan pays nothing."
    ),
    "note": "The reviewer's note: {note}",
}

REASONS: Mapping[str, str] = {
    "EXPIRED_COVERAGE": "Your enrolment was not active on the service date.",
    "NOT_COVERED": "Your plan does not cover this procedure.",
    "WAITING_PERIOD": ("The waiting period of this coverage had not ended on the service date."),
    "MISSING_PREAUTHORIZATION": (
        "This procedure needs a pre-authorisation, and none was sent with the claim."
    ),
    "DUPLICATE_CLAIM": "The same service was already claimed.",
    "INSUFFICIENT_DOCUMENTATION": "We need a receipt or an invoice for this claim.",
    "EXCEEDS_COVERAGE_LIMIT": (
        "The annual limit of this coverage does not cover the whole amount."
    ),
    "WITHIN_AUTO_APPROVAL": "The claim met every rule of your plan and was decided automatically.",
    "ABOVE_AUTO_APPROVAL_THRESHOLD": "A reviewer looked at this claim because of its amount.",
    "PARTIAL_APPROVAL": "The plan pays less than the amount claimed.",
    "OUT_OF_POCKET_MAXIMUM_REACHED": (
        "You reached your out-of-pocket maximum for the year, so you pay no more than it."
    ),
    "DEDUCTIBLE_APPLIED": "Part of the amount went towards your annual deductible.",
    "REVIEWER_DECISION": "A reviewer decided this claim.",
    "INFO_DEADLINE_PASSED": "The deadline for the information we asked for passed.",
    "MEMBER_WITHDREW": "You withdrew the claim.",
}

UNKNOWN_REASON = "Reason {code} applies to this claim."


def say(key: str, **values: str) -> str:
    """The sentence ``key`` with its placeholders filled in."""
    return MESSAGES[key].format(**values)


def reason(code: str) -> str:
    sentence = REASONS.get(code)
    return sentence if sentence is not None else UNKNOWN_REASON.format(code=code)


def listing(parts: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(parts) <= 1:
        return "".join(parts)
    return (
        MESSAGES["youPay.part.joiner"].join(parts[:-1])
        + MESSAGES["youPay.part.last_joiner"]
        + parts[-1]
    )
