"""Workers killed and servers restarted in the middle of work lose nothing and double nothing.

Work is caught in flight without any test hook in the product: a gate connection holds the
year-to-date rows that adjudication locks, so a worker that took a batch waits inside its
transaction (the claims already locked, the steps already decided in memory) until the test
has done its damage. PostgreSQL is the source of truth throughout: the sweeper re-publishes
whatever the broker lost, and the event ids keep every second copy harmless.

Every test runs on the broker of the session (``BROKER=rabbitmq`` for RabbitMQ); where the two
brokers behave differently (a dead worker's messages, a restart), the test says which does what.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg
import pytest
import redis
from psycopg.rows import dict_row

from config import get_settings
from devtools.rabbitmq import PrivateRabbitMQ
from devtools.servers import PrivatePostgres, PrivateRedis
from models.commands import automatic_event_id
from service.steps import sweep_overdue_steps
from storage.unit_of_work import PlanJourneyContext
from tests.support.factories import World, claim_body, make_world, submit
from tests.support.harness import (
    Harness,
    Process,
    admin_conninfo,
    apply_migrations,
    reset_app_caches,
    wait_until,
)
from tests.support.outbox import OUTBOX_ITEMS

pytestmark = pytest.mark.chaos

MEMBERS = ("member-1", "member-2")
AMOUNT = Decimal("80.00")  # with a receipt: approved by the worker, 64.00 paid by the plan
CLAIMS_PER_BATCH = 10
Query = Callable[..., list[dict[str, Any]]]


def query_on(conninfo: str) -> Query:
    def query(sql: str, params: Any = None) -> list[dict[str, Any]]:
        with psycopg.connect(conninfo, row_factory=dict_row, connect_timeout=5) as conn:
            return list(conn.execute(sql, params).fetchall())

    return query


def submit_batch(world: World, size: int = CLAIMS_PER_BATCH) -> list[int]:
    ids = [submit(world, MEMBERS[n % 2], amount=str(AMOUNT)).claim_id for n in range(size)]
    assert None not in ids
    return [claim_id for claim_id in ids if claim_id is not None]


def statuses(query: Query) -> dict[int, str]:
    return {row["id"]: row["status"] for row in query("SELECT id, status FROM plan.claims")}


def all_approved(query: Query, claim_ids: list[int]) -> bool:
    current = statuses(query)
    return all(current.get(claim_id) == "APPROVED" for claim_id in claim_ids)


def blocked_workers(query: Query) -> int:
    rows = query(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() "
        "AND application_name = 'plan-service' AND wait_event_type = 'Lock'"
    )
    return int(rows[0]["n"])


@contextmanager
def gate(conninfo: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection whose open transaction holds the worker back until the block ends."""
    connection = psycopg.connect(conninfo, connect_timeout=5)
    try:
        yield connection
    finally:
        with contextlib.suppress(psycopg.Error):  # the server may have been stopped under it
            connection.rollback()
        connection.close()


@contextmanager
def year_to_date_locked(conninfo: str) -> Iterator[None]:
    """Hold every member's year-to-date row, which deciding a claim must lock."""
    with gate(conninfo) as connection:
        connection.execute(
            "INSERT INTO plan.member_year_totals (member_plan_id, year) "
            "SELECT id, extract(year FROM current_date - 3) FROM plan.member_plans "
            "ON CONFLICT DO NOTHING"
        )
        connection.commit()
        assert connection.execute("SELECT 1 FROM plan.member_year_totals FOR UPDATE").fetchall()
        yield


def sweep_now() -> int:
    """What the beat's plan.maintenance.sweep does, run here so the test decides when."""
    with PlanJourneyContext() as ctx:
        swept = sweep_overdue_steps(ctx, get_settings(), limit=1000)
        ctx.commit()
    return swept


def settle_by_sweeping(query: Query, claim_ids: list[int]) -> None:
    """Run the sweeper, as the beat would, until every claim is decided."""
    wait_until(
        lambda: sweep_now() >= 0 and all_approved(query, claim_ids),
        timeout=90,
        what="the sweeper to re-publish lost steps and a worker to decide every claim",
    )


def assert_each_claim_decided_exactly_once(query: Query, claim_ids: list[int]) -> None:
    history = query(
        "SELECT claim_id, array_agg(event ORDER BY id) AS events "
        "FROM plan.claim_status_history GROUP BY claim_id"
    )
    events = {row["claim_id"]: row["events"] for row in history}
    decided = ["submit", "start_review", "approve"]
    assert {claim_id: events.get(claim_id) for claim_id in claim_ids} == {
        claim_id: decided for claim_id in claim_ids
    }
    domain_events = query(
        f"SELECT claim_id, count(*) AS n FROM {OUTBOX_ITEMS} WHERE kind = 'event' GROUP BY claim_id"
    )
    assert {row["claim_id"]: row["n"] for row in domain_events} == dict.fromkeys(claim_ids, 3)
    # Nothing spent twice: each member's limit usage is exactly the sum of their claims.
    usage = query("SELECT sum(limit_used) AS used FROM plan.coverage_usage")
    assert usage[0]["used"] == AMOUNT * len(claim_ids)
    totals = query("SELECT sum(out_of_pocket_paid) AS paid FROM plan.member_year_totals")
    assert totals[0]["paid"] == (AMOUNT - Decimal("64.00")) * len(claim_ids)


@pytest.fixture
def query(harness: Harness) -> Query:
    """Read the test's own database."""
    return query_on(admin_conninfo(harness.database_url))


@pytest.fixture
def sweeper_after_one_second(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWEEPER_STALE_AFTER_S", "1")
    get_settings.cache_clear()


def killed_child_reported(worker: Process) -> bool:
    log = worker.log()
    return "WorkerLostError" in log or "signal 9" in log


# --------------------------------------------------------------------------- worker kills


def test_child_killed_mid_batch_loses_nothing_and_doubles_nothing(
    harness: Harness, query: Query
) -> None:
    world = make_world(users=MEMBERS)
    claim_ids = submit_batch(world, 2 * CLAIMS_PER_BATCH)

    with year_to_date_locked(admin_conninfo(harness.database_url)):
        worker = harness.start_worker(queues="claims", concurrency=1)
        harness.start_relay()
        wait_until(lambda: blocked_workers(query) == 1, what="the worker to be mid-batch")
        [child] = worker.children()
        os.kill(child, signal.SIGKILL)
        wait_until(lambda: killed_child_reported(worker), what="the worker to see its child die")
        harness.start_worker(queues="claims", concurrency=1)  # another worker, to take over

    wait_until(lambda: all_approved(query, claim_ids), what="every claim to be decided")
    assert worker.popen.poll() is None, "the worker itself survives the loss of a child"
    assert_each_claim_decided_exactly_once(query, claim_ids)


def test_child_killed_mid_ingest_batch_files_and_decides_each_claim_once(
    harness: Harness, query: Query
) -> None:
    world = make_world(users=MEMBERS)
    # No idempotency keys: the message id keys each item, the same on the redelivery.
    claims = [
        {
            **claim_body(world, MEMBERS[n % 2], amount=str(AMOUNT), provider=f"Clinic {n}"),
            "userId": MEMBERS[n % 2],
        }
        for n in range(CLAIMS_PER_BATCH)
    ]
    sender = harness.sender("chaos-ingest")
    try:
        with year_to_date_locked(admin_conninfo(harness.database_url)):
            worker = harness.start_worker(queues="ingest", concurrency=1)
            sender.send_task("plan.claims.ingest_batch", args=[claims], queue="ingest")
            # Submitted and under review in memory, waiting to lock the totals to decide.
            wait_until(lambda: blocked_workers(query) == 1, what="the worker to be mid-ingest")
            [child] = worker.children()
            os.kill(child, signal.SIGKILL)
            wait_until(lambda: killed_child_reported(worker), what="the worker to see it die")
            harness.start_worker(queues="ingest", concurrency=1)
    finally:
        sender.close()

    wait_until(
        lambda: (
            len(statuses(query)) == CLAIMS_PER_BATCH
            and set(statuses(query).values()) == {"APPROVED"}
        ),
        what="the redelivered batch to file and decide every claim",
    )
    assert_each_claim_decided_exactly_once(query, sorted(statuses(query)))
    assert query("SELECT count(*) AS n FROM plan.dead_letters")[0]["n"] == 0


def test_whole_worker_killed_mid_batch_its_work_reaches_another_worker(
    harness: Harness, query: Query, sweeper_after_one_second: None
) -> None:
    world = make_world(users=MEMBERS)
    claim_ids = submit_batch(world, 2 * CLAIMS_PER_BATCH)

    with year_to_date_locked(admin_conninfo(harness.database_url)):
        first = harness.start_worker(queues="claims", concurrency=2)
        harness.start_relay()
        wait_until(lambda: blocked_workers(query) >= 1, what="the worker to be mid-batch")
        first.kill(signal.SIGKILL)  # the main process and its children, all at once
        first.popen.wait(10)
    if harness.broker_kind == "redis":
        # The dead worker's message is unacknowledged: hidden from everyone until the
        # visibility timeout, which is far longer than this test; the sweeper recovers it.
        assert redis.Redis.from_url(harness.broker_url).hlen("unacked") >= 1
        harness.start_worker(queues="claims", concurrency=2)
        assert set(statuses(query).values()) == {"SUBMITTED"}
        settle_by_sweeping(query, claim_ids)
    else:
        # RabbitMQ requeues a consumer's unacknowledged messages when its connection drops:
        # the next worker gets them at once, without the sweeper.
        harness.start_worker(queues="claims", concurrency=2)
        wait_until(lambda: all_approved(query, claim_ids), what="the requeued batch")
    assert_each_claim_decided_exactly_once(query, claim_ids)


# --------------------------------------------------------------------------- server restarts


def private_broker(harness: Harness) -> PrivateRedis | PrivateRabbitMQ:
    """A broker of the session's kind that the test may kill and start again."""
    return PrivateRedis() if harness.broker_kind == "redis" else PrivateRabbitMQ()


def url_of(server: PrivateRedis | PrivateRabbitMQ) -> str:
    return server.url if isinstance(server, PrivateRedis) else server.url()


def test_broker_restart_mid_work_everything_settles_once(
    harness: Harness, query: Query, sweeper_after_one_second: None
) -> None:
    """Redis keeps nothing: every queued message is gone and the sweeper re-publishes it.
    RabbitMQ keeps its quorum queues' messages through a crash; either way each claim is
    decided exactly once."""
    world = make_world(users=MEMBERS)
    with private_broker(harness) as server:
        on_private_broker = {"BROKER_URL": url_of(server), "RELAY_MAX_BACKOFF_S": "1"}
        try:
            claim_ids = submit_batch(world)
            with year_to_date_locked(admin_conninfo(harness.database_url)):
                harness.start_worker(queues="claims", concurrency=1, env=on_private_broker)
                harness.start_relay(env=on_private_broker)
                wait_until(lambda: blocked_workers(query) == 1, what="a batch in flight")
                claim_ids += submit_batch(world)  # queued behind it, in the broker only
                wait_until(
                    lambda: not query("SELECT 1 FROM plan.outbox WHERE published_at IS NULL"),
                    what="the second batch to be in the broker",
                )
                server.restart()
            claim_ids += submit_batch(world)  # and new work still flows afterwards

            settle_by_sweeping(query, claim_ids)
        finally:
            harness.stop_all()
    assert_each_claim_decided_exactly_once(query, claim_ids)


@dataclass(frozen=True)
class PrivateDatabase:
    server: PrivatePostgres
    url: str

    @property
    def conninfo(self) -> str:
        return admin_conninfo(self.url)

    @property
    def query(self) -> Query:
        return query_on(self.conninfo)

    def start_worker_and_relay(self, harness: Harness) -> tuple[Process, Process]:
        on_this_database = {"DATABASE_URL": self.url, "RELAY_MAX_BACKOFF_S": "1"}
        worker = harness.start_worker(queues="claims", concurrency=1, env=on_this_database)
        return worker, harness.start_relay(env=on_this_database)


@pytest.fixture
def private_database(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> Iterator[PrivateDatabase]:
    """A migrated database on a PostgreSQL of the test's own, which it may stop and start."""
    with PrivatePostgres() as server:
        with server.connect(autocommit=True) as admin:
            admin.execute("CREATE DATABASE plan")
        database = PrivateDatabase(server, server.url.rsplit("/", 1)[0] + "/plan")
        apply_migrations(database.url)
        monkeypatch.setenv("DATABASE_URL", database.url)
        reset_app_caches()
        try:
            yield database
        finally:
            harness.stop_all()  # the worker and relay go before their database does
            reset_app_caches()


def test_database_restart_while_worker_and_relay_run_everything_settles(
    harness: Harness, private_database: PrivateDatabase
) -> None:
    query = private_database.query
    world = make_world(users=MEMBERS)
    claim_ids = submit_batch(world)

    with year_to_date_locked(private_database.conninfo):
        worker, relay = private_database.start_worker_and_relay(harness)
        wait_until(lambda: blocked_workers(query) == 1, what="a batch in flight")
        private_database.server.stop()  # an immediate stop: every connection is cut
    private_database.server.start()
    claim_ids += submit_batch(world)

    wait_until(
        lambda: all_approved(query, claim_ids),
        timeout=90,
        what="every claim to settle after the database restart",
    )
    assert_each_claim_decided_exactly_once(query, claim_ids)
    assert not query("SELECT 1 FROM plan.outbox WHERE published_at IS NULL")
    assert not query("SELECT 1 FROM plan.dead_letters")
    assert worker.popen.poll() is None
    assert relay.popen.poll() is None


@contextmanager
def history_row_pending(conninfo: str, claim_id: int, bystander_id: int) -> Iterator[None]:
    """Hold an uncommitted history row carrying the event id of the claim's owed step.

    A worker applying that step inserts the same id and must wait on the unique index for this
    transaction: it is caught in the middle of writing its batch. The row hangs on another
    claim, so that its foreign key locks nothing the worker locks first.
    """
    with gate(conninfo) as connection:
        row = connection.execute(
            "SELECT version FROM plan.claims WHERE id = %s", (claim_id,)
        ).fetchone()
        assert row is not None
        event_id = automatic_event_id(claim_id, "start_review", row[0])
        connection.execute(
            "INSERT INTO plan.claim_status_history "
            "(claim_id, event_id, event, from_status, to_status, actor_id, actor_role, hash) "
            "VALUES (%s, %s, 'cancel', 'DRAFT', 'CANCELLED', 'gate', 'system', repeat('0', 64))",
            (bystander_id, event_id),
        )
        yield


def test_database_stopped_while_the_worker_writes_a_batch_the_task_retries_it(
    harness: Harness, private_database: PrivateDatabase
) -> None:
    query = private_database.query
    world = make_world(users=MEMBERS)
    claim_ids = submit_batch(world)
    bystander = submit(world, MEMBERS[0], amount="70.00", draft=True).claim_id
    assert bystander is not None

    with history_row_pending(private_database.conninfo, claim_ids[-1], bystander):
        worker, _ = private_database.start_worker_and_relay(harness)
        wait_until(lambda: blocked_workers(query) == 1, what="the worker to be writing")
        private_database.server.stop()
    private_database.server.start()

    wait_until(
        lambda: all_approved(query, claim_ids),
        timeout=60,
        what="every claim to settle after the database came back",
    )
    assert_each_claim_decided_exactly_once(query, claim_ids)
    assert not query("SELECT 1 FROM plan.dead_letters")
    assert "retry" in worker.log().lower()
