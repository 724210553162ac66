"""What members and reviewers send about a claim, checked against DOMAIN.md section 3.

Shared by the HTTP endpoint and the queue-fed task. A broken rule raises a pydantic error whose
type is the DOMAIN.md code; `first_error` and `all_errors` turn it into `ValidationFailed`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Literal, TypedDict

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import ErrorDetails, PydanticCustomError

from models.enums import DocumentType, ProcedureType
from models.errors import ErrorCode, ValidationFailed
from models.money import CENT

MAX_AMOUNT = Decimal("1000000.00")
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
MAX_DOCUMENTS_PER_CLAIM = 5
DEFAULT_FILING_WINDOW_DAYS = 365

MIME_TYPE_BY_EXTENSION = {
    "pdf": "application/pdf",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
}

_PROCEDURE_CODE = re.compile(r"[A-Z0-9.-]{3,16}")
# U is kept: WHO reserves it for codes such as U07.1 (COVID-19), which Brazilian claims carry.
_DIAGNOSIS_CODE = re.compile(r"[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?")
_CURRENCY = re.compile(r"[A-Z]{3}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_PLAIN_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_NOT_IN_FILE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")


class SubmissionContext(TypedDict, total=False):
    """The validation context ClaimSubmission reads: `model_validate(data, context=...)`."""

    today: date
    filing_window_days: int


def _fail(code: ErrorCode, message: str) -> PydanticCustomError:
    return PydanticCustomError(code.value, message)


def _matching(pattern: re.Pattern[str], text: str, code: ErrorCode, message: str) -> str:
    if not pattern.fullmatch(text):
        raise _fail(code, message)
    return text


def _plain_decimal(value: object) -> Decimal | None:
    """The number `value` stands for, or None when it is not a finite number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        # repr is the shortest text that reads back as the same float, so 0.1 becomes
        # Decimal("0.1"), never Decimal(0.1) = 0.1000000000000000055511151231257827...
        return Decimal(repr(value)) if math.isfinite(value) else None
    if isinstance(value, str) and _PLAIN_DECIMAL.fullmatch(value.strip()):
        return Decimal(value.strip())
    return None


def _money(value: object, *, field: str, code: ErrorCode, allow_zero: bool) -> Decimal:
    amount = _plain_decimal(value)
    if amount is None:
        raise _fail(code, f"{field} must be a number such as 125.50, as a JSON number or string")
    if amount < 0 or (amount == 0 and not allow_zero):
        lowest = "0 or more" if allow_zero else "greater than 0"
        raise _fail(code, f"{field} must be {lowest}")
    if amount > MAX_AMOUNT:
        raise _fail(code, f"{field} must be at most {MAX_AMOUNT}")
    if amount != amount.quantize(CENT):
        raise _fail(code, f"{field} must have at most 2 decimal places")
    return amount if amount else amount.copy_abs()


def _claimed_amount(value: object) -> Decimal:
    return _money(value, field="amount", code=ErrorCode.INVALID_AMOUNT, allow_zero=False)


def _approved_amount(value: object) -> Decimal:
    return _money(
        value, field="approvedAmount", code=ErrorCode.INVALID_APPROVED_AMOUNT, allow_zero=True
    )


def _document_count(value: object, *, minimum: int) -> object:
    if isinstance(value, list | tuple) and not minimum <= len(value) <= MAX_DOCUMENTS_PER_CLAIM:
        allowed = f"{minimum} to " if minimum else "at most "
        raise _fail(
            ErrorCode.INVALID_DOCUMENT,
            f"documents must hold {allowed}{MAX_DOCUMENTS_PER_CLAIM} documents, not {len(value)}",
        )
    return value


def _calendar_date(value: object) -> date | None:
    if isinstance(value, datetime):
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def _today_and_window(context: object) -> tuple[date, int]:
    today: object = None
    window: object = DEFAULT_FILING_WINDOW_DAYS
    if isinstance(context, Mapping):
        today = context.get("today")
        window = context.get("filing_window_days", window)
    if today is None:
        today = datetime.now(UTC).date()
    if isinstance(today, datetime):
        today = today.date()
    if not isinstance(today, date):
        raise TypeError("the validation context's today must be a date")
    if isinstance(window, bool) or not isinstance(window, int) or window < 0:
        raise TypeError("the validation context's filing_window_days must be an int >= 0")
    return today, window


ClaimedAmount = Annotated[Decimal, BeforeValidator(_claimed_amount)]
ApprovedAmount = Annotated[Decimal, BeforeValidator(_approved_amount)]
PositiveId = Annotated[int, Field(strict=True, gt=0)]


class _CamelModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        str_strip_whitespace=True,
        # str(ValidationError) ends up in logs; notes and provider names must not.
        hide_input_in_errors=True,
    )


class DocumentIn(_CamelModel):
    type: DocumentType
    file_name: str = Field(min_length=1, max_length=255)
    mime_type: str
    size_bytes: int = Field(strict=True)
    sha256: str | None = None
    storage_key: str | None = Field(None, min_length=1, max_length=512)

    @field_validator("file_name")
    @classmethod
    def _file_name_is_an_accepted_kind(cls, file_name: str) -> str:
        if _NOT_IN_FILE_NAME.search(file_name):
            raise _fail(
                ErrorCode.INVALID_DOCUMENT,
                "fileName must be a plain file name, without folders or control characters",
            )
        stem, dot, extension = file_name.rpartition(".")
        if not (stem and dot and extension.lower() in MIME_TYPE_BY_EXTENSION):
            raise _fail(
                ErrorCode.INVALID_DOCUMENT,
                "fileName must end in .pdf, .jpg, .jpeg or .png",
            )
        return file_name

    @field_validator("mime_type")
    @classmethod
    def _mime_type_is_accepted_and_matches(cls, mime_type: str, info: ValidationInfo) -> str:
        mime_type = mime_type.lower()
        if mime_type not in MIME_TYPE_BY_EXTENSION.values():
            raise _fail(
                ErrorCode.INVALID_DOCUMENT,
                "mimeType must be application/pdf, image/jpeg or image/png",
            )
        file_name = info.data.get("file_name")
        if file_name is not None:
            extension = file_name.rpartition(".")[2].lower()
            if MIME_TYPE_BY_EXTENSION[extension] != mime_type:
                raise _fail(
                    ErrorCode.INVALID_DOCUMENT,
                    f"mimeType {mime_type} does not match a .{extension} fileName",
                )
        return mime_type

    @field_validator("size_bytes")
    @classmethod
    def _size_is_within_limit(cls, size_bytes: int) -> int:
        if not 0 < size_bytes <= MAX_DOCUMENT_BYTES:
            raise _fail(
                ErrorCode.INVALID_DOCUMENT,
                f"sizeBytes must be between 1 and {MAX_DOCUMENT_BYTES} (10 MB)",
            )
        return size_bytes

    @field_validator("sha256")
    @classmethod
    def _sha256_is_lowercase_hex(cls, sha256: str | None) -> str | None:
        if sha256 is None:
            return None
        return _matching(
            _SHA256,
            sha256,
            ErrorCode.INVALID_DOCUMENT,
            "sha256 must be 64 lowercase hexadecimal characters",
        )


class ClaimSubmission(_CamelModel):
    # plan_id comes first so that member_plan_id's validator can see it.
    plan_id: PositiveId | None = None
    member_plan_id: PositiveId | None = Field(None, validate_default=True)
    procedure_type: ProcedureType
    procedure_code: str
    diagnosis_code: str | None = None
    provider_name: str = Field(min_length=1, max_length=200)
    service_date: date
    amount: ClaimedAmount
    currency: str = "BRL"
    notes: str | None = Field(None, max_length=2000)
    documents: list[DocumentIn] = Field(default_factory=list)
    draft: bool = Field(
        False, strict=True, description="Store the claim as a draft; submit it later"
    )

    @field_validator("member_plan_id")
    @classmethod
    def _a_plan_is_named(cls, member_plan_id: int | None, info: ValidationInfo) -> int | None:
        # A plan_id that failed its own checks is absent from info.data and already reported.
        if member_plan_id is None and "plan_id" in info.data and info.data["plan_id"] is None:
            raise _fail(ErrorCode.INVALID_INPUT, "memberPlanId or planId is required")
        return member_plan_id

    @field_validator("procedure_code")
    @classmethod
    def _procedure_code_has_its_form(cls, procedure_code: str) -> str:
        return _matching(
            _PROCEDURE_CODE,
            procedure_code,
            ErrorCode.INVALID_PROCEDURE_CODE,
            "procedureCode must be 3 to 16 characters of A-Z, 0-9, '.' and '-'"
            " (uppercase letters only)",
        )

    @field_validator("diagnosis_code")
    @classmethod
    def _diagnosis_code_is_icd10(cls, diagnosis_code: str | None) -> str | None:
        if diagnosis_code is None:
            return None
        return _matching(
            _DIAGNOSIS_CODE,
            diagnosis_code,
            ErrorCode.INVALID_DIAGNOSIS_CODE,
            "diagnosisCode must be an ICD-10 code in uppercase, such as K08, J45.909 or S72.001A",
        )

    @field_validator("service_date", mode="before")
    @classmethod
    def _service_date_is_within_filing_window(cls, value: object, info: ValidationInfo) -> date:
        service_date = _calendar_date(value)
        if service_date is None:
            raise _fail(
                ErrorCode.INVALID_SERVICE_DATE,
                "serviceDate must be a calendar date written YYYY-MM-DD",
            )
        today, window = _today_and_window(info.context)
        if service_date > today:
            raise _fail(ErrorCode.INVALID_SERVICE_DATE, "serviceDate must not be in the future")
        if service_date < today - timedelta(days=window):
            raise _fail(
                ErrorCode.INVALID_SERVICE_DATE,
                f"serviceDate must be within the last {window} days; older services can no"
                " longer be claimed",
            )
        return service_date

    @field_validator("currency")
    @classmethod
    def _currency_is_iso4217(cls, currency: str) -> str:
        return _matching(
            _CURRENCY,
            currency,
            ErrorCode.INVALID_INPUT,
            "currency must be an ISO 4217 code of three uppercase letters, such as BRL",
        )

    @field_validator("documents", mode="before")
    @classmethod
    def _at_most_five_documents(cls, documents: object) -> object:
        return _document_count(documents, minimum=0)


class QueuedClaim(ClaimSubmission):
    """A submission as the queue carries it: who sent it, and the key that makes it idempotent."""

    user_id: str = Field(min_length=1, max_length=128)
    idempotency_key: str | None = Field(None, min_length=1, max_length=128)


class ReviewDecision(_CamelModel):
    decision: Literal["approve", "reject", "request_info"]
    reason_code: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Z_]+$")
    note: str | None = Field(None, max_length=2000)
    approved_amount: ApprovedAmount | None = None


class Reassignment(_CamelModel):
    """An administrator hands a claim under review to another reviewer."""

    reviewer_id: str = Field(min_length=1, max_length=128)


class AdditionalInfo(_CamelModel):
    note: str | None = Field(None, max_length=2000)
    documents: list[DocumentIn]

    @field_validator("documents", mode="before")
    @classmethod
    def _one_to_five_documents(cls, documents: object) -> object:
        return _document_count(documents, minimum=1)


_DOMAIN_CODES = {code.value: code for code in ErrorCode}
_CODE_BY_FIELD = {
    "amount": ErrorCode.INVALID_AMOUNT,
    "approvedAmount": ErrorCode.INVALID_APPROVED_AMOUNT,
    "procedureCode": ErrorCode.INVALID_PROCEDURE_CODE,
    "diagnosisCode": ErrorCode.INVALID_DIAGNOSIS_CODE,
    "serviceDate": ErrorCode.INVALID_SERVICE_DATE,
    "documents": ErrorCode.INVALID_DOCUMENT,
}
_ALIASES = {
    name: field.alias or name
    for model in (DocumentIn, QueuedClaim, ReviewDecision, AdditionalInfo, Reassignment)
    for name, field in model.model_fields.items()
}


def _field_path(error: ErrorDetails) -> str:
    loc = error["loc"]
    path = ""
    for position, part in enumerate(loc):
        if isinstance(part, int):
            path += f"[{part}]"
            continue
        sent_as_is = error["type"] == "extra_forbidden" and position == len(loc) - 1
        name = part if sent_as_is else _ALIASES.get(part, part)
        path += f".{name}" if path else name
    return path


def _code(error: ErrorDetails, path: str, model_name: str) -> ErrorCode:
    if error["type"] in _DOMAIN_CODES:
        return _DOMAIN_CODES[error["type"]]
    if model_name == DocumentIn.__name__:
        return ErrorCode.INVALID_DOCUMENT
    top_level = re.split(r"[.\[]", path, maxsplit=1)[0]
    return _CODE_BY_FIELD.get(top_level, ErrorCode.INVALID_INPUT)


def _message(error: ErrorDetails, path: str, whole: str) -> str:
    if error["type"] in _DOMAIN_CODES:
        return error["msg"]
    if error["type"] == "missing":
        return f"{path} is required"
    if error["type"] == "extra_forbidden":
        return f"{path} is not an accepted field; field names are camelCase, such as serviceDate"
    return f"{path or whole}: {error['msg']}"


def validation_failed(
    error: ErrorDetails, *, model_name: str = "", whole: str = "the request body"
) -> ValidationFailed:
    """One pydantic error as the domain's ValidationFailed: DOMAIN.md code, camelCase field
    path, a message a person can act on (``whole`` names the input when no field is at fault).
    The HTTP API translates FastAPI's parameter errors through this too."""
    path = _field_path(error)
    return ValidationFailed(
        _message(error, path, whole), field=path or None, code=_code(error, path, model_name)
    )


def all_errors(exc: ValidationError) -> list[ValidationFailed]:
    """Every broken rule, in field order, with its DOMAIN.md code and camelCase field path."""
    return [
        validation_failed(error, model_name=exc.title)
        for error in exc.errors(include_url=False, include_input=False)
    ]


def first_error(exc: ValidationError) -> ValidationFailed:
    """The first broken rule, the one a single-error answer reports."""
    errors = all_errors(exc)
    if not errors:
        return ValidationFailed("the request is not valid", code=ErrorCode.INVALID_INPUT)
    return errors[0]


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def refuse_unstorable_text(value: object) -> None:
    """Raise for the first string (key or value) holding NUL or a lone surrogate."""
    try:
        # One pass in C for the usual clean input: orjson refuses lone surrogates and
        # writes NUL as an escape; anything it cannot encode is walked below.
        if b"\\u0000" not in orjson.dumps(value):
            return
    except (TypeError, orjson.JSONEncodeError):
        pass
    _refuse_unstorable_text(value, "")


def _refuse_unstorable_text(value: object, path: str) -> None:
    if isinstance(value, str):
        if _UNSTORABLE.search(value):
            raise ValidationFailed(
                f"{path or 'the request body'} must not contain NUL or unpaired surrogate"
                " characters",
                field=path or None,
                code=ErrorCode.INVALID_INPUT,
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_unstorable_text(key, path)
            _refuse_unstorable_text(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _refuse_unstorable_text(item, f"{path}[{index}]")
