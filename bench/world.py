"""The data every phase starts from: one plan, its coverage, enrolled members, and claims that
pass submit, start_review and an automatic approval without a person.

Each claim is unique on (member, service date, procedure code, provider), so none trips the
live-duplicate index; amounts stay at or below the auto-approval threshold and every claim
carries a receipt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import psycopg

from models.enums import (
    DocumentType,
    MemberPlanStatus,
    PlanTier,
    PlanType,
    ProcedureType,
)

PROCEDURE_CODE = "C10101"
SERVICE_DAYS = 300  # service dates spread over the last 300 days, inside the filing window
ENROLMENT_START = date(2020, 1, 1)


@dataclass(frozen=True)
class World:
    plan_id: int
    coverage_id: int
    users: tuple[str, ...]
    member_plan_ids: tuple[int, ...]

    def member(self, seq: int) -> tuple[str, int]:
        position = seq % len(self.users)
        return self.users[position], self.member_plan_ids[position]


def build_world(conn: psycopg.Connection[Any], *, members: int) -> World:
    """Write the plan, its consultation coverage (80 %, no limit) and ``members`` enrolments."""
    plan = conn.execute(
        "INSERT INTO plan.plans (code, name, type, tier, monthly_premium, currency,"
        " annual_deductible, out_of_pocket_max, coinsurance_percent, effective_from)"
        " VALUES ('BENCH-001', 'Bench plan', %s, %s, 100.00, 'BRL', 0.00, 5000.00, 20, %s)"
        " RETURNING id",
        [PlanType.HEALTH.value, PlanTier.STANDARD.value, ENROLMENT_START],
    ).fetchone()
    assert plan is not None
    coverage = conn.execute(
        "INSERT INTO plan.coverages (plan_id, procedure_type, coverage_percent, copay,"
        " deductible_applies, waiting_period_days, preauthorization_required, effective_from)"
        " VALUES (%s, %s, 80, 0.00, true, 0, false, %s) RETURNING id",
        [plan[0], ProcedureType.CONSULTATION.value, ENROLMENT_START],
    ).fetchone()
    assert coverage is not None
    users = tuple(f"bench-member-{i:06d}" for i in range(members))
    rows = conn.execute(
        "INSERT INTO plan.member_plans (user_id, plan_id, member_number, start_date, status)"
        " SELECT u, %s, 'BM-' || lpad(n::text, 8, '0'), %s, %s"
        " FROM unnest(%s::text[]) WITH ORDINALITY AS m(u, n) ORDER BY n RETURNING id, user_id",
        [plan[0], ENROLMENT_START, MemberPlanStatus.ACTIVE.value, list(users)],
    ).fetchall()
    by_user = {str(user): int(member_plan_id) for member_plan_id, user in rows}
    return World(
        plan_id=int(plan[0]),
        coverage_id=int(coverage[0]),
        users=users,
        member_plan_ids=tuple(by_user[user] for user in users),
    )


def claimed_amount(seq: int) -> Decimal:
    """Between 20.00 and 100.00: at or below the default auto-approval threshold."""
    return Decimal(2000 + (seq * 37) % 8001) / 100


def service_date(seq: int, today: date) -> date:
    return today - timedelta(days=1 + seq % SERVICE_DAYS)


def submission(world: World, seq: int, *, tag: str, today: date) -> tuple[str, dict[str, Any]]:
    """A member's ``POST /claims`` body for claim number ``seq``: (user id, body)."""
    user, member_plan_id = world.member(seq)
    return user, {
        "memberPlanId": member_plan_id,
        "procedureType": ProcedureType.CONSULTATION.value,
        "procedureCode": PROCEDURE_CODE,
        "diagnosisCode": "J45.909",
        "providerName": f"Bench clinic {tag}-{seq}",
        "serviceDate": service_date(seq, today).isoformat(),
        "amount": f"{claimed_amount(seq):.2f}",
        "currency": "BRL",
        "documents": [
            {
                "type": DocumentType.RECEIPT.value,
                "fileName": "receipt.pdf",
                "mimeType": "application/pdf",
                "sizeBytes": 2048,
            }
        ],
    }


def queued_claim(world: World, seq: int, *, tag: str, today: date) -> dict[str, Any]:
    """The same claim as another service sends it on the ``ingest`` queue."""
    user, body = submission(world, seq, tag=tag, today=today)
    return {**body, "userId": user, "idempotencyKey": f"{tag}-{seq}"}
