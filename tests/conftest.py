"""Test harness on real servers.

``make test`` exports DATABASE_URL (a database on a server we may create databases on) and
BROKER_URL, after making sure both answer. Each test that touches PostgreSQL gets a database
of its own, cloned from a migrated template; each test that touches the broker gets one of its
own: a Redis database index, flushed before and after, or with ``BROKER=rabbitmq`` a virtual
host on a private RabbitMQ node this session starts (own node name, ports and data directory).
No test skips for a missing server: the fixtures fail with what is missing.

A developer's ``.env`` (written by ``make up``) never reaches the tests: ENV_FILE is emptied
here, for this process and every process a test starts.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import redis
from sqlalchemy.engine import make_url

from devtools.brokers import BrokerKind
from devtools.rabbitmq import PrivateRabbitMQ
from tests.support.harness import (
    BrokerServer,
    Harness,
    RabbitMQServer,
    RedisServer,
    admin_conninfo,
    apply_migrations,
    reset_app_caches,
)

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"
os.environ["ENV_FILE"] = ""


def broker_under_test() -> BrokerKind:
    chosen = os.environ.get("BROKER", "redis")
    if chosen not in ("redis", "rabbitmq"):
        raise pytest.UsageError(f"BROKER must be redis or rabbitmq, not {chosen!r}")
    return "rabbitmq" if chosen == "rabbitmq" else "redis"


@pytest.fixture(scope="session")
def server_urls() -> tuple[str, str]:
    database_url = os.environ.get("TEST_DATABASE_URL") or os.environ.get(
        "DATABASE_URL", DEFAULT_DATABASE_URL
    )
    broker_url = os.environ.get("TEST_BROKER_URL") or os.environ.get(
        "BROKER_URL", DEFAULT_BROKER_URL
    )
    try:
        with psycopg.connect(admin_conninfo(database_url), connect_timeout=5):
            pass
    except psycopg.Error as error:
        pytest.fail(
            f"PostgreSQL is not reachable at {make_url(database_url).render_as_string()}: "
            f"{type(error).__name__}. Run the tests with `make test`, which starts one.",
            pytrace=False,
        )
    if broker_under_test() == "rabbitmq":
        return database_url, broker_url
    try:
        redis.Redis.from_url(broker_url, socket_connect_timeout=5).ping()
    except redis.RedisError as error:
        pytest.fail(
            f"Redis is not reachable at {broker_url}: {type(error).__name__}. "
            "Run the tests with `make test`, which starts one.",
            pytrace=False,
        )
    return database_url, broker_url


@pytest.fixture(scope="session")
def template_database(server_urls: tuple[str, str]) -> Iterator[str]:
    database_url, _ = server_urls
    name = f"plan_tpl_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_conninfo(database_url), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        apply_migrations(make_url(database_url).set(database=name).render_as_string(False))
        yield name
    finally:
        with psycopg.connect(admin_conninfo(database_url), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def broker_server(server_urls: tuple[str, str]) -> Iterator[BrokerServer]:
    """The broker the tests run on: the Redis of BROKER_URL, or a private RabbitMQ node."""
    if broker_under_test() == "redis":
        yield RedisServer(server_urls[1])
        return
    with PrivateRabbitMQ() as node:
        yield RabbitMQServer(node)


@pytest.fixture
def harness(
    server_urls: tuple[str, str],
    broker_server: BrokerServer,
    template_database: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Harness]:
    """A database and a broker of this test's own, with the app pointed at them."""
    database_url, _ = server_urls
    with Harness.create(database_url, broker_server, template_database) as harness:
        for key, value in harness.environment().items():
            monkeypatch.setenv(key, value)
        reset_app_caches()
        yield harness
    reset_app_caches()
