"""The baseline: the same lifecycle done the plain way most Celery services do it.

One task per claim per transition, each in its own transaction through the ORM: load the claim
``FOR UPDATE``, fire the one state machine, add one history row and one outbox event row,
commit, then ``.delay()`` the next step. Submission is a task per claim that creates the claim
in DRAFT and fires ``submit``; ``start_review`` follows; ``decide`` loads the adjudication facts
for its one claim, calls ``models.adjudication.adjudicate`` and approves with the computed
amounts. No relay runs: the outbox rows are written (the same database work as the pipeline's)
but the next step is published directly, as such services do.

Run by the bench as ``celery -A bench.baseline worker`` with its own database and Redis index.
Celery's defaults apply (early acknowledgement, prefetch multiplier 4), JSON only.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from celery import Celery
from celery.signals import worker_process_init
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from config import get_settings
from models import adjudication as rules
from models.commands import SYSTEM, Actor
from models.enums import ActorRole, ClaimEvent, ClaimStatus, DocumentType, ProcedureType
from models.lifecycle import domain_event_name, fire
from models.money import money_text
from models.submission import QueuedClaim
from models.tables import (
    Claim,
    ClaimStatusHistory,
    Coverage,
    CoverageUsage,
    Document,
    MemberPlan,
    MemberYearTotals,
    OutboxMessage,
    Plan,
)
from service.facts import coverage_facts
from storage.engine import dispose_after_fork, get_session_factory

SUBMIT_TASK = "baseline.submit"
QUEUE = "baseline"

app = Celery("baseline", set_as_current=False)
app.conf.update(
    broker_url=get_settings().broker_url.get_secret_value(),
    broker_connection_retry_on_startup=True,
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    result_backend=None,
    task_default_queue=QUEUE,
    worker_hijack_root_logger=False,
    timezone="UTC",
    enable_utc=True,
)

_DECISION_EVENTS = {
    rules.Decision.APPROVE: ClaimEvent.APPROVE,
    rules.Decision.REJECT: ClaimEvent.REJECT,
    rules.Decision.REQUEST_INFO: ClaimEvent.REQUEST_INFO,
}


@worker_process_init.connect
def _fresh_pool_in_child(**_: Any) -> None:
    dispose_after_fork()


def _session() -> Session:
    return get_session_factory()()


def _money(amount: Decimal | None) -> str | None:
    return None if amount is None else money_text(amount)


def _transition(
    session: Session,
    claim: Claim,
    event: ClaimEvent,
    *,
    actor: Actor,
    now: datetime,
    reason_code: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Fire ``event`` on the claim and write its history row and its outbox event."""
    before = fire(claim, event)
    after = claim.status
    event_id = uuid.uuid4()
    claim.version += 1
    if reason_code is not None:
        claim.decision_reason_code = reason_code
    if after.is_terminal:
        claim.decided_at = now
    session.add(
        ClaimStatusHistory(
            claim_id=claim.id,
            event_id=event_id,
            event=event,
            from_status=before,
            to_status=after,
            actor_id=actor.id,
            actor_role=actor.role,
            reason_code=reason_code,
            details=details,
            occurred_at=now,
        )
    )
    name = domain_event_name(event, after)
    session.add(
        OutboxMessage(
            kind="event",
            name=name,
            destination=name,
            claim_id=claim.id,
            payload={
                "items": [
                    {
                        "eventId": str(event_id),
                        "type": name,
                        "claimId": claim.id,
                        "userId": claim.user_id,
                        "planId": claim.plan_id,
                        "previousStatus": before.value,
                        "newStatus": after.value,
                        "claimedAmount": _money(claim.claimed_amount),
                        "approvedAmount": _money(claim.approved_amount),
                        "currency": claim.currency,
                        "reasonCode": reason_code,
                        "occurredAt": now.isoformat(),
                    }
                ]
            },
        )
    )


def _locked(session: Session, claim_id: int) -> Claim:
    return session.execute(
        sa.select(Claim).where(Claim.id == claim_id).with_for_update()
    ).scalar_one()


@app.task(name=SUBMIT_TASK)
def submit(claim: dict[str, Any]) -> int:
    settings = get_settings()
    queued = QueuedClaim.model_validate(
        claim, context={"filing_window_days": settings.filing_window_days}
    )
    now = datetime.now(UTC)
    with _session() as session, session.begin():
        enrolment = session.execute(
            sa.select(MemberPlan).where(
                MemberPlan.id == queued.member_plan_id, MemberPlan.user_id == queued.user_id
            )
        ).scalar_one()
        row = Claim(
            member_plan_id=enrolment.id,
            plan_id=enrolment.plan_id,
            user_id=queued.user_id,
            procedure_type=queued.procedure_type,
            procedure_code=queued.procedure_code,
            diagnosis_code=queued.diagnosis_code,
            provider_name=queued.provider_name,
            service_date=queued.service_date,
            claimed_amount=queued.amount,
            currency=queued.currency,
            notes=queued.notes,
            status=ClaimStatus.DRAFT,
            version=1,
            idempotency_key=queued.idempotency_key,
        )
        session.add(row)
        session.flush()
        for document in queued.documents:
            session.add(
                Document(
                    claim_id=row.id,
                    type=document.type,
                    file_name=document.file_name,
                    mime_type=document.mime_type,
                    size_bytes=document.size_bytes,
                    sha256=document.sha256,
                    storage_key=document.storage_key,
                )
            )
        row.submitted_at = now
        _transition(
            session,
            row,
            ClaimEvent.SUBMIT,
            actor=Actor(id=queued.user_id, role=ActorRole.MEMBER),
            now=now,
        )
        claim_id = row.id
    start_review.delay(claim_id)
    return claim_id


@app.task(name="baseline.start_review")
def start_review(claim_id: int) -> None:
    with _session() as session, session.begin():
        claim = _locked(session, claim_id)
        _transition(session, claim, ClaimEvent.START_REVIEW, actor=SYSTEM, now=datetime.now(UTC))
    decide.delay(claim_id)


@app.task(name="baseline.decide")
def decide(claim_id: int) -> None:
    settings = get_settings()
    with _session() as session, session.begin():
        claim = _locked(session, claim_id)
        now = datetime.now(UTC)
        facts, totals, usage = _facts(session, claim)
        enrolment = session.get_one(MemberPlan, claim.member_plan_id)
        plan = session.get_one(Plan, claim.plan_id)
        coverages = [
            coverage_facts(c)
            for c in session.scalars(sa.select(Coverage).where(Coverage.plan_id == claim.plan_id))
        ]
        ytd = rules.YearToDate(
            totals.deductible_paid,
            totals.out_of_pocket_paid,
            {u.coverage_id: u.limit_used for u in usage},
        )
        result = rules.adjudicate(
            facts,
            rules.EnrolmentFacts(enrolment.start_date, enrolment.end_date, enrolment.status),
            rules.PlanFacts(plan.annual_deductible, plan.out_of_pocket_max),
            coverages,
            ytd,
            auto_approval_threshold=settings.auto_approval_threshold,
        )
        decision = result.as_json()
        claim.adjudication = decision
        event = _DECISION_EVENTS.get(result.decision)
        if event is None:
            return
        if event is ClaimEvent.APPROVE and result.breakdown is not None:
            breakdown = result.breakdown
            claim.approved_amount = breakdown.benefit
            claim.member_responsibility = breakdown.member_responsibility
            _spend(session, claim, totals, usage, ytd, breakdown, result.coverage_id)
        _transition(
            session,
            claim,
            event,
            actor=SYSTEM,
            now=now,
            reason_code=result.reason_codes[0].value,
            details=decision,
        )


def _facts(
    session: Session, claim: Claim
) -> tuple[rules.ClaimFacts, MemberYearTotals, list[CoverageUsage]]:
    documents = frozenset(
        DocumentType(t)
        for t in session.scalars(sa.select(Document.type).where(Document.claim_id == claim.id))
    )
    duplicate = session.scalar(
        sa.select(sa.func.count())
        .select_from(Claim)
        .where(
            Claim.user_id == claim.user_id,
            Claim.service_date == claim.service_date,
            Claim.procedure_code == claim.procedure_code,
            sa.func.lower(Claim.provider_name) == sa.func.lower(claim.provider_name),
            Claim.id < claim.id,
            Claim.status.not_in([ClaimStatus.REJECTED, ClaimStatus.CANCELLED, ClaimStatus.EXPIRED]),
        )
    )
    year = claim.service_date.year
    session.execute(
        pg_insert(MemberYearTotals)
        .values(member_plan_id=claim.member_plan_id, year=year)
        .on_conflict_do_nothing()
    )
    totals = session.execute(
        sa.select(MemberYearTotals)
        .where(
            MemberYearTotals.member_plan_id == claim.member_plan_id, MemberYearTotals.year == year
        )
        .with_for_update()
    ).scalar_one()
    usage = list(
        session.scalars(
            sa.select(CoverageUsage).where(
                CoverageUsage.member_plan_id == claim.member_plan_id, CoverageUsage.year == year
            )
        )
    )
    facts = rules.ClaimFacts(
        procedure_type=ProcedureType(claim.procedure_type),
        procedure_code=claim.procedure_code,
        service_date=claim.service_date,
        claimed_amount=claim.claimed_amount,
        document_types=documents,
        is_duplicate=bool(duplicate),
    )
    return facts, totals, usage


def _spend(
    session: Session,
    claim: Claim,
    totals: MemberYearTotals,
    usage: list[CoverageUsage],
    ytd: rules.YearToDate,
    breakdown: rules.BenefitBreakdown,
    coverage_id: int | None,
) -> None:
    if coverage_id is None:
        return
    after = rules.year_to_date_after(ytd, breakdown, coverage_id)
    totals.deductible_paid = after.deductible_paid
    totals.out_of_pocket_paid = after.out_of_pocket_paid
    used = next((u for u in usage if u.coverage_id == coverage_id), None)
    if used is None:
        session.add(
            CoverageUsage(
                member_plan_id=claim.member_plan_id,
                coverage_id=coverage_id,
                year=claim.service_date.year,
                limit_used=after.limit_used[coverage_id],
            )
        )
    else:
        used.limit_used = after.limit_used[coverage_id]
