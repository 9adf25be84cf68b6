"""A KiteBroker wired to the simulated exchange through the real kiteconnect client.

The simulator runs at a clock speed of 1e-6 from 10:00: its market does not move during a
test, so prices, triggers and fills are deterministic. On that frozen clock the order
lifecycle's interim statuses would never end and every modify would come within
milliseconds of its placement, so the harness switches the realism rules
``interim_statuses`` and ``transient_refusals`` off by default (``realism_off``); a test of
the broker facing them passes ``realism_off=()`` and a timer of its own. The broker waits on a
``ManualTimer`` that only moves when a test advances it (unless a test passes its own);
then its rate windows count manual seconds, not the wall seconds the simulator's request
rates count, so the harness switches ``rate_limits`` off too (a test of Kite's rates
passes a ``WallTimer``).
The simulator's order listener feeds the broker the same ``data`` a ticker order message
carries (JSON round trip included); ``messages=False`` leaves only the order-book poll.
What the broker posts is split: ``OrderUpdate``s into ``updates``, ``BrokerSnapshot``s into
``snapshots``; the harness returns once the start-up snapshot has come (so counts of
``orders`` calls start at 1).
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from itertools import count
from typing import Any

from kiteconnect import KiteConnect

from agent.adapters.kite_broker import KiteBroker
from agent.adapters.kite_rest import Timer
from agent.events import BrokerSnapshot, OrderUpdate
from agent.models import Instrument, Order, OrderPurpose, OrderType, Side
from agent.sim import shapes
from agent.sim.orders import SimOrder
from agent.sim.realism import Realism
from agent.sim.server import SimExchange
from agent.timeutil import IST
from tests.sim.conftest import ADANIPORTS, BANKNIFTY_CE, CDSL, DATA

__all__ = ["ADANIPORTS", "BANKNIFTY_CE", "CDSL", "Harness", "ManualTimer"]

DAY = date(2024, 1, 15)
SIM_START = datetime(2024, 1, 15, 10, 0, tzinfo=IST)
FROZEN = 1e-6
WAIT = 5.0  # seconds: the longest a test waits for the worker
FAST_LIMITS = ((1_000, 1.0),)  # the simulator's own order limit, out of the way
OPTION_FREEZE = 900
# the frozen clock never lets an interim status end; every modify is "milliseconds after"
FROZEN_OFF = ("interim_statuses", "transient_refusals")
_seq = count(1)
_KIND = {OrderPurpose.ENTRY: "E", OrderPurpose.EXIT: "X", OrderPurpose.STOP: "S"}


def make_tag(purpose: OrderPurpose, day: date, seq: int) -> str:
    """A tag of the engine's format (``<E|X|S><yymmdd><seq>``), the adapter's contract."""
    return f"{_KIND[purpose]}{day:%y%m%d}{seq:05d}"


class ManualTimer:
    """A timer that moves only on ``advance``. A waiter whose deadline is passed is woken
    by setting its event (the broker treats a wake as a hint to look again)."""

    def __init__(self) -> None:
        self._now = 0.0
        self._lock = threading.Lock()
        self._waiting: list[tuple[float | None, threading.Event]] = []

    def monotonic(self) -> float:
        with self._lock:
            return self._now

    def wait(self, wake: threading.Event, until: float | None) -> None:
        entry = (until, wake)
        with self._lock:
            if until is not None and self._now >= until:
                return
            self._waiting.append(entry)
        try:
            wake.wait(WAIT * 4)  # a safety net: tests never rely on it
        finally:
            with self._lock:
                self._waiting.remove(entry)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds
            for until, event in self._waiting:
                if until is not None and self._now >= until:
                    event.set()


class RecordingKite(KiteConnect):
    """The real client; every request's route is noted before it is sent."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def _request(self, route: str, method: str, url_args: Any = None, params: Any = None,
                 is_json: bool = False, query_params: Any = None) -> Any:
        self.calls.append((route, method, list(params) if isinstance(params, list)
                           else dict(params or {})))  # a list: the contract note's orders
        return super()._request(route, method, url_args=url_args, params=params,
                                is_json=is_json, query_params=query_params)

    def count(self, route: str) -> int:
        return sum(1 for r, _, _ in list(self.calls) if r == route)

    def sent(self, route: str) -> list[dict[str, Any]]:
        return [p for r, _, p in list(self.calls) if r == route]


class Harness:
    """The simulator, the broker under test, and a second client as the test's eyes."""

    def __init__(self, *, timer: Timer | None = None, messages: bool = True,
                 kite_timeout: float | None = None, option_freeze: int = OPTION_FREEZE,
                 order_rate_limits: tuple[tuple[int, float], ...] = FAST_LIMITS,
                 realism_off: tuple[str, ...] = FROZEN_OFF, speed: float = FROZEN,
                 **options: Any) -> None:
        if timer is None:  # the broker's windows count manual seconds: see the docstring
            realism_off = (*realism_off, "rate_limits")
        self.sim = SimExchange(DATA / "instruments_all.csv", start=SIM_START, speed=speed,
                               order_rate_limits=order_rate_limits,
                               realism=Realism.all_but(*realism_off),
                               base_prices={ADANIPORTS: Decimal(1000),
                                            BANKNIFTY_CE: Decimal(250)},
                               freeze_quantities={BANKNIFTY_CE: OPTION_FREEZE})
        self.sim.start()
        self.kite = RecordingKite(self.sim.api_key, root=self.sim.rest_root,
                                  timeout=kite_timeout)
        self.kite.generate_session(self.sim.issue_request_token(), self.sim.api_secret)
        self.kite.calls.clear()
        self.eyes = KiteConnect(self.sim.api_key, root=self.sim.rest_root)
        self.eyes.generate_session(self.sim.issue_request_token(), self.sim.api_secret)
        self.timer = timer if timer is not None else ManualTimer()
        self.updates: queue.Queue[OrderUpdate] = queue.Queue()
        self.snapshots: queue.Queue[BrokerSnapshot] = queue.Queue()
        self.seen: list[OrderUpdate] = []
        self.messages: list[dict[str, Any]] = []
        self.token_errors = 0
        self.instruments = {i.token: i for i in self.sim.instruments}
        opt = self.instruments[BANKNIFTY_CE]
        self.instruments[BANKNIFTY_CE] = Instrument(
            opt.token, opt.exchange, opt.tradingsymbol, opt.tick_size, opt.lot_size,
            option_freeze, opt.segment, opt.instrument_type, opt.name)
        if messages:
            self.sim.call(lambda core: core.book.listeners.append(self._forward(core)))
        self.broker = KiteBroker(self.kite, self.instruments.get, self._post,
                                 timer=self.timer, clock=self.sim.clock,
                                 on_token_error=self._token_error, **options)
        self.first_snapshot = self.snapshots.get(timeout=WAIT)
        self.idle()

    def _post(self, event: OrderUpdate | BrokerSnapshot) -> None:
        if isinstance(event, BrokerSnapshot):
            self.snapshots.put(event)
        else:
            self.updates.put(event)

    def _forward(self, core: Any) -> Callable[[SimOrder], None]:
        def forward(order: SimOrder) -> None:
            data = shapes.order_update(order, core.account, core.sessions.api_secret)
            data = json.loads(json.dumps(data))
            self.messages.append(data)
            broker = getattr(self, "broker", None)
            if broker is not None:
                broker.on_order_message(data)
        return forward

    def _token_error(self) -> None:
        self.token_errors += 1

    def __enter__(self) -> Harness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.broker.close(2.0)
        self.sim.stop()

    # ----- engine side
    def order(self, token: int = ADANIPORTS, side: Side = Side.BUY, quantity: int = 1,
              order_type: OrderType = OrderType.MARKET, purpose: OrderPurpose = OrderPurpose.ENTRY,
              price: Decimal | None = None, trigger: Decimal | None = None) -> Order:
        ins = self.instruments[token]
        return Order(tag=make_tag(purpose, DAY, next(_seq)), instrument_token=token,
                     symbol=ins.symbol, side=side, quantity=quantity, order_type=order_type,
                     purpose=purpose, reason="signal", created_at=SIM_START, price=price,
                     trigger_price=trigger)

    def submit(self, order: Order) -> Order:
        self.broker.submit(order)
        return order

    def next_update(self, timeout: float = WAIT) -> OrderUpdate:
        update = self.updates.get(timeout=timeout)
        self.seen.append(update)
        return update

    def until(self, done: Callable[[OrderUpdate], bool]) -> list[OrderUpdate]:
        """Updates up to and including the first that satisfies ``done``."""
        got = [self.next_update()]
        while not done(got[-1]):
            got.append(self.next_update())
        return got

    def idle(self) -> None:
        assert self.broker.wait_idle(WAIT), "the broker's worker did not settle"

    def snapshot(self, timeout: float = WAIT) -> BrokerSnapshot:
        """The next snapshot posted."""
        return self.snapshots.get(timeout=timeout)

    def latest_snapshot(self) -> BrokerSnapshot | None:
        """The last snapshot posted so far (after the worker settles), or None."""
        self.idle()
        last = None
        while not self.snapshots.empty():
            last = self.snapshots.get_nowait()
        return last

    def drained(self) -> list[OrderUpdate]:
        """Everything posted once the worker has settled."""
        self.idle()
        out = []
        while not self.updates.empty():
            out.append(self.next_update(0.1))
        return out

    # ----- exchange side
    def book(self, tag: str | None = None) -> list[dict[str, Any]]:
        rows = self.eyes.orders()
        return rows if tag is None else [r for r in rows if r.get("tag") == tag]

    def ltp(self, token: int = ADANIPORTS) -> Decimal:
        return self.sim.ltp(token)
