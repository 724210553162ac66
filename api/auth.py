"""Bearer JWTs (HS256): who is calling, and in which role.

Tokens are issued by the SuperApp's identity service; ``issue_token`` exists for development
(``plan token``) and tests. A token must carry ``sub``, ``role`` and ``exp``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from config import Settings
from models.commands import Actor
from models.enums import ActorRole
from models.errors import ErrorCode, Forbidden, PlanError

TOKEN_ROLES = frozenset({ActorRole.MEMBER, ActorRole.REVIEWER, ActorRole.ADMIN})
_MAX_SUBJECT_LENGTH = 128
_LATEST_EXPIRY = 253_402_300_799  # 9999-12-31T23:59:59Z


class Unauthenticated(PlanError):
    """No token, or one that is expired, badly signed or malformed."""

    code = ErrorCode.UNAUTHENTICATED


@dataclass(frozen=True, slots=True)
class User:
    id: str
    role: ActorRole

    @property
    def actor(self) -> Actor:
        return Actor(id=self.id, role=self.role)

    @property
    def is_member(self) -> bool:
        return self.role is ActorRole.MEMBER


def issue_token(settings: Settings, *, subject: str, role: str, ttl_s: int = 3600) -> str:
    if ActorRole(role) not in TOKEN_ROLES:
        raise ValueError(f"role must be member, reviewer or admin, not {role!r}")
    now = int(time.time())
    return jwt.encode(
        {"sub": subject, "role": role, "iat": now, "exp": now + ttl_s},
        settings.jwt_secret.get_secret_value(),
        algorithm=settings.jwt_algorithm,
    )


def _claim_types(claims: object) -> tuple[str, ActorRole, float]:
    """sub, role and exp, each of its one accepted type; anything else is not a token of ours."""
    if not isinstance(claims, dict):
        raise Unauthenticated("The bearer token is not valid")
    subject, role, expires = claims.get("sub"), claims.get("role"), claims.get("exp")
    if not isinstance(subject, str) or not 0 < len(subject) <= _MAX_SUBJECT_LENGTH:
        raise Unauthenticated("The token's sub must be a user id of 1 to 128 characters")
    if not isinstance(role, str) or role not in TOKEN_ROLES:
        raise Unauthenticated("The token's role must be member, reviewer or admin")
    # A NumericDate (RFC 7519): a JSON number, within the years a calendar writes.
    if (
        isinstance(expires, bool)
        or not isinstance(expires, int | float)
        or not 0 < expires <= _LATEST_EXPIRY
    ):
        raise Unauthenticated("The token's exp must be a time in seconds since 1970")
    return subject, ActorRole(role), float(expires)


def read_token(settings: Settings, token: str) -> tuple[User, float]:
    """The caller a token names and when the token expires (epoch seconds)."""
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret.get_secret_value(),
            algorithms=[settings.jwt_algorithm],
            options={"require": ["sub", "role", "exp"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("The token has expired; sign in again") from None
    except (jwt.PyJWTError, ArithmeticError, TypeError, ValueError):
        # PyJWT checks exp, nbf and iat with int() and comparisons: a claim of another type or
        # past a float's range fails there, in any of these ways.
        raise Unauthenticated("The bearer token is not valid") from None
    subject, role, expires = _claim_types(claims)
    return User(id=subject, role=role), expires


class TokenVerifier:
    """Verifies bearer tokens, and remembers the ones it verified until they expire.

    A client sends the same token with every request; checking its signature once instead of
    each time is a large share of a small request. The exact token string is the key, so a
    token that differs in any byte is verified afresh.
    """

    REMEMBERED_AT_MOST = 10_000

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._verified: dict[str, tuple[User, float]] = {}

    def user_of(self, token: str) -> User:
        remembered = self._verified.get(token)
        if remembered is not None and time.time() < remembered[1]:
            return remembered[0]
        user, expires_at = read_token(self._settings, token)
        if len(self._verified) >= self.REMEMBERED_AT_MOST:
            self._verified.clear()
        self._verified[token] = (user, expires_at)
        return user


class BearerUser(HTTPBearer):
    """The caller of a route open to ``roles``: the bearer token read, verified and its role
    checked in one dependency. (Each level of FastAPI's dependency tree costs a request tens
    of microseconds; this was three.) OpenAPI shows it as the one HTTPBearer scheme."""

    def __init__(self, *roles: ActorRole) -> None:
        super().__init__(
            auto_error=False,
            scheme_name="HTTPBearer",
            description="A JWT (HS256) with the claims sub, role (member, reviewer, admin)"
            " and exp.",
        )
        self._roles = frozenset(roles or TOKEN_ROLES)
        self._names = " or ".join(role.value for role in roles)

    async def __call__(self, request: Request) -> User:  # type: ignore[override]
        credentials = await super().__call__(request)
        if credentials is None:
            raise Unauthenticated("Send the header Authorization: Bearer <token>")
        verifier: TokenVerifier = request.app.state.token_verifier
        user = verifier.user_of(credentials.credentials)
        if user.role not in self._roles:
            raise Forbidden(f"This needs the role {self._names}", code=ErrorCode.FORBIDDEN)
        return user


# Dependencies are coroutines: they do no I/O, and a plain function would cost each request a
# trip through the thread pool.
async def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


CurrentUser = Annotated[User, Depends(BearerUser())]
Member = Annotated[User, Depends(BearerUser(ActorRole.MEMBER))]
Reviewer = Annotated[User, Depends(BearerUser(ActorRole.REVIEWER, ActorRole.ADMIN))]
Admin = Annotated[User, Depends(BearerUser(ActorRole.ADMIN))]
