"""Talking to Kite's REST API politely: rate windows, retry policy, and what a failure means
(for a modify or a cancel: whether to try again, ``classify_change``).

Waiting is measured on a ``Timer`` (seconds, monotonic): ``WallTimer`` in production, a
manual one in tests. Kite's limits are wall-time facts, so the broker's timer is never the
agent's (possibly accelerated) trading clock.
"""

from __future__ import annotations

import bisect
import math
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

import requests
from kiteconnect import exceptions as kex

from agent.adapters.kite_access import names_ip_refusal

ORDER_LIMITS: tuple[tuple[int, float], ...] = ((10, 1.0), (400, 60.0))  # place/modify/cancel
OTHER_LIMITS: tuple[tuple[int, float], ...] = ((10, 1.0),)  # every other REST call


class Timer(Protocol):
    def monotonic(self) -> float:
        """Seconds on this timer's scale. Any thread."""
        ...

    def wait(self, wake: threading.Event, until: float | None) -> None:
        """Return when ``wake`` is set or the timer reaches ``until`` (None: no deadline).
        May return early; the caller re-checks."""
        ...


class WallTimer:
    """Real time (``time.monotonic``)."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wait(self, wake: threading.Event, until: float | None) -> None:
        wake.wait(None if until is None else max(0.0, until - time.monotonic()))


class RateWindows:
    """At most ``count`` calls in any ``seconds``-long window, for every window given.

    Sliding windows rather than refilling buckets: a bucket of 10 refilled at 10/s lets 11
    calls into some one-second span (a full burst, then the first refill), which a
    sliding-window limiter such as Kite's (and the simulator's) answers with 429.

    Kite counts a call in the calendar second (on its own clock) in which it arrives, and
    it arrives somewhere between our send and the end of our call. So a call holds a place
    in every window from ``begin`` (before it is sent) until one window length after its
    ``end``: then no calendar second, however aligned, can see more than ``count`` arrivals
    (of any ``count + 1`` calls arriving in one second, the last sent would have found the
    other ``count`` still holding their places), however many calls are in flight at once
    and whatever their latency. ``take`` is a call begun and ended at once.
    Worker thread only.
    """

    def __init__(self, limits: Sequence[tuple[int, float]]) -> None:
        for count, seconds in limits:
            if count <= 0 or seconds <= 0:
                raise ValueError(f"a rate limit needs count > 0 and seconds > 0, got "
                                 f"({count}, {seconds})")
        self.limits = tuple(limits)
        self._ends: list[float] = []  # sorted: when finished calls ended
        self._open = 0  # calls in flight: in every window until they end
        self._longest = max((s for _, s in self.limits), default=0.0)

    @property
    def in_flight(self) -> int:
        return self._open

    def wait(self, now: float, n: int = 1) -> float:
        """Seconds from ``now`` until ``n`` more calls fit in every window (0: now; inf:
        not before a call in flight ends)."""
        drop = bisect.bisect_right(self._ends, now - self._longest)
        if drop:
            del self._ends[:drop]
        need = 0.0
        for count, seconds in self.limits:
            if n > count:
                raise ValueError(f"{n} calls can never fit in a window of {count}")
            recent = self._ends[bisect.bisect_right(self._ends, now - seconds):]
            excess = len(recent) + self._open + n - count
            if excess > len(recent):
                return math.inf
            if excess > 0:  # the excess oldest calls must leave this window first
                need = max(need, recent[excess - 1] + seconds - now)
        return need

    def begin(self, n: int = 1) -> None:
        """``n`` calls are about to be sent."""
        self._open += n

    def end(self, at: float, n: int = 1) -> None:
        """``n`` calls begun earlier ended (answered or failed) at ``at``."""
        self._open = max(0, self._open - n)
        for _ in range(n):
            bisect.insort(self._ends, at)

    def take(self, now: float) -> None:
        bisect.insort(self._ends, now)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff after a retryable failure: first_delay, then times factor, capped."""

    attempts: int = 5  # attempts in all before giving up
    first_delay: float = 0.5
    factor: float = 2.0
    max_delay: float = 8.0
    settle: float = 2.0  # after an ambiguous placement: wait before looking it up

    def delay(self, failures: int) -> float:
        """The wait after the ``failures``-th failure in a row (1-based)."""
        return min(self.max_delay, self.first_delay * self.factor ** max(0, failures - 1))


class Failure(Enum):
    TOKEN = "token"  # the session is dead: tell the owner, never retry
    REFUSED = "refused"  # Kite said no (input, order, permission, other 4xx): final
    RETRY = "retry"  # certainly not carried out (429, could not connect): try again
    AMBIGUOUS = "ambiguous"  # may have been carried out (timeout, dropped, 5xx)


def classify(exc: BaseException) -> Failure | None:
    """What a failed kiteconnect call means; None for an error that is not Kite's or the
    network's (a bug: let it surface). A refusal naming the IP is never TOKEN, whatever its
    class: the token is fine, the address is not (``kite_access``)."""
    if isinstance(exc, kex.TokenException) and not names_ip_refusal(exc):
        return Failure.TOKEN
    if isinstance(exc, kex.KiteException):
        code = getattr(exc, "code", 500) or 500
        if code == 429:
            return Failure.RETRY
        if code >= 500 and isinstance(exc, kex.NetworkException | kex.GeneralException
                                      | kex.DataException):
            return Failure.AMBIGUOUS
        return Failure.REFUSED
    if isinstance(exc, requests.RequestException):
        return Failure.RETRY if never_sent(exc) else Failure.AMBIGUOUS
    return None


# What Kite says when it refuses a modify or a cancel, and what that means. Sources
# (KITE_2026 §1.1 and §1.4):
# - "Order cannot be modified as it is being processed. Try later.": handled as a known
#   issue in public third-party Kite code, explained by webnotes.in; the same words with
#   "cancelled" appear as an InputException in a user's script and third-party logs;
# - "The order for ID (...) does not exist": a modify milliseconds after the placement
#   (kite.trade forum comment/48691: it worked a second later);
# - "Maximum allowed order modifications exceeded.": the 25-modification cap
#   (stocksdeveloper.in; Zerodha staff in comment/48691);
# - "Order cannot be cancelled as it is complete." (and modified, cancelled, rejected):
#   the order is final; the pattern of the texts above with the order's status.
TRANSIENT_TEXTS = ("being processed", "does not exist")
MAX_MODIFICATIONS_TEXT = "maximum allowed order modifications"
_ORDER_FINAL = re.compile(r"cannot be (?:modified|cancell?ed|canceled) as it is (?:already )?"
                          r"(?:complete|completed|cancell?ed|canceled|rejected|executed|"
                          r"lapsed|expired)|order is already (?:complete|cancell?ed|"
                          r"rejected|executed)", re.IGNORECASE)


class Change(Enum):
    """What a failed modify or cancel means for the next attempt."""

    RETRY = "retry"  # transient (429, 5xx, network, "being processed", "does not exist")
    ORDER_FINAL = "order_final"  # the order is complete, cancelled or rejected: stop
    MAX_MODIFICATIONS = "max_modifications"  # the cap: cancel and place afresh
    REFUSED = "refused"  # refused for good (input, permission, IP): stop, say why
    TOKEN = "token"  # the session is dead: stop, ask for a login


def classify_change(exc: BaseException) -> Change:
    """A failed modify or cancel: retry it (until it works or the order is final) or not."""
    kind = classify(exc)
    if kind is Failure.TOKEN:
        return Change.TOKEN
    text = describe(exc).lower()
    if MAX_MODIFICATIONS_TEXT in text:  # its HTTP status is not documented: text first
        return Change.MAX_MODIFICATIONS
    if kind in (Failure.RETRY, Failure.AMBIGUOUS):
        return Change.RETRY
    if kind is None:
        return Change.REFUSED
    if any(t in text for t in TRANSIENT_TEXTS):
        return Change.RETRY
    if _ORDER_FINAL.search(text):
        return Change.ORDER_FINAL
    return Change.REFUSED


def never_sent(exc: requests.RequestException) -> bool:
    """True when the request certainly did not reach the server (no connection made)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        return type(reason).__name__ == "NewConnectionError"
    return False


def describe(exc: BaseException) -> str:
    """A short text for logs and the engine's message (Kite's own message when it has one)."""
    if isinstance(exc, kex.KiteException):
        return str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {exc}"[:200]
