"""One engine per process, built from the settings; disposed in each Celery child after fork."""

from __future__ import annotations

import re
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from config import Settings, get_settings

_PASSWORD_IN_URL = re.compile(r"(://[^:/@]+:)[^@]+@")


def redact(text: str) -> str:
    """Hide a password embedded in a URL (for log lines and error messages)."""
    return _PASSWORD_IN_URL.sub(r"\1***@", text)


def database_url(settings: Settings) -> URL:
    url = make_url(settings.sqlalchemy_url)
    if "sslmode" not in url.query:
        url = url.update_query_dict({"sslmode": settings.sslmode})
    return url


def build_engine(settings: Settings) -> sa.Engine:
    return sa.create_engine(
        database_url(settings),
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_timeout=settings.database_pool_timeout_s,
        pool_recycle=settings.database_idle_timeout_s,
        pool_pre_ping=True,
        hide_parameters=True,
        connect_args={
            "connect_timeout": settings.database_connect_timeout_s,
            "application_name": "plan-service",
            "options": f"-c statement_timeout={settings.database_statement_timeout_ms}",
        },
    )


@lru_cache(maxsize=1)
def get_engine() -> sa.Engine:
    return build_engine(get_settings())


@lru_cache(maxsize=1)
def get_session_factory() -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(), expire_on_commit=False, autoflush=False)


def forget_engine() -> None:
    """Close the cached engine's pool and forget it and its session factory: the next use
    builds them again from the settings (a test or a bench run pointing at a new database)."""
    if get_engine.cache_info().currsize:
        get_engine().dispose()
    get_session_factory.cache_clear()
    get_engine.cache_clear()


def dispose_after_fork() -> None:
    """Forget the parent's pooled connections in a forked child, leaving them open for it."""
    if get_engine.cache_info().currsize:
        get_engine().dispose(close=False)
