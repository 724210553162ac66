"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import psycopg
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from kombu import Connection
from prometheus_client import REGISTRY, CollectorRegistry, Gauge, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from api.auth import Admin
from api.errors import error_response, error_responses
from api.params import AppSettings
from api.schemas import Health, Readiness
from config import Settings
from models.errors import ErrorCode
from service import queries as claim_queries
from service import review_queries
from storage.engine import database_url
from storage.unit_of_work import PlanJourneyContext

router = APIRouter(tags=["operations"])

# A probe that waits longer than its caller's timeout says nothing; answer within it.
PROBE_TIMEOUT_S = 2


@router.get("/health", response_model=Health, summary="The process is up")
def health() -> Health:
    return Health(status="ok")


def _database_answers(settings: Settings) -> bool:
    # Its own short-lived connection, not the pool: a pool checkout waits for pool_timeout and
    # reconnects with the long connect timeout, and readiness must answer fast either way.
    conninfo = database_url(settings).set(drivername="postgresql").render_as_string(False)
    try:
        with psycopg.connect(
            conninfo,
            connect_timeout=PROBE_TIMEOUT_S,
            options=f"-c statement_timeout={PROBE_TIMEOUT_S * 1000}",
        ) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def _broker_answers(settings: Settings) -> bool:
    """Whatever the broker (Redis, RabbitMQ): kombu opens a connection and a channel (Redis:
    a PING; RabbitMQ: the AMQP handshake), once, within the probe's timeout."""
    try:
        with Connection(
            settings.broker_url.get_secret_value(),
            connect_timeout=PROBE_TIMEOUT_S,
            transport_options={"socket_timeout": PROBE_TIMEOUT_S, "max_retries": 0},
        ) as connection:
            connection.ensure_connection(max_retries=0, timeout=PROBE_TIMEOUT_S)
            connection.default_channel  # noqa: B018 - opening it is the probe
    except Exception:
        return False
    return True


@router.get(
    "/ready",
    response_model=Readiness,
    summary="The database and the broker answer",
    responses=error_responses(503),
)
def ready(settings: AppSettings) -> Readiness | JSONResponse:
    database = _database_answers(settings)
    broker = _broker_answers(settings)
    if database and broker:
        return Readiness(status="ready", database="ok", broker="ok")
    state = {True: "ok", False: "unavailable"}
    return error_response(
        503,
        (ErrorCode.DATABASE_UNAVAILABLE.value if not database else "PLAN_SYS_BROKER_UNAVAILABLE"),
        f"Not ready: database {state[database]}, broker {state[broker]}",
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics (administrator)",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text exposition format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        **error_responses(401, 403, 503),
    },
)
def metrics(_: Admin, settings: AppSettings) -> Response:
    with PlanJourneyContext() as ctx:
        by_status = claim_queries.claims_by_status(ctx)
        backlog, oldest_age_s = claim_queries.outbox_backlog(ctx)
        queue = review_queries.queue_figures(ctx)
    # Read at scrape time into a registry of its own, so the numbers are never stale and the
    # process-wide registry keeps only what this process measures itself.
    snapshot = CollectorRegistry()
    claims = Gauge("plan_claims", "Claims by lifecycle status", ["status"], registry=snapshot)
    for status, count in by_status.items():
        claims.labels(status.value).set(count)
    Gauge(
        "plan_outbox_backlog",
        "Outbox items (events, work items) waiting for the relay",
        registry=snapshot,
    ).set(backlog)
    Gauge(
        "plan_outbox_oldest_age_seconds",
        "Age of the oldest outbox row waiting for the relay",
        registry=snapshot,
    ).set(oldest_age_s)
    depth = Gauge(
        "plan_review_queue_depth",
        "Claims waiting for a person, by state (a live lease counts as assigned)",
        ["state"],
        registry=snapshot,
    )
    depth.labels("unassigned").set(queue.unassigned)
    depth.labels("assigned").set(queue.assigned)
    depth.labels("awaiting_second_approval").set(queue.awaiting_second_approval)
    Gauge(
        "plan_review_queue_oldest_waiting_seconds",
        "How long the claim that has waited longest for a person has waited",
        registry=snapshot,
    ).set(queue.oldest_waiting_s)
    return Response(
        generate_latest(_process_metrics(settings)) + generate_latest(snapshot),
        media_type=CONTENT_TYPE_PLAIN_0_0_4,
    )


def _process_metrics(settings: Settings) -> CollectorRegistry:
    """This process's metrics, or every process's on this host in multiprocess mode.

    With PROMETHEUS_MULTIPROC_DIR set for the web, worker and relay processes of a host, the
    workers' step outcomes and task latencies show here too.
    """
    if settings.prometheus_multiproc_dir is None:
        return REGISTRY
    combined = CollectorRegistry()
    multiprocess.MultiProcessCollector(  # type: ignore[no-untyped-call]
        combined, path=settings.prometheus_multiproc_dir
    )
    return combined
