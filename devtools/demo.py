"""``make demo``: the main job end to end, with embedded defaults.

Migrates a database of its own, seeds it, starts the web, worker, relay, beat and Flower
processes, submits a few hundred claims through the HTTP endpoint as the seeded members,
reviews the queue as a reviewer, answers information requests as the members, shows the
claims moving, prints what happened, and stops everything it started. It exits non-zero if
any accepted claim was lost or got stuck.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.engine import make_url

from config.settings import Settings, get_settings
from devtools.brokers import RedisIndex, broker_kind, hold_redis_index
from devtools.processes import (
    ROOT,
    Processes,
    celery_worker_argv,
    free_port,
    inherited_environment,
    python_argv,
    running,
    wait_until,
)
from storage.engine import database_url as configured_database_url

MEMBERS = ("seed-user-1", "seed-user-2", "seed-user-3")
REVIEWER = "seed-reviewer-1"
# Approvals of FOUR_EYES_THRESHOLD or more wait for a second, different reviewer.
SECOND_REVIEWER = "seed-reviewer-2"
DEMO_DATABASE = "plan_demo"
DEMO_REDIS_DB = 9
console = Console(width=120)


def prepare_database(settings: Settings) -> str:
    """A fresh ``plan_demo`` database beside the configured one; returns its URL."""
    url = make_url(settings.sqlalchemy_url)
    conninfo = (
        configured_database_url(settings).set(drivername="postgresql").render_as_string(False)
    )
    with psycopg.connect(conninfo, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DEMO_DATABASE}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{DEMO_DATABASE}"')
    return url.set(database=DEMO_DATABASE).render_as_string(hide_password=False)


def own_broker(settings: Settings) -> tuple[str, RedisIndex | None]:
    """Redis: a database index of the demo's own (locked, flushed); RabbitMQ: the URL given."""
    url = settings.broker_url.get_secret_value()
    if broker_kind(url) == "rabbitmq":
        return url, None
    held = hold_redis_index(url, (DEMO_REDIS_DB,))
    return held.url, held


def demo_environment(
    settings: Settings, database_url: str, broker_url: str, logs: Path, ports: tuple[int, int]
) -> dict[str, str]:
    """Everything the demo's processes read, built from the settings (no .env, no os.environ)."""
    web_port, flower_port = ports
    metrics_dir = logs / "metrics"
    metrics_dir.mkdir()
    return {
        **inherited_environment(),
        "ENV_FILE": "",
        "DATABASE_URL": database_url,
        "DATABASE_SSL": str(settings.database_ssl).lower(),
        "BROKER_URL": broker_url,
        "ENVIRONMENT": "development",
        "JWT_SECRET": settings.jwt_secret.get_secret_value(),
        "FLOWER_BASIC_AUTH": settings.flower_basic_auth.get_secret_value(),
        "FLOWER_PORT": str(flower_port),
        "SWEEPER_INTERVAL_S": "5",
        "SWEEPER_STALE_AFTER_S": "10",
        "PORT": str(web_port),
        "WEB_CONCURRENCY": "1",
        # Every process of the demo writes its metrics here; /metrics shows them together.
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }


def migrate_and_seed(env: dict[str, str]) -> None:
    for argv, done in (
        (python_argv("-m", "alembic", "upgrade", "head"), "migrated: alembic upgrade head"),
        (python_argv("-m", "devtools.seed"), ""),
    ):
        completed = subprocess.run(
            argv, cwd=ROOT, env=env, check=True, capture_output=True, text=True
        )
        console.print(done or completed.stdout.strip())


def start_stack(processes: Processes, web_port: int, logs: Path) -> None:
    # The Procfile's web line (PORT from the environment): uvicorn with the service's protocol,
    # limits and timeouts.
    processes.start("web", python_argv("-m", "worker.cli", "web"))
    processes.start(
        "worker",
        celery_worker_argv(
            None,
            node=f"demo-{uuid.uuid4().hex[:6]}@%h",
            concurrency=2,
        ),
    )
    processes.start("relay", python_argv("-m", "worker.cli", "relay"))
    processes.start(
        "beat",
        python_argv(
            "-m",
            "celery",
            "-A",
            "worker",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(logs / "beat-schedule"),
        ),
    )
    processes.start("flower", python_argv("-m", "worker.cli", "flower"))


def web_ready(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/ready", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


class Client:
    def __init__(self, base_url: str, settings: Settings) -> None:
        from api.auth import issue_token

        self.http = httpx.Client(base_url=base_url, timeout=30)
        self.tokens = {
            member: issue_token(settings, subject=member, role="member") for member in MEMBERS
        }
        for reviewer in (REVIEWER, SECOND_REVIEWER):
            self.tokens[reviewer] = issue_token(settings, subject=reviewer, role="reviewer")
        self.tokens["admin"] = issue_token(settings, subject="demo-admin", role="admin")

    def call(self, who: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[who]}", **kwargs.pop("headers", {})}
        return self.http.request(method, path, headers=headers, **kwargs)


def _invalid_changes(today: date, receipt: dict[str, Any]) -> list[dict[str, Any]]:
    """One rule broken each: what the API must refuse with 422."""
    executable = {**receipt, "mimeType": "application/x-msdownload", "fileName": "setup.exe"}
    return [
        {"amount": "-10.00"},
        {"procedureCode": "bad code!"},
        {"diagnosisCode": "123"},
        {"serviceDate": (today + timedelta(days=3)).isoformat()},
        {"documents": [executable]},
    ]


def claim_mix(
    enrolments: dict[str, list[dict[str, Any]]], count: int
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(member, kind, body): small with receipts, large, without documents, invalid."""
    chooser = random.Random(20261125)
    today = date.today()
    receipt = {
        "type": "RECEIPT",
        "fileName": "receipt.pdf",
        "mimeType": "application/pdf",
        "sizeBytes": 48_213,
    }
    kinds = (
        ["small"] * 50
        + ["large"] * 20
        + ["no_documents"] * 15
        + ["invalid"] * 10
        + ["duplicate"] * 5
    )
    previous: dict[str, dict[str, Any]] = {}
    for number in range(count):
        member = MEMBERS[number % len(MEMBERS)]
        enrolment = enrolments[member][0]
        kind = chooser.choice(kinds)
        body: dict[str, Any] = {
            "memberPlanId": enrolment["id"],
            "procedureType": chooser.choice(["CONSULTATION", "LABORATORY", "DIAGNOSTIC"]),
            "procedureCode": f"P{number:05d}",
            "diagnosisCode": chooser.choice(["J45.909", "K08", "E11.9", "M54.5"]),
            "providerName": f"Clinic {chooser.randint(1, 40)}",
            "serviceDate": (today - timedelta(days=chooser.randint(1, 300))).isoformat(),
            "amount": str(Decimal(chooser.randint(2_000, 9_500)) / 100),
            "currency": "BRL",
            "documents": [receipt],
        }
        if kind == "large":
            body["amount"] = str(Decimal(chooser.randint(40_000, 450_000)) / 100)
        elif kind == "no_documents":
            body["documents"] = []
        elif kind == "invalid":
            body.update(chooser.choice(_invalid_changes(today, receipt)))
        elif kind == "duplicate" and member in previous:
            body = dict(previous[member])
        previous[member] = body
        yield member, kind, body


def count_by_status(database_url: str) -> Counter[str]:
    conninfo = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "SELECT status, count(*) FROM plan.claims WHERE idempotency_key LIKE 'demo-%%' "
            "GROUP BY status"
        ).fetchall()
    return Counter({status: count for status, count in rows})


def owed_steps(database_url: str) -> int:
    """Automatic steps owed and people's actions still queued on the demo's claims."""
    conninfo = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM plan.claims WHERE next_step IS NOT NULL "
            "AND idempotency_key LIKE 'demo-%%') + (SELECT count(*) FROM plan.claim_actions a "
            "JOIN plan.claims c ON c.id = a.claim_id WHERE a.status = 'queued' "
            "AND c.idempotency_key LIKE 'demo-%%')"
        ).fetchone()
    return int(row[0]) if row else 0


def run(claims: int) -> int:
    settings = get_settings()
    database_url = prepare_database(settings)
    broker, held = own_broker(settings)
    web_port, flower_port = free_port(), free_port()
    logs = Path(tempfile.mkdtemp(prefix="plan-demo-"))
    env = demo_environment(settings, database_url, broker, logs, (web_port, flower_port))

    console.rule("[bold]Plan Service demo")
    console.print(f"database {make_url(database_url).render_as_string()}  broker {broker}")
    console.print(f"logs in {logs}")
    try:
        migrate_and_seed(env)
        with running(logs, env) as processes:
            start_stack(processes, web_port, logs)
            base_url = f"http://127.0.0.1:{web_port}"
            console.print(f"web {base_url}/docs   Flower http://127.0.0.1:{flower_port}")
            wait_until(lambda: web_ready(base_url), timeout=60, what="the web process")
            processes.check_alive()
            client = Client(base_url, settings)
            flower = Flower(flower_port, settings)
            return drive(client, processes, database_url, claims, flower)
    finally:
        if held is not None:
            held.release()


def drive(client: Client, stack: Processes, database_url: str, count: int, flower: Flower) -> int:
    enrolments = {
        member: client.call(member, "GET", "/me/plans").json()["items"] for member in MEMBERS
    }
    answers: Counter[str] = Counter()
    accepted: set[int] = set()
    started = time.monotonic()

    def submit(item: tuple[int, tuple[str, str, dict[str, Any]]]) -> tuple[str, int, int | None]:
        number, (member, kind, body) = item
        response = client.call(
            member, "POST", "/claims", json=body, headers={"Idempotency-Key": f"demo-{number}"}
        )
        claim_id = response.json().get("id") if response.status_code == 202 else None
        return kind, response.status_code, claim_id

    with ThreadPoolExecutor(max_workers=8) as pool:
        for kind, status, claim_id in pool.map(submit, enumerate(claim_mix(enrolments, count))):
            answers[f"{kind} → {status}"] += 1
            if claim_id is not None:
                accepted.add(claim_id)
    submitted_in = time.monotonic() - started
    console.print(f"submitted {count} requests in {submitted_in:.1f}s: {len(accepted)} accepted")

    reviewed = Counter[str]()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        bar = progress.add_task("claims settling", total=len(accepted))
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            stack.check_alive()
            reviewed += review_round(client)
            statuses = count_by_status(database_url)
            moving = statuses["DRAFT"] + statuses["SUBMITTED"] + owed_steps(database_url)
            progress.update(bar, completed=len(accepted) - moving)
            if (
                moving == 0
                and not review_queue(client)
                and statuses["ADDITIONAL_INFO_REQUIRED"] == 0
            ):
                break
            time.sleep(0.3)
    elapsed = time.monotonic() - started
    return report(client, database_url, accepted, answers, reviewed, elapsed, flower)


def review_queue(client: Client) -> list[dict[str, Any]]:
    return list(client.call(REVIEWER, "GET", "/review-queue", params={"size": 100}).json()["items"])


def wait_for_actions(client: Client, who: str, paths: list[str]) -> Counter[str]:
    """Poll each queued action until a worker applied or refused it (or 30 s passed)."""
    outcomes: Counter[str] = Counter()
    deadline = time.monotonic() + 30
    waiting = list(paths)
    while waiting and time.monotonic() < deadline:
        still = []
        for path in waiting:
            action = client.call(who, "GET", path).json()
            if action.get("status") == "queued":
                still.append(path)
            else:
                outcomes[f"{action.get('event')} {action.get('status')}"] += 1
        waiting = still
        if waiting:
            time.sleep(0.1)
    outcomes["still queued"] += len(waiting)
    return outcomes


def review_round(client: Client) -> Counter[str]:
    """The reviewer works the queue; members answer requests for information. Each decision
    and answer is a queued action: the round waits until the workers applied them."""
    done: Counter[str] = Counter()
    queued: dict[str, list[str]] = {}
    for position, claim in enumerate(review_queue(client)):
        claimed = Decimal(claim["amount"])
        if position % 5 == 4:
            decision = {
                "decision": "reject",
                "reasonCode": "NOT_MEDICALLY_NECESSARY",
                "note": "Reviewed by the demo",
            }
        elif position % 5 == 3:
            decision = {"decision": "request_info", "reasonCode": "INSUFFICIENT_DOCUMENTATION"}
        else:
            approved = (claimed * Decimal("0.8")).quantize(Decimal("0.01"))
            decision = {
                "decision": "approve",
                "reasonCode": "REVIEWER_DECISION",
                "approvedAmount": str(approved),
            }
        pending = claim.get("pendingApproval") or {}
        who = SECOND_REVIEWER if pending.get("reviewerId") == REVIEWER else REVIEWER
        # Only the reviewer holding a claim decides it: take it first (a decision frees it).
        client.call(who, "POST", f"/claims/{claim['id']}/assignment")
        response = client.call(who, "POST", f"/claims/{claim['id']}/decision", json=decision)
        done[f"{decision['decision']} → {response.status_code}"] += 1
        if response.status_code == 202:
            queued.setdefault(who, []).append(response.json()["links"]["self"])
    for member in MEMBERS:
        waiting = client.call(
            member, "GET", "/claims", params={"status": "ADDITIONAL_INFO_REQUIRED", "size": 100}
        ).json()
        for claim in waiting["items"]:
            response = client.call(
                member,
                "POST",
                f"/claims/{claim['id']}/additional-info",
                json={
                    "note": "Receipt attached",
                    "documents": [
                        {
                            "type": "RECEIPT",
                            "fileName": "receipt.png",
                            "mimeType": "image/png",
                            "sizeBytes": 120_000,
                        }
                    ],
                },
            )
            done[f"provide_info → {response.status_code}"] += 1
            if response.status_code == 202:
                queued.setdefault(member, []).append(response.json()["links"]["self"])
    for who, paths in queued.items():
        done += wait_for_actions(client, who, paths)
    return done


def report(
    client: Client,
    database_url: str,
    accepted: set[int],
    answers: Counter[str],
    reviewed: Counter[str],
    elapsed: float,
    flower: Flower,
) -> int:
    statuses = count_by_status(database_url)
    table = Table(title="Claims per status")
    table.add_column("status")
    table.add_column("claims", justify="right")
    for status, number in sorted(statuses.items()):
        table.add_row(status, str(number))
    table.add_row("[bold]total", f"[bold]{sum(statuses.values())}")
    console.print(table)

    answers_table = Table(title="HTTP answers to the submissions")
    answers_table.add_column("kind → status")
    answers_table.add_column("count", justify="right")
    for key, number in sorted(answers.items()):
        answers_table.add_row(key, str(number))
    for key, number in sorted(reviewed.items()):
        answers_table.add_row(f"review: {key}", str(number))
    console.print(answers_table)

    settled = sum(statuses.values()) - statuses["SUBMITTED"] - statuses["DRAFT"]
    console.print(
        f"throughput: {len(accepted)} claims settled in {elapsed:.1f}s "
        f"({len(accepted) / elapsed:.0f} claims/s end to end, reviews included)"
    )
    show_audit_trail(client, database_url)
    show_metrics(client)
    console.print(
        f"Flower: http://127.0.0.1:{flower.port} (basic auth from FLOWER_BASIC_AUTH) "
        f"saw {flower.task_count()} tasks; it stops with the demo"
    )

    lost = len(accepted) - sum(statuses.values())
    stuck = statuses["DRAFT"] + statuses["SUBMITTED"] + owed_steps(database_url)
    if lost or stuck or settled != len(accepted):
        console.print(f"[red]FAILED: {lost} lost, {stuck} stuck")
        return 1
    console.print("[green]every accepted claim was stored and settled; none lost, none stuck")
    return 0


class Flower:
    """Flower's HTTP API, with the credentials of the settings."""

    def __init__(self, port: int, settings: Settings) -> None:
        self.port = port
        user, _, password = settings.flower_basic_auth.get_secret_value().partition(":")
        self.auth = (user, password)

    def task_count(self) -> int | str:
        try:
            answer = httpx.get(f"http://127.0.0.1:{self.port}/api/tasks", auth=self.auth, timeout=5)
        except httpx.HTTPError:
            return "no answer"
        if answer.status_code != 200:
            return f"no answer ({answer.status_code})"
        try:
            return len(answer.json())
        except ValueError:
            return "no answer"


def show_metrics(client: Client) -> None:
    text = client.call("admin", "GET", "/metrics").text
    wanted = (
        "plan_claim_outcomes_total",
        "plan_task_duration_seconds_count",
        "plan_outbox_backlog",
    )
    lines = [line for line in text.splitlines() if line.startswith(wanted)]
    console.print("metrics (GET /metrics): " + "; ".join(lines[:8]))


def show_audit_trail(client: Client, database_url: str) -> None:
    """The full trail of the demo claim that travelled furthest."""
    conninfo = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "SELECT h.claim_id FROM plan.claim_status_history h "
            "JOIN plan.claims c ON c.id = h.claim_id "
            "WHERE c.idempotency_key LIKE 'demo-%%' AND c.status = 'APPROVED' "
            "GROUP BY h.claim_id ORDER BY count(*) DESC, h.claim_id LIMIT 1"
        ).fetchone()
    if row is None:
        return
    claim = client.call("admin", "GET", f"/claims/{row[0]}").json()
    console.rule(f"Claim {claim['id']}: audit trail")
    console.print(
        f"claimed {claim['amount']} {claim['currency']}, approved "
        f"{claim.get('approvedAmount')}, member pays {claim.get('memberResponsibility')}"
    )
    breakdown = (claim.get("adjudication") or {}).get("breakdown") or {}
    if breakdown:
        console.print("breakdown: " + ", ".join(f"{k} {v}" for k, v in breakdown.items()))
    trail = Table()
    for column in ("at", "event", "from", "to", "actor", "reason"):
        trail.add_column(column)
    for row in claim["history"]:
        trail.add_row(
            row["occurredAt"][11:23],
            row["event"],
            row["fromStatus"],
            row["toStatus"],
            f"{row['actorRole']}:{row['actorId']}",
            row.get("reasonCode") or "",
        )
    console.print(trail)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--claims", type=int, default=300, help="submissions to send")
    args = parser.parse_args()
    raise SystemExit(run(args.claims))


if __name__ == "__main__":
    main()
