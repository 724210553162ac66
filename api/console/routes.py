"""The console's pages: sign-in, the queue with its filters, a claim with what the reviewer
may do now. Every read and write goes through the service functions the API uses, with the
same authorization; refusals are shown on the page with their codes."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.datastructures import QueryParams

from api import actions as actions_api
from api.auth import Unauthenticated, User
from api.console import session
from api.console.present import (
    ACTIVITY,
    BREAKDOWN_LINES,
    FILTERS,
    REJECTION_REASONS,
)
from api.errors import status_for
from api.params import ClaimId
from models.enums import ActorRole, ClaimStatus, ProcedureType
from models.errors import Forbidden, PlanError
from service import assignments
from service import queries as claim_queries
from service import review_queries as review
from storage.unit_of_work import PlanJourneyContext

HERE = Path(__file__).parent
router = APIRouter(prefix="/console", include_in_schema=False)
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters.update(FILTERS)
QUEUE_PAGE_SIZE = 25
_DONE = frozenset({"take", "release"})
_PROCEDURES = frozenset(kind.value for kind in ProcedureType)


class ConsoleRefusal(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _user(request: Request) -> User:
    try:
        return session.console_user(request)
    except Forbidden as refused:
        raise ConsoleRefusal(403, refused.message) from None


ConsoleUser = Annotated[User, Depends(_user)]


def render(
    request: Request, name: str, context: dict[str, Any], *, status: int = 200
) -> HTMLResponse:
    settings = session.settings_of(request)
    response = templates.TemplateResponse(
        request,
        name,
        {
            "csrf": session.csrf_token(request),
            "production": settings.environment == "production",
            "now": datetime.now(UTC),
            **context,
        },
        status_code=status,
    )
    session.keep_csrf(request, response)
    response.headers["Cache-Control"] = "no-store"
    return response


def install(app: FastAPI) -> None:
    """The console's router, its static files and the handlers that answer with pages."""
    app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")

    async def sign_in_first(request: Request, _: Exception) -> Response:
        return RedirectResponse("/console/sign-in", status_code=303)

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ConsoleRefusal)
        return render(
            request, "refused.html", {"message": exc.message, "user": None}, status=exc.status
        )

    app.add_exception_handler(session.SignInRequired, sign_in_first)
    app.add_exception_handler(ConsoleRefusal, refused)


# --------------------------------------------------------------------------- signing in


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_form(request: Request) -> HTMLResponse:
    return render(request, "sign_in.html", {"user": None, "error": None})


@router.post("/sign-in", response_class=HTMLResponse)
def sign_in(
    request: Request,
    csrf: Annotated[str, Form()] = "",
    reviewer_id: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "reviewer",
    token: Annotated[str, Form()] = "",
) -> Response:
    settings = session.settings_of(request)
    try:
        session.check_csrf(request, csrf)
        if token.strip():
            session.user_of_token(request, token.strip())
            chosen = token.strip()
        else:
            if not 0 < len(reviewer_id.strip()) <= 128 or role not in ("reviewer", "admin"):
                raise Unauthenticated("Enter your reviewer id (1 to 128 characters)")
            chosen = session.development_token(settings, reviewer_id.strip(), role)
    except PlanError as refusal:
        return render(
            request,
            "sign_in.html",
            {"user": None, "error": refusal.message},
            status=status_for(refusal),
        )
    response = RedirectResponse("/console", status_code=303)
    session.keep_token(response, settings, chosen)
    return response


@router.post("/sign-out")
def sign_out(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    session.check_csrf(request, csrf)
    response = RedirectResponse("/console/sign-in", status_code=303)
    session.forget_token(response)
    return response


# --------------------------------------------------------------------------- the queue


def _filters(params: QueryParams) -> tuple[review.QueueFilter, list[str]]:
    """The queue's filters from the form; a value that does not parse is named, not fatal."""
    problems: list[str] = []

    def amount(name: str) -> Decimal | None:
        raw = params.get(name, "").strip().replace(",", "")
        if not raw:
            return None
        try:
            value = Decimal(raw)
        except InvalidOperation:
            problems.append(f"{name} is not an amount")
            return None
        return value

    assigned = params.get("assigned") or "any"
    if assigned not in {choice.value for choice in review.AssignedFilter}:
        problems.append("assigned must be me, none, others or any")
        assigned = "any"
    second = params.get("awaitingSecondApproval", "")
    procedure = params.get("procedureType", "")
    plan = params.get("planId", "").strip()
    before = params.get("submittedBefore", "").strip()
    submitted_before = None
    if before:
        try:
            submitted_before = datetime.combine(date.fromisoformat(before), time(), UTC)
        except ValueError:
            problems.append("submittedBefore is not a date")
    return (
        review.QueueFilter(
            assigned=review.AssignedFilter(assigned),
            awaiting_second_approval={"true": True, "false": False}.get(second),
            min_amount=amount("minAmount"),
            max_amount=amount("maxAmount"),
            procedure_type=ProcedureType(procedure) if procedure in _PROCEDURES else None,
            plan_id=int(plan) if plan.isdigit() and 0 < int(plan) < 2**63 else None,
            submitted_before=submitted_before,
        ),
        problems,
    )


@router.get("", response_class=HTMLResponse)
def queue_page(request: Request, user: ConsoleUser) -> HTMLResponse:
    filters, problems = _filters(request.query_params)
    try:
        page = max(1, min(10_000, int(request.query_params.get("page", "1"))))
    except ValueError:
        page = 1
    with PlanJourneyContext() as ctx:
        found = review.review_queue(
            ctx, reviewer_id=user.id, filters=filters, page=page, size=QUEUE_PAGE_SIZE
        )
        figures = review.queue_figures(ctx)
    return render(
        request,
        "queue.html",
        {
            "user": user,
            "items": found.items,
            "page": found.page,
            "has_more": found.has_more,
            "figures": figures,
            "params": {
                key: value
                for key, value in request.query_params.items()
                if key not in ("page", "csrf") and value
            },
            "problems": problems,
            "procedure_types": [kind.value for kind in ProcedureType],
        },
    )


# --------------------------------------------------------------------------- a claim


def _action_of(ctx: PlanJourneyContext, claim_id: int, action_id: str | None) -> Any:
    """The action the reviewer just asked for, to show until the worker applies it."""
    try:
        wanted = uuid.UUID(action_id or "")
    except ValueError:
        return None
    try:
        row = claim_queries.get_action(ctx, claim_id=claim_id, action_id=wanted, owner=None)
    except PlanError:
        return None
    return {**row, "status": str(getattr(row["status"], "value", row["status"]))}


def _claim_context(user: User, claim_id: int, action_id: str | None = None) -> dict[str, Any]:
    with PlanJourneyContext() as ctx:
        view = claim_queries.get_claim(ctx, claim_id=claim_id, owner=None)
        action = _action_of(ctx, claim_id, action_id)
        activity = review.claim_activity(ctx, claim_id=claim_id, owner=None)
        assignment = review.assignment_of(ctx, claim_id)
        pending = review.pending_approval_of(ctx, claim_id)
    claim = {**view.claim, "status": ClaimStatus(view.claim["status"]).value}
    suggestion = claim["adjudication"] or {}
    breakdown = suggestion.get("breakdown") or {}
    held_by_me = assignment is not None and assignment["reviewer_id"] == user.id
    under_review = claim["status"] == ClaimStatus.UNDER_REVIEW.value
    return {
        "user": user,
        "claim": claim,
        "documents": view.documents,
        "history": view.history,
        "activity": activity,
        "activity_words": ACTIVITY,
        "assignment": assignment,
        "pending": pending,
        "suggestion": suggestion,
        "breakdown": [(label, key, breakdown.get(key)) for key, label in BREAKDOWN_LINES],
        "suggested_benefit": breakdown.get("benefit") or claim["claimed_amount"],
        "under_review": under_review,
        "held_by_me": held_by_me and under_review,
        "own_claim": claim["user_id"] == user.id,
        "is_admin": user.role is ActorRole.ADMIN,
        "rejection_reasons": REJECTION_REASONS,
        "action": action,
    }


@router.get("/claims/{id}", response_class=HTMLResponse)
def claim_page(request: Request, user: ConsoleUser, claim_id: ClaimId) -> HTMLResponse:
    return _claim_view(request, user, claim_id)


def _claim_view(
    request: Request,
    user: User,
    claim_id: int,
    *,
    error: PlanError | None = None,
) -> HTMLResponse:
    try:
        context = _claim_context(user, claim_id, request.query_params.get("action"))
    except PlanError as missing:
        raise ConsoleRefusal(status_for(missing), missing.message) from None
    done = request.query_params.get("done")
    shown = None if error is None else {"code": error.code.value, "message": error.message}
    context["error"] = shown
    context["done"] = done if done in _DONE else None
    return render(
        request, "claim.html", context, status=200 if error is None else status_for(error)
    )


def _after(claim_id: int, done: str) -> RedirectResponse:
    return RedirectResponse(f"/console/claims/{claim_id}?done={done}", status_code=303)


@router.post("/claims/{id}/take")
def take(
    request: Request, user: ConsoleUser, claim_id: ClaimId, csrf: Annotated[str, Form()] = ""
) -> Response:
    settings = session.settings_of(request)
    try:
        session.check_csrf(request, csrf)
        with PlanJourneyContext() as ctx:
            assignments.take_claim(ctx, claim_id=claim_id, actor=user.actor, settings=settings)
            ctx.commit()
    except PlanError as refusal:
        return _claim_view(request, user, claim_id, error=refusal)
    return _after(claim_id, "take")


@router.post("/claims/{id}/release")
def release(
    request: Request, user: ConsoleUser, claim_id: ClaimId, csrf: Annotated[str, Form()] = ""
) -> Response:
    settings = session.settings_of(request)
    try:
        session.check_csrf(request, csrf)
        with PlanJourneyContext() as ctx:
            assignments.release_claim(
                ctx, claim_id=claim_id, actor=user.actor, settings=settings
            )
            ctx.commit()
    except PlanError as refusal:
        return _claim_view(request, user, claim_id, error=refusal)
    return _after(claim_id, "release")


@router.post("/claims/{id}/decision")
def decide(
    request: Request,
    user: ConsoleUser,
    claim_id: ClaimId,
    csrf: Annotated[str, Form()] = "",
    decision: Annotated[str, Form()] = "",
    approved_amount: Annotated[str, Form()] = "",
    reason_code: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    """The decision endpoint's own code, with the form's fields as its JSON body."""
    body: dict[str, Any] = {"decision": "approve" if decision == "approve_partial" else decision}
    if decision == "approve_partial":
        body["approvedAmount"] = approved_amount.strip().replace(",", "") or None
    if decision == "reject" and reason_code:
        body["reasonCode"] = reason_code
    if note.strip():
        body["note"] = note.strip()
    try:
        session.check_csrf(request, csrf)
        accepted = actions_api.decide_claim(
            user=user,
            settings=session.settings_of(request),
            claim_id=claim_id,
            body=body,
            response=Response(),
            idempotency_key=None,
        )
    except PlanError as refusal:
        return _claim_view(request, user, claim_id, error=refusal)
    return RedirectResponse(
        f"/console/claims/{claim_id}?action={accepted.action_id}", status_code=303
    )
