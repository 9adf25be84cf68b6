"""The stamps of the live benchmarks' agent (``bench.live_agent``), by subclassing or
wrapping the live adapters in the benchmark only. Times are ``time.monotonic()``, one clock
for every process of the machine (the simulator's stamps are ``bench.live_sim``'s).

- ``batches``: every TickBatch the feed puts on the inbox: (frame received from the
  WebSocket, put, engine start, engine end, ticks, exchange second of its first tick or -1);
- ``submits``: every order the engine hands to ``KiteBroker.submit``: (at, tag, purpose,
  reason, token, (received, put) of the batch being handled or None, that batch's second,
  position of the instrument's tick in it);
- ``calls``: every REST call of the broker's worker: (method, tag or "", start, end);
- ``rate_waits``: times the worker's order rate windows made it wait;
- ``snapshots``: (start, end) of every state snapshot on the engine thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kiteconnect import KiteConnect

from agent.adapters.kite_broker import KiteBroker
from agent.adapters.kite_rest import RateWindows
from agent.engine import Engine
from agent.events import TickBatch
from agent.models import Order

if TYPE_CHECKING:
    from agent.adapters.kite_feed import KiteFeed
    from bench.live_agent import AgentRecord

NOT_A_TICK = -1
NOT_SEEN = -1.0


class StampedKite(KiteConnect):
    """The real client; the worker's REST calls are stamped (worker thread)."""

    calls: list[tuple[str, str, float, float]]

    def _timed(self, name: str, tag: str, call: Callable[[], Any]) -> Any:
        start = time.monotonic()
        try:
            return call()
        finally:
            self.calls.append((name, tag, start, time.monotonic()))

    def place_order(self, variety: str, **kw: Any) -> Any:  # type: ignore[override]
        return self._timed("place", kw.get("tag") or "",
                           lambda: super(StampedKite, self).place_order(variety, **kw))

    def modify_order(self, variety: str, order_id: str, **kw: Any) -> Any:  # type: ignore[override]
        return self._timed("modify", "", lambda: super(StampedKite, self).modify_order(
            variety, order_id, **kw))

    def cancel_order(self, variety: str, order_id: str, **kw: Any) -> Any:  # type: ignore[override]
        return self._timed("cancel", "", lambda: super(StampedKite, self).cancel_order(
            variety, order_id, **kw))

    def orders(self) -> Any:  # type: ignore[override]
        return self._timed("orders", "", lambda: super(StampedKite, self).orders())


class RecordingRates(RateWindows):
    """Kite's order windows; remembers when they made the worker wait (worker thread)."""

    def __init__(self, limits: tuple[tuple[int, float], ...], waits: list[float]) -> None:
        super().__init__(limits)
        self.waits = waits

    def wait(self, now: float, n: int = 1) -> float:
        need = super().wait(now, n)
        if need > 0:
            self.waits.append(time.monotonic())
        return need


class Stamps:
    """The agent-side stamps: frames in, the feed's puts, the batch being handled, the
    submits."""

    def __init__(self, record: AgentRecord, put: Callable[[Any], None]) -> None:
        self.record = record
        self._put = put
        self._received = NOT_SEEN
        self._put_at: dict[int, tuple[float, float]] = {}
        self.current: TickBatch | None = None
        self.current_put: tuple[float, float] | None = None

    def wrap_frame(self, feed: KiteFeed) -> None:
        """Stamp each binary frame as the WebSocket hands it to the feed (reactor thread)."""
        frame = feed.frame

        def stamped(payload: bytes, is_binary: bool) -> None:
            if is_binary and len(payload) > 1:
                self._received = time.monotonic()
            frame(payload, is_binary)

        feed.frame = stamped  # type: ignore[method-assign]

    def put(self, event: Any) -> None:
        """Reactor thread: the feed's ``put``."""
        if type(event) is TickBatch:
            self._put_at[id(event)] = (self._received, time.monotonic())
        self._put(event)

    def wrap_handle(self, engine: Engine) -> None:
        handle = engine.handle

        def stamped(event: Any) -> Any:
            if type(event) is not TickBatch:
                return handle(event)
            put = self._put_at.pop(id(event), (NOT_SEEN, NOT_SEEN))
            self.current, self.current_put = event, put
            start = time.monotonic()
            try:
                return handle(event)
            finally:
                self.current = self.current_put = None
                first = event.ticks[0].timestamp if event.ticks else None
                second = NOT_A_TICK if first is None else int(first.timestamp())
                self.record.batches.append((*put, start, time.monotonic(),
                                            len(event.ticks), second))

        engine.handle = stamped  # type: ignore[method-assign]

    def submitted(self, order: Order) -> None:
        """Engine thread, just before ``KiteBroker.submit``."""
        at, batch, second, position = time.monotonic(), self.current, NOT_A_TICK, NOT_A_TICK
        if batch is not None:
            first = batch.ticks[0].timestamp if batch.ticks else None
            second = NOT_A_TICK if first is None else int(first.timestamp())
            position = next((i for i, t in enumerate(batch.ticks)
                             if t.instrument_token == order.instrument_token), NOT_A_TICK)
        self.record.submits.append((at, order.tag, order.purpose.value, order.reason,
                                    order.instrument_token, self.current_put, second,
                                    position))


class StampedBroker(KiteBroker):
    stamps: Stamps

    def submit(self, order: Order) -> None:
        self.stamps.submitted(order)
        super().submit(order)
