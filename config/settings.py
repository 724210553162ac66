"""Every knob of the Plan Service, read once from the environment and the ``.env`` file.

Nothing else in the code base reads ``os.environ``. A bad value stops start-up with a message
naming the variable (pydantic-settings reports the field, which is the variable's name).
``get_settings()`` also reads the project's ``.env`` (``make up`` writes it); a variable set in
the environment wins over the file. ``ENV_FILE`` names another file, or none when empty.
"""

from __future__ import annotations

import os
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_JWT_SECRET = "development-only-secret-change-me-0123456789"
PROJECT_ENV_FILE = Path(__file__).resolve().parents[1] / ".env"
# Between the longest a task may hold a Redis message and its redelivery to another worker.
VISIBILITY_MARGIN_S = 30
BROKER_SCHEMES = ("redis://", "rediss://", "amqp://", "amqps://")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    environment: Literal["development", "test", "production"] = "development"

    # Database: DATABASE_URL, or its parts when no URL is given.
    database_url: SecretStr | None = None
    database_host: str = "127.0.0.1"
    database_port: int = Field(5432, ge=1, le=65535)
    database_username: str = "postgres"
    database_password: SecretStr = SecretStr("")
    database_name: str = "plan"
    # The migrations, the models and the raw statements are all written for ``plan``; the
    # setting exists for parity with the seed's configuration and refuses anything else.
    database_schema: Literal["plan"] = "plan"
    database_ssl: bool = True
    database_pool_size: int = Field(20, ge=1, le=500)
    database_max_overflow: int = Field(10, ge=0, le=500)
    database_connect_timeout_s: int = Field(30, ge=1)
    database_pool_timeout_s: int = Field(30, ge=1)
    database_idle_timeout_s: int = Field(600, ge=1)
    database_statement_timeout_ms: int = Field(30_000, ge=0)

    # Broker.
    broker_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    # Redis only; unset: derived from the task time limit and the retry backoff cap.
    broker_visibility_timeout_s: int | None = Field(None, ge=30)
    events_exchange: str = "plan.events"
    events_queue: str = "events"

    # Worker.
    worker_concurrency: int = Field(2, ge=1)
    worker_prefetch_multiplier: int = Field(4, ge=1)
    task_max_retries: int = Field(5, ge=0)
    task_retry_backoff_max_s: int = Field(60, ge=1)
    task_time_limit_s: int = Field(60, ge=10, le=3600)
    batch_size: int = Field(500, ge=1, le=5000)

    # Relay and sweeper.
    relay_batch_size: int = Field(1000, ge=1, le=10_000)
    relay_poll_interval_s: float = Field(0.5, gt=0)
    relay_max_backoff_s: float = Field(10.0, gt=0)
    sweeper_stale_after_s: int = Field(60, ge=1)
    sweeper_interval_s: int = Field(30, ge=1)
    outbox_retention_days: int = Field(7, ge=0)

    # Domain.
    auto_approval_threshold: Decimal = Field(Decimal("100.00"), ge=0)
    filing_window_days: int = Field(365, ge=1)
    info_deadline_days: int = Field(30, ge=1)
    expire_interval_s: int = Field(300, ge=1)
    review_lease_minutes: int = Field(30, ge=1, le=24 * 60)
    four_eyes_threshold: Decimal = Field(Decimal("5000.00"), ge=0)
    console_session_minutes: int = Field(60, ge=1, le=24 * 60)

    # FHIR export (GET /fhir/...).
    fhir_base_url: str = Field("https://plan-service.example/fhir", pattern=r"^https?://\S+[^/]$")
    insurer_name: str = Field("Plan Service", min_length=1, max_length=200)

    # Web.
    port: int = Field(8000, ge=1, le=65535)
    # Loopback unless the deployment says otherwise (0.0.0.0 behind a proxy or in a container).
    web_host: str = "127.0.0.1"
    web_concurrency: int = Field(2, ge=1, le=64)
    # Hostile-input limits: refused before anything is parsed (see README, Security).
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    max_claim_body_bytes: int = Field(64 * 1024, ge=1024)
    json_max_depth: int = Field(10, ge=2, le=100)
    json_max_object_keys: int = Field(64, ge=16)
    json_max_values: int = Field(100_000, ge=100)
    max_header_bytes: int = Field(32 * 1024, ge=4096)
    header_read_timeout_s: float = Field(10.0, gt=0)
    body_read_timeout_s: float = Field(15.0, gt=0)
    keep_alive_timeout_s: int = Field(5, ge=1)
    jwt_secret: SecretStr = SecretStr(DEVELOPMENT_JWT_SECRET)
    jwt_algorithm: Literal["HS256"] = "HS256"
    flower_basic_auth: SecretStr = SecretStr("admin:admin")
    flower_port: int = Field(5555, ge=1, le=65535)
    flower_address: str = "127.0.0.1"
    # RabbitMQ's management API, where Flower's Broker page reads queue depths (Redis is
    # read directly). None: Flower derives http://<broker host>:15672/api/ from BROKER_URL.
    broker_management_url: SecretStr | None = None
    submission_batch_max: int = Field(64, ge=1, le=1000)
    submission_writers: int = Field(1, ge=1, le=16)
    # Read by prometheus_client itself in every process; here so that /metrics knows to merge.
    prometheus_multiproc_dir: str | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = True

    @field_validator("database_url", mode="after")
    @classmethod
    def _url_is_postgres(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        url = value.get_secret_value()
        if not url.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
            raise ValueError("DATABASE_URL must start with postgresql:// or postgresql+psycopg://")
        return value

    @field_validator("broker_url", mode="after")
    @classmethod
    def _broker_is_redis_or_rabbitmq(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith(BROKER_SCHEMES):
            raise ValueError("BROKER_URL must be a redis://, rediss://, amqp:// or amqps:// URL")
        return value

    @field_validator("broker_management_url", mode="after")
    @classmethod
    def _management_url_is_http(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        url = value.get_secret_value()
        if not url.startswith(("http://", "https://")):
            raise ValueError("BROKER_MANAGEMENT_URL must be an http:// or https:// URL")
        # Flower joins "queues/<vhost>" onto it: without the slash it would replace "api".
        return value if url.endswith("/") else SecretStr(f"{url}/")

    @field_validator("flower_basic_auth", mode="after")
    @classmethod
    def _flower_credentials_are_user_password_pairs(cls, value: SecretStr) -> SecretStr:
        pairs = value.get_secret_value().split(",")
        if not all(user and password for user, _, password in (p.partition(":") for p in pairs)):
            raise ValueError("FLOWER_BASIC_AUTH must be user:password (comma-separated pairs)")
        return value

    @model_validator(mode="after")
    def _visibility_outlasts_a_held_message(self) -> Settings:
        configured = self.broker_visibility_timeout_s
        if configured is not None and configured <= self.longest_hold_s:
            raise ValueError(
                f"BROKER_VISIBILITY_TIMEOUT_S must exceed TASK_TIME_LIMIT_S + "
                f"TASK_RETRY_BACKOFF_MAX_S ({self.longest_hold_s} s), or Redis hands a message "
                "still being worked on to a second worker"
            )
        return self

    @model_validator(mode="after")
    def _no_placeholder_secrets_in_production(self) -> Settings:
        if self.environment == "production":
            if self.jwt_secret.get_secret_value() == DEVELOPMENT_JWT_SECRET:
                raise ValueError("JWT_SECRET must be set in production")
            if self.flower_basic_auth.get_secret_value() == "admin:admin":
                raise ValueError("FLOWER_BASIC_AUTH must be set in production")
        if len(self.jwt_secret.get_secret_value()) < 32:
            raise ValueError("JWT_SECRET must be at least 32 characters")
        return self

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL for SQLAlchemy with the psycopg 3 driver. Holds the password."""
        if self.database_url is not None:
            url = self.database_url.get_secret_value()
            for prefix in ("postgresql://", "postgres://"):
                if url.startswith(prefix):
                    return "postgresql+psycopg://" + url[len(prefix) :]
            return url
        password = self.database_password.get_secret_value()
        credentials = quote(self.database_username, safe="")
        if password:
            credentials += ":" + quote(password, safe="")
        return (
            f"postgresql+psycopg://{credentials}@{self.database_host}:{self.database_port}"
            f"/{quote(self.database_name, safe='')}"
        )

    @property
    def broker_is_rabbitmq(self) -> bool:
        return self.broker_url.get_secret_value().startswith(("amqp://", "amqps://"))

    @property
    def task_soft_time_limit_s(self) -> int:
        """The task is told to stop (SoftTimeLimitExceeded) a sixth before it is killed."""
        return self.task_time_limit_s - max(1, self.task_time_limit_s // 6)

    @property
    def longest_hold_s(self) -> int:
        """The longest a worker holds one Redis message unacknowledged: a retry waits up to
        the backoff cap in the worker (Redis has no delayed delivery), then runs up to the
        time limit."""
        return self.task_time_limit_s + self.task_retry_backoff_max_s

    @property
    def visibility_timeout_s(self) -> int:
        """When Redis gives a dead worker's unacknowledged messages to another worker."""
        if self.broker_visibility_timeout_s is not None:
            return self.broker_visibility_timeout_s
        return self.longest_hold_s + VISIBILITY_MARGIN_S

    @property
    def sslmode(self) -> str:
        """``require`` unless DATABASE_SSL is false; a URL's own sslmode wins over this."""
        return "require" if self.database_ssl else "disable"


def env_file() -> Path | None:
    """The dotenv file settings read: ENV_FILE, else the project's ``.env``; none if empty."""
    chosen = os.environ.get("ENV_FILE")
    if chosen is None:
        return PROJECT_ENV_FILE
    return Path(chosen) if chosen else None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings(_env_file=env_file())
