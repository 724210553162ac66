"""An Idempotency-Key names one request, on real PostgreSQL: across transactions (another web
process), inside one group-commit batch, in a partner batch, and while the first request is
still in the intake."""

from __future__ import annotations

import threading
from typing import Any

import psycopg

from config import get_settings
from models.errors import ErrorCode, PlanError
from models.submission import ClaimSubmission
from service.submissions import SubmissionRequest, SubmissionResult, submit_claims
from storage.unit_of_work import PlanJourneyContext
from tests.integration.test_intake import request, submit_behind_a_gate
from tests.support.factories import World, claim_body, make_world
from tests.support.harness import Harness, admin_conninfo, wait_until
from tests.support.service import blocked_sessions, committed

MEMBER = "member-1"


def _keyed(world: World, key: str, **body: Any) -> SubmissionRequest:
    claim = ClaimSubmission.model_validate(claim_body(world, MEMBER, **body))
    return SubmissionRequest(MEMBER, claim, key)


def _codes(results: list[SubmissionResult]) -> list[str | None]:
    return [None if r.error is None else r.error.code.value for r in results]


def test_a_second_transaction_with_the_key_waits_for_the_first_and_is_judged_by_its_body(
    harness: Harness,
) -> None:
    # What two web processes do: neither sees the other's in-flight set, the unique index
    # makes the second wait for the first's commit, and the fingerprint decides its answer.
    world = make_world(users=(MEMBER,))
    first = _keyed(world, "k-1", provider="Clinic A")
    answers: dict[str, list[SubmissionResult]] = {}

    def second(name: str, attempt: SubmissionRequest) -> None:
        answers[name] = committed(submit_claims, [attempt])

    with PlanJourneyContext() as ctx:
        [stored] = submit_claims(ctx, [first], get_settings())
        others = [
            threading.Thread(target=second, args=("same", first)),
            threading.Thread(
                target=second, args=("other", _keyed(world, "k-1", provider="Clinic B"))
            ),
        ]
        for thread in others:
            thread.start()
        wait_until(lambda: blocked_sessions(harness) == 2, what="both to wait on the index")
        ctx.commit()
    for thread in others:
        thread.join(30)

    assert answers["same"][0].replayed and answers["same"][0].claim_id == stored.claim_id
    assert _codes(answers["other"]) == [ErrorCode.IDEMPOTENCY_KEY_REUSED.value]
    assert answers["other"][0].error is not None
    assert answers["other"][0].error.field == "Idempotency-Key"
    assert harness.scalar("SELECT count(*) FROM plan.claims") == 1


def test_the_stored_fingerprint_is_the_sha256_of_the_canonical_request(harness: Harness) -> None:
    world = make_world(users=(MEMBER,))
    committed(submit_claims, [_keyed(world, "k-2")])
    committed(submit_claims, [SubmissionRequest(MEMBER, _keyed(world, "x").claim, None)])
    rows = harness.query("SELECT idempotency_key, request_fingerprint FROM plan.claims ORDER BY id")
    assert rows[0]["idempotency_key"] == "k-2" and len(rows[0]["request_fingerprint"]) == 64
    assert rows[1]["request_fingerprint"] is None  # no key, nothing to compare later


def test_one_batch_with_a_key_twice_stores_the_first_and_judges_the_second(
    harness: Harness,
) -> None:
    world = make_world(users=(MEMBER,))
    same, other = _keyed(world, "k-3", provider="Clinic A"), _keyed(world, "k-3", provider="B")
    results = committed(submit_claims, [same, same, other])
    assert _codes(results) == [None, None, ErrorCode.IDEMPOTENCY_KEY_REUSED.value]
    assert results[1].replayed and results[1].claim_id == results[0].claim_id


def test_a_claim_stored_before_fingerprints_is_answered_as_a_repeat(harness: Harness) -> None:
    world = make_world(users=(MEMBER,))
    [stored] = committed(submit_claims, [_keyed(world, "k-4", provider="Clinic A")])
    with psycopg.connect(admin_conninfo(harness.database_url)) as connection:
        connection.execute("UPDATE plan.claims SET request_fingerprint = NULL")
    [answer] = committed(submit_claims, [_keyed(world, "k-4", provider="Clinic B")])
    assert answer.replayed and answer.claim_id == stored.claim_id


def test_the_intake_answers_409_for_a_key_whose_first_request_is_in_flight(
    harness: Harness,
) -> None:
    world = make_world(users=(MEMBER,))
    first, again, unrelated = (
        request(world, 1, key="k-5"),
        request(world, 1, key="k-5"),
        request(world, 2, key="k-6"),
    )
    answers = submit_behind_a_gate(harness, [first, again, unrelated])
    stored, refused, other = answers
    assert isinstance(stored, SubmissionResult) and stored.error is None
    assert isinstance(refused, PlanError) and refused.code is ErrorCode.IDEMPOTENCY_CONFLICT
    assert isinstance(other, SubmissionResult) and other.error is None
    # Once answered, the key is free again: a repeat is a replay.
    [replay] = committed(submit_claims, [again])
    assert replay.replayed and replay.claim_id == stored.claim_id
