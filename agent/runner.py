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


class EngineRunner:
    def __init__(self, engine: Engine, clock: Clock, *,
                 timer_seconds: float | None = 1.0,
                 snapshot: Callable[[Engine], None] | None = None,
                 snapshot_seconds: float = 0.5) -> None:
        """``timer_seconds``: how often (wall time) a ClockTick completes due candles;
        None disables the timer (tests drive ClockTicks themselves).
        ``snapshot(engine)``: called on the runner thread when state changed, at most
        every ``snapshot_seconds``; it must only hand data to the storage writer."""
        self.engine = engine
        self.clock = clock
        self.inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._timer = timer_seconds
        self._snapshot = snapshot
        self._snapshot_every = snapshot_seconds
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
        last_snapshot = 0.0
        while True:
            wait = None if self._timer is None else max(0.0, next_timer - time.monotonic())
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

    def _take_snapshot(self) -> None:
        try:
            assert self._snapshot is not None
            self._snapshot(self.engine)
            self.engine.dirty = False
        except Exception:
            log.exception("state snapshot failed")
