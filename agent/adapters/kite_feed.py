"""The live tick feed: Kite's ticker WebSocket, through the real ``KiteTicker``, to the engine.

    feed = KiteFeed(api_key, session.access_token, runner.put, clock=clock,
                    tokens=[i.token for i in instruments],
                    on_order_message=broker.on_order_message,
                    on_login_needed=lambda: ...)
    feed.start()                 # returns at once; FeedStatus events tell how it goes
    feed.subscribe([token])      # /add      feed.unsubscribe([token])   # /remove
    feed.reconnect()             # after a new login      feed.close()  # at exit

Frames: ``on_ticks`` stays unset (KiteTicker's own parser is too slow for the reactor
thread); ``on_message`` hands binary frames to :class:`KiteFrameParser` with the injected
clock's time as ``received_at``, and each frame with ticks becomes ONE ``TickBatch`` on the
inbox; or two, when ``prioritize(tokens)`` named instruments (the engine's armed ones: an
order in flight, or a trigger within 1% of the price): their ticks are parsed and put
first, the rest of the frame after
(each instrument's ticks keep their order; a 3,000-instrument frame takes ~12 ms to parse,
so a stop or a breakout no longer waits behind the whole frame). Heartbeats only feed the
watchdog. Text frames: ``{"type": "order", "data": ...}``
goes to ``on_order_message(data)`` (exact repeats dropped: every connection of an API key
gets every order update), ``error`` is logged as a warning, ``message`` at INFO.

Instruments: every token streams in ``options.mode`` (default full: its exchange timestamp
is what the strategy uses). Kite allows 3,000 instruments per connection and 3 connections
per API key, so more than 3,000 are spread over up to 3 connections (filled in order; a
connection is opened when the first token needs it); more than 9,000 raise ValueError and
change nothing. Reconnects, resubscription, the current token and the 403 "login needed"
stop are handled per connection (``kite_feed_conn``): KiteTicker bakes the access token into
its socket URL, so every connection attempt is a NEW KiteTicker built with what
``token_provider()`` returns at that moment, and ``on_connect`` subscribes again (a drop,
the watchdog, ``reconnect()`` after a login: all pick up the current token).

Events: ``FeedStatus(True)`` when every connection is up, ``FeedStatus(False, why)`` when
one drops (once per outage, not per retry); a 403 is ``FeedStatus(False, "login needed")``
plus ``on_login_needed()``. Connects and drops are INFO/WARNING log lines; nothing per tick.

THE TWISTED REACTOR (see ``kite_reactor``): KiteTicker runs on Twisted's global reactor,
which starts once per process and can never be restarted. ``start()`` starts it in a daemon
thread if nothing has yet; nothing here ever calls ``reactor.stop()`` or
``KiteTicker.stop()``. ``close()`` uses ``KiteTicker.close()`` (stop retrying, close
frame). KiteTicker's connect/subscribe/set_mode/unsubscribe/close are not thread-safe, so
they run only in the reactor thread: the public methods below hand work over with
``reactor.callFromThread``.

Threads: ``start``, ``subscribe``, ``unsubscribe``, ``reconnect``, ``close``, ``status``,
``feed_info`` and ``tokens``: any thread. ``put``, ``on_order_message``,
``on_login_needed`` and ``token_provider`` are called in the reactor thread: they must be
quick and must not block (``EngineRunner.put`` is a queue put).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from kiteconnect import KiteTicker

from agent.adapters.kite_feed_conn import ConnState, FeedOptions, TickerConnection
from agent.adapters.kite_feed_shards import TokenShards, checked_tokens
from agent.adapters.kite_feed_status import ConnectionStatus, FeedCounters, FeedState
from agent.adapters.kite_feed_text import TextFrames
from agent.adapters.kite_parser import KiteFrameParser
from agent.adapters.kite_reactor import ensure_reactor_running, in_reactor
from agent.clock import Clock
from agent.events import FeedStatus, TickBatch
from agent.models import Tick

if TYPE_CHECKING:
    from handlers.services import FeedInfo

logger = logging.getLogger(__name__)

LOGIN_NEEDED = "login needed"

__all__ = ["LOGIN_NEEDED", "FeedOptions", "FeedState", "KiteFeed"]


class KiteFeed:
    """Kite ticks to the engine inbox over up to three KiteTicker connections."""

    def __init__(self, api_key: str, token_provider: Callable[[], str | None],
                 put: Callable[[Any], None], *, clock: Clock, tokens: Iterable[int] = (),
                 root: str | None = None, options: FeedOptions | None = None,
                 on_order_message: Callable[[dict[str, Any]], None] | None = None,
                 on_login_needed: Callable[[], None] | None = None,
                 ticker_factory: Callable[..., Any] = KiteTicker,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        """``root``: the ticker URL (None: Kite's). ``ticker_factory``: builds a KiteTicker
        (tests pass a fake). ``monotonic``: the watchdog's wall clock. ValueError when
        ``tokens`` exceed the connections' capacity."""
        self._api_key, self._root = api_key, root
        self._token_provider, self._put, self._clock = token_provider, put, clock
        self._options = options or FeedOptions()
        self._on_login_needed = on_login_needed
        self._factory, self._monotonic = ticker_factory, monotonic
        self._lock = threading.Lock()  # guards the token assignment and the flags below
        self._shards = TokenShards(self._options.max_per_connection,
                                   self._options.max_connections, self._new_connection)
        self._started = self._closing = False
        self._all_closed = threading.Event()
        self._parser = KiteFrameParser()  # reactor thread (all connections live there)
        self._first: frozenset[int] = frozenset()  # replaced whole by prioritize()
        self._watchdog: Any = None
        self._announced: bool | None = None  # the last FeedStatus put (reactor thread)
        self._login_needed = False
        self._texts = TextFrames(on_order_message)  # reactor thread
        self._exchange_lag: float | None = None
        self._shards.assign(checked_tokens(tokens))

    # ------------------------------------------------------------ any thread
    @property
    def options(self) -> FeedOptions:
        return self._options

    @property
    def tokens(self) -> frozenset[int]:
        with self._lock:
            return frozenset(self._shards.owner_of)

    def start(self) -> None:
        """Start the reactor if needed, connect, start the watchdog. Returns at once."""
        with self._lock:
            if self._started:
                raise RuntimeError("the feed is already started")
            self._started = True
            self._shards.ensure_one()
        ensure_reactor_running()
        in_reactor(self._start_in_reactor)

    def prioritize(self, tokens: frozenset[int]) -> None:
        """Hand these instruments' ticks over before the rest of each frame. Any thread;
        never blocks (the set is replaced whole)."""
        self._first = tokens

    def subscribe(self, tokens: Iterable[int]) -> None:
        """Stream more instruments (/add); known ones are ignored. ValueError beyond the
        capacity (3 x 3,000 on Kite), and then nothing is subscribed."""
        checked = checked_tokens(tokens)
        with self._lock:
            plan = self._shards.assign(checked)
            live = self._started and not self._closing
        for conn, added in plan.items():
            if live:
                in_reactor(conn.add, added)

    def unsubscribe(self, tokens: Iterable[int]) -> None:
        """Stop streaming instruments (/remove); unknown ones are ignored."""
        checked = checked_tokens(tokens)
        with self._lock:
            plan = self._shards.remove(checked)
            live = self._started and not self._closing
        for conn, removed in plan.items():
            if live:
                in_reactor(conn.remove, removed)

    def reconnect(self) -> None:
        """Connect now, with the current token, every connection that is not up (after a
        login). Open connections are left alone."""
        with self._lock:
            if not self._started or self._closing:
                return
        in_reactor(self._reconnect_in_reactor)

    def close(self, timeout: float = 5.0) -> bool:
        """Close every connection for good (the reactor keeps running). True when all
        sockets reported closed within ``timeout`` seconds."""
        with self._lock:
            started, self._closing = self._started, True
        if not started:
            return True
        in_reactor(self._close_in_reactor)
        return self._all_closed.wait(timeout)

    def status(self) -> FeedState:
        """Connection states, lags and counters (for /status and tests)."""
        now = self._monotonic()
        with self._lock:
            conns = [(c, len(c.tokens)) for c in self._shards.connections]
            instruments = len(self._shards.owner_of)
        rows = tuple(ConnectionStatus(c.index, c.state.value, n, c.attempts, c.connects,
                                      c.drops, c.watchdog_drops, c.reason,
                                      None if c.last_frame is None else now - c.last_frame)
                     for c, n in conns)
        frames = [c.last_frame for c, _ in conns if c.last_frame is not None]
        stats = self._parser.stats
        counters = FeedCounters(
            frames=stats.frames + self._texts.frames, ticks=stats.ticks,
            heartbeats=stats.heartbeats, bad_packets=stats.bad_packets,
            text_frames=self._texts.frames, order_messages=self._texts.order_messages,
            ticker_errors=self._texts.errors,
            reconnects=sum(max(0, c.connects - 1) for c, _ in conns),
            drops=sum(c.drops for c, _ in conns),
            watchdog_drops=sum(c.watchdog_drops for c, _ in conns))
        return FeedState(
            connected=bool(conns) and all(c.state is ConnState.OPEN for c, _ in conns),
            login_needed=self._login_needed, instruments=instruments, connections=rows,
            frame_age_seconds=now - max(frames) if frames else None,
            exchange_lag_seconds=self._exchange_lag, counters=counters)

    def feed_info(self) -> FeedInfo:
        """The /status line: connected, exchange-time lag of the last tick, a short detail."""
        from handlers.services import FeedInfo  # the chat layer's shape; imported late

        state = self.status()
        return FeedInfo(connected=state.connected, lag_seconds=state.exchange_lag_seconds,
                        detail=state.detail)

    # ------------------------------------------------------------ reactor thread
    def _start_in_reactor(self) -> None:
        if self._closing:
            return
        from twisted.internet.task import LoopingCall

        self._watchdog = LoopingCall(self._check)
        self._watchdog.start(self._options.watchdog_interval, now=False)
        for conn in self._snapshot():
            conn.open()

    def _reconnect_in_reactor(self) -> None:
        if self._closing:
            return
        self._login_needed = False
        for conn in self._snapshot():
            conn.reopen()

    def _close_in_reactor(self) -> None:
        if self._watchdog is not None and self._watchdog.running:
            self._watchdog.stop()
        conns = self._snapshot()
        for conn in conns:
            conn.close()
        if all(c.state is ConnState.CLOSED and c.ticker is None for c in conns):
            self._all_closed.set()

    def _check(self) -> None:
        try:
            now = self._monotonic()
            for conn in self._snapshot():
                conn.check(now)
        except Exception:  # an exception would end the LoopingCall for good
            logger.exception("Kite feed watchdog failed")

    # ConnectionOwner: called by the connections (reactor thread), not by other code
    def access_token(self) -> str | None:
        try:
            return self._token_provider()
        except Exception:
            logger.exception("Kite feed: the access token provider failed")
            return None

    def tokens_of(self, conn: TickerConnection) -> list[int]:
        with self._lock:
            return sorted(conn.tokens)

    def frame(self, payload: bytes, is_binary: bool) -> None:
        """One frame: parse, and one inbox put if it had ticks (two with ``prioritize``:
        the named instruments' ticks first). The hot path."""
        try:
            if not is_binary:
                self._texts.handle(payload)
            elif len(payload) < 2:
                self._parser.parse(payload)  # a heartbeat: only counted
            else:
                received = self._clock.now()
                first, early = self._first, []
                if first:
                    def hand_over(ticks: list[Tick]) -> None:
                        early.extend(ticks)
                        self._put(TickBatch(ticks))

                    ticks = self._parser.parse_first(payload, received, first, hand_over)
                else:
                    ticks = self._parser.parse(payload, received)
                if ticks:
                    self._put(TickBatch(ticks))
                last = ticks or early
                if last:
                    stamp = last[-1].timestamp
                    if stamp is not None:
                        self._exchange_lag = (received - stamp).total_seconds()
        except Exception:  # never let a frame break the reactor thread
            logger.exception("Kite feed: a frame could not be handled")

    def connection_up(self, conn: TickerConnection) -> None:
        logger.info("Kite feed connection %d up with %d instruments (connect #%d)",
                    conn.index, len(conn.tokens), conn.connects)
        conns = self._snapshot()
        if self._announced is not True and all(c.state is ConnState.OPEN for c in conns):
            self._announce(True, f"connected: {len(conns)} connection(s), "
                                 f"{len(self.tokens)} instruments")

    def connection_down(self, conn: TickerConnection, was_open: bool, reason: str,
                        retry_in: float) -> None:
        what = "dropped" if was_open else "could not connect"
        log = logger.info if was_open else logger.warning
        log("Kite feed connection %d %s (%s); next attempt in %.1f s", conn.index, what,
            reason, retry_in)
        if self._announced is not False:
            self._announce(False, f"connection {conn.index} {what}: {reason}")

    def login_needed(self, conn: TickerConnection, reason: str) -> None:
        logger.warning("Kite feed connection %d refused (%s): login needed, not retrying",
                       conn.index, reason)
        if self._login_needed:
            return
        self._login_needed = True
        self._announce(False, LOGIN_NEEDED)
        if self._on_login_needed is not None:
            try:
                self._on_login_needed()
            except Exception:
                logger.exception("Kite feed: on_login_needed failed")

    def connection_closed(self, conn: TickerConnection) -> None:
        logger.info("Kite feed connection %d closed", conn.index)
        if all(c.state is ConnState.CLOSED and c.ticker is None for c in self._snapshot()):
            self._all_closed.set()

    # ------------------------------------------------------------ helpers
    def _announce(self, up: bool, detail: str) -> None:
        self._announced = up
        logger.info("Kite feed %s: %s", "up" if up else "down", detail)
        self._put(FeedStatus(up, detail))

    def _snapshot(self) -> list[TickerConnection]:
        with self._lock:
            return list(self._shards.connections)

    def _new_connection(self, index: int) -> TickerConnection:
        return TickerConnection(index, api_key=self._api_key,
                                root=self._root, options=self._options, owner=self,
                                ticker_factory=self._factory, monotonic=self._monotonic)
