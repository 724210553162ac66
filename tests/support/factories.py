"""Test data owned by the test that makes it: a plan with coverage, enrolled members, claims."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from config import get_settings
from models.commands import Actor, ClaimCommand
from models.enums import (
    ActorRole,
    ClaimEvent,
    ClaimStatus,
    DocumentType,
    MemberPlanStatus,
    PlanTier,
    PlanType,
    ProcedureType,
)
from models.submission import ClaimSubmission
from models.tables import Coverage, MemberPlan, Plan
from service.actions import apply_commands
from service.submissions import SubmissionRequest, submit_claims
from storage.unit_of_work import PlanJourneyContext

TODAY = date.today()


@dataclass(frozen=True)
class World:
    plan_id: int
    members: dict[str, int]  # user id -> member plan id
    coverage_ids: dict[ProcedureType, int]


def make_world(
    *,
    users: tuple[str, ...] = ("member-1", "member-2"),
    deductible: Decimal = Decimal("0.00"),
    out_of_pocket_max: Decimal | None = Decimal("5000.00"),
    consultation_limit: Decimal | None = None,
    enrolment_start: date | None = None,
) -> World:
    code = f"T-{uuid.uuid4().hex[:8].upper()}"
    with PlanJourneyContext() as ctx:
        plan = Plan(
            code=code,
            name="Test plan",
            type=PlanType.HEALTH,
            tier=PlanTier.STANDARD,
            monthly_premium=Decimal("100.00"),
            currency="BRL",
            annual_deductible=deductible,
            out_of_pocket_max=out_of_pocket_max,
            coinsurance_percent=Decimal("20"),
            effective_from=date(2020, 1, 1),
        )
        ctx.session.add(plan)
        ctx.session.flush()
        coverages = {
            ProcedureType.CONSULTATION: Coverage(
                plan_id=plan.id,
                procedure_type=ProcedureType.CONSULTATION,
                coverage_percent=Decimal("80"),
                copay=Decimal("0.00"),
                deductible_applies=True,
                annual_limit=consultation_limit,
                waiting_period_days=0,
                preauthorization_required=False,
                effective_from=date(2020, 1, 1),
            ),
            ProcedureType.PREVENTIVE: Coverage(
                plan_id=plan.id,
                procedure_type=ProcedureType.PREVENTIVE,
                coverage_percent=Decimal("100"),
                copay=Decimal("0.00"),
                deductible_applies=False,
                waiting_period_days=0,
                preauthorization_required=False,
                effective_from=date(2020, 1, 1),
            ),
        }
        ctx.session.add_all(coverages.values())
        members = {}
        for user in users:
            enrolment = MemberPlan(
                user_id=user,
                plan_id=plan.id,
                member_number=f"M-{uuid.uuid4().hex[:10]}",
                start_date=enrolment_start or date(2020, 1, 1),
                status=MemberPlanStatus.ACTIVE,
            )
            ctx.session.add(enrolment)
            ctx.session.flush()
            members[user] = enrolment.id
        ctx.session.flush()
        world = World(plan.id, members, {kind: c.id for kind, c in coverages.items()})
        ctx.commit()
    return world


def claim_body(
    world: World,
    user: str,
    *,
    amount: str = "80.00",
    procedure_type: str = "CONSULTATION",
    receipt: bool = True,
    days_ago: int = 3,
    provider: str | None = None,
    draft: bool = False,
    **overrides: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "memberPlanId": world.members[user],
        "procedureType": procedure_type,
        "procedureCode": "C10101",
        "diagnosisCode": "J45.909",
        "providerName": provider or f"Clinic {uuid.uuid4().hex[:8]}",
        "serviceDate": (TODAY - timedelta(days=days_ago)).isoformat(),
        "amount": amount,
        "currency": "BRL",
        "documents": (
            [
                {
                    "type": DocumentType.RECEIPT.value,
                    "fileName": "receipt.pdf",
                    "mimeType": "application/pdf",
                    "sizeBytes": 2048,
                }
            ]
            if receipt
            else []
        ),
        "draft": draft,
    }
    body.update(overrides)
    return body


@dataclass(frozen=True)
class StoredClaim:
    claim_id: int
    status: ClaimStatus


def submit(world: World, user: str, **kwargs: Any) -> StoredClaim:
    """A claim stored and submitted in one transaction, owing its review (``start_review``).

    It is the state a submit action's transaction passes through, kept here so that tests can
    drive the automatic steps and commands one by one; ``draft=True`` stores a draft only.
    """
    key = kwargs.pop("idempotency_key", None)
    draft = kwargs.pop("draft", False)
    request = SubmissionRequest(
        user, ClaimSubmission.model_validate(claim_body(world, user, draft=True, **kwargs)), key
    )
    with PlanJourneyContext() as ctx:
        [result] = submit_claims(ctx, [request], get_settings())
        if result.error is not None:
            raise result.error
        assert result.claim_id is not None
        if not draft and not result.replayed:
            [outcome] = apply_commands(
                ctx,
                [
                    ClaimCommand(
                        claim_id=result.claim_id,
                        event=ClaimEvent.SUBMIT,
                        event_id=uuid.uuid4(),
                        actor=Actor(id=user, role=ActorRole.MEMBER),
                    )
                ],
                get_settings(),
            )
            assert outcome.status == "applied", outcome
            ctx.commit()
            return StoredClaim(result.claim_id, ClaimStatus.SUBMITTED)
        ctx.commit()
    assert result.status is not None
    return StoredClaim(result.claim_id, result.status)
