"""Talking to Kite's REST API politely: rate windows, retry policy, and what a failure means.

Waiting is measured on a ``Timer`` (seconds, monotonic): ``WallTimer`` in production, a
manual one in tests. Kite's limits are wall-time facts, so the broker's timer is never the
agent's (possibly accelerated) trading clock.
"""

from __future__ import annotations

import threading
import time
from collections import deque
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
    Worker thread only.
    """

    def __init__(self, limits: Sequence[tuple[int, float]]) -> None:
        for count, seconds in limits:
            if count <= 0 or seconds <= 0:
                raise ValueError(f"a rate limit needs count > 0 and seconds > 0, got "
                                 f"({count}, {seconds})")
        self.limits = tuple(limits)
        self._calls: deque[float] = deque()
        self._longest = max((s for _, s in self.limits), default=0.0)

    def wait(self, now: float, n: int = 1) -> float:
        """Seconds from ``now`` until ``n`` more calls fit in every window (0: now)."""
        while self._calls and now - self._calls[0] >= self._longest:
            self._calls.popleft()
        need = 0.0
        for count, seconds in self.limits:
            if n > count:
                raise ValueError(f"{n} calls can never fit in a window of {count}")
            recent = [t for t in self._calls if now - t < seconds]
            excess = len(recent) + n - count
            if excess > 0:  # the excess oldest calls must leave this window first
                need = max(need, recent[excess - 1] + seconds - now)
        return need

    def take(self, now: float) -> None:
        self._calls.append(now)


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
