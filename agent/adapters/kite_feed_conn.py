"""One ticker WebSocket of the live feed: a KiteTicker per connection attempt.

Why a fresh ``KiteTicker`` for every attempt: KiteTicker bakes the access token into
``socket_url`` when it is constructed, and its ``ReconnectingClientFactory`` dials that same
URL on every retry, so a token refreshed by a new login would never be used. Here
KiteTicker's own retrying is switched off (``reconnect_max_tries=0``: the factory gives up
after one attempt and calls ``on_noreconnect``), and :meth:`TickerConnection.open` builds a
new KiteTicker with the token the provider returns at that moment. ``on_noreconnect`` fires
once whenever an attempt ends (the socket was lost or never connected) unless we closed it
on purpose (``close()`` stops trying first): that is where the next attempt is scheduled,
with a doubling delay that resets once frames flow again. A fresh KiteTicker never runs its
own ``resubscribe`` (it does so in ``on_open`` only when ``_is_first_connect`` is False), so
``on_connect`` subscribes the connection's instruments and sets their mode explicitly.

A 403 at the handshake means the token is dead: retrying stops and the owner hears "login
needed", unless the provider already has a different token (then that one is tried at
once). The watchdog (:meth:`check`) aborts a socket that stayed silent too long (Kite sends
a heartbeat every second and KiteTicker sends no pings, so a dead socket just goes quiet).

Threads: everything here runs in the reactor thread, except that the owner mutates
``tokens`` under its own lock and any thread may read the status fields.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

logger = logging.getLogger(__name__)

MODES = ("ltp", "quote", "full")
KITE_MAX_PER_CONNECTION = 3_000
KITE_MAX_CONNECTIONS = 3


@dataclass(frozen=True, slots=True)
class FeedOptions:
    """How the feed connects. Times are wall seconds.

    ``mode``: the streaming mode of every instrument (full carries the exchange timestamp).
    ``silence_timeout``: no frame at all (heartbeats count) for this long drops the socket.
    """

    mode: str = "full"
    max_per_connection: int = KITE_MAX_PER_CONNECTION
    max_connections: int = KITE_MAX_CONNECTIONS
    silence_timeout: float = 10.0
    watchdog_interval: float = 1.0
    connect_timeout: float = 10.0
    min_reconnect_delay: float = 0.5
    max_reconnect_delay: float = 15.0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"feed mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if not 1 <= self.max_connections <= KITE_MAX_CONNECTIONS:
            raise ValueError(f"max_connections must be 1..{KITE_MAX_CONNECTIONS}, "
                             f"got {self.max_connections}")
        if not 1 <= self.max_per_connection <= KITE_MAX_PER_CONNECTION:
            raise ValueError(f"max_per_connection must be 1..{KITE_MAX_PER_CONNECTION}, "
                             f"got {self.max_per_connection}")
        for name in ("silence_timeout", "watchdog_interval", "connect_timeout",
                     "min_reconnect_delay", "max_reconnect_delay"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.max_reconnect_delay < self.min_reconnect_delay:
            raise ValueError("max_reconnect_delay must be >= min_reconnect_delay")


class ConnState(StrEnum):
    IDLE = "idle"  # never opened yet
    CONNECTING = "connecting"
    OPEN = "open"
    RETRYING = "retrying"  # an attempt ended; the next one is scheduled
    LOGIN_NEEDED = "login needed"  # 403 at the handshake: no retry until reopen()
    CLOSED = "closed"  # closed on purpose, for good


class ConnectionOwner(Protocol):
    """What a connection asks of the feed that owns it. Reactor thread."""

    def access_token(self) -> str | None: ...

    def tokens_of(self, conn: TickerConnection) -> list[int]: ...

    def frame(self, payload: bytes, is_binary: bool) -> None: ...

    def connection_up(self, conn: TickerConnection) -> None: ...

    def connection_down(self, conn: TickerConnection, was_open: bool, reason: str,
                        retry_in: float) -> None: ...

    def login_needed(self, conn: TickerConnection, reason: str) -> None: ...

    def connection_closed(self, conn: TickerConnection) -> None: ...


class TickerConnection:
    """One WebSocket and the instrument tokens it carries (at most 3,000 on Kite)."""

    def __init__(self, index: int, *, api_key: str, root: str | None, options: FeedOptions,
                 owner: ConnectionOwner, ticker_factory: Callable[..., Any],
                 monotonic: Callable[[], float]) -> None:
        self.index = index
        self.tokens: set[int] = set()  # mutated by the owner under its lock
        self.state = ConnState.IDLE
        self.ticker: Any = None  # the KiteTicker of the current attempt
        self.last_frame: float | None = None  # monotonic time of the last frame
        self.attempts = self.connects = self.drops = self.watchdog_drops = 0
        self.reason = ""  # why the last attempt ended
        self._api_key, self._root, self._options = api_key, root, options
        self._owner, self._factory, self._monotonic = owner, ticker_factory, monotonic
        self._delay = options.min_reconnect_delay
        self._retry: Any = None  # IDelayedCall of the next attempt
        self._used_token: str | None = None
        self._refused = False  # the handshake of this attempt got HTTP 403
        self._live = False  # between on_connect and on_close
        self._flowing = False  # a frame arrived since the last connect

    # ----- the owner (reactor thread) -----
    def open(self) -> None:
        """Start an attempt with the current token (nothing when connecting, open, closed)."""
        if self.state in (ConnState.CONNECTING, ConnState.OPEN, ConnState.CLOSED):
            return
        self._cancel_retry()
        token = self._owner.access_token()
        if not token:
            self._need_login("no access token")
            return
        self._used_token, self._refused, self.reason = token, False, ""
        self.attempts += 1
        self.state = ConnState.CONNECTING
        ticker = self._factory(self._api_key, token, root=self._root, reconnect_max_tries=0,
                               connect_timeout=self._options.connect_timeout)
        ticker.on_connect = self._on_connect
        ticker.on_message = self._on_message
        ticker.on_error = self._on_error
        ticker.on_close = self._on_close
        ticker.on_noreconnect = self._on_attempt_over
        self.ticker = ticker
        try:
            ticker.connect(threaded=True)  # the reactor runs (in this thread): only dials
            factory = getattr(ticker, "factory", None)
            if factory is not None:  # a handshake that never completes also ends the attempt
                factory.setProtocolOptions(openHandshakeTimeout=self._options.connect_timeout)
        except Exception as exc:
            logger.exception("Kite feed connection %d: connect failed", self.index)
            self.reason = f"connect failed: {exc}"
            self._on_attempt_over(ticker)

    def reopen(self) -> None:
        """Try again now (after a login): resets the delay; open sockets are left alone."""
        if self.state in (ConnState.IDLE, ConnState.RETRYING, ConnState.LOGIN_NEEDED):
            self._delay = self._options.min_reconnect_delay
            self.state = ConnState.IDLE
            self.open()

    def add(self, tokens: list[int]) -> None:
        """Instruments were added to ``tokens``: subscribe them now if the socket is open."""
        if self.state is ConnState.OPEN:
            self._subscribe(tokens)
        elif self.state is ConnState.IDLE:
            self.open()  # a connection made for them at runtime

    def remove(self, tokens: list[int]) -> None:
        if self.state is ConnState.OPEN and tokens:
            try:
                self.ticker.unsubscribe(tokens)
            except Exception:  # KiteTicker has already closed the socket: the retry resyncs
                logger.exception("Kite feed connection %d: unsubscribe failed", self.index)

    def check(self, now: float) -> None:
        """The watchdog: abort an open socket that was silent for ``silence_timeout``."""
        if self.state is not ConnState.OPEN or self.last_frame is None:
            return
        quiet = now - self.last_frame
        if quiet <= self._options.silence_timeout:
            return
        self.watchdog_drops += 1
        self.reason = f"no frame for {quiet:.1f} s"
        self.last_frame = now  # one abort per silence, even if the close takes a while
        logger.warning("Kite feed connection %d: %s, dropping it", self.index, self.reason)
        ws = getattr(self.ticker, "ws", None)
        if ws is not None:
            ws.dropConnection(abort=True)  # -> on_close, on_noreconnect -> next attempt

    def close(self) -> None:
        """For good: no more attempts; the owner hears ``connection_closed`` once."""
        if self.state is ConnState.CLOSED:
            return
        self.state = ConnState.CLOSED
        self._cancel_retry()
        if self.ticker is None:
            self._finish_close()
        elif self._live:
            self.ticker.close()  # stop_retry + close frame -> on_close
        # else still connecting: on_connect closes it, or on_noreconnect reports the failure

    # ----- KiteTicker callbacks (reactor thread; stale attempts are ignored) -----
    def _on_connect(self, ticker: Any, response: Any) -> None:
        if ticker is not self.ticker:
            return
        self._live = True
        if self.state is ConnState.CLOSED:
            ticker.close()
            return
        self.state = ConnState.OPEN
        self.connects += 1
        self.last_frame = self._monotonic()
        self._flowing = False
        try:
            tokens = self._owner.tokens_of(self)
            if tokens:
                self._subscribe(tokens)
            self._owner.connection_up(self)
        except Exception:  # an exception here would fail the handshake inside autobahn
            logger.exception("Kite feed connection %d: on_connect failed", self.index)

    def _on_message(self, ticker: Any, payload: bytes, is_binary: bool) -> None:
        if ticker is self.ticker:
            self.last_frame = self._monotonic()
            if not self._flowing:
                self._flowing = True
                self._delay = self._options.min_reconnect_delay
            self._owner.frame(payload, is_binary)

    def _on_error(self, ticker: Any, code: int, reason: Any) -> None:
        # KiteTicker logs these at ERROR itself; code 0 is a text {"type": "error"} message
        if ticker is self.ticker and self.state is ConnState.CONNECTING and "403" in str(reason):
            self._refused = True

    def _on_close(self, ticker: Any, code: int | None, reason: Any) -> None:
        if ticker is not self.ticker:
            return
        self._live = False
        if self.state is ConnState.CONNECTING and "403" in str(reason):
            self._refused = True
        if not self.reason:
            self.reason = f"{code}: {reason}" if reason else f"closed ({code})"
        if self.state is ConnState.CLOSED:
            self._finish_close()

    def _on_attempt_over(self, ticker: Any) -> None:
        """``on_noreconnect``: the socket is gone (lost, or never connected)."""
        if ticker is not self.ticker:
            return
        if self.state is ConnState.CLOSED:
            self._finish_close()
            return
        was_open = self.state is ConnState.OPEN
        self.ticker, self._live = None, False
        if was_open:
            self.drops += 1
        reason = self.reason or "could not connect"
        if self._refused:
            current = self._owner.access_token()
            if not current or current == self._used_token:
                self._need_login(reason)
                return
            delay = 0.0  # a newer token is already there: try it at once
        else:
            delay = self._delay
            self._delay = min(delay * 2, self._options.max_reconnect_delay)
        self.state = ConnState.RETRYING
        from twisted.internet import reactor

        self._retry = reactor.callLater(delay, self._retry_now)
        self._owner.connection_down(self, was_open, reason, delay)

    # ----- helpers -----
    def _subscribe(self, tokens: list[int]) -> None:
        try:
            self.ticker.subscribe(tokens)  # Kite streams new subscriptions in quote mode
            if self._options.mode != "quote":
                self.ticker.set_mode(self._options.mode, tokens)
        except Exception:  # KiteTicker closes the socket itself: the next attempt resubscribes
            logger.exception("Kite feed connection %d: subscribe failed", self.index)

    def _retry_now(self) -> None:
        self._retry = None
        if self.state is ConnState.RETRYING:
            self.open()

    def _cancel_retry(self) -> None:
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        self._retry = None

    def _need_login(self, reason: str) -> None:
        self.state = ConnState.LOGIN_NEEDED
        self.ticker, self._live = None, False
        self._owner.login_needed(self, reason)

    def _finish_close(self) -> None:
        self.ticker, self._live = None, False
        self._owner.connection_closed(self)
