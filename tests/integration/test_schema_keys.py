"""Keys the database itself holds the service to, whatever code writes the rows."""

from __future__ import annotations

import psycopg
import pytest

from tests.support.factories import make_world, submit
from tests.support.harness import Harness

MEMBER = "member-1"


def test_a_claims_plan_is_its_enrolments_plan(harness: Harness) -> None:
    world, other = make_world(), make_world()
    claim_id = submit(world, MEMBER, amount="80.00").claim_id
    assert claim_id is not None

    with pytest.raises(psycopg.errors.ForeignKeyViolation, match="member_plan_id, plan_id"):
        harness.query(
            "UPDATE plan.claims SET plan_id = %s WHERE id = %s RETURNING id",
            (other.plan_id, claim_id),
        )
    with pytest.raises(psycopg.errors.ForeignKeyViolation, match="member_plan_id, plan_id"):
        harness.query(
            "UPDATE plan.claims SET member_plan_id = %s WHERE id = %s RETURNING id",
            (other.members[MEMBER], claim_id),
        )
    moved = harness.query(
        "UPDATE plan.claims SET member_plan_id = %s, plan_id = %s WHERE id = %s RETURNING id",
        (other.members[MEMBER], other.plan_id, claim_id),
    )
    assert moved == [{"id": claim_id}]
    # An enrolment or plan a claim refers to cannot be removed from under it.
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        harness.query(
            "DELETE FROM plan.member_plans WHERE id = %s RETURNING id", (other.members[MEMBER],)
        )
