"""The Kite login and the access token's lifecycle.

A human logs in once a day: the login link leads to Kite, which redirects to the app's
redirect URL with a ``request_token``; exchanging it (with the API secret) gives the day's
access token, which Kite kills at 06:00 IST the next morning. ``KiteSession`` keeps it in
``session.json`` (mode 0600, via ``storage.session_file``), answers whether it is still
valid, drops it at the 06:00 job or when Kite says it is dead (TokenException / 403).

``python bot.py login`` (handlers/login_cli.py) runs the same flow in a terminal; a running
agent takes the session it stores through ``adopt_stored`` (handlers/session_watch.py). Methods
are short and may be called from any thread; ``complete`` and ``check`` do HTTP (never on
the engine thread).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Protocol
from urllib.parse import parse_qs, urlparse

from agent.clock import Clock, LiveClock
from agent.fields import FieldError, Fields, name, stamp, text
from agent.timeutil import IST, to_ist

log = logging.getLogger(__name__)

TOKEN_EXPIRY = time(6, 0)


class SessionStore(Protocol):
    def load(self) -> dict[str, Any] | None: ...

    def save(self, data: dict[str, Any]) -> None: ...

    def clear(self) -> None: ...

    # optional: ``stamp() -> Hashable | None``, what changes whenever the stored session is
    # written (None: nothing stored); a store with it is watched for logins made elsewhere


def request_token_from(text: str) -> str:
    """The request_token in a pasted redirect URL, or the pasted token itself."""
    text = text.strip()
    if not text:
        raise ValueError("nothing pasted: send the redirect URL or the request_token")
    if "://" in text or "request_token=" in text:
        query = parse_qs(urlparse(text).query) or parse_qs(text.split("?", 1)[-1])
        status = query.get("status", ["success"])[0]
        if status != "success":
            raise ValueError(f"the login did not succeed (status={status}); log in again")
        tokens = query.get("request_token")
        if not tokens or not tokens[0]:
            raise ValueError("no request_token in that URL: paste the whole address Kite "
                             "redirected to after the login")
        return tokens[0]
    if not text.isalnum() or not 8 <= len(text) <= 64:
        raise ValueError("that does not look like a request_token (letters and digits "
                         "only): paste the redirect URL or the token")
    return text


def last_expiry(now: datetime, expiry: time = TOKEN_EXPIRY) -> datetime:
    """The latest daily expiry time (06:00 IST) at or before ``now``."""
    now = to_ist(now)
    at = datetime.combine(now.date(), expiry, tzinfo=IST)
    return at if at <= now else at - timedelta(days=1)


def next_expiry(issued: datetime, expiry: time = TOKEN_EXPIRY) -> datetime:
    """When a token issued at ``issued`` dies: the first daily expiry (06:00 IST) after it."""
    return last_expiry(issued, expiry) + timedelta(days=1)


def login_text(user_id: str, until: datetime | None) -> str:
    """The words of a completed login: 'Kite login as AB1234: valid until 06:00' (IST)."""
    who = user_id or "(user id not given)"
    return f"Kite login as {who}" + (f": valid until {to_ist(until):%H:%M}" if until else "")
@dataclass(frozen=True, slots=True)
class LoginState:
    """What /status says about the Kite login: who, and until when the token lives
    (``valid_until`` None: no usable token, a login is needed)."""

    user_id: str = ""
    valid_until: datetime | None = None


def checked_session(data: Any, where: str) -> dict[str, Any]:
    """A stored session whose fields are usable, else {} (a new login is needed; the
    problem is logged naming ``where`` and the field, e.g. ``data/session.json: issued_at:
    expected an ISO date and time with its UTC offset, got 'yesterday'``). Any thread."""
    if not data:
        return {}
    try:
        f = Fields(data, "")
        f.req("access_token", name)
        f.opt("user_id", text)
        f.req("issued_at", stamp)
    except FieldError as exc:
        log.error("%s: %s: a new login is needed", where, exc)
        return {}
    return dict(data)


class KiteSession:
    """The day's Kite session. ``kite_factory(api_key, root)`` builds a KiteConnect."""

    def __init__(self, api_key: str, api_secret: str, store: SessionStore, *,
                 root: str, login_base: str, clock: Clock | None = None,
                 kite_factory: Callable[..., Any] | None = None,
                 env_token: str = "", expiry: time = TOKEN_EXPIRY) -> None:
        self.api_key = api_key
        self._secret = api_secret
        self._store = store
        self._root = root
        self._login_base = login_base
        self._clock = clock or LiveClock()
        self._factory = kite_factory or _kiteconnect
        self._expiry = expiry
        self._lock = threading.Lock()
        self._where = str(getattr(store, "path", "session"))
        self._seen = self._stamp()  # the stored session as this process last saw it
        self._data = checked_session(store.load(), self._where)
        if env_token and self._data.get("access_token") != env_token:
            # A token given in the environment (KITE_ACCESS_TOKEN) counts from now.
            self._data = {"access_token": env_token, "user_id": "",
                          "issued_at": self._clock.now().isoformat()}
        self.on_login: Callable[[str], None] | None = None  # new token -> feed, broker

    def login_url(self) -> str:
        return f"{self._login_base}?api_key={self.api_key}&v=3"

    def complete(self, text: str) -> str:
        """Exchange the pasted redirect URL or request_token; store the session; return
        the Kite user id. Raises ValueError with a clear message."""
        request_token = request_token_from(text)
        if not self._secret:
            raise ValueError("KITE_API_SECRET is not set: put it in the environment or .env")
        kite = self._factory(self.api_key, self._root)
        try:
            data = kite.generate_session(request_token, api_secret=self._secret)
        except Exception as exc:  # kiteconnect raises its own exception classes
            kind = type(exc).__name__
            if kind in ("TokenException", "InputException"):
                raise ValueError(f"Kite refused the request token ({exc}); it works once "
                                 "and for a few minutes only: log in again") from None
            raise ValueError(f"the login failed: {kind}: {exc}") from None
        token, user = data.get("access_token"), data.get("user_id", "")
        if not token:
            raise ValueError("Kite answered without an access token; log in again")
        with self._lock:
            self._data = {"access_token": token, "user_id": user,
                          "issued_at": self._clock.now().isoformat()}
            self._store.save(dict(self._data))
            self._seen = self._stamp()
        log.info("Kite login: user %s, token stored", user)
        if self.on_login is not None:
            self.on_login(token)
        return str(user)

    def issued_at(self) -> datetime | None:
        with self._lock:
            text = self._data.get("issued_at")
        return datetime.fromisoformat(text) if text else None

    def valid_until(self) -> datetime | None:
        """When the held token dies (the next 06:00 IST after its issue), None without one."""
        issued = self.issued_at()
        return None if issued is None else next_expiry(issued, self._expiry)

    def access_token(self) -> str | None:
        """The token if it was issued after the last 06:00 expiry, else None."""
        with self._lock:
            token = self._data.get("access_token")
            issued = self._data.get("issued_at")
        if not token or not issued:
            return None
        if datetime.fromisoformat(issued) < last_expiry(self._clock.now(), self._expiry):
            return None
        return token

    def login_state(self) -> LoginState:
        """The user and the next expiry after the token's issue (no HTTP; any thread)."""
        token = self.access_token()
        issued = self.issued_at()
        if token is None or issued is None:
            return LoginState(self.user_id)
        return LoginState(self.user_id, last_expiry(issued, self._expiry) + timedelta(days=1))

    @property
    def user_id(self) -> str:
        with self._lock:
            return str(self._data.get("user_id", ""))

    def drop_token(self) -> None:
        """The 06:00 job, or Kite said the token is dead: forget it (the file too, unless
        another process stored a session there since: ``adopt_stored`` takes that one)."""
        with self._lock:
            had = bool(self._data.get("access_token"))
            self._data = {}
            if self._stamp() == self._seen:
                self._store.clear()
                self._seen = self._stamp()
        if had:
            log.warning("Kite access token dropped: a new login is needed (/login)")

    def adopt_stored(self) -> bool:
        """A session another process stored (``bot.py login`` in another terminal): when
        the store changed since this process last saw it and holds a valid token other
        than ours, take it and announce it through ``on_login``, as a login here would.
        Cheap when nothing changed (one ``stat``). Any thread but the loop and the
        engine's (``on_login`` does HTTP)."""
        stamp = self._stamp()
        with self._lock:
            if stamp is None or stamp == self._seen:
                return False
            self._seen = stamp
            current = self._data.get("access_token")
        data = checked_session(self._store.load(), self._where)
        token = data.get("access_token")
        if not token or token == current:
            return False
        if datetime.fromisoformat(data["issued_at"]) < last_expiry(self._clock.now(),
                                                                   self._expiry):
            log.info("%s changed, but its token is from before the last 06:00", self._where)
            return False
        with self._lock:
            self._data = data
        log.info("Kite login found in %s (made elsewhere): user %s", self._where,
                 data.get("user_id", ""))
        if self.on_login is not None:
            self.on_login(token)
        return True

    def _stamp(self) -> Any:
        stamp = getattr(self._store, "stamp", None)
        return None if stamp is None else stamp()

    def check(self) -> bool:
        """Is the token valid at Kite? (one profile call; False when there is none)."""
        token = self.access_token()
        if token is None:
            return False
        kite = self._factory(self.api_key, self._root)
        kite.set_access_token(token)
        try:
            kite.profile()
        except Exception as exc:
            if type(exc).__name__ == "TokenException":
                self.drop_token()
                return False
            log.warning("login check: Kite did not answer (%s: %s)", type(exc).__name__, exc)
            return True  # not known to be dead: keep it
        return True


def _kiteconnect(api_key: str, root: str) -> Any:
    from kiteconnect import KiteConnect

    return KiteConnect(api_key, root=root)
