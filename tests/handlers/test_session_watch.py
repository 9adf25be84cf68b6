"""Logins made outside the running agent (issue 14): ``bot.py login`` in another terminal
writes session.json; the running process takes it (``KiteSession.adopt_stored``, driven by
``SessionWatch``) through the same ``on_login`` a /login uses, and never deletes it when
its own, older token is refused. Two sessions on one file play the two processes."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

from agent.clock import SimClock
from agent.session import KiteSession
from agent.timeutil import IST
from handlers.session_watch import SessionWatch
from storage.session_file import SessionFile

NOW = datetime(2026, 12, 7, 9, 40, tzinfo=IST)


class LoginKite:
    """``generate_session`` hands out a new token per login."""

    logins = 0

    def __init__(self, api_key: str, root: str) -> None:
        pass

    def generate_session(self, request_token: str, api_secret: str) -> dict[str, str]:
        LoginKite.logins += 1
        return {"access_token": f"token{LoginKite.logins}", "user_id": "AB1234"}


def _session(path: Any, clock: SimClock) -> KiteSession:
    return KiteSession("key", "secret", SessionFile(path), root="http://x",
                       login_base="http://x/login", clock=clock, kite_factory=LoginKite)


def _expired(path: Any) -> None:
    """Yesterday's login, dead since 06:00."""
    SessionFile(path).save({"access_token": "old", "user_id": "AB1234",
                            "issued_at": (NOW - timedelta(days=1)).isoformat()})


def test_a_login_stored_by_another_process_is_taken_once(tmp_path) -> None:
    path, clock = tmp_path / "session.json", SimClock(NOW)
    _expired(path)
    running = _session(path, clock)
    logins: list[str] = []
    running.on_login = logins.append
    assert running.access_token() is None and not running.adopt_stored()
    _session(path, clock).complete("request_token=abcdefgh12")  # bot.py login
    assert running.adopt_stored()
    assert logins == [running.access_token()] and running.user_id == "AB1234"
    assert not running.adopt_stored()  # nothing new since
    running.complete("request_token=abcdefgh13")  # its own /login is no news to it
    assert not running.adopt_stored() and len(logins) == 2


def test_a_stored_session_from_before_six_is_not_taken(tmp_path) -> None:
    path, clock = tmp_path / "session.json", SimClock(NOW)
    running = _session(path, clock)
    running.on_login = lambda token: None
    _expired(path)
    assert not running.adopt_stored() and running.access_token() is None


def test_a_refused_token_does_not_delete_a_newer_login(tmp_path) -> None:
    path, clock = tmp_path / "session.json", SimClock(NOW)
    running = _session(path, clock)
    running.complete("request_token=abcdefgh12")
    _session(path, clock).complete("request_token=abcdefgh13")  # bot.py login meanwhile
    running.drop_token()  # Kite refused the old token for an order
    assert path.exists(), "the newer login was deleted"
    taken: list[str] = []
    running.on_login = taken.append
    assert running.adopt_stored() and running.access_token() == taken[0]
    running.drop_token()  # its own token refused, nothing newer: the file goes
    assert not path.exists()


def test_the_watch_looks_when_poked_and_while_a_login_is_needed(tmp_path) -> None:
    path, clock = tmp_path / "session.json", SimClock(NOW)
    _expired(path)
    running = _session(path, clock)
    taken = threading.Event()
    running.on_login = lambda token: taken.set()
    looks: list[bool] = []
    needed = threading.Event()

    def wanted() -> bool:
        looks.append(True)
        return needed.is_set()

    watch = SessionWatch(running, wanted, interval=3600)  # only a poke wakes it here
    watch.start()
    try:
        _session(path, clock).complete("request_token=abcdefgh12")
        watch.poke()  # e.g. Kite refused the token
        assert taken.wait(5) and watch.adopted == 1
        assert looks == []  # a poke looks at once, whatever ``needed`` says
    finally:
        watch.stop()
    # the periodic look: only while a login is needed
    taken.clear()
    running.drop_token()
    watch = SessionWatch(running, wanted, interval=0.01)
    needed.set()
    watch.start()
    try:
        _session(path, clock).complete("request_token=abcdefgh13")
        assert taken.wait(5) and watch.adopted == 1
    finally:
        watch.stop()
