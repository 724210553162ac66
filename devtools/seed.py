"""Seed data for development and tests (DOMAIN.md section 6): ``python -m devtools.seed``.

The catalogue and the enrolments are inserted ``ON CONFLICT DO NOTHING`` on their natural
keys. Sample claims go through the claim service as real ones do, each step back-dated to its
time: filed with their submit action queued, people's requests checked and recorded as actions,
the worker applying actions and owed steps, the scheduler's expiry. The service writes their
rows, actions, history, events and year-to-date spend: sample data obeys the rules real data does.

Re-runnable: each sample claim carries its idempotency key, so a claim that exists already is
left alone, and a second run writes nothing at all. Sample claims are dated relative to
``today`` so that they stay inside the filing window of the day they were seeded.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from config import Settings, get_settings
from devtools.seed_data import (
    CLAIMS,
    CURRENCY,
    ENROLMENTS,
    PLANS,
    SEED_EFFECTIVE_FROM,
    SEED_REVIEWER,
    Act,
    ClaimSpec,
    DocumentSpec,
    Expiry,
    Step,
    Work,
)
from models.base import table_of
from models.commands import Actor, ClaimCommand, DocumentRef, automatic_event_id
from models.enums import ActionStatus, ActorRole, ClaimEvent, ClaimStatus, MemberPlanStatus
from models.errors import PlanError
from models.names import DerivedEvent
from models.names import Step as OwedStep
from models.submission import ClaimSubmission, DocumentIn
from models.tables import (
    Benefit,
    Claim,
    ClaimAction,
    ClaimStatusHistory,
    Coverage,
    CoverageUsage,
    Document,
    MemberPlan,
    MemberYearTotals,
    OutboxMessage,
    Plan,
)
from service.actions import apply_actions, apply_commands, record_action
from service.approvals import is_reviewer_decision
from service.assignments import take_claim
from service.changes import AutomaticStep, ClaimState, Outcome, lock_claims
from service.steps import advance_claims
from service.submissions import SubmissionRequest, submit_claims
from storage.unit_of_work import PlanJourneyContext

__all__ = ["SeedError", "SeedReport", "main", "seed"]

# Event ids of the people's actions on sample claims: derived from the claim's key and the
# step's place, so that the same sample always carries the same ids.
SEED_NAMESPACE = uuid.UUID("fb93fe2b-b2a0-4997-8757-163194d930db")
_MEMBER_EVENTS = frozenset({ClaimEvent.SUBMIT, ClaimEvent.PROVIDE_INFO, ClaimEvent.CANCEL})

TABLES = (
    "plans",
    "coverages",
    "benefits",
    "member_plans",
    "claims",
    "documents",
    "claim_status_history",
    "claim_actions",
    "outbox",
    "member_year_totals",
    "coverage_usage",
)


class SeedError(RuntimeError):
    """A sample claim did not go the way its spec says: the rules or the settings changed."""


@dataclass(frozen=True, slots=True)
class SeedReport:
    """Rows this run inserted and seed rows present afterwards, per table."""

    inserted: dict[str, int]
    present: dict[str, int]
    claims_by_status: dict[ClaimStatus, int]

    def summary(self) -> str:
        lines = ["table                  inserted  present"]
        lines.extend(
            f"{table:<22} {self.inserted.get(table, 0):>8} {self.present.get(table, 0):>8}"
            for table in TABLES
        )
        lines.append("seed claims by status:")
        lines.extend(
            f"  {status.value:<26} {self.claims_by_status.get(status, 0)}" for status in ClaimStatus
        )
        return "\n".join(lines)


def seed(
    ctx: PlanJourneyContext, *, today: date | None = None, settings: Settings | None = None
) -> SeedReport:
    """Write the seed catalogue, enrolments and sample claims. The caller commits."""
    settings = settings or get_settings()
    now = datetime.now(UTC)
    today = today or now.date()
    before = _present(ctx)

    plan_ids = _seed_plans(ctx)
    _seed_coverages(ctx, plan_ids)
    _seed_benefits(ctx, plan_ids)
    enrolments = _seed_enrolments(ctx, plan_ids)
    stored = _stored_sample_keys(ctx)
    for spec in CLAIMS:
        if spec.key not in stored:
            _SampleClaim(ctx, settings, spec, enrolments[spec.member_number], today, now).play()

    present = _present(ctx)
    return SeedReport(
        inserted={table: present[table] - before[table] for table in TABLES},
        present=present,
        claims_by_status=_claims_by_status(ctx),
    )


# --------------------------------------------------------------------------- catalogue


def _insert_new(
    ctx: PlanJourneyContext, table: sa.Table, rows: Sequence[dict[str, Any]], conflict: list[str]
) -> None:
    if rows:
        ctx.execute(pg_insert(table).values(list(rows)).on_conflict_do_nothing(index_elements=conflict))


def _seed_plans(ctx: PlanJourneyContext) -> dict[str, int]:
    rows = [
        {
            "code": plan.code,
            "name": plan.name,
            "description": plan.description,
            "type": plan.type,
            "tier": plan.tier,
            "monthly_premium": plan.monthly_premium,
            "currency": CURRENCY,
            "annual_deductible": plan.annual_deductible,
            "out_of_pocket_max": plan.out_of_pocket_max,
            "coinsurance_percent": plan.coinsurance_percent,
            "effective_from": SEED_EFFECTIVE_FROM,
            "effective_to": None,
            "active": True,
        }
        for plan in PLANS
    ]
    _insert_new(ctx, table_of(Plan), rows, ["code"])
    codes = [plan.code for plan in PLANS]
    stored = ctx.execute(sa.select(Plan.code, Plan.id).where(Plan.code.in_(codes)))
    return {row.code: row.id for row in stored}


def _seed_coverages(ctx: PlanJourneyContext, plan_ids: dict[str, int]) -> None:
    rows = [
        {
            "plan_id": plan_ids[plan.code],
            "procedure_type": coverage.procedure_type,
            "procedure_code": None,
            "coverage_percent": coverage.coverage_percent,
            "copay": coverage.copay,
            "deductible_applies": coverage.deductible_applies,
            "annual_limit": coverage.annual_limit,
            "waiting_period_days": coverage.waiting_period_days,
            "preauthorization_required": coverage.preauthorization_required,
            "effective_from": SEED_EFFECTIVE_FROM,
            "effective_to": None,
            "active": True,
        }
        for plan in PLANS
        for coverage in plan.coverages
    ]
    # The unique constraint is NULLS NOT DISTINCT, so a type-wide row (code NULL) conflicts too.
    _insert_new(ctx, table_of(Coverage), rows, ["plan_id", "procedure_type", "procedure_code"])


def _seed_benefits(ctx: PlanJourneyContext, plan_ids: dict[str, int]) -> None:
    rows = [
        {
            "plan_id": plan_ids[plan.code],
            "category": benefit.category,
            "code": benefit.code,
            "name": benefit.name,
            "description": benefit.description,
            "limitations": benefit.limitations,
            "coverage_percent": benefit.coverage_percent,
            "discount_percent": benefit.discount_percent,
            "annual_limit": benefit.annual_limit,
            "active": True,
        }
        for plan in PLANS
        for benefit in plan.benefits
    ]
    _insert_new(ctx, table_of(Benefit), rows, ["plan_id", "code"])


def _seed_enrolments(ctx: PlanJourneyContext, plan_ids: dict[str, int]) -> dict[str, MemberPlan]:
    rows = [
        {
            "user_id": enrolment.user_id,
            "plan_id": plan_ids[enrolment.plan_code],
            "member_number": enrolment.member_number,
            "start_date": SEED_EFFECTIVE_FROM,
            "end_date": None,
            "status": MemberPlanStatus.ACTIVE,
        }
        for enrolment in ENROLMENTS
    ]
    _insert_new(ctx, table_of(MemberPlan), rows, ["member_number"])
    numbers = [enrolment.member_number for enrolment in ENROLMENTS]
    return {
        row.member_number: row
        for row in ctx.session.scalars(
            sa.select(MemberPlan).where(MemberPlan.member_number.in_(numbers))
        )
    }


# --------------------------------------------------------------------------- sample claims


def _sample_claims() -> sa.Select[Any]:
    """The ids of the sample claims: a seed user's claim under a sample key."""
    return sa.select(Claim.id).where(
        Claim.user_id.in_(sorted({enrolment.user_id for enrolment in ENROLMENTS})),
        Claim.idempotency_key.in_([spec.key for spec in CLAIMS]),
    )


def _stored_sample_keys(ctx: PlanJourneyContext) -> set[str]:
    ids = _sample_claims().scalar_subquery()
    return set(ctx.session.scalars(sa.select(Claim.idempotency_key).where(Claim.id.in_(ids))))


class _SampleClaim:
    """Plays one sample claim through the claim service, each step at its own time."""

    def __init__(
        self,
        ctx: PlanJourneyContext,
        settings: Settings,
        spec: ClaimSpec,
        enrolment: MemberPlan,
        today: date,
        now: datetime,
    ) -> None:
        self.ctx = ctx
        self.settings = settings
        self.spec = spec
        self.enrolment = enrolment
        self.service_date = today - timedelta(days=spec.service_days_ago)
        self.filed_at = datetime.combine(self.service_date, time(), UTC) + spec.filed_after_service
        self.now = now
        self.claim_id = 0

    def play(self) -> None:
        if not self._file():
            return  # a concurrent run stored it first
        for number, step in enumerate(self.spec.steps, start=1):
            self._take(number, step)
        status = self._state().status
        if status is not self.spec.status:
            raise self._error(f"ends {status.value}, not {self.spec.status.value}")

    def _file(self) -> bool:
        context = {
            "today": self.filed_at.date(),
            "filing_window_days": self.settings.filing_window_days,
        }
        claim = ClaimSubmission.model_validate(
            {
                "member_plan_id": self.enrolment.id,
                "procedure_type": self.spec.procedure_type,
                "procedure_code": self.spec.procedure_code,
                "diagnosis_code": self.spec.diagnosis_code,
                "provider_name": self.spec.provider_name,
                "service_date": self.service_date,
                "amount": self.spec.claimed_amount,
                "currency": CURRENCY,
                "notes": self.spec.notes,
                "documents": [self._document(document) for document in self.spec.documents],
                "draft": self.spec.draft,
            },
            context=context,
        )
        request = SubmissionRequest(self.enrolment.user_id, claim, self.spec.key)
        [result] = submit_claims(
            self.ctx, [request], self.settings, now=self._at(self.filed_at)
        )
        if result.error is not None or result.claim_id is None:
            raise self._error(f"not filed: {result.error}")
        self.claim_id = result.claim_id
        return not result.replayed

    def _take(self, number: int, step: Step) -> None:
        if isinstance(step, Act):
            self._ask(number, step)
            return
        outcomes = self._work(step) if isinstance(step, Work) else self._expire(step)
        for outcome in outcomes:
            if outcome.status != "applied":
                raise self._error(f"step {number} {outcome.status}: {outcome.error}")

    def _ask(self, number: int, act: Act) -> None:
        """What the API does with a person's request: check it and record it, queued."""
        at = self._at(self.filed_at + act.after_filing)
        command = self._command(number, act)
        try:
            if is_reviewer_decision(command):
                # As in the console: only the reviewer holding the claim decides it.
                take_claim(
                    self.ctx,
                    claim_id=self.claim_id,
                    actor=command.actor,
                    settings=self.settings,
                    now=at,
                )
            record_action(self.ctx, command, self.settings, now=at)
        except PlanError as refusal:
            raise self._error(f"step {number} refused: {refusal}") from refusal

    def _work(self, work: Work) -> list[Outcome]:
        """What the worker does next: the claim's queued actions, else its owed step."""
        at = self._at(self.filed_at + work.after_filing)
        queued = list(
            self.ctx.session.scalars(
                sa.select(ClaimAction.id).where(
                    ClaimAction.claim_id == self.claim_id,
                    ClaimAction.status == ActionStatus.QUEUED,
                )
            )
        )
        if queued:
            return apply_actions(self.ctx, queued, self.settings, now=at)
        return advance_claims(self.ctx, [self._owed_step()], self.settings, now=at)

    def _command(self, number: int, act: Act) -> ClaimCommand:
        actor = (
            Actor(id=self.enrolment.user_id, role=ActorRole.MEMBER)
            if act.event in _MEMBER_EVENTS
            else SEED_REVIEWER
        )
        return ClaimCommand(
            claim_id=self.claim_id,
            event=act.event,
            event_id=uuid.uuid5(SEED_NAMESPACE, f"seed:{self.spec.key}:{number}"),
            actor=actor,
            reason_code=act.reason,
            note=act.note,
            documents=tuple(
                DocumentRef(**DocumentIn.model_validate(self._document(d)).model_dump(mode="json"))
                for d in act.documents
            ),
        )

    def _owed_step(self) -> AutomaticStep:
        claim = self._state()
        if claim.next_step is None:
            raise self._error(f"owes no automatic step in {claim.status.value}")
        step = OwedStep(claim.next_step)
        return AutomaticStep(claim.id, step, automatic_event_id(claim.id, step, claim.version))

    def _expire(self, expiry: Expiry) -> list[Outcome]:
        """What the scheduler's expiry does once the deadline has passed (steps.py)."""
        claim = self._state()
        if claim.info_due_at is None:
            raise self._error(f"has no information deadline in {claim.status.value}")
        command = ClaimCommand(
            claim_id=claim.id,
            event=ClaimEvent.EXPIRE,
            event_id=automatic_event_id(claim.id, DerivedEvent.EXPIRE, claim.version),
        )
        at = self._at(claim.info_due_at + expiry.after_deadline)
        return apply_commands(self.ctx, [command], self.settings, now=at)

    def _state(self) -> ClaimState:
        return lock_claims(self.ctx, [self.claim_id])[self.claim_id]

    def _document(self, document: DocumentSpec) -> dict[str, Any]:
        path = f"seed/claims/{self.spec.key}/{document.file_name}"
        return {
            "type": document.type,
            "file_name": document.file_name,
            "mime_type": document.mime_type,
            "size_bytes": document.size_bytes,
            "sha256": hashlib.sha256(path.encode()).hexdigest(),
            "storage_key": path,
        }

    def _at(self, moment: datetime) -> datetime:
        if moment > self.now:
            raise self._error(f"a step falls in the future ({moment.isoformat()})")
        return moment

    def _error(self, problem: str) -> SeedError:
        return SeedError(f"sample claim {self.spec.key} {problem}")


# --------------------------------------------------------------------------- report


def _present(ctx: PlanJourneyContext) -> dict[str, int]:
    """Seed rows per table, found by their natural keys."""
    plans = sa.select(Plan.id).where(Plan.code.in_([plan.code for plan in PLANS]))
    numbers = [enrolment.member_number for enrolment in ENROLMENTS]
    enrolments = sa.select(MemberPlan.id).where(MemberPlan.member_number.in_(numbers))
    claims = _sample_claims()

    def count(model: type[Any], column: Any, ids: sa.Select[Any]) -> int:
        statement = sa.select(sa.func.count()).select_from(model).where(column.in_(ids))
        return ctx.session.scalar(statement) or 0

    return {
        "plans": count(Plan, Plan.id, plans),
        "coverages": count(Coverage, Coverage.plan_id, plans),
        "benefits": count(Benefit, Benefit.plan_id, plans),
        "member_plans": count(MemberPlan, MemberPlan.id, enrolments),
        "claims": count(Claim, Claim.id, claims),
        "documents": count(Document, Document.claim_id, claims),
        "claim_status_history": count(ClaimStatusHistory, ClaimStatusHistory.claim_id, claims),
        "claim_actions": count(ClaimAction, ClaimAction.claim_id, claims),
        "outbox": count(OutboxMessage, OutboxMessage.claim_id, claims),
        "member_year_totals": count(
            MemberYearTotals, MemberYearTotals.member_plan_id, enrolments
        ),
        "coverage_usage": count(CoverageUsage, CoverageUsage.member_plan_id, enrolments),
    }


def _claims_by_status(ctx: PlanJourneyContext) -> dict[ClaimStatus, int]:
    rows = ctx.execute(
        sa.select(Claim.status, sa.func.count().label("claims"))
        .where(Claim.id.in_(_sample_claims().scalar_subquery()))
        .group_by(Claim.status)
    )
    return {ClaimStatus(row.status): row.claims for row in rows}


def main() -> None:
    with PlanJourneyContext() as ctx:
        report = seed(ctx)
        ctx.commit()
    print(report.summary())


if __name__ == "__main__":
    main()
