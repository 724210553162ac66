"""Settings: defaults from the seed, URL assembly, and start-up refusals that name the variable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from config.settings import Settings, get_settings
from storage.engine import database_url, redact


def settings(**env: Any) -> Settings:
    return Settings(_env_file=None, **env)


def test_defaults_follow_the_seed_document(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "DATABASE_SSL", "DATABASE_POOL_SIZE", "BROKER_URL"):
        monkeypatch.delenv(name, raising=False)
    defaults = Settings()
    assert defaults.database_port == 5432
    assert defaults.database_schema == "plan"
    assert defaults.database_ssl is True
    assert defaults.database_pool_size == 20
    assert defaults.database_connect_timeout_s == 30
    assert defaults.database_idle_timeout_s == 600
    assert defaults.broker_url.get_secret_value().startswith("redis://127.0.0.1")


def test_url_is_built_from_parts_when_none_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DATABASE_SSL", raising=False)
    built = settings(
        database_host="db.internal",
        database_port="6543",
        database_username="plan",
        database_password="p@ss word",
        database_name="plans",
    )
    assert built.sqlalchemy_url == "postgresql+psycopg://plan:p%40ss%20word@db.internal:6543/plans"
    assert database_url(built).query["sslmode"] == "require"


def test_ssl_is_on_unless_false(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_SSL", "false")
    assert Settings().sslmode == "disable"


def test_a_postgres_url_is_used_with_the_psycopg_driver() -> None:
    url = settings(database_url="postgresql://u:secret@h:1/d").sqlalchemy_url
    assert url == "postgresql+psycopg://u:secret@h:1/d"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DATABASE_POOL_SIZE", "many"),
        ("DATABASE_PORT", "0"),
        ("DATABASE_URL", "mysql://x@y/z"),
        ("BROKER_URL", "kafka://localhost:9092"),
        ("BROKER_VISIBILITY_TIMEOUT_S", "100"),
        ("AUTO_APPROVAL_THRESHOLD", "-1"),
        ("DATABASE_SCHEMA", "public"),
        ("FLOWER_BASIC_AUTH", "admin"),
        ("FLOWER_BASIC_AUTH", "admin:"),
        ("MAX_BODY_BYTES", "10"),
        ("BODY_READ_TIMEOUT_S", "0"),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as refusal:
        Settings()
    assert variable.lower() in str(refusal.value).lower()


def test_production_refuses_the_development_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="JWT_SECRET"):
        Settings()


def test_passwords_never_appear_in_rendered_urls_or_settings() -> None:
    configured = settings(database_url="postgresql://u:hunter2hunter2@h/d")
    assert "hunter2" not in repr(configured)
    assert "hunter2" not in str(configured.database_url)
    assert redact("postgresql+psycopg://u:hunter2hunter2@h/d") == "postgresql+psycopg://u:***@h/d"
    assert "hunter2" not in repr(database_url(configured))


def test_redis_visibility_timeout_outlasts_the_longest_hold_of_a_message() -> None:
    configured = settings(task_time_limit_s="60", task_retry_backoff_max_s="60")
    assert configured.visibility_timeout_s == 150
    assert configured.task_soft_time_limit_s == 50
    assert settings(broker_visibility_timeout_s="400").visibility_timeout_s == 400


def test_rabbitmq_urls_are_brokers_too() -> None:
    assert settings(broker_url="amqp://guest:guest@127.0.0.1:5672//").broker_is_rabbitmq
    assert not settings(broker_url="redis://127.0.0.1:6379/0").broker_is_rabbitmq


def test_the_broker_management_url_is_an_http_base_flower_can_join_onto() -> None:
    assert settings().broker_management_url is None
    joined = settings(broker_management_url="http://127.0.0.1:15672/api").broker_management_url
    assert joined is not None and joined.get_secret_value() == "http://127.0.0.1:15672/api/"
    with pytest.raises(ValidationError, match="BROKER_MANAGEMENT_URL"):
        settings(broker_management_url="amqp://127.0.0.1:15672/api/")


def test_the_env_file_is_read_and_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("DATABASE_NAME=from_file\nPORT=8123\nLOG_LEVEL=DEBUG\n")
    monkeypatch.setenv("ENV_FILE", str(dotenv))
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    monkeypatch.delenv("PORT", raising=False)
    monkeypatch.delenv("DATABASE_NAME", raising=False)
    get_settings.cache_clear()
    try:
        read = get_settings()
        assert (read.database_name, read.port, read.log_level) == ("from_file", 8123, "WARNING")
        monkeypatch.setenv("ENV_FILE", "")
        get_settings.cache_clear()
        assert get_settings().database_name == "plan"
    finally:
        get_settings.cache_clear()


def test_the_web_process_and_flower_listen_on_loopback_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("WEB_HOST", "FLOWER_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    defaults = Settings()
    assert (defaults.web_host, defaults.flower_address) == ("127.0.0.1", "127.0.0.1")
    assert defaults.max_body_bytes == 8 * 1024 * 1024
