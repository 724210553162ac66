"""The seed against a real PostgreSQL database: re-runnable, and every sample history valid."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from config import Settings
from devtools.seed import SeedReport, seed
from devtools.seed_data import CLAIMS, ENROLMENTS, PLANS
from models.base import metadata
from models.enums import ActionStatus, ClaimEvent, ClaimStatus, ReasonCode
from models.lifecycle import TRANSITIONS, can_fire
from models.tables import Claim, ClaimAction, ClaimStatusHistory, Document, MemberPlan, Plan
from storage.engine import build_engine
from storage.unit_of_work import PlanJourneyContext
from tests.support.harness import admin_conninfo
from tests.support.outbox import OUTBOX_ITEMS

TODAY = date.today()
DESTINATION = {event: dest for event, _, dest in TRANSITIONS}


@pytest.fixture(scope="module")
def session_factory(
    server_urls: tuple[str, str], template_database: str
) -> Iterator[sessionmaker[Session]]:
    # A database of this module's own, cloned from the migrated template; the conftest
    # fixtures fail (never skip) when the server is missing.
    admin_url, _ = server_urls
    name = f"plan_test_seed_{secrets.token_hex(6)}"
    with psycopg.connect(admin_conninfo(admin_url), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    engine = build_engine(Settings(database_url=url, database_ssl=False))
    try:
        yield sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)
    finally:
        engine.dispose()
        with psycopg.connect(admin_conninfo(admin_url), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_seed(session_factory: sessionmaker[Session]) -> SeedReport:
    with PlanJourneyContext(session_factory) as ctx:
        report = seed(ctx, today=TODAY)
        ctx.commit()
    return report


def dump(session_factory: sessionmaker[Session]) -> dict[str, list[tuple[Any, ...]]]:
    with session_factory() as session:
        return {
            table.name: [
                tuple(row)
                for row in session.execute(
                    sa.select(table).order_by(*(table.primary_key.columns or table.columns))
                )
            ]
            for table in metadata.sorted_tables
        }


@pytest.fixture(scope="module")
def seeded_twice(
    session_factory: sessionmaker[Session],
) -> tuple[SeedReport, SeedReport, dict[str, Any], dict[str, Any]]:
    first = run_seed(session_factory)
    after_first = dump(session_factory)
    second = run_seed(session_factory)
    after_second = dump(session_factory)
    return first, second, after_first, after_second


def test_second_run_leaves_every_row_unchanged(
    seeded_twice: tuple[SeedReport, SeedReport, dict[str, Any], dict[str, Any]],
) -> None:
    first, second, after_first, after_second = seeded_twice
    assert after_second == after_first
    assert sum(second.inserted.values()) == 0
    assert second.present == first.present
    assert first.inserted["plans"] == len(PLANS) == len(after_first["plans"])
    assert first.inserted["member_plans"] == len(ENROLMENTS) == len(after_first["member_plans"])
    assert first.inserted["claims"] == len(CLAIMS) == len(after_first["claims"])
    for table in ("coverages", "benefits", "documents", "claim_status_history"):
        assert first.inserted[table] == first.present[table] == len(after_first[table]) > 0


def test_sample_claims_cover_every_status_a_claim_rests_in(
    seeded_twice: tuple[SeedReport, SeedReport, dict[str, Any], dict[str, Any]],
) -> None:
    # SUBMITTED is no resting place: the worker that applies a submit reviews the claim in the
    # same transaction, so a filed claim waits in DRAFT with its submit action queued.
    first, *_ = seeded_twice
    assert set(first.claims_by_status) == set(ClaimStatus) - {ClaimStatus.SUBMITTED}


def test_every_history_is_a_valid_path_from_draft_to_the_claims_status(
    session_factory: sessionmaker[Session], seeded_twice: object
) -> None:
    with session_factory() as session:
        claims = session.scalars(sa.select(Claim).order_by(Claim.id)).all()
        assert claims
        for claim in claims:
            history = session.scalars(
                sa.select(ClaimStatusHistory)
                .where(ClaimStatusHistory.claim_id == claim.id)
                .order_by(ClaimStatusHistory.id)
            ).all()
            status = ClaimStatus.DRAFT
            for row in history:
                assert row.from_status is status, claim.idempotency_key
                assert can_fire(status, row.event), (claim.idempotency_key, row.event)
                assert row.to_status is DESTINATION[row.event]
                status = row.to_status
            assert status is claim.status, claim.idempotency_key
            assert claim.version == 1 + len(history)
            occurred = [row.occurred_at for row in history]
            assert occurred == sorted(occurred)
            assert (claim.submitted_at is None) == (claim.status is ClaimStatus.DRAFT)
            assert (claim.decided_at is not None) == claim.status.is_terminal
            if history:
                assert claim.updated_at == history[-1].occurred_at


def test_claims_are_consistent_with_their_status(
    session_factory: sessionmaker[Session], seeded_twice: object
) -> None:
    by_status: dict[ClaimStatus, list[Claim]] = {}
    with session_factory() as session:
        enrolled = set(session.execute(sa.select(MemberPlan.user_id, MemberPlan.plan_id)))
        for claim in session.scalars(sa.select(Claim)):
            by_status.setdefault(claim.status, []).append(claim)
            assert (claim.user_id, claim.plan_id) in enrolled
            assert Decimal(0) < claim.claimed_amount <= Decimal(1_000_000)
            assert 0 < (TODAY - claim.service_date).days < 365
            documents = session.scalar(
                sa.select(sa.func.count()).where(Document.claim_id == claim.id)
            )
            assert documents, claim.idempotency_key

        for document in (Claim.adjudication, ClaimStatusHistory.details):
            json_nulls = sa.select(sa.func.count()).where(document == sa.text("'null'::jsonb"))
            assert session.scalar(json_nulls) == 0, "None stored as JSON null, not SQL NULL"

    with session_factory() as session:
        queued = session.execute(
            sa.select(ClaimAction.claim_id, ClaimAction.event).where(
                ClaimAction.status == ActionStatus.QUEUED
            )
        ).all()
    drafts = {claim.id for claim in by_status[ClaimStatus.DRAFT]}
    assert [(row.claim_id in drafts, row.event) for row in queued] == [(True, ClaimEvent.SUBMIT)]

    (waiting,) = by_status[ClaimStatus.UNDER_REVIEW]
    assert waiting.next_step is None
    assert waiting.adjudication is not None
    assert waiting.adjudication["decision"] == "refer"

    (needs_info,) = by_status[ClaimStatus.ADDITIONAL_INFO_REQUIRED]
    assert needs_info.info_due_at is not None
    assert needs_info.info_due_at > needs_info.updated_at

    approved = by_status[ClaimStatus.APPROVED]
    for claim in approved:
        assert claim.approved_amount is not None
        assert claim.member_responsibility == claim.claimed_amount - claim.approved_amount
    assert any(
        c.approved_amount is not None and c.approved_amount < c.claimed_amount for c in approved
    )

    (rejected,) = by_status[ClaimStatus.REJECTED]
    assert rejected.decision_reason_code == ReasonCode.NOT_COVERED


def test_plans_carry_the_documented_cost_sharing(
    session_factory: sessionmaker[Session], seeded_twice: object
) -> None:
    with session_factory() as session:
        plans = {p.code: p for p in session.scalars(sa.select(Plan))}
    expected = {
        "SEED-HEALTH-001": ("500.00", "5000.00", "20.00"),
        "SEED-HEALTH-002": ("1000.00", "7500.00", "30.00"),
        "SEED-PREMIUM-001": ("250.00", "2500.00", "10.00"),
    }
    for code, (deductible, out_of_pocket_max, coinsurance) in expected.items():
        plan = plans[code]
        assert plan.annual_deductible == Decimal(deductible)
        assert plan.out_of_pocket_max == Decimal(out_of_pocket_max)
        assert plan.coinsurance_percent == Decimal(coinsurance)
        assert plan.effective_from == date(2024, 1, 1)
    assert plans["SEED-DENTAL-001"].out_of_pocket_max is None


def test_every_sample_transition_has_its_domain_event_in_the_outbox(
    session_factory: sessionmaker[Session], seeded_twice: object
) -> None:
    # The service wrote the samples: one event per history row, with the row's event id.
    with session_factory() as session:
        history = set(session.scalars(sa.select(ClaimStatusHistory.event_id)))
        events = session.scalars(
            sa.text(
                f"SELECT item->>'eventId' FROM {OUTBOX_ITEMS} "
                "WHERE kind = 'event' AND item ? 'newStatus'"  # transitions, not review activity
            )
        ).all()
    assert sorted(events) == sorted(str(event_id) for event_id in history)


def test_a_later_run_on_another_day_leaves_every_row_unchanged(
    session_factory: sessionmaker[Session], seeded_twice: object
) -> None:
    before = dump(session_factory)
    with PlanJourneyContext(session_factory) as ctx:
        report = seed(ctx, today=TODAY + timedelta(days=40))
        ctx.commit()
    assert sum(report.inserted.values()) == 0
    assert dump(session_factory) == before
