"""Who is using the console, and the CSRF guard of its forms.

The bearer token travels in an HttpOnly, SameSite=Strict cookie (Secure in production), or in
the ``Authorization`` header a proxy forwards (which wins). Outside production the sign-in
form issues a short-lived token for a reviewer id; in production only a token of the identity
provider is accepted (pasted into the form, or forwarded). Every form carries the CSRF token of
a second cookie, compared in constant time on every POST.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request, Response

from api.auth import TokenVerifier, Unauthenticated, User, issue_token
from config import Settings
from models.enums import ActorRole
from models.errors import ErrorCode, Forbidden

TOKEN_COOKIE = "plan_console_token"
CSRF_COOKIE = "plan_console_csrf"
COOKIE_PATH = "/console"
CONSOLE_ROLES = frozenset({ActorRole.REVIEWER, ActorRole.ADMIN})


class SignInRequired(Exception):
    """No usable token: the page sends the browser to the sign-in form."""


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.cookies.get(TOKEN_COOKIE) or None


def user_of_token(request: Request, token: str) -> User:
    """The console user a token names: a reviewer or an administrator, nobody else."""
    verifier: TokenVerifier = request.app.state.token_verifier
    user = verifier.user_of(token)
    if user.role not in CONSOLE_ROLES:
        raise Forbidden(
            "The console is for reviewers and administrators; members use the app",
            code=ErrorCode.FORBIDDEN,
        )
    return user


def console_user(request: Request) -> User:
    token = _token(request)
    if token is None:
        raise SignInRequired
    try:
        return user_of_token(request, token)
    except Unauthenticated:
        raise SignInRequired from None


def development_token(settings: Settings, reviewer_id: str, role: str) -> str:
    """The sign-in form's token outside production: short-lived, for the id typed in."""
    if settings.environment == "production":
        raise Forbidden(
            "In production sign in with a token from the identity provider",
            code=ErrorCode.FORBIDDEN,
        )
    return issue_token(
        settings, subject=reviewer_id, role=role, ttl_s=settings.console_session_minutes * 60
    )


def keep_token(response: Response, settings: Settings, token: str) -> None:
    response.set_cookie(
        TOKEN_COOKIE,
        token,
        max_age=settings.console_session_minutes * 60,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=settings.environment == "production",
    )


def forget_token(response: Response) -> None:
    response.delete_cookie(TOKEN_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")


def csrf_token(request: Request) -> str:
    """The CSRF token of this browser (made on its first page; set by ``keep_csrf``)."""
    existing = request.cookies.get(CSRF_COOKIE)
    if existing:
        return existing
    made: str | None = getattr(request.state, "csrf", None)
    if made is None:
        made = secrets.token_urlsafe(32)
        request.state.csrf = made
    return made


def keep_csrf(request: Request, response: Response) -> None:
    if request.cookies.get(CSRF_COOKIE):
        return
    settings = settings_of(request)
    response.set_cookie(
        CSRF_COOKIE,
        csrf_token(request),
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=settings.environment == "production",
    )


def check_csrf(request: Request, submitted: str | None) -> None:
    expected = request.cookies.get(CSRF_COOKIE)
    if not expected or not submitted or not hmac.compare_digest(expected, submitted):
        raise Forbidden(
            "This form has expired; reload the page and try again", code=ErrorCode.FORBIDDEN
        )
