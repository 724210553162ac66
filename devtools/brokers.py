"""A broker of one's own on a shared server: a locked Redis database index.

Tests, the bench and the demo each hold an index for as long as they run (a lock file per
server and index, so concurrent runs on one machine never share one) and flush only that
index. On RabbitMQ the same isolation is a virtual host (``devtools.rabbitmq``).
"""

from __future__ import annotations

import contextlib
import fcntl
import tempfile
import time
from dataclasses import dataclass
from typing import IO, Literal

import redis
from sqlalchemy.engine import make_url

from devtools.processes import ProcessError

BrokerKind = Literal["redis", "rabbitmq"]


def broker_kind(url: str) -> BrokerKind:
    return "rabbitmq" if url.startswith(("amqp://", "amqps://", "pyamqp://")) else "redis"


@dataclass
class RedisIndex:
    """A Redis database index held until ``release()``."""

    url: str
    index: int
    lock: IO[bytes]

    def flush(self) -> None:
        redis.Redis.from_url(self.url, socket_timeout=10).flushdb()

    def release(self) -> None:
        with contextlib.suppress(redis.RedisError):
            self.flush()
        self.lock.close()


def hold_redis_index(
    broker_url: str,
    preferred: tuple[int, ...] = (),
    *,
    taken: tuple[int, ...] = (),
    timeout: float = 120,
) -> RedisIndex:
    """Lock a database index of the Redis at ``broker_url`` (1-15), flushed, or fail."""
    parsed = make_url(broker_url.replace("redis://", "postgresql://", 1))
    host, port = parsed.host or "127.0.0.1", parsed.port or 6379
    candidates = [i for i in (*preferred, *range(1, 16)) if i not in taken]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for index in dict.fromkeys(candidates):
            path = f"{tempfile.gettempdir()}/plan-test-redis-{host}-{port}-{index}.lock"
            lock = open(path, "wb")  # noqa: SIM115 - held until release()
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.close()
                continue
            held = RedisIndex(f"redis://{host}:{port}/{index}", index, lock)
            held.flush()
            return held
        time.sleep(0.2)
    raise ProcessError("every Redis database index is held by other runs; try again later")
