"""The machine holds exactly the edges of DOMAIN.md section 1, and the drawn diagram is current."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from models.enums import ClaimEvent, ClaimStatus
from models.errors import ErrorCode, InvalidTransition
from models.lifecycle import can_fire, claim_machine, fire, lifecycle_document

S = ClaimStatus

# Copied by hand from DOMAIN.md section 1, not from the code under test.
DOMAIN_TABLE = {
    ("submit", S.DRAFT): S.SUBMITTED,
    ("start_review", S.SUBMITTED): S.UNDER_REVIEW,
    ("approve", S.UNDER_REVIEW): S.APPROVED,
    ("reject", S.UNDER_REVIEW): S.REJECTED,
    ("request_info", S.UNDER_REVIEW): S.ADDITIONAL_INFO_REQUIRED,
    ("provide_info", S.ADDITIONAL_INFO_REQUIRED): S.UNDER_REVIEW,
    ("cancel", S.DRAFT): S.CANCELLED,
    ("cancel", S.SUBMITTED): S.CANCELLED,
    ("cancel", S.ADDITIONAL_INFO_REQUIRED): S.CANCELLED,
    ("expire", S.ADDITIONAL_INFO_REQUIRED): S.EXPIRED,
}


class Row:
    def __init__(self, status: ClaimStatus) -> None:
        self.status = status


@pytest.mark.parametrize(("event", "status"), list(itertools.product(ClaimEvent, ClaimStatus)))
def test_every_state_event_pair_matches_the_domain_table(
    event: ClaimEvent, status: ClaimStatus
) -> None:
    row = Row(status)
    expected = DOMAIN_TABLE.get((event.value, status))
    assert can_fire(status, event) is (expected is not None)
    if expected is None:
        with pytest.raises(InvalidTransition) as refusal:
            fire(row, event)
        assert refusal.value.code is ErrorCode.INVALID_STATUS_TRANSITION
        assert row.status is status
    else:
        assert fire(row, event) is status
        assert row.status is expected


def test_machine_has_only_the_domain_events() -> None:
    assert set(claim_machine.events) == {event.value for event in ClaimEvent}


def test_terminal_states_allow_no_event() -> None:
    for status in (S.APPROVED, S.REJECTED, S.CANCELLED, S.EXPIRED):
        assert status.is_terminal
        assert not any(can_fire(status, event) for event in ClaimEvent)


def test_one_machine_serves_every_claim() -> None:
    first, second = Row(S.DRAFT), Row(S.UNDER_REVIEW)
    fire(first, ClaimEvent.SUBMIT)
    fire(second, ClaimEvent.APPROVE)
    assert (first.status, second.status) == (S.SUBMITTED, S.APPROVED)
    assert claim_machine.models == []


def test_the_committed_state_diagram_is_drawn_from_the_current_machine() -> None:
    document = Path(__file__).resolve().parents[2] / "docs" / "lifecycle.md"
    assert document.read_text() == lifecycle_document(), (
        "docs/lifecycle.md is stale: regenerate it with `make diagram`"
    )
