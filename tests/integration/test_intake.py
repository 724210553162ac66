"""Group commit of single-claim submissions (api.intake), on real PostgreSQL.

A gate holds the claims table locked against inserts, so the intake's first transaction waits
on it while the other submissions queue up behind it; releasing the gate lets the first through
alone and the queued ones share the next transaction, every run.
"""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg

from api.intake import ClaimIntake
from config import get_settings
from models.errors import ErrorCode, PlanError
from models.submission import ClaimSubmission, DocumentIn
from service.submissions import SubmissionRequest, SubmissionResult
from tests.support.factories import World, claim_body, make_world
from tests.support.harness import Harness, admin_conninfo, wait_until
from tests.support.service import blocked_sessions

MEMBER = "member-1"


def request(world: World, n: int, *, key: str | None = None) -> SubmissionRequest:
    body = claim_body(world, MEMBER, provider=f"Clinic {n}")
    return SubmissionRequest(MEMBER, ClaimSubmission.model_validate(body), key)


def submit_behind_a_gate(
    harness: Harness, requests: list[SubmissionRequest]
) -> list[SubmissionResult | BaseException]:
    """Submit the first request and hold its insert on a lock until the rest wait in the
    intake, then let everything through; return each request's answer in order."""
    intake = ClaimIntake(get_settings())

    async def submit_all(gate: psycopg.Connection[Any]) -> list[SubmissionResult | BaseException]:
        first = asyncio.ensure_future(intake.submit(requests[0]))
        await asyncio.to_thread(
            wait_until, lambda: blocked_sessions(harness) == 1, what="the first insert to wait"
        )
        rest = [asyncio.ensure_future(intake.submit(r)) for r in requests[1:]]
        await asyncio.sleep(0)  # each of them is on the intake's queue now
        gate.rollback()
        return await asyncio.gather(first, *rest, return_exceptions=True)

    try:
        with psycopg.connect(admin_conninfo(harness.database_url)) as gate:
            # Reads pass an exclusive table lock; inserts wait for it.
            gate.execute("LOCK TABLE plan.claims IN EXCLUSIVE MODE")
            return asyncio.run(submit_all(gate))
    finally:
        intake.close()


def transactions_that_stored_claims(harness: Harness) -> int:
    return int(harness.scalar("SELECT count(DISTINCT xmin::text) FROM plan.claims"))


def test_submissions_waiting_together_share_one_transaction_and_get_their_own_answers(
    harness: Harness,
) -> None:
    world = make_world()
    requests = [request(world, n, key=f"key-{n}") for n in range(6)]
    requests.append(request(world, 0, key="key-0"))  # the first one again, while in flight

    answers = submit_behind_a_gate(harness, requests)

    *stored, again = answers
    assert all(isinstance(a, SubmissionResult) and a.error is None for a in stored), answers
    results = [a for a in stored if isinstance(a, SubmissionResult)]
    assert len({r.claim_id for r in results}) == 6
    assert isinstance(again, PlanError) and again.code is ErrorCode.IDEMPOTENCY_CONFLICT
    assert harness.scalar("SELECT count(*) FROM plan.claims") == 6
    # The first went alone (held at the gate); the five after it together.
    assert transactions_that_stored_claims(harness) == 2


def test_a_submission_that_breaks_its_transaction_fails_alone(harness: Harness) -> None:
    world = make_world()
    good = [request(world, n) for n in range(4)]
    broken_claim = good[3].claim.model_copy(
        update={
            # Past validation (model_copy does not validate): the database's check refuses it.
            "documents": [
                DocumentIn.model_construct(
                    type=good[3].claim.documents[0].type,
                    file_name="receipt.pdf",
                    mime_type="application/pdf",
                    size_bytes=0,
                    sha256=None,
                    storage_key=None,
                )
            ]
        }
    )
    requests = [*good[:3], SubmissionRequest(MEMBER, broken_claim)]

    answers = submit_behind_a_gate(harness, requests)

    assert [isinstance(a, SubmissionResult) and a.error is None for a in answers] == [
        True,
        True,
        True,
        False,
    ], answers
    assert isinstance(answers[3], PlanError)
    assert harness.scalar("SELECT count(*) FROM plan.claims") == 3
    assert harness.scalar("SELECT count(*) FROM plan.documents") == 3
