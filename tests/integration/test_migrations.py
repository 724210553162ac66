"""Alembic builds the plan schema from nothing, removes it again, and matches the models."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb
from sqlalchemy.engine import make_url

from tests.support.harness import ROOT, admin_conninfo


@pytest.fixture
def empty_database(server_urls: tuple[str, str]) -> Iterator[str]:
    admin_url, _ = server_urls
    name = f"plan_mig_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_conninfo(admin_url), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin_url).set(database=name).render_as_string(False)
    finally:
        with psycopg.connect(admin_conninfo(admin_url), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def alembic(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(
        [sys.executable, "-m", "alembic", *args],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url, "DATABASE_SSL": "false"},
        capture_output=True,
        text=True,
        check=False,
    )
    return completed


def relations(database_url: str) -> set[tuple[str, str]]:
    with psycopg.connect(admin_conninfo(database_url)) as conn:
        rows = conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') "
            "AND c.relkind IN ('r', 'i', 'S', 'v')"
        ).fetchall()
        functions = conn.execute(
            "SELECT n.nspname, p.proname FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'plan'"
        ).fetchall()
    return {(r[0], r[1]) for r in rows} | {(f[0], f"fn:{f[1]}") for f in functions}


def test_upgrade_downgrade_upgrade_on_an_empty_database(empty_database: str) -> None:
    up = alembic(empty_database, "upgrade", "head")
    assert up.returncode == 0, up.stderr
    built = relations(empty_database)
    assert ("plan", "claims") in built
    assert ("plan", "alembic_version") in built, "the version table lives in the plan schema"
    assert not any(schema == "public" for schema, _ in built)

    down = alembic(empty_database, "downgrade", "base")
    assert down.returncode == 0, down.stderr
    assert relations(empty_database) == {
        ("plan", "alembic_version"),
        ("plan", "alembic_version_pkc"),
    }

    again = alembic(empty_database, "upgrade", "head")
    assert again.returncode == 0, again.stderr
    assert relations(empty_database) == built


def test_models_and_migrations_do_not_drift(empty_database: str) -> None:
    assert alembic(empty_database, "upgrade", "head").returncode == 0
    check = alembic(empty_database, "check")
    assert check.returncode == 0, (
        "autogenerate finds differences between models/ and migrations/: "
        + check.stdout
        + check.stderr
    )


def test_drift_check_fails_when_the_database_and_models_differ(empty_database: str) -> None:
    # The check above could pass vacuously; prove it notices a column the migrations lack.
    assert alembic(empty_database, "upgrade", "head").returncode == 0
    with psycopg.connect(admin_conninfo(empty_database), autocommit=True) as conn:
        conn.execute("ALTER TABLE plan.claims DROP COLUMN notes")
    check = alembic(empty_database, "check")
    assert check.returncode != 0
    assert "notes" in check.stdout + check.stderr


OLD_OUTBOX_ROWS = [
    # (kind, name, destination, payload) as revisions 0001 and 0002 wrote them
    ("event", "claim.submitted", "claim.submitted", {"events": [{"claimId": 1}, {"claimId": 2}]}),
    ("event", "claim.approved", "claim.approved", {"claimId": 3, "type": "claim.approved"}),
    ("task", "plan.claims.start_review", "claims", {"item": {"claimId": 4, "step": "x"}}),
    ("task", "plan.claims.adjudicate", "claims", {"items": [{"claimId": 5}, {"claimId": 6}]}),
    ("task", "plan.claims.approve", "reviews", {"args": [[{"claimId": 7}]]}),
    ("task", "plan.claims.ingest", "ingest", {"args": [{"userId": "m-1"}]}),
    ("task", "plan.maintenance.sweep", "maintenance", {"args": []}),
]


def outbox(database_url: str) -> list[tuple[str, Any, int]]:
    with psycopg.connect(admin_conninfo(database_url)) as conn:
        rows = conn.execute("SELECT name, payload, item_count FROM plan.outbox ORDER BY id")
        return [(row[0], row[1], row[2]) for row in rows.fetchall()]


def test_0003_converts_every_older_outbox_payload_to_items(empty_database: str) -> None:
    assert alembic(empty_database, "upgrade", "0002").returncode == 0
    with psycopg.connect(admin_conninfo(empty_database)) as conn:
        for kind, name, destination, payload in OLD_OUTBOX_ROWS:
            conn.execute(
                "INSERT INTO plan.outbox (kind, name, destination, payload) "
                "VALUES (%s, %s, %s, %s)",
                (kind, name, destination, Jsonb(payload)),
            )
    up = alembic(empty_database, "upgrade", "0003")  # through 0004, which 0003 follows
    assert up.returncode == 0, up.stderr
    assert outbox(empty_database) == [
        ("claim.submitted", {"items": [{"claimId": 1}, {"claimId": 2}]}, 2),
        ("claim.approved", {"items": [{"claimId": 3, "type": "claim.approved"}]}, 1),
        ("plan.claims.start_review", {"items": [{"claimId": 4, "step": "x"}]}, 1),
        ("plan.claims.adjudicate", {"items": [{"claimId": 5}, {"claimId": 6}]}, 2),
        ("plan.claims.approve", {"items": [{"claimId": 7}]}, 1),
        ("plan.claims.ingest_batch", {"items": [{"userId": "m-1"}]}, 1),
        ("plan.maintenance.sweep", {"items": []}, 1),
    ]

    down = alembic(empty_database, "downgrade", "0004")
    assert down.returncode == 0, down.stderr
    events = [payload for _, payload, _ in outbox(empty_database)][:2]
    assert events == [
        {"events": [{"claimId": 1}, {"claimId": 2}]},
        {"events": [{"claimId": 3, "type": "claim.approved"}]},
    ]
