"""The chaos-test helpers really stop and restart private servers on the same port."""

from __future__ import annotations

import psycopg
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from devtools.servers import PrivatePostgres, PrivateRedis

pytestmark = pytest.mark.chaos


def test_private_redis_is_killed_and_restarted_on_the_same_port() -> None:
    with PrivateRedis() as server:
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        client = redis.Redis.from_url(
            server.url, socket_timeout=2, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0)
        )
        assert client.ping()
        client.set("plan:chaos", "before-kill")
        port = server.port

        server.stop()
        assert not server.is_running()
        with pytest.raises(redis.exceptions.ConnectionError):
            client.ping()

        server.start()
        assert server.port == port
        assert server.url == f"redis://127.0.0.1:{port}/0"
        assert client.ping()
        # No persistence: a restarted broker comes back empty, as in production.
        assert client.get("plan:chaos") is None

        server.restart()
        assert server.port == port
        assert client.ping()
        client.close()

    assert not server.workdir.exists()


def test_private_postgres_keeps_committed_data_across_an_immediate_stop() -> None:
    with PrivatePostgres() as server:
        assert server.url == f"postgresql+psycopg://postgres@127.0.0.1:{server.port}/postgres"
        port = server.port
        with server.connect() as conn:
            conn.execute("create table chaos_probe (id int primary key, note text not null)")
            conn.execute("insert into chaos_probe values (1, 'survives')")

        server.stop()
        assert not server.is_running()
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(server.conninfo, connect_timeout=2).close()

        server.start()
        assert server.port == port
        with server.connect() as conn:
            rows = conn.execute("select id, note from chaos_probe").fetchall()
        assert rows == [(1, "survives")]

        server.restart()
        assert server.port == port
        with server.connect() as conn:
            assert conn.execute("select count(*) from chaos_probe").fetchone() == (1,)

    assert not server.basedir.exists()
