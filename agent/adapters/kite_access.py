"""What Kite's refusals mean for the account's access, said plainly, with what to do.

Three refusals look alike at the wire (an HTTP 403, sometimes the same text) and have
opposite fixes, so the agent tells them apart:

- ``LOGIN``: the access token is dead (TokenException; it dies at 06:00 IST): log in again.
- ``NO_MARKET_DATA``: the API key has no market-data subscription (the free Personal plan:
  quotes and historical candles answer PermissionException "Insufficient permission for
  that call.", the ticker's handshake 403). A login never fixes it: the paid Connect plan
  does. The profile call still works, which is how it is told from a dead token.
- ``IP_NOT_ALLOWED``: since 1 April 2026 Kite takes order calls (place, modify, cancel)
  only from the static IP registered for the app. Its exact answer is not documented;
  reports show ``IP (<address>) is not allowed`` and "Insufficient permission for that
  call.", so any refusal naming the IP, and any permission refusal of an order call, is
  read as this one. Market data, the order book and positions work from any IP.

``probe_access`` runs the morning check (``login_check``) and ``bot.py check-config``:
profile, one LTP quote and, when orders matter, a cancellation of an order id that does
not exist (Kite refuses it as unknown; from an unregistered IP it refuses it for the IP).
Plain functions: any thread may call them; ``probe_access`` does HTTP (never on the
engine thread).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kiteconnect import exceptions as kex

REGISTER_IP = ("developers.kite.trade -> My apps -> your app -> the static IP field "
               "(a primary and one backup)")
PROBE_ORDER_ID = "100000000000000000"  # no such order: only its refusal is read


class AccessProblem(StrEnum):
    LOGIN = "login"
    NO_MARKET_DATA = "no_market_data"
    IP_NOT_ALLOWED = "ip_not_allowed"


_HEADLINE = {
    AccessProblem.LOGIN: "Kite login needed",
    AccessProblem.NO_MARKET_DATA: "Kite refuses market data for this API key",
    AccessProblem.IP_NOT_ALLOWED: "Kite refuses orders from this machine's IP address",
}
_ADVICE = {
    AccessProblem.LOGIN: "the access token is missing or expired (it dies at 06:00 IST): "
                         "send /login in Telegram or run `python bot.py login`.",
    AccessProblem.NO_MARKET_DATA: "the app has no market-data subscription (the free "
                                  "Personal plan has no WebSocket and no historical "
                                  "candles). Subscribe the app to the paid Kite Connect "
                                  "plan at developers.kite.trade; a new login does not "
                                  "help.",
    AccessProblem.IP_NOT_ALLOWED: "order calls must come from the static IP registered for "
                                  f"the app since 1 April 2026. Register this machine's "
                                  f"public IP at {REGISTER_IP}, run the agent on a VPS or "
                                  "static-IP line, or send orders through a static-IP "
                                  "proxy (kite.proxy). IPv6 privacy addresses rotate: "
                                  "register the IPv6 or use IPv4. Positions stay protected "
                                  "only by stops already at the broker.",
}


@dataclass(frozen=True, slots=True)
class AccessRefusal:
    """One refusal, understood: the problem and Kite's own words."""

    problem: AccessProblem
    kite_message: str = ""

    @property
    def headline(self) -> str:
        return _HEADLINE[self.problem]

    @property
    def advice(self) -> str:
        return _ADVICE[self.problem]

    def text(self) -> str:
        """One line for alerts, logs and rejected orders: what, what to do, Kite's words."""
        said = f" (Kite: {self.kite_message})" if self.kite_message else ""
        return f"{self.headline}: {self.advice}{said}"


# "IP" as a word, a dotted IPv4 address, or an IPv6 address (three colons at least, so
# that a time such as 12:30:45 is not one).
_IP = re.compile(r"\bIP\b|\b(?:\d{1,3}\.){3}\d{1,3}\b|\b[0-9a-f]{1,4}(?::[0-9a-f]{0,4}){3,7}",
                 re.IGNORECASE)
_REFUSED = re.compile(r"not (?:allowed|authori[sz]ed|registered|whitelisted|permitted)"
                      r"|whitelist", re.IGNORECASE)
_PERMISSION = "insufficient permission"


def _message(exc: BaseException) -> str:
    return (getattr(exc, "message", None) or str(exc) or type(exc).__name__)[:300]


def names_ip_refusal(exc: BaseException) -> bool:
    """A refusal whose text says an IP is not allowed (whatever its exception class)."""
    text = _message(exc)
    return isinstance(exc, kex.KiteException) and bool(_IP.search(text)) \
        and bool(_REFUSED.search(text))


def _permission(exc: BaseException) -> bool:
    return isinstance(exc, kex.PermissionException) or (
        isinstance(exc, kex.KiteException) and _PERMISSION in _message(exc).lower())


def order_refusal(exc: BaseException) -> AccessRefusal | None:
    """An order call's (place, modify, cancel) failure that is about access, or None."""
    if names_ip_refusal(exc) or _permission(exc):
        return AccessRefusal(AccessProblem.IP_NOT_ALLOWED, _message(exc))
    if isinstance(exc, kex.TokenException):
        return AccessRefusal(AccessProblem.LOGIN, _message(exc))
    return None


def data_refusal(exc: BaseException) -> AccessRefusal | None:
    """A market-data call's (quote, LTP, historical) failure that is about access, or None."""
    if isinstance(exc, kex.TokenException) and not names_ip_refusal(exc):
        return AccessRefusal(AccessProblem.LOGIN, _message(exc))
    if _permission(exc):
        return AccessRefusal(AccessProblem.NO_MARKET_DATA, _message(exc))
    return None


class CheckResult(StrEnum):
    OK = "ok"
    REFUSED = "refused"  # an access problem: see ``refusal``
    UNKNOWN = "unknown"  # Kite did not answer, or answered something unexpected
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class AccessCheck:
    """One line of the access report."""

    name: str  # "login", "market data", "order calls"
    result: CheckResult
    detail: str = ""
    refusal: AccessRefusal | None = None

    def line(self) -> str:
        if self.refusal is not None:
            return f"{self.name}: {self.refusal.text()}"
        return f"{self.name}: {self.result.value}{f' ({self.detail})' if self.detail else ''}"


@dataclass(frozen=True, slots=True)
class AccessReport:
    checks: tuple[AccessCheck, ...]

    @property
    def refusals(self) -> tuple[AccessRefusal, ...]:
        return tuple(c.refusal for c in self.checks if c.refusal is not None)

    def has(self, problem: AccessProblem) -> bool:
        return any(r.problem is problem for r in self.refusals)


def probe_access(kite: Any, quote_key: str, *, orders: bool) -> AccessReport:
    """Ask Kite, with the session's token already set on ``kite``: is the login valid, does
    the key get market data (one LTP of ``quote_key``, "EXCHANGE:SYMBOL"), and (``orders``)
    are order calls accepted from here. Stops after a dead login (nothing else can answer).
    """
    checks: list[AccessCheck] = []
    try:
        profile = kite.profile()
    except Exception as exc:  # kiteconnect's own classes, or the network's
        refusal = data_refusal(exc) if isinstance(exc, kex.TokenException) else None
        if refusal is not None:
            return AccessReport((AccessCheck("login", CheckResult.REFUSED, refusal=refusal),))
        return AccessReport((AccessCheck("login", CheckResult.UNKNOWN, _short(exc)),))
    user = profile.get("user_id", "") if isinstance(profile, dict) else ""
    checks.append(AccessCheck("login", CheckResult.OK, f"valid, user {user}" if user else ""))
    try:
        kite.ltp([quote_key])
        checks.append(AccessCheck("market data", CheckResult.OK, f"LTP of {quote_key}"))
    except Exception as exc:
        refusal = data_refusal(exc)
        checks.append(AccessCheck("market data", CheckResult.REFUSED, refusal=refusal)
                      if refusal is not None
                      else AccessCheck("market data", CheckResult.UNKNOWN, _short(exc)))
    if not orders:
        checks.append(AccessCheck("order calls", CheckResult.SKIPPED, "paper mode"))
        return AccessReport(tuple(checks))
    try:
        kite.cancel_order("regular", PROBE_ORDER_ID)
        checks.append(AccessCheck("order calls", CheckResult.UNKNOWN,
                                  "Kite accepted a cancel of an order that does not exist"))
    except Exception as exc:
        refusal = order_refusal(exc)
        if refusal is not None:
            checks.append(AccessCheck("order calls", CheckResult.REFUSED, refusal=refusal))
        elif isinstance(exc, kex.KiteException) and getattr(exc, "code", 500) < 500:
            checks.append(AccessCheck("order calls", CheckResult.OK,
                                      "accepted from this IP (a probe cancel of no order)"))
        else:
            checks.append(AccessCheck("order calls", CheckResult.UNKNOWN, _short(exc)))
    return AccessReport(tuple(checks))


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {_message(exc)}"[:200]
