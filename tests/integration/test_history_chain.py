"""The status history is tamper-evident: each row chains the hash of the one before it.

Claims move through the real service (single and batch paths); ``plan history verify`` (the
real command line) passes on untouched data and names every claim whose history was edited,
deleted or reordered directly in SQL. Migration 0007 fills the chains of stored rows with the
very hashes the change set writes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

from config import get_settings
from models.commands import Actor, ClaimCommand
from models.enums import ActorRole, ClaimEvent
from models.history_chain import GENESIS, chain_hash
from models.submission import QueuedClaim
from service.submissions import SubmissionRequest, submit_claims
from storage.unit_of_work import PlanJourneyContext
from tests.support.factories import World, claim_body, make_world, submit
from tests.support.harness import ROOT, Harness
from tests.support.service import advance, apply, owed_step

MEMBER = "member-1"
REVIEWER = Actor(id="reviewer-7", role=ActorRole.REVIEWER)


def plan(harness: Harness, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker.cli", *args],
        cwd=ROOT,
        env={**os.environ, **harness.environment()},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def alembic(harness: Harness, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alembic", *args],
        cwd=ROOT,
        env={**os.environ, **harness.environment()},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def decided_claims(harness: Harness, world: World) -> list[int]:
    """Claims with histories of 1 to 5 rows, through the single and the batch paths."""
    draft = submit(world, MEMBER, draft=True).claim_id
    submitted = submit(world, MEMBER).claim_id
    reviewed = submit(world, MEMBER, amount="800.00").claim_id
    advance(owed_step(harness, reviewed))
    apply(
        ClaimCommand(
            claim_id=reviewed,
            event=ClaimEvent.REQUEST_INFO,
            event_id=uuid.uuid4(),
            actor=REVIEWER,
            note="Send the invoice",
        )
    )
    apply(
        ClaimCommand(
            claim_id=reviewed,
            event=ClaimEvent.PROVIDE_INFO,
            event_id=uuid.uuid4(),
            actor=Actor(id=MEMBER, role=ActorRole.MEMBER),
        )
    )
    batch = [
        SubmissionRequest(
            MEMBER,
            QueuedClaim.model_validate(
                {**claim_body(world, MEMBER), "userId": MEMBER}, context={"filing_window_days": 365}
            ),
            f"batch-{n}",
        )
        for n in range(3)
    ]
    with PlanJourneyContext() as ctx:
        results = submit_claims(ctx, batch, get_settings(), review_now=True)
        ctx.commit()
    return [draft, submitted, reviewed, *(r.claim_id for r in results if r.claim_id)]


def history(harness: Harness, claim_id: int) -> list[dict[str, object]]:
    return harness.query(
        "SELECT * FROM plan.claim_status_history WHERE claim_id = %s ORDER BY id", (claim_id,)
    )


def test_each_row_chains_the_one_before_and_the_claim_keeps_the_last(harness: Harness) -> None:
    claims = decided_claims(harness, make_world(users=(MEMBER,)))
    lengths = []
    for claim_id in claims:
        rows = history(harness, claim_id)
        previous = GENESIS
        for row in rows:
            assert row["hash"] == chain_hash(previous, row)
            previous = str(row["hash"])
        tail = harness.scalar("SELECT history_hash FROM plan.claims WHERE id = %s", (claim_id,))
        assert tail == (rows[-1]["hash"] if rows else None)
        lengths.append(len(rows))
    assert lengths[:3] == [0, 1, 4]
    assert all(length == 3 for length in lengths[3:]), lengths  # ingest: submit, review, decide

    verified = plan(harness, "history", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"{len(claims)} claim(s) checked, 0 with a history" in verified.stderr


def test_verify_names_claims_edited_deleted_or_reordered_in_sql(harness: Harness) -> None:
    draft, submitted, reviewed, *batch = decided_claims(harness, make_world(users=(MEMBER,)))
    edited, deleted, swapped = batch
    edited_row = history(harness, edited)[1]["id"]
    harness.query(
        "UPDATE plan.claim_status_history SET note = 'changed' WHERE id = %s RETURNING id",
        (edited_row,),
    )
    harness.query(
        "DELETE FROM plan.claim_status_history WHERE id = %s RETURNING id",
        (history(harness, deleted)[1]["id"],),
    )
    first, second = (row["id"] for row in history(harness, swapped)[:2])
    harness.query(
        "UPDATE plan.claim_status_history SET id = -id WHERE id IN (%s, %s) RETURNING id",
        (first, second),
    )
    harness.query(
        "UPDATE plan.claim_status_history SET id = CASE id WHEN -%s THEN %s ELSE %s END "
        "WHERE id IN (-%s, -%s) RETURNING id",
        (first, second, first, first, second),
    )
    last_of_reviewed = history(harness, reviewed)[-1]["id"]
    harness.query(
        "DELETE FROM plan.claim_status_history WHERE id = %s RETURNING id", (last_of_reviewed,)
    )

    verified = plan(harness, "history", "verify")
    assert verified.returncode == 1
    named = {int(line.split()[1].rstrip(":")) for line in verified.stdout.splitlines()}
    assert named == {edited, deleted, swapped, reviewed}
    assert f"claim {edited}: history row {edited_row} does not follow" in verified.stdout
    assert f"claim {reviewed}: its last history row is not the one" in verified.stdout
    assert "4 with a history that was edited, deleted or reordered" in verified.stderr

    one = plan(harness, "history", "verify", "--claim", str(submitted))
    assert one.returncode == 0, one.stdout + one.stderr
    assert "1 claim(s) checked, 0" in one.stderr
    assert plan(harness, "history", "verify", "--claim", str(swapped)).returncode == 1
    assert plan(harness, "history", "verify", "--claim", str(draft)).returncode == 0


def test_migration_0007_fills_the_chains_the_change_set_writes(harness: Harness) -> None:
    claims = decided_claims(harness, make_world(users=(MEMBER,)))
    written = {
        row["id"]: row["hash"]
        for row in harness.query("SELECT id, hash FROM plan.claim_status_history")
    }
    tails = harness.query("SELECT id, history_hash FROM plan.claims ORDER BY id")

    # To the revision before 0007 (0005, review work, chains after it).
    down = alembic(harness, "downgrade", "0003")
    assert down.returncode == 0, down.stderr
    assert (
        harness.scalar(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'plan' "
            "AND column_name IN ('hash', 'history_hash')"
        )
        == 0
    )
    up = alembic(harness, "upgrade", "head")
    assert up.returncode == 0, up.stderr

    assert {
        row["id"]: row["hash"]
        for row in harness.query("SELECT id, hash FROM plan.claim_status_history")
    } == written
    assert harness.query("SELECT id, history_hash FROM plan.claims ORDER BY id") == tails
    assert len(claims) == len(tails)
    assert plan(harness, "history", "verify").returncode == 0
