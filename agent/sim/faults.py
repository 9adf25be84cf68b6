"""Fault switches of the simulated exchange.

Tests flip faults from their own thread (``sim.faults.server_errors(2)``); the server's
loop thread consumes them. Every method takes the lock, so any thread may call any method.
``RateLimiter`` (Kite's own request rates, not a fault) lives in ``agent.sim.rates`` and is
importable from here as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from agent.sim.rates import RateLimiter

__all__ = ["Faults", "RateLimiter", "SendTimeout"]


@dataclass(frozen=True, slots=True)
class SendTimeout:
    """An order request that is carried out but whose answer never arrives in time."""

    delay: float  # seconds to hold the answer back
    drop: bool  # close the connection instead of answering


class Faults:
    """Runtime fault switches. Counted faults apply to the next n matching requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._silenced = False
        self._rate_limited = 0
        self._server_errors = 0
        self._server_error_code = 503
        self._slow = 0.0
        self._send_timeouts = 0
        self._send_timeout = SendTimeout(10.0, False)
        self._holds = 0
        self._hold_seconds = 60.0
        self._drop_hook: Callable[[], None] | None = None
        self._expire_hook: Callable[[], None] | None = None

    def bind(self, drop_hook: Callable[[], None], expire_hook: Callable[[], None]) -> None:
        """Called by the server: how to drop sockets and expire tokens."""
        self._drop_hook, self._expire_hook = drop_hook, expire_hook

    # ----- switches (tests) -----
    def drop_sockets(self) -> None:
        """Abort every ticker WebSocket connection at once (clients may reconnect)."""
        if self._drop_hook is not None:
            self._drop_hook()

    def silence(self, on: bool = True) -> None:
        """Keep ticker sockets open but send nothing on them, not even heartbeats."""
        with self._lock:
            self._silenced = on

    def rate_limit_burst(self, n: int) -> None:
        """The next n order requests answer 429 NetworkException "Too many requests"."""
        with self._lock:
            self._rate_limited = max(0, n)

    def server_errors(self, n: int, code: int = 503) -> None:
        """The next n API requests answer ``code`` (500 General, 502-504 Network)."""
        if code not in (500, 502, 503, 504):
            raise ValueError(f"server error code must be 500, 502, 503 or 504, got {code}")
        with self._lock:
            self._server_errors, self._server_error_code = max(0, n), code

    def slow_responses(self, seconds: float) -> None:
        """Hold every API answer back by ``seconds`` of wall time (0: off)."""
        with self._lock:
            self._slow = max(0.0, seconds)

    def timeout_after_send(self, n: int, delay: float = 10.0, drop: bool = False) -> None:
        """The next n order placements are carried out, then the answer is held back
        ``delay`` seconds (past the client's timeout) or the connection is dropped."""
        with self._lock:
            self._send_timeouts = max(0, n)
            self._send_timeout = SendTimeout(delay, drop)

    def expire_tokens(self) -> None:
        """Every current access token becomes invalid (REST 403, WS handshake 403)."""
        if self._expire_hook is not None:
            self._expire_hook()

    def hold_pending(self, n: int = 1, seconds: float = 60.0) -> None:
        """The next n orders placed stay in OPEN PENDING for ``seconds`` of the exchange's
        clock (Kite's forum shows one for 70 s, and one stuck for an hour), with the
        realism rule ``interim_statuses`` on (``agent.sim.lifecycle``)."""
        if seconds < 0:
            raise ValueError(f"hold_pending: seconds must be >= 0, got {seconds}")
        with self._lock:
            self._holds, self._hold_seconds = max(0, n), float(seconds)

    def clear(self) -> None:
        """Every switch off, every count to zero."""
        with self._lock:
            self._silenced = False
            self._rate_limited = self._server_errors = self._send_timeouts = 0
            self._holds = 0
            self._slow = 0.0

    # ----- consumed by the server (loop thread) -----
    @property
    def silenced(self) -> bool:
        with self._lock:
            return self._silenced

    @property
    def slow(self) -> float:
        with self._lock:
            return self._slow

    def take_rate_limited(self) -> bool:
        with self._lock:
            if self._rate_limited > 0:
                self._rate_limited -= 1
                return True
            return False

    def take_server_error(self) -> int | None:
        with self._lock:
            if self._server_errors > 0:
                self._server_errors -= 1
                return self._server_error_code
            return None

    def take_hold(self) -> float | None:
        """Seconds to hold the order being placed in OPEN PENDING (None: no hold)."""
        with self._lock:
            if self._holds > 0:
                self._holds -= 1
                return self._hold_seconds
            return None

    def take_send_timeout(self) -> SendTimeout | None:
        with self._lock:
            if self._send_timeouts > 0:
                self._send_timeouts -= 1
                return self._send_timeout
            return None
