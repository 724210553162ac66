"""Seed data for development and tests (DOMAIN.md section 6): ``python -m devtools.seed``.

Re-runnable: every row is inserted ``ON CONFLICT DO NOTHING`` on its natural key, and the rows
that hang off a sample claim (documents, history, year-to-date totals) are written only in the
run that inserted the claim, so a second run writes nothing at all. Catalogue and enrolment
dates are fixed; sample claims are dated relative to ``today`` so that they stay inside the
filing window of the day they were seeded.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from config import get_settings
from models import adjudication as rules
from models.commands import SYSTEM, Actor
from models.enums import (
    ActorRole,
    BenefitCategory,
    ClaimEvent,
    ClaimStatus,
    DocumentType,
    MemberPlanStatus,
    PlanTier,
    PlanType,
    ProcedureType,
    ReasonCode,
    VerificationStatus,
)
from models.lifecycle import fire
from models.tables import (
    Benefit,
    Claim,
    ClaimStatusHistory,
    Coverage,
    CoverageUsage,
    Document,
    MemberPlan,
    MemberYearTotals,
    Plan,
)
from service.facts import coverage_facts
from storage.unit_of_work import PlanJourneyContext

SEED_NAMESPACE = uuid.UUID("fb93fe2b-b2a0-4997-8757-163194d930db")
SEED_EFFECTIVE_FROM = date(2024, 1, 1)
SEED_REVIEWER = Actor(id="seed-reviewer-1", role=ActorRole.REVIEWER)
CURRENCY = "BRL"
# The service's default deadline for additional information (Settings.info_deadline_days).
INFO_DEADLINE = timedelta(days=30)

TABLES = (
    "plans",
    "coverages",
    "benefits",
    "member_plans",
    "claims",
    "documents",
    "claim_status_history",
    "member_year_totals",
    "coverage_usage",
)

_MEMBER_EVENTS = frozenset({ClaimEvent.SUBMIT, ClaimEvent.PROVIDE_INFO, ClaimEvent.CANCEL})
_SYSTEM_EVENTS = frozenset({ClaimEvent.START_REVIEW, ClaimEvent.EXPIRE})
_DECISIONS = frozenset({ClaimEvent.APPROVE, ClaimEvent.REJECT})
_DEFAULT_REASONS = {
    ClaimEvent.APPROVE: ReasonCode.REVIEWER_DECISION,
    ClaimEvent.REJECT: ReasonCode.REVIEWER_DECISION,
    ClaimEvent.REQUEST_INFO: ReasonCode.REVIEWER_DECISION,
    ClaimEvent.CANCEL: ReasonCode.MEMBER_WITHDREW,
    ClaimEvent.EXPIRE: ReasonCode.INFO_DEADLINE_PASSED,
}

P = ProcedureType
D = DocumentType


ZERO = Decimal("0.00")


def money(text: str) -> Decimal:
    return Decimal(text).quantize(Decimal("0.01"))


# --------------------------------------------------------------------------- catalogue


@dataclass(frozen=True, slots=True)
class CoverageSpec:
    procedure_type: ProcedureType
    coverage_percent: Decimal
    copay: Decimal = ZERO
    deductible_applies: bool = True
    annual_limit: Decimal | None = None
    waiting_period_days: int = 0
    preauthorization_required: bool = False


@dataclass(frozen=True, slots=True)
class BenefitSpec:
    category: BenefitCategory
    code: str
    name: str
    description: str
    limitations: str
    coverage_percent: Decimal | None = None
    discount_percent: Decimal | None = None
    annual_limit: Decimal | None = None


@dataclass(frozen=True, slots=True)
class PlanSpec:
    code: str
    name: str
    description: str
    type: PlanType
    tier: PlanTier
    monthly_premium: Decimal
    annual_deductible: Decimal
    out_of_pocket_max: Decimal | None
    coinsurance_percent: Decimal
    coverages: tuple[CoverageSpec, ...]
    benefits: tuple[BenefitSpec, ...]


def _health_coverages(coinsurance_percent: Decimal) -> tuple[CoverageSpec, ...]:
    plan_share = Decimal(100) - coinsurance_percent
    return (
        CoverageSpec(P.CONSULTATION, plan_share, copay=money("30")),
        CoverageSpec(P.DIAGNOSTIC, plan_share),
        CoverageSpec(P.LABORATORY, plan_share),
        CoverageSpec(P.IMAGING, plan_share, preauthorization_required=True),
        CoverageSpec(P.THERAPY, plan_share, waiting_period_days=30, annual_limit=money("3000")),
        CoverageSpec(
            P.SURGERY, plan_share, preauthorization_required=True, waiting_period_days=180
        ),
        CoverageSpec(P.MEDICATION, Decimal(60)),
        CoverageSpec(P.PREVENTIVE, Decimal(100), deductible_applies=False),
        CoverageSpec(P.EMERGENCY, Decimal(70), copay=money("150")),
    )


_TELEHEALTH = BenefitSpec(
    BenefitCategory.TELEHEALTH,
    "TELEHEALTH-24H",
    "Telemedicina 24 horas",
    "Video consultations with general practitioners, any time of day.",
    "General practice only; specialist referrals go through the regular network.",
    coverage_percent=Decimal(100),
)

PLANS: tuple[PlanSpec, ...] = (
    PlanSpec(
        code="SEED-HEALTH-001",
        name="Saúde Essencial Standard",
        description="Standard health plan: consultations, exams, therapy, surgery and emergencies "
        "in the national network.",
        type=PlanType.HEALTH,
        tier=PlanTier.STANDARD,
        monthly_premium=money("489.90"),
        annual_deductible=money("500"),
        out_of_pocket_max=money("5000"),
        coinsurance_percent=Decimal(20),
        coverages=_health_coverages(Decimal(20)),
        benefits=(
            _TELEHEALTH,
            BenefitSpec(
                BenefitCategory.WELLNESS,
                "WELLNESS-CHECKUP",
                "Check-up anual",
                "A yearly preventive check-up with a basic panel of laboratory exams.",
                "Once per calendar year, in network clinics.",
                coverage_percent=Decimal(100),
            ),
            BenefitSpec(
                BenefitCategory.PHARMACY,
                "PHARMACY-DISCOUNT",
                "Desconto em farmácias",
                "Discount on prescription drugs at partner pharmacies.",
                "Prescription drugs only; not combinable with other promotions.",
                discount_percent=Decimal(20),
            ),
            BenefitSpec(
                BenefitCategory.MENTAL_HEALTH,
                "MENTAL-HEALTH-THERAPY",
                "Psicoterapia",
                "Psychotherapy sessions with network psychologists.",
                "Up to 24 sessions per year.",
                coverage_percent=Decimal(80),
                annual_limit=money("2400"),
            ),
        ),
    ),
    PlanSpec(
        code="SEED-HEALTH-002",
        name="Saúde Essencial Básico",
        description="Basic health plan with higher cost sharing and a lower premium.",
        type=PlanType.HEALTH,
        tier=PlanTier.BASIC,
        monthly_premium=money("289.90"),
        annual_deductible=money("1000"),
        out_of_pocket_max=money("7500"),
        coinsurance_percent=Decimal(30),
        coverages=_health_coverages(Decimal(30)),
        benefits=(
            _TELEHEALTH,
            BenefitSpec(
                BenefitCategory.PHARMACY,
                "PHARMACY-DISCOUNT",
                "Desconto em farmácias",
                "Discount on generic drugs at partner pharmacies.",
                "Generic drugs only.",
                discount_percent=Decimal(10),
            ),
            BenefitSpec(
                BenefitCategory.EMERGENCY,
                "EMERGENCY-HOTLINE",
                "Central de urgência",
                "Nurse hotline that directs members to the nearest emergency service.",
                "Guidance only; treatment follows the plan's emergency coverage.",
                coverage_percent=Decimal(100),
            ),
        ),
    ),
    PlanSpec(
        code="SEED-PREMIUM-001",
        name="Saúde Plena Premium",
        description="Premium health plan: low cost sharing, national and international network, "
        "wellness and family benefits.",
        type=PlanType.HEALTH,
        tier=PlanTier.PREMIUM,
        monthly_premium=money("899.90"),
        annual_deductible=money("250"),
        out_of_pocket_max=money("2500"),
        coinsurance_percent=Decimal(10),
        coverages=_health_coverages(Decimal(10)),
        benefits=(
            _TELEHEALTH,
            BenefitSpec(
                BenefitCategory.GYM,
                "GYM-PARTNERS",
                "Academias parceiras",
                "Discount on monthly fees at partner gyms.",
                "Partner gyms only; monthly plans, not day passes.",
                discount_percent=Decimal(30),
            ),
            BenefitSpec(
                BenefitCategory.MATERNITY,
                "MATERNITY-CARE",
                "Pré-natal e parto",
                "Prenatal consultations and exams, delivery and neonatal care.",
                "300-day waiting period for delivery; prenatal care has none.",
                coverage_percent=Decimal(100),
            ),
            BenefitSpec(
                BenefitCategory.MENTAL_HEALTH,
                "MENTAL-HEALTH-THERAPY",
                "Psicoterapia",
                "Psychotherapy and psychiatry with network professionals.",
                "Up to 40 sessions per year.",
                coverage_percent=Decimal(90),
                annual_limit=money("6000"),
            ),
            BenefitSpec(
                BenefitCategory.PHARMACY,
                "PHARMACY-DISCOUNT",
                "Desconto em farmácias",
                "Discount on prescription drugs at partner pharmacies.",
                "Prescription drugs only.",
                discount_percent=Decimal(30),
            ),
            BenefitSpec(
                BenefitCategory.NUTRITION,
                "NUTRITION-COUNSELLING",
                "Nutricionista",
                "Consultations with network nutritionists.",
                "Up to 12 consultations per year.",
                coverage_percent=Decimal(80),
                annual_limit=money("1800"),
            ),
            BenefitSpec(
                BenefitCategory.TRANSPORTATION,
                "AMBULANCE-TRANSFER",
                "Remoção em ambulância",
                "Ambulance transfer between hospitals when medically required.",
                "Within the national territory; requires a physician's request.",
                coverage_percent=Decimal(100),
            ),
        ),
    ),
    PlanSpec(
        code="SEED-DENTAL-001",
        name="Odonto Standard",
        description="Dental plan: cleanings, exams and basic oral surgery.",
        type=PlanType.DENTAL,
        tier=PlanTier.STANDARD,
        monthly_premium=money("69.90"),
        annual_deductible=money("50"),
        out_of_pocket_max=None,
        coinsurance_percent=Decimal(20),
        coverages=(
            CoverageSpec(
                P.PREVENTIVE, Decimal(100), deductible_applies=False, annual_limit=money("1500")
            ),
            CoverageSpec(P.DIAGNOSTIC, Decimal(80), annual_limit=money("1500")),
            CoverageSpec(P.SURGERY, Decimal(50), annual_limit=money("1500")),
        ),
        benefits=(
            BenefitSpec(
                BenefitCategory.DENTAL,
                "DENTAL-CLEANING",
                "Limpeza e profilaxia",
                "Professional cleaning and fluoride application.",
                "Twice per calendar year.",
                coverage_percent=Decimal(100),
            ),
            BenefitSpec(
                BenefitCategory.DENTAL,
                "ORTHODONTICS-DISCOUNT",
                "Desconto em ortodontia",
                "Discount on orthodontic treatment at network clinics.",
                "Not a coverage: the member pays the discounted price.",
                discount_percent=Decimal(15),
            ),
        ),
    ),
    PlanSpec(
        code="SEED-VISION-001",
        name="Visão Básico",
        description="Vision plan: eye exams and a contribution to glasses.",
        type=PlanType.VISION,
        tier=PlanTier.BASIC,
        monthly_premium=money("29.90"),
        annual_deductible=money("0"),
        out_of_pocket_max=None,
        coinsurance_percent=Decimal(50),
        coverages=(
            CoverageSpec(P.CONSULTATION, Decimal(100), copay=money("20"), deductible_applies=False),
            CoverageSpec(P.OTHER, Decimal(50), annual_limit=money("600")),
        ),
        benefits=(
            BenefitSpec(
                BenefitCategory.VISION,
                "FRAMES-DISCOUNT",
                "Desconto em armações",
                "Discount on frames at partner opticians.",
                "One pair per year.",
                discount_percent=Decimal(25),
            ),
            BenefitSpec(
                BenefitCategory.VISION,
                "CONTACT-LENSES-DISCOUNT",
                "Desconto em lentes de contato",
                "Discount on contact lenses at partner opticians.",
                "Prescription lenses only.",
                discount_percent=Decimal(20),
            ),
        ),
    ),
)


@dataclass(frozen=True, slots=True)
class EnrolmentSpec:
    member_number: str
    user_id: str
    plan_code: str


ENROLMENTS: tuple[EnrolmentSpec, ...] = (
    EnrolmentSpec("SEED-MBR-0001", "seed-user-1", "SEED-HEALTH-001"),
    EnrolmentSpec("SEED-MBR-0002", "seed-user-1", "SEED-DENTAL-001"),
    EnrolmentSpec("SEED-MBR-0003", "seed-user-2", "SEED-PREMIUM-001"),
    EnrolmentSpec("SEED-MBR-0004", "seed-user-2", "SEED-VISION-001"),
    EnrolmentSpec("SEED-MBR-0005", "seed-user-3", "SEED-HEALTH-002"),
)

# --------------------------------------------------------------------------- sample claims


@dataclass(frozen=True, slots=True)
class StepSpec:
    event: ClaimEvent
    after_filing: timedelta
    reason: ReasonCode | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class DocumentSpec:
    type: DocumentType
    file_name: str
    mime_type: str
    size_bytes: int
    # None: filed with the claim; otherwise uploaded with that event (provide_info).
    attached_with: ClaimEvent | None = None


@dataclass(frozen=True, slots=True)
class ClaimSpec:
    key: str
    member_number: str
    procedure_type: ProcedureType
    procedure_code: str
    diagnosis_code: str
    provider_name: str
    service_days_ago: int
    claimed_amount: Decimal
    notes: str | None
    documents: tuple[DocumentSpec, ...]
    steps: tuple[StepSpec, ...]
    filed_after_service: timedelta = timedelta(days=1, hours=9, minutes=30)


def _pdf(
    kind: DocumentType, name: str, size: int, *, attached_with: ClaimEvent | None = None
) -> DocumentSpec:
    return DocumentSpec(kind, name, "application/pdf", size, attached_with)


MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)
E = ClaimEvent

# Listed oldest first: approvals spend the enrolment's year-to-date totals in this order.
CLAIMS: tuple[ClaimSpec, ...] = (
    ClaimSpec(
        key="seed-claim-01",
        member_number="SEED-MBR-0002",
        procedure_type=P.DIAGNOSTIC,
        procedure_code="81000065",
        diagnosis_code="K02.1",
        provider_name="Odonto Sorriso Pinheiros",
        service_days_ago=120,
        claimed_amount=money("260.00"),
        notes="Avaliação e radiografia panorâmica.",
        documents=(DocumentSpec(D.OTHER, "radiografia-panoramica.png", "image/png", 734_003),),
        steps=(
            StepSpec(E.SUBMIT, 0 * MINUTE),
            StepSpec(E.START_REVIEW, 1 * MINUTE),
            StepSpec(
                E.REQUEST_INFO,
                3 * DAY,
                ReasonCode.INSUFFICIENT_DOCUMENTATION,
                "Please attach the receipt or invoice of the appointment.",
            ),
            StepSpec(E.EXPIRE, 3 * DAY + INFO_DEADLINE + timedelta(hours=2)),
        ),
    ),
    ClaimSpec(
        key="seed-claim-02",
        member_number="SEED-MBR-0003",
        procedure_type=P.CONSULTATION,
        procedure_code="10101012",
        diagnosis_code="I10",
        provider_name="Consultório Dr. Almeida",
        service_days_ago=75,
        claimed_amount=money("480.00"),
        notes="Consulta com cardiologista.",
        documents=(
            _pdf(D.MEDICAL_REPORT, "relatorio-cardiologia.pdf", 96_256),
            _pdf(D.RECEIPT, "recibo-consulta.pdf", 88_064, attached_with=E.PROVIDE_INFO),
        ),
        steps=(
            StepSpec(E.SUBMIT, 0 * MINUTE),
            StepSpec(E.START_REVIEW, 1 * MINUTE),
            StepSpec(
                E.REQUEST_INFO,
                2 * DAY,
                ReasonCode.INSUFFICIENT_DOCUMENTATION,
                "Please attach the receipt of the consultation.",
            ),
            StepSpec(E.PROVIDE_INFO, 4 * DAY, note="Recibo anexado."),
            StepSpec(
                E.APPROVE,
                6 * DAY,
                note="Approved per plan rules: deductible and copay apply.",
            ),
        ),
    ),
    ClaimSpec(
        key="seed-claim-03",
        member_number="SEED-MBR-0004",
        procedure_type=P.SURGERY,
        procedure_code="30312019",
        diagnosis_code="H52.1",
        provider_name="Instituto de Olhos Visão Clara",
        service_days_ago=50,
        claimed_amount=money("4200.00"),
        notes="Cirurgia refrativa (miopia).",
        documents=(
            _pdf(D.INVOICE, "nota-fiscal-cirurgia.pdf", 142_336),
            _pdf(D.MEDICAL_REPORT, "laudo-oftalmologico.pdf", 311_296),
        ),
        steps=(
            StepSpec(E.SUBMIT, 0 * MINUTE),
            StepSpec(E.START_REVIEW, 1 * MINUTE),
            StepSpec(
                E.REJECT,
                3 * DAY,
                ReasonCode.NOT_COVERED,
                "The vision plan does not cover refractive surgery.",
            ),
        ),
    ),
    ClaimSpec(
        key="seed-claim-04",
        member_number="SEED-MBR-0001",
        procedure_type=P.PREVENTIVE,
        procedure_code="20101015",
        diagnosis_code="Z00.0",
        provider_name="Clínica Vida Preventiva",
        service_days_ago=40,
        claimed_amount=money("180.00"),
        notes="Check-up anual.",
        documents=(
            _pdf(D.RECEIPT, "recibo-checkup.pdf", 74_752),
            DocumentSpec(D.REFERRAL, "pedido-medico.jpg", "image/jpeg", 1_245_184),
        ),
        steps=(
            StepSpec(E.SUBMIT, 0 * MINUTE),
            StepSpec(E.START_REVIEW, 1 * MINUTE),
            StepSpec(E.APPROVE, 2 * DAY),
        ),
    ),
    ClaimSpec(
        key="seed-claim-05",
        member_number="SEED-MBR-0005",
        procedure_type=P.EMERGENCY,
        procedure_code="10101039",
        diagnosis_code="S93.4",
        provider_name="Hospital Santa Casa",
        service_days_ago=30,
        claimed_amount=money("640.00"),
        notes="Atendimento de urgência: entorse de tornozelo.",
        documents=(_pdf(D.INVOICE, "nota-fiscal-pronto-socorro.pdf", 120_832),),
        steps=(
            StepSpec(E.SUBMIT, 0 * MINUTE),
            StepSpec(E.CANCEL, 10 * MINUTE, note="The hospital billed the plan directly."),
        ),
    ),
    ClaimSpec(
        key="seed-claim-06",
        member_number="SEED-MBR-0003",
        procedure_type=P.IMAGING,
        procedure_code="41101014",
        diagnosis_code="M54.5",
        provider_name="Hospital Sírio-Libanês",
        service_days_ago=20,
        claimed_amount=money("1850.00"),
        notes="Ressonância magnética da coluna lombar.",
        documents=(
            _pdf(D.INVOICE, "nota-fiscal-ressonancia.pdf", 158_720),
            _pdf(D.AUTHORIZATION_FORM, "guia-autorizacao.pdf", 65_536),
            _pdf(D.MEDICAL_REPORT, "laudo-ressonancia.pdf", 2_457_600),
        ),
        steps=(
            StepSpec(E.SUBMIT, 0 * MINUTE),
            StepSpec(E.START_REVIEW, 1 * MINUTE),
        ),
    ),
    ClaimSpec(
        key="seed-claim-07",
        member_number="SEED-MBR-0005",
        procedure_type=P.THERAPY,
        procedure_code="50000470",
        diagnosis_code="M75.1",
        provider_name="Clínica de Fisioterapia Movimento",
        service_days_ago=10,
        claimed_amount=money("320.00"),
        notes="Sessões de fisioterapia (ombro).",
        documents=(
            DocumentSpec(D.PRESCRIPTION, "prescricao-fisioterapia.jpg", "image/jpeg", 987_136),
        ),
        steps=(
            StepSpec(E.SUBMIT, 0 * MINUTE),
            StepSpec(E.START_REVIEW, 1 * MINUTE),
            StepSpec(
                E.REQUEST_INFO,
                2 * DAY,
                ReasonCode.INSUFFICIENT_DOCUMENTATION,
                "Please attach the receipt of the sessions.",
            ),
        ),
    ),
    ClaimSpec(
        key="seed-claim-08",
        member_number="SEED-MBR-0001",
        procedure_type=P.CONSULTATION,
        procedure_code="10101012",
        diagnosis_code="J06.9",
        provider_name="Clínica São Lucas",
        service_days_ago=6,
        claimed_amount=money("250.00"),
        notes="Consulta com clínico geral; rascunho ainda não enviado.",
        documents=(_pdf(D.RECEIPT, "recibo-clinica.pdf", 69_632),),
        steps=(),
    ),
    ClaimSpec(
        key="seed-claim-09",
        member_number="SEED-MBR-0001",
        procedure_type=P.LABORATORY,
        procedure_code="40304361",
        diagnosis_code="E11.9",
        provider_name="Laboratório Fleury",
        service_days_ago=4,
        claimed_amount=money("85.00"),
        notes="Hemograma completo.",
        documents=(
            _pdf(D.INVOICE, "nota-fiscal-laboratorio.pdf", 53_248),
            DocumentSpec(D.REFERRAL, "pedido-exames.jpg", "image/jpeg", 1_048_576),
        ),
        steps=(StepSpec(E.SUBMIT, 0 * MINUTE),),
    ),
)

# --------------------------------------------------------------------------- report


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


# --------------------------------------------------------------------------- seeding


def seed(ctx: PlanJourneyContext, *, today: date | None = None) -> SeedReport:
    """Write the seed catalogue, enrolments and sample claims. The caller commits."""
    now = datetime.now(UTC)
    today = today or now.date()
    inserted: Counter[str] = Counter()

    plan_ids = _seed_plans(ctx, inserted)
    _seed_coverages(ctx, plan_ids, inserted)
    _seed_benefits(ctx, plan_ids, inserted)
    enrolments = _seed_enrolments(ctx, plan_ids, inserted)
    _ClaimSeeder(ctx, enrolments, today=today, now=now, inserted=inserted).run()

    return _report(ctx, plan_ids, enrolments, inserted)


def _insert_new(
    ctx: PlanJourneyContext,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    conflict: Sequence[str],
    inserted: Counter[str],
) -> None:
    if not rows:
        return
    statement = pg_insert(table).values(list(rows)).on_conflict_do_nothing(index_elements=conflict)
    inserted[table.name] += len(ctx.session.execute(statement.returning(table.c.id)).all())


def _seed_plans(ctx: PlanJourneyContext, inserted: Counter[str]) -> dict[str, int]:
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
    _insert_new(ctx, _table(Plan), rows, ["code"], inserted)
    codes = [plan.code for plan in PLANS]
    return {
        code: plan_id
        for code, plan_id in ctx.session.execute(
            sa.select(Plan.code, Plan.id).where(Plan.code.in_(codes))
        )
    }


def _seed_coverages(
    ctx: PlanJourneyContext, plan_ids: dict[str, int], inserted: Counter[str]
) -> None:
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
    _insert_new(
        ctx, _table(Coverage), rows, ["plan_id", "procedure_type", "procedure_code"], inserted
    )


def _seed_benefits(
    ctx: PlanJourneyContext, plan_ids: dict[str, int], inserted: Counter[str]
) -> None:
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
    _insert_new(ctx, _table(Benefit), rows, ["plan_id", "code"], inserted)


def _seed_enrolments(
    ctx: PlanJourneyContext, plan_ids: dict[str, int], inserted: Counter[str]
) -> dict[str, MemberPlan]:
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
    _insert_new(ctx, _table(MemberPlan), rows, ["member_number"], inserted)
    numbers = [enrolment.member_number for enrolment in ENROLMENTS]
    return {
        row.member_number: row
        for row in ctx.session.scalars(
            sa.select(MemberPlan).where(MemberPlan.member_number.in_(numbers))
        )
    }


@dataclass(slots=True)
class _SeedClaim:
    """A sample claim row being built; the state machine moves ``status``."""

    status: ClaimStatus = ClaimStatus.DRAFT
    version: int = 1
    approved_amount: Decimal | None = None
    member_responsibility: Decimal | None = None
    decision_reason_code: str | None = None
    adjudication: dict[str, Any] | None = None
    submitted_at: datetime | None = None
    decided_at: datetime | None = None
    info_due_at: datetime | None = None
    next_step: str | None = None
    next_step_due_at: datetime | None = None
    updated_at: datetime | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    document_types: set[DocumentType] = field(default_factory=set)
    spend: tuple[rules.BenefitBreakdown, int] | None = None


class _ClaimSeeder:
    """Builds each sample claim by walking its events on the state machine, then writes it."""

    def __init__(
        self,
        ctx: PlanJourneyContext,
        enrolments: dict[str, MemberPlan],
        *,
        today: date,
        now: datetime,
        inserted: Counter[str],
    ) -> None:
        self.ctx = ctx
        self.enrolments = enrolments
        self.today = today
        self.now = now
        self.inserted = inserted
        member_plan_ids = [enrolment.id for enrolment in enrolments.values()]
        plan_ids = sorted({enrolment.plan_id for enrolment in enrolments.values()})
        self.plans = {
            plan.id: rules.PlanFacts(plan.annual_deductible, plan.out_of_pocket_max)
            for plan in ctx.session.scalars(sa.select(Plan).where(Plan.id.in_(plan_ids)))
        }
        self.coverages: dict[int, list[rules.CoverageFacts]] = {}
        for row in ctx.session.scalars(sa.select(Coverage).where(Coverage.plan_id.in_(plan_ids))):
            self.coverages.setdefault(row.plan_id, []).append(coverage_facts(row))
        self.totals: dict[tuple[int, int], tuple[Decimal, Decimal]] = {
            (row.member_plan_id, row.year): (row.deductible_paid, row.out_of_pocket_paid)
            for row in ctx.session.scalars(
                sa.select(MemberYearTotals)
                .where(MemberYearTotals.member_plan_id.in_(member_plan_ids))
                .with_for_update()
            )
        }
        self.usage: dict[tuple[int, int, int], Decimal] = {
            (row.member_plan_id, row.coverage_id, row.year): row.limit_used
            for row in ctx.session.scalars(
                sa.select(CoverageUsage)
                .where(CoverageUsage.member_plan_id.in_(member_plan_ids))
                .with_for_update()
            )
        }
        self.dirty_totals: set[tuple[int, int]] = set()
        self.dirty_usage: set[tuple[int, int, int]] = set()

    def run(self) -> None:
        for spec in CLAIMS:
            self._seed_claim(spec)
        self._write_totals()

    def _seed_claim(self, spec: ClaimSpec) -> None:
        enrolment = self.enrolments[spec.member_number]
        service_date = self.today - timedelta(days=spec.service_days_ago)
        filed_at = datetime.combine(service_date, time(), UTC) + spec.filed_after_service
        claim = self._walk(spec, enrolment, service_date, filed_at)
        claim_id = self.ctx.session.scalar(
            pg_insert(_table(Claim))
            .values(
                member_plan_id=enrolment.id,
                plan_id=enrolment.plan_id,
                user_id=enrolment.user_id,
                procedure_type=spec.procedure_type,
                procedure_code=spec.procedure_code,
                diagnosis_code=spec.diagnosis_code,
                provider_name=spec.provider_name,
                service_date=service_date,
                claimed_amount=spec.claimed_amount,
                currency=CURRENCY,
                approved_amount=claim.approved_amount,
                member_responsibility=claim.member_responsibility,
                status=claim.status,
                decision_reason_code=claim.decision_reason_code,
                adjudication=_json_or_null(claim.adjudication),
                notes=spec.notes,
                submitted_at=claim.submitted_at,
                decided_at=claim.decided_at,
                info_due_at=claim.info_due_at,
                next_step=claim.next_step,
                next_step_due_at=claim.next_step_due_at,
                version=claim.version,
                idempotency_key=spec.key,
                created_at=filed_at,
                updated_at=claim.updated_at or filed_at,
            )
            .on_conflict_do_nothing(
                index_elements=["user_id", "idempotency_key"],
                index_where=Claim.idempotency_key.is_not(None),
            )
            .returning(Claim.id)
        )
        if claim_id is None:
            return
        self.inserted["claims"] += 1
        self._write_documents(spec, claim_id, filed_at)
        if claim.history:
            statement = pg_insert(_table(ClaimStatusHistory)).values(
                [{**row, "claim_id": claim_id} for row in claim.history]
            )
            self.inserted["claim_status_history"] += len(
                self.ctx.session.execute(
                    statement.on_conflict_do_nothing(index_elements=["event_id"]).returning(
                        ClaimStatusHistory.id
                    )
                ).all()
            )
        if claim.spend is not None:
            self._spend(enrolment.id, service_date.year, *claim.spend)

    def _walk(
        self, spec: ClaimSpec, enrolment: MemberPlan, service_date: date, filed_at: datetime
    ) -> _SeedClaim:
        claim = _SeedClaim()
        claim.document_types = {d.type for d in spec.documents if d.attached_with is None}
        for number, step in enumerate(spec.steps, start=1):
            at = filed_at + step.after_filing
            claim.document_types |= {
                document.type for document in spec.documents if document.attached_with is step.event
            }
            reason = step.reason or _DEFAULT_REASONS.get(step.event)
            details = self._decide(claim, spec, enrolment, service_date, step.event, reason)
            actor = _actor(step.event, enrolment.user_id)
            before = fire(claim, step.event)
            claim.history.append(
                {
                    "event_id": uuid.uuid5(SEED_NAMESPACE, f"seed:{spec.key}:{number}"),
                    "event": step.event,
                    "from_status": before,
                    "to_status": claim.status,
                    "actor_id": actor.id,
                    "actor_role": actor.role,
                    "reason_code": None if reason is None else reason.value,
                    "note": step.note,
                    "details": _json_or_null(details),
                    "occurred_at": at,
                }
            )
            claim.version += 1
            claim.updated_at = at
            if reason is not None:
                claim.decision_reason_code = reason.value
            if claim.status is ClaimStatus.SUBMITTED:
                claim.submitted_at = at
            elif claim.status is ClaimStatus.ADDITIONAL_INFO_REQUIRED:
                claim.info_due_at = at + INFO_DEADLINE
            elif step.event is ClaimEvent.PROVIDE_INFO:
                claim.info_due_at = None
            if claim.status.is_terminal:
                claim.decided_at = at
                claim.info_due_at = None

        if claim.status is ClaimStatus.SUBMITTED:
            # Owed its review: a running system's sweeper picks it up at once.
            claim.next_step = "start_review"
            claim.next_step_due_at = self.now
        elif claim.status is ClaimStatus.UNDER_REVIEW:
            suggestion = self._adjudicate(claim, spec, enrolment, service_date)
            claim.adjudication = suggestion.as_json()
            claim.decision_reason_code = suggestion.reason_codes[0].value
        return claim

    def _decide(
        self,
        claim: _SeedClaim,
        spec: ClaimSpec,
        enrolment: MemberPlan,
        service_date: date,
        event: ClaimEvent,
        reason: ReasonCode | None,
    ) -> dict[str, Any] | None:
        """Amounts and stored decision of a reviewer's approve or reject; None for other events."""
        facts = self._claim_facts(claim, spec, service_date)
        coverage = rules.select_coverage(facts, self.coverages[enrolment.plan_id])
        if event is ClaimEvent.APPROVE:
            if coverage is None:
                raise ValueError(f"{spec.key}: an approved sample claim needs a coverage")
            ytd = self._year_to_date(enrolment.id, service_date.year)
            breakdown = rules.compute_breakdown(
                spec.claimed_amount, coverage, self.plans[enrolment.plan_id], ytd
            )
            reasons = [reason or ReasonCode.REVIEWER_DECISION]
            if breakdown.benefit < breakdown.submitted:
                reasons.append(ReasonCode.PARTIAL_APPROVAL)
            claim.adjudication = {
                "decision": rules.Decision.APPROVE.value,
                "reasonCodes": [reason.value for reason in reasons],
                "breakdown": breakdown.as_json(),
                "coverageId": coverage.coverage_id,
            }
            claim.approved_amount = breakdown.benefit
            claim.member_responsibility = breakdown.member_responsibility
            claim.spend = (breakdown, coverage.coverage_id)
            return claim.adjudication
        if event is ClaimEvent.REJECT:
            if reason is ReasonCode.NOT_COVERED and coverage is not None:
                raise ValueError(f"{spec.key}: rejected as not covered but the plan covers it")
            claim.adjudication = {
                "decision": rules.Decision.REJECT.value,
                "reasonCodes": [(reason or ReasonCode.REVIEWER_DECISION).value],
                "breakdown": None,
                "coverageId": None if coverage is None else coverage.coverage_id,
            }
            claim.approved_amount = ZERO
            claim.member_responsibility = spec.claimed_amount
            return claim.adjudication
        return None

    def _adjudicate(
        self, claim: _SeedClaim, spec: ClaimSpec, enrolment: MemberPlan, service_date: date
    ) -> rules.AdjudicationResult:
        """What the worker's adjudication suggests for a claim waiting for a reviewer."""
        return rules.adjudicate(
            self._claim_facts(claim, spec, service_date),
            rules.EnrolmentFacts(
                enrolment.start_date, enrolment.end_date, MemberPlanStatus(enrolment.status)
            ),
            self.plans[enrolment.plan_id],
            self.coverages[enrolment.plan_id],
            self._year_to_date(enrolment.id, service_date.year),
            auto_approval_threshold=get_settings().auto_approval_threshold,
        )

    @staticmethod
    def _claim_facts(claim: _SeedClaim, spec: ClaimSpec, service_date: date) -> rules.ClaimFacts:
        return rules.ClaimFacts(
            procedure_type=spec.procedure_type,
            procedure_code=spec.procedure_code,
            service_date=service_date,
            claimed_amount=spec.claimed_amount,
            document_types=frozenset(claim.document_types),
        )

    def _year_to_date(self, member_plan_id: int, year: int) -> rules.YearToDate:
        deductible_paid, out_of_pocket_paid = self.totals.get(
            (member_plan_id, year), (Decimal(0), Decimal(0))
        )
        return rules.YearToDate(
            deductible_paid=deductible_paid,
            out_of_pocket_paid=out_of_pocket_paid,
            limit_used={
                coverage_id: used
                for (mp_id, coverage_id, used_year), used in self.usage.items()
                if mp_id == member_plan_id and used_year == year
            },
        )

    def _spend(
        self, member_plan_id: int, year: int, breakdown: rules.BenefitBreakdown, coverage_id: int
    ) -> None:
        after = rules.year_to_date_after(
            self._year_to_date(member_plan_id, year), breakdown, coverage_id
        )
        self.totals[(member_plan_id, year)] = (after.deductible_paid, after.out_of_pocket_paid)
        self.dirty_totals.add((member_plan_id, year))
        self.usage[(member_plan_id, coverage_id, year)] = after.limit_used[coverage_id]
        self.dirty_usage.add((member_plan_id, coverage_id, year))

    def _write_documents(self, spec: ClaimSpec, claim_id: int, filed_at: datetime) -> None:
        uploaded = {step.event: filed_at + step.after_filing for step in spec.steps}
        decided = bool(spec.steps) and spec.steps[-1].event in _DECISIONS
        rows = [
            {
                "claim_id": claim_id,
                "type": document.type,
                "file_name": document.file_name,
                "mime_type": document.mime_type,
                "size_bytes": document.size_bytes,
                "sha256": hashlib.sha256(f"{spec.key}/{document.file_name}".encode()).hexdigest(),
                "storage_key": f"seed/claims/{spec.key}/{document.file_name}",
                "verification_status": (
                    VerificationStatus.VERIFIED if decided else VerificationStatus.PENDING
                ),
                "uploaded_at": (
                    filed_at if document.attached_with is None else uploaded[document.attached_with]
                ),
            }
            for document in spec.documents
        ]
        if rows:
            self.inserted["documents"] += len(
                self.ctx.session.execute(
                    pg_insert(_table(Document)).values(rows).returning(Document.id)
                ).all()
            )

    def _write_totals(self) -> None:
        if self.dirty_totals:
            statement = pg_insert(_table(MemberYearTotals))
            self.ctx.session.execute(
                statement.values(
                    [
                        {
                            "member_plan_id": member_plan_id,
                            "year": year,
                            "deductible_paid": self.totals[(member_plan_id, year)][0],
                            "out_of_pocket_paid": self.totals[(member_plan_id, year)][1],
                        }
                        for member_plan_id, year in sorted(self.dirty_totals)
                    ]
                ).on_conflict_do_update(
                    index_elements=["member_plan_id", "year"],
                    set_={
                        "deductible_paid": statement.excluded.deductible_paid,
                        "out_of_pocket_paid": statement.excluded.out_of_pocket_paid,
                    },
                )
            )
            self.inserted["member_year_totals"] += len(self.dirty_totals)
        if self.dirty_usage:
            statement = pg_insert(_table(CoverageUsage))
            self.ctx.session.execute(
                statement.values(
                    [
                        {
                            "member_plan_id": key[0],
                            "coverage_id": key[1],
                            "year": key[2],
                            "limit_used": self.usage[key],
                        }
                        for key in sorted(self.dirty_usage)
                    ]
                ).on_conflict_do_update(
                    index_elements=["member_plan_id", "coverage_id", "year"],
                    set_={"limit_used": statement.excluded.limit_used},
                )
            )
            self.inserted["coverage_usage"] += len(self.dirty_usage)


def _actor(event: ClaimEvent, user_id: str) -> Actor:
    if event in _MEMBER_EVENTS:
        return Actor(id=user_id, role=ActorRole.MEMBER)
    return SYSTEM if event in _SYSTEM_EVENTS else SEED_REVIEWER


def _json_or_null(document: dict[str, Any] | None) -> dict[str, Any] | sa.Null:
    # Python None would be stored as the JSON value null, not as SQL NULL.
    return sa.null() if document is None else document


def _table(model: type[Any]) -> sa.Table:
    table = model.__table__
    assert isinstance(table, sa.Table)
    return table


def _report(
    ctx: PlanJourneyContext,
    plan_ids: dict[str, int],
    enrolments: dict[str, MemberPlan],
    inserted: Counter[str],
) -> SeedReport:
    seed_plan_ids = list(plan_ids.values())
    member_plan_ids = [enrolment.id for enrolment in enrolments.values()]
    claims = sa.select(Claim.id).where(
        Claim.member_plan_id.in_(member_plan_ids),
        Claim.idempotency_key.in_([spec.key for spec in CLAIMS]),
    )

    def count(model: type[Any], *where: sa.ColumnElement[bool]) -> int:
        return ctx.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0

    present = {
        "plans": len(plan_ids),
        "coverages": count(Coverage, Coverage.plan_id.in_(seed_plan_ids)),
        "benefits": count(Benefit, Benefit.plan_id.in_(seed_plan_ids)),
        "member_plans": len(enrolments),
        "claims": count(Claim, Claim.id.in_(claims.scalar_subquery())),
        "documents": count(Document, Document.claim_id.in_(claims.scalar_subquery())),
        "claim_status_history": count(
            ClaimStatusHistory, ClaimStatusHistory.claim_id.in_(claims.scalar_subquery())
        ),
        "member_year_totals": count(
            MemberYearTotals, MemberYearTotals.member_plan_id.in_(member_plan_ids)
        ),
        "coverage_usage": count(CoverageUsage, CoverageUsage.member_plan_id.in_(member_plan_ids)),
    }
    by_status = {
        ClaimStatus(status): number
        for status, number in ctx.session.execute(
            sa.select(Claim.status, sa.func.count())
            .where(Claim.id.in_(claims.scalar_subquery()))
            .group_by(Claim.status)
        )
    }
    return SeedReport(
        inserted={table: inserted[table] for table in TABLES},
        present=present,
        claims_by_status=by_status,
    )


def main() -> None:
    with PlanJourneyContext() as ctx:
        report = seed(ctx)
        ctx.commit()
    print(report.summary())


if __name__ == "__main__":
    main()
