"""The seed's data (DOMAIN.md section 6): the plan catalogue, the enrolments of the seed users
and the sample claims with what happens to each. Pure data; devtools/seed.py writes it.

Sample claims are not rows but what members, the worker and a reviewer do: the seed files them
and plays their steps through the claim service, back-dated, so that their history, amounts and
year-to-date spend follow the same rules as any claim's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from models.commands import Actor
from models.enums import (
    ActorRole,
    BenefitCategory,
    ClaimEvent,
    ClaimStatus,
    DocumentType,
    PlanTier,
    PlanType,
    ProcedureType,
    ReasonCode,
)

SEED_EFFECTIVE_FROM = date(2024, 1, 1)
SEED_REVIEWER = Actor(id="seed-reviewer-1", role=ActorRole.REVIEWER)
CURRENCY = "BRL"

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
class DocumentSpec:
    type: DocumentType
    file_name: str
    mime_type: str
    size_bytes: int


@dataclass(frozen=True, slots=True)
class Act:
    """A person asks for ``event`` on the claim (its member, or the seed's reviewer): the
    action is recorded, queued, and applied by the next ``Work``."""

    event: ClaimEvent
    after_filing: timedelta
    reason: ReasonCode | None = None
    note: str | None = None
    documents: tuple[DocumentSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class Work:
    """The worker does what the claim waits for: applies its queued action (a submit goes on
    to start the review and decide), or runs the automatic step it owes (an adjudication)."""

    after_filing: timedelta


@dataclass(frozen=True, slots=True)
class Expiry:
    """The scheduler expires the claim, ``after_deadline`` past its information deadline."""

    after_deadline: timedelta


Step = Act | Work | Expiry


@dataclass(frozen=True, slots=True)
class ClaimSpec:
    """A sample claim: filed ``filed_after_service`` after its service date (with its submit
    action queued, unless ``draft``), then ``steps``; ``status`` is where they leave it."""

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
    steps: tuple[Step, ...]
    status: ClaimStatus
    draft: bool = False
    filed_after_service: timedelta = timedelta(days=1, hours=9, minutes=30)


def _pdf(kind: DocumentType, name: str, size: int) -> DocumentSpec:
    return DocumentSpec(kind, name, "application/pdf", size)


MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)
E = ClaimEvent
S = ClaimStatus

# What the worker decides follows from the plan rules and the default settings (auto-approval
# up to 100.00, 30 days to send missing information); the seed checks each claim's status.
# Listed oldest first: approvals spend the enrolment's year-to-date totals in this order.
CLAIMS: tuple[ClaimSpec, ...] = (
    # No receipt or invoice: the worker asks for one, nobody answers, the claim expires.
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
        steps=(Work(1 * MINUTE), Expiry(timedelta(hours=2))),
        status=S.EXPIRED,
    ),
    # The member sends the receipt asked for; above auto-approval, a reviewer approves it,
    # partly: the premium plan's deductible and copay come first.
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
        documents=(_pdf(D.MEDICAL_REPORT, "relatorio-cardiologia.pdf", 96_256),),
        steps=(
            Work(1 * MINUTE),
            Act(
                E.PROVIDE_INFO,
                4 * DAY,
                note="Recibo anexado.",
                documents=(_pdf(D.RECEIPT, "recibo-consulta.pdf", 88_064),),
            ),
            Work(4 * DAY + 1 * MINUTE),
            Work(4 * DAY + 2 * MINUTE),
            Act(E.APPROVE, 6 * DAY, note="Approved per plan rules: deductible and copay apply."),
            Work(6 * DAY + 1 * MINUTE),
        ),
        status=S.APPROVED,
    ),
    # The vision plan does not cover surgery: the worker rejects it.
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
        steps=(Work(1 * MINUTE),),
        status=S.REJECTED,
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
        steps=(Work(1 * MINUTE), Act(E.APPROVE, 2 * DAY), Work(2 * DAY + 1 * MINUTE)),
        status=S.APPROVED,
    ),
    # Filed without a receipt; asked for one, the member withdraws the claim instead.
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
        documents=(_pdf(D.MEDICAL_REPORT, "relatorio-pronto-socorro.pdf", 120_832),),
        steps=(
            Work(1 * MINUTE),
            Act(E.CANCEL, 2 * DAY, note="The hospital billed the plan directly."),
            Work(2 * DAY + 1 * MINUTE),
        ),
        status=S.CANCELLED,
    ),
    # Pre-authorised and documented, above auto-approval: it waits for a reviewer.
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
        steps=(Work(1 * MINUTE),),
        status=S.UNDER_REVIEW,
    ),
    # A prescription is no receipt: the worker asks for one; the member has not answered yet.
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
        steps=(Work(1 * MINUTE),),
        status=S.ADDITIONAL_INFO_REQUIRED,
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
        status=S.DRAFT,
        draft=True,
    ),
    # Filed, its submit action waiting for the worker: a running one submits, reviews and
    # approves it (85.00 is within auto-approval) once the relay or the sweeper sends it.
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
        steps=(),
        status=S.DRAFT,
    ),
)
