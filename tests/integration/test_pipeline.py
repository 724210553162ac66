"""A claim submitted is moved by the relay and a real worker to its automatic decision."""

from __future__ import annotations

from tests.support.factories import make_world, submit
from tests.support.harness import Harness, wait_until


def status_of(harness: Harness, claim_id: int) -> str:
    return str(harness.scalar("SELECT status FROM plan.claims WHERE id = %s", (claim_id,)))


def test_small_claim_with_receipt_is_approved_by_the_worker(harness: Harness) -> None:
    world = make_world()
    claim = submit(world, "member-1", amount="80.00")
    harness.start_worker()
    harness.start_relay()

    wait_until(lambda: status_of(harness, claim.claim_id) == "APPROVED", what="approval")

    history = harness.query(
        "SELECT event, from_status, to_status FROM plan.claim_status_history "
        "WHERE claim_id = %s ORDER BY id",
        (claim.claim_id,),
    )
    assert [(h["event"], h["from_status"], h["to_status"]) for h in history] == [
        ("submit", "DRAFT", "SUBMITTED"),
        ("start_review", "SUBMITTED", "UNDER_REVIEW"),
        ("approve", "UNDER_REVIEW", "APPROVED"),
    ]
    row = harness.query(
        "SELECT approved_amount, member_responsibility, next_step FROM plan.claims WHERE id = %s",
        (claim.claim_id,),
    )[0]
    assert str(row["approved_amount"]) == "64.00"
    assert str(row["member_responsibility"]) == "16.00"
    assert row["next_step"] is None
