"""The Kite session: login from a pasted URL or token, 0600 storage, 06:00 expiry."""

from __future__ import annotations

import stat
from datetime import datetime

import pytest

from agent.clock import SimClock
from agent.session import KiteSession, LoginState, last_expiry, request_token_from
from agent.timeutil import IST
from storage.session_file import SessionFile


class TokenException(Exception):  # named like kiteconnect's: the session goes by the name
    pass


class FakeKite:
    def __init__(self, api_key: str, root: str, *, bad_token: bool = False) -> None:
        self.api_key, self.root, self.bad_token = api_key, root, bad_token
        self.exchanged: list[tuple[str, str]] = []
        self.token = None

    def generate_session(self, request_token: str, api_secret: str) -> dict:
        self.exchanged.append((request_token, api_secret))
        if request_token == "expired000":
            raise TokenException("Token is invalid or has expired.")
        return {"access_token": "acc355t0k3n", "user_id": "AB1234"}

    def set_access_token(self, token: str) -> None:
        self.token = token

    def profile(self) -> dict:
        if self.bad_token:
            raise TokenException("Incorrect `api_key` or `access_token`.")
        return {"user_id": "AB1234"}


def _session(tmp_path, clock, **kw):
    made: list[FakeKite] = []

    def factory(api_key, root):
        made.append(FakeKite(api_key, root, **kw))
        return made[-1]

    session = KiteSession("key", "secret", SessionFile.in_dir(tmp_path), root="http://k",
                          login_base="http://k/connect/login", clock=clock,
                          kite_factory=factory)
    return session, made


def test_request_token_from_url_or_text() -> None:
    url = "https://example.com/cb?action=login&type=login&status=success&request_token=abc123XYZ9"
    assert request_token_from(url) == "abc123XYZ9"
    assert request_token_from("  abc123XYZ9 \n") == "abc123XYZ9"
    with pytest.raises(ValueError, match="did not succeed"):
        request_token_from("https://example.com/cb?status=cancelled&request_token=x")
    with pytest.raises(ValueError, match="no request_token"):
        request_token_from("https://example.com/cb?status=success")
    with pytest.raises(ValueError, match="does not look like"):
        request_token_from("not a token!")


def test_login_stores_the_token_0600_and_it_dies_at_six(tmp_path) -> None:
    clock = SimClock(datetime(2026, 11, 23, 8, 40, tzinfo=IST))
    session, made = _session(tmp_path, clock)
    assert session.login_url() == "http://k/connect/login?api_key=key&v=3"
    assert session.complete("https://x/cb?status=success&request_token=req0000001") == "AB1234"
    assert made[0].exchanged == [("req0000001", "secret")]
    path = tmp_path / "session.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert session.access_token() == "acc355t0k3n"

    again, _ = _session(tmp_path, clock)  # a restart reads it back
    assert again.access_token() == "acc355t0k3n" and again.user_id == "AB1234"
    clock.advance_to(datetime(2026, 11, 24, 5, 59, 59, tzinfo=IST))
    assert again.access_token() == "acc355t0k3n"
    clock.advance_to(datetime(2026, 11, 24, 6, 0, tzinfo=IST))
    assert again.access_token() is None
    again.drop_token()
    assert not path.exists()


def test_refused_request_token_is_a_clear_error(tmp_path) -> None:
    clock = SimClock(datetime(2026, 11, 23, 8, 40, tzinfo=IST))
    session, _ = _session(tmp_path, clock)
    with pytest.raises(ValueError, match="refused the request token"):
        session.complete("expired000")
    assert session.access_token() is None


def test_check_drops_a_token_kite_calls_dead(tmp_path) -> None:
    clock = SimClock(datetime(2026, 11, 23, 8, 30, tzinfo=IST))
    session, _ = _session(tmp_path, clock, bad_token=True)
    session.complete("req0000001")
    assert session.check() is False
    assert session.access_token() is None


def test_last_expiry() -> None:
    assert last_expiry(datetime(2026, 11, 23, 5, 0, tzinfo=IST)) == datetime(
        2026, 11, 22, 6, 0, tzinfo=IST)
    assert last_expiry(datetime(2026, 11, 23, 6, 0, tzinfo=IST)) == datetime(
        2026, 11, 23, 6, 0, tzinfo=IST)


def test_login_state_says_who_and_until_the_next_six(tmp_path) -> None:
    clock = SimClock(datetime(2026, 11, 23, 8, 40, tzinfo=IST))
    session, _ = _session(tmp_path, clock)
    assert session.login_state() == LoginState("", None)  # nobody logged in yet
    session.complete("req0000001")
    tomorrow_six = datetime(2026, 11, 24, 6, 0, tzinfo=IST)
    assert session.login_state() == LoginState("AB1234", tomorrow_six)
    clock.advance_to(tomorrow_six)
    assert session.login_state() == LoginState("AB1234", None)  # dead at 06:00
