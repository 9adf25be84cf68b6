"""The live runner: one thread that owns the engine and drains its inbox.

Any thread may ``put`` an event (ticks, order updates) or ``submit``/``call`` a command
and get its reply through a ``concurrent.futures.Future`` (``asyncio.wrap_future`` turns it
into an awaitable for the Telegram side). Only the runner thread touches the engine.
An exception while handling one event is logged; the loop carries on.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from agent.clock import Clock
from agent.engine import Engine
from agent.events import ClockTick, Command

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Call:
    command: Command
    future: Future[Any]


_STOP = object()

# CPython hands the GIL to a waiting thread after this long (default 5 ms). The feed's
# parsing and the engine are CPU-bound; at the default the broker worker waits up to 5 ms
# at every step of an order's HTTP call. 0.5 ms cut a REST call's p99 under load from
# 54 ms to 10 ms in ``python -m bench`` (latency), for a few percent more switching. The
# live agent sets it at start (``handlers.runtime``).
THREAD_SWITCH_SECONDS = 0.0005


class EngineRunner:
    def __init__(self, engine: Engine, clock: Clock, *,
                 timer_seconds: float | None = 1.0,
                 snapshot: Callable[[Engine], None] | None = None,
                 snapshot_seconds: float = 0.5,
                 on_armed: Callable[[frozenset[int]], None] | None = None,
                 armed_seconds: float = 0.05) -> None:
        """``timer_seconds``: how often (wall time) a ClockTick completes due candles;
        None disables the timer (tests drive ClockTicks themselves).
        ``snapshot(engine)``: called on the runner thread when state changed, at most
        every ``snapshot_seconds``; it must only hand data to the storage writer.
        ``on_armed(tokens)``: told ``engine.armed_tokens()`` whenever it changes (checked
        after state changes, at most every ``armed_seconds``), so the feed can hand those
        instruments' ticks over first; it must not block."""
        self.engine = engine
        self.clock = clock
        self.inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._timer = timer_seconds
        self._snapshot = snapshot
        self._snapshot_every = snapshot_seconds
        self._on_armed = on_armed
        self._armed_every = armed_seconds
        self._armed: frozenset[int] | None = None
        self._armed_at_change = -1  # engine.changes when the armed set was last computed
        self._thread = threading.Thread(target=self._loop, name="engine", daemon=True)
        self.handled = 0
        self.max_depth = 0

    # ------------------------------------------------------------ any thread

    def start(self) -> None:
        self._thread.start()

    def put(self, event: Any) -> None:
        """Queue an event (never blocks)."""
        self.inbox.put(event)

    def submit(self, command: Command) -> Future[Any]:
        """Queue a command; the future gets the engine's reply or exception."""
        future: Future[Any] = Future()
        self.inbox.put(_Call(command, future))
        return future

    def call(self, command: Command, timeout: float = 10.0) -> Any:
        """Submit and wait for the reply (raises TimeoutError when the engine is busy)."""
        return self.submit(command).result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Finish what is queued, take a last snapshot, end the thread."""
        if self._thread.is_alive():
            self.inbox.put(_STOP)
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # ------------------------------------------------------------ runner thread

    def _loop(self) -> None:
        engine = self.engine
        inbox = self.inbox
        next_timer = time.monotonic() + (self._timer or 0)
        last_snapshot = last_armed = 0.0
        while True:
            wait = None if self._timer is None else max(0.0, next_timer - time.monotonic())
            if self._on_armed is not None and engine.changes != self._armed_at_change:
                due = max(0.0, last_armed + self._armed_every - time.monotonic())
                wait = due if wait is None else min(wait, due)
            try:
                item = inbox.get(timeout=wait) if wait is None or wait > 0 else inbox.get_nowait()
            except queue.Empty:
                item = None
            if item is _STOP:
                break
            if item is not None:
                self._handle(item)
                depth = inbox.qsize()
                if depth > self.max_depth:
                    self.max_depth = depth
            now = time.monotonic()
            if self._timer is not None and now >= next_timer:
                next_timer = now + self._timer
                self._handle(ClockTick(self.clock.now()))
            if (self._on_armed is not None and engine.changes != self._armed_at_change
                    and now - last_armed >= self._armed_every):
                last_armed = now
                self._publish_armed()
            if (self._snapshot is not None and engine.dirty
                    and now - last_snapshot >= self._snapshot_every):
                last_snapshot = now
                self._take_snapshot()
        if self._snapshot is not None and engine.dirty:
            self._take_snapshot()

    def _handle(self, item: Any) -> None:
        self.handled += 1
        if type(item) is _Call:
            if not item.future.set_running_or_notify_cancel():
                return
            try:
                item.future.set_result(self.engine.handle(item.command))
            except Exception as exc:
                log.exception("command %s failed", type(item.command).__name__)
                item.future.set_exception(exc)
        else:
            try:
                self.engine.handle(item)
            except Exception:
                log.exception("event %s failed; carrying on", type(item).__name__)

    def _publish_armed(self) -> None:
        self._armed_at_change = self.engine.changes
        try:
            armed = self.engine.armed_tokens()
            if armed != self._armed:
                self._armed = armed
                assert self._on_armed is not None
                self._on_armed(armed)
        except Exception:
            log.exception("publishing the armed instruments failed")

    def _take_snapshot(self) -> None:
        try:
            assert self._snapshot is not None
            self._snapshot(self.engine)
            self.engine.dirty = False
        except Exception:
            log.exception("state snapshot failed")
