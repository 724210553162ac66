"""Bearer tokens are verified once and remembered only until they expire."""

from __future__ import annotations

import time

import pytest

from api import auth
from api.auth import TokenVerifier, Unauthenticated, issue_token
from config import get_settings
from models.enums import ActorRole


def test_a_remembered_token_is_not_verified_again(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = get_settings()
    verifier = TokenVerifier(settings)
    token = issue_token(settings, subject="member-1", role="member")
    decoded: list[str] = []
    read_token = auth.read_token

    def counting(settings_: object, token_: str) -> tuple[auth.User, float]:
        decoded.append(token_)
        return read_token(settings, token_)

    monkeypatch.setattr(auth, "read_token", counting)

    users = [verifier.user_of(token) for _ in range(3)]

    assert users == [auth.User("member-1", ActorRole.MEMBER)] * 3
    assert decoded == [token]


def test_a_remembered_token_is_refused_once_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = get_settings()
    verifier = TokenVerifier(settings)
    token = issue_token(settings, subject="member-1", role="member", ttl_s=60)
    verifier.user_of(token)

    later = time.time() + 120
    monkeypatch.setattr(time, "time", lambda: later)
    monkeypatch.setattr("jwt.api_jwt.datetime", _FrozenDatetime(later), raising=False)

    with pytest.raises(Unauthenticated):
        verifier.user_of(token)


def test_a_token_differing_in_one_byte_from_a_remembered_one_is_verified_afresh() -> None:
    settings = get_settings()
    verifier = TokenVerifier(settings)
    token = issue_token(settings, subject="member-1", role="member")
    verifier.user_of(token)
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]

    with pytest.raises(Unauthenticated):
        verifier.user_of(tampered)


class _FrozenDatetime:
    """Stands in for PyJWT's clock, so that its own expiry check agrees with ours."""

    def __init__(self, epoch: float) -> None:
        self._epoch = epoch

    def now(self, tz: object = None) -> object:
        from datetime import UTC, datetime

        return datetime.fromtimestamp(self._epoch, tz=UTC)

    def __getattr__(self, name: str) -> object:
        from datetime import datetime

        return getattr(datetime, name)
