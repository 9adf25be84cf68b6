"""A live engine against a broker the test controls, for the order-lifecycle promises of
issue 12 ("orders you can trust").

Only public surfaces are used, the ones that outlive a redesign of the engine's order
lifecycle: ``Engine(...)`` and ``engine.handle(event)`` with the events and commands of
``agent/events.py``, the broker port (``agent/adapters/broker.py``), the P&L book
``engine.pnl``, ``engine.trades``, the notifications, ``agent.snapshot.take`` / ``restore``
with a JSON round trip, and ``BrokerSnapshot`` (the live adapter's view of the broker's
order book and positions, read together).

- ``Exchange``: the broker's side. It outlives the agent: what it holds is the truth (our
  orders by tag, the owner's and the broker's own untagged orders, the net positions).
  The test moves it (fills, rejections, an SL triggered, the owner's sale in the Kite
  app) and decides whether the agent hears of it (an ``OrderUpdate``) or not (the agent
  was down, or the change is only in the next order-book read: ``BrokerSnapshot``).
- ``Desk``: the broker port of one agent run (what ``KiteBroker`` is live). It knows the
  orders sent through it and, after a restart, those still open at the exchange (as
  ``KiteBroker.reconcile`` adopts them); a cancel or a modify of an order it does not know
  is ignored, as ``KiteBroker`` ignores one. It records what the broker received:
  ``submitted`` (as sent), ``cancels`` and ``modifies`` (tags, in order).
- ``Live``: an engine on a manual clock (the live engine runs on the wall clock; ticks
  carry exchange times near it) with ``carry_positions=True`` and exchange stops, as
  ``handlers/runtime.py`` builds it, and a ``Desk`` (or the paper broker) attached.
  ``restart`` is the crash-only restart of the composition root: restore the saved state,
  attach a new broker, reconcile with the broker's book, run the (resumed) session start.

Single-threaded test code.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import count
from typing import Any

from agent import snapshot
from agent.adapters.paper import PaperBroker
from agent.engine import Engine
from agent.events import (
    BrokerOrderRow,
    BrokerPositionRow,
    BrokerSnapshot,
    ClockTick,
    Job,
    Notification,
    OrderUpdate,
    Query,
    QueryKind,
    RunJob,
)
from agent.models import Instrument, Order, OrderStatus, OrderType, Side, StopMode, Tick
from agent.settings import Settings
from tests.helpers import AAA, Sym, at, d, make_settings

STOP_TYPES = (OrderType.SL, OrderType.SL_M)

_KITE_WORD = {
    OrderStatus.PENDING: "OPEN PENDING",
    OrderStatus.OPEN: "OPEN",
    OrderStatus.TRIGGER_PENDING: "TRIGGER PENDING",
    OrderStatus.COMPLETE: "COMPLETE",
    OrderStatus.CANCELLED: "CANCELLED",
    OrderStatus.REJECTED: "REJECTED",
}


class ManualClock:
    """The agent's clock, moved by the test (never backwards)."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        if when > self._now:
            self._now = when


# ------------------------------------------------------------------ the broker's side


@dataclass
class Placed:
    """One order at the broker, as the broker holds it (Kite's row)."""

    order_id: str
    tag: str | None  # None: not ours (the owner's in the Kite app, the broker's square-off)
    token: int
    side: Side
    quantity: int
    order_type: OrderType
    product: str
    price: Decimal | None
    trigger: Decimal | None
    time: datetime
    status: OrderStatus
    filled: int = 0
    average: Decimal | None = None
    message: str = ""
    value: Decimal = field(default=Decimal(0))  # sum of price x quantity of its fills

    @property
    def live(self) -> bool:
        return not self.status.is_terminal

    @property
    def is_stop(self) -> bool:
        return self.order_type in STOP_TYPES


class Exchange:
    """The broker's book and net positions (MIS). Outlives the agent's restarts."""

    def __init__(self, instruments: Iterable[Instrument]) -> None:
        self.instruments = {i.token: i for i in instruments}
        self.orders: list[Placed] = []
        self._net: dict[int, tuple[int, Decimal]] = {}
        self._ids = count(250_115_000_000_000_001)

    # ----- reads
    def by_tag(self, tag: str) -> Placed:
        """The broker's row of one of our tags (the latest, should a tag repeat)."""
        rows = [p for p in self.orders if p.tag == tag]
        assert rows, f"no order with tag {tag} at the broker"
        return rows[-1]

    def tags(self) -> set[str]:
        return {p.tag for p in self.orders if p.tag}

    def reused(self) -> list[str]:
        """Our tags the broker received more than once (promise 2: never)."""
        tags = [p.tag for p in self.orders if p.tag]
        return sorted({t for t in tags if tags.count(t) > 1})

    def working(self, token: int = AAA.token, *, stops: bool | None = None,
                side: Side | None = None) -> list[Placed]:
        """Our orders still working at the broker (``stops``: only SL / SL-M, or none)."""
        return [p for p in self.orders if p.tag and p.live and p.token == token
                and (side is None or p.side is side)
                and (stops is None or p.is_stop is stops)]

    def position(self, token: int = AAA.token) -> int:
        return self._net.get(token, (0, Decimal(0)))[0]

    # ----- orders arriving
    def place(self, order: Order, t: datetime) -> Placed:
        kind = order.order_type
        status = (OrderStatus.TRIGGER_PENDING if kind in STOP_TYPES else OrderStatus.OPEN)
        placed = Placed(str(next(self._ids)), order.tag, order.instrument_token, order.side,
                        order.quantity, kind, order.product, order.price, order.trigger_price,
                        t, status)
        self.orders.append(placed)
        return placed

    def place_foreign(self, token: int, side: Side, quantity: int, price: Any, t: datetime,
                      order_type: OrderType = OrderType.MARKET) -> Placed:
        """An untagged order that filled at once: the owner's in the Kite app, or the
        broker's own square-off (a marketable LIMIT)."""
        placed = Placed(str(next(self._ids)), None, token, side, quantity, order_type, "MIS",
                        d(price) if order_type is OrderType.LIMIT else None, None, t,
                        OrderStatus.OPEN)
        self.orders.append(placed)
        self.fill(placed, price, t)
        return placed

    def broker_square_off(self, token: int, price: Any, t: datetime) -> Placed:
        """Kite's own MIS square-off: open MIS orders cancelled, then the net position
        closed with an untagged marketable LIMIT."""
        for p in self.orders:
            if p.token == token and p.live and p.product == "MIS":
                self.cancel(p, t, "cancelled by the broker's square-off")
        held = self.position(token)
        assert held, "nothing to square off"
        side = Side.SELL if held > 0 else Side.BUY
        return self.place_foreign(token, side, abs(held), price, t, OrderType.LIMIT)

    # ----- changes at the broker
    def fill(self, placed: Placed, price: Any, t: datetime, filled: int | None = None) -> Placed:
        """``filled``: the order's cumulative filled quantity after this fill (default all);
        the new part fills at ``price``."""
        total = placed.quantity if filled is None else filled
        delta = total - placed.filled
        assert delta > 0 and placed.live, (placed, total)
        px = d(price)
        placed.value += px * delta
        placed.filled = total
        placed.average = placed.value / total
        placed.time = t
        if total >= placed.quantity:
            placed.status = OrderStatus.COMPLETE
        elif placed.status is OrderStatus.TRIGGER_PENDING:
            placed.status = OrderStatus.OPEN
        self._book(placed.token, placed.side.sign * delta, px)
        return placed

    def trigger(self, placed: Placed, t: datetime) -> Placed:
        """An SL order's trigger was crossed but its limit could not fill: OPEN, unfilled."""
        assert placed.status is OrderStatus.TRIGGER_PENDING
        placed.status, placed.time = OrderStatus.OPEN, t
        return placed

    def reject(self, placed: Placed, message: str, t: datetime) -> Placed:
        assert placed.live
        placed.status, placed.message, placed.time = OrderStatus.REJECTED, message, t
        return placed

    def cancel(self, placed: Placed, t: datetime, message: str = "") -> Placed:
        if placed.live:
            placed.status, placed.time = OrderStatus.CANCELLED, t
            placed.message = message or placed.message
        return placed

    def modify(self, placed: Placed, price: Decimal | None, trigger: Decimal | None,
               quantity: int | None) -> None:
        if not placed.live:
            return
        placed.price = placed.price if price is None else price
        placed.trigger = placed.trigger if trigger is None else trigger
        placed.quantity = placed.quantity if quantity is None else quantity

    def _book(self, token: int, signed: int, price: Decimal) -> None:
        qty, avg = self._net.get(token, (0, Decimal(0)))
        new = qty + signed
        if qty == 0 or (qty > 0) == (signed > 0):
            avg = (avg * abs(qty) + price * abs(signed)) / abs(new)
        elif new == 0:
            avg = Decimal(0)
        elif (new > 0) != (qty > 0):
            avg = price  # flipped: the rest opens the other way
        self._net[token] = (new, avg)

    # ----- what the agent may hear
    def update(self, placed: Placed) -> OrderUpdate:
        """The adapter's ``OrderUpdate`` for one of our orders as the broker holds it."""
        assert placed.tag is not None
        return OrderUpdate(placed.tag, placed.status, placed.filled, placed.average,
                           placed.time, broker_order_id=placed.order_id,
                           message=placed.message)

    def row(self, p: Placed) -> BrokerOrderRow:
        return BrokerOrderRow(
            order_id=p.order_id, tag=p.tag, instrument_token=p.token, product=p.product,
            side=p.side, quantity=p.quantity, filled_quantity=p.filled,
            average_price=p.average if p.filled else None, status=p.status,
            raw_status=_KITE_WORD[p.status], order_type=p.order_type, price=p.price,
            trigger_price=p.trigger, time=p.time, message=p.message)

    def positions(self) -> tuple[BrokerPositionRow, ...]:
        return tuple(BrokerPositionRow(token, "MIS", qty, avg)
                     for token, (qty, avg) in self._net.items() if qty)

    def snapshot(self, t: datetime) -> BrokerSnapshot:
        """Every order row of the day and the net positions, read together."""
        return BrokerSnapshot(t, tuple(self.row(p) for p in self.orders), self.positions())


class Desk:
    """The broker port of one agent run, on an ``Exchange`` (see the module docstring).

    ``cancels_answer``: a cancel of an order it knows is answered at once with the
    broker's row (CANCELLED, or the final state the order had already reached, as the next
    order-book read would; nothing if that final state was already told); False: the test
    answers. ``modifies_apply``: a
    modification changes the broker's row; False: the broker refused it (the test says
    so with an update). ``refuse(order)``: Kite's message for an order refused at
    placement, or None."""

    def __init__(self, exchange: Exchange, clock: ManualClock, *, cancels_answer: bool = True,
                 modifies_apply: bool = True,
                 refuse: Callable[[Order], str | None] | None = None) -> None:
        self.exchange = exchange
        self.clock = clock
        self.cancels_answer = cancels_answer
        self.modifies_apply = modifies_apply
        self.refuse = refuse
        self.watched: set[int] = set()
        self.known: set[str] = set()
        self.told: set[str] = set()  # tags whose final state the engine was told
        self.submitted: list[Placed] = []
        self.cancels: list[str] = []
        self.modifies: list[tuple[str, dict[str, Any]]] = []
        self._outbox: list[OrderUpdate] = []

    def adopt_open(self, read: BrokerSnapshot) -> None:
        """At start-up: track our orders open in the start-up read of the broker's book
        (as ``KiteBroker.reconcile`` does)."""
        self.known |= {r.tag for r in read.orders
                       if r.tag and r.status is not None and not r.status.is_terminal}

    # ----- the port
    def submit(self, order: Order) -> None:
        now = self.clock.now()
        placed = self.exchange.place(order, now)
        self.submitted.append(placed)
        self.known.add(order.tag)
        why = self.refuse(order) if self.refuse is not None else None
        if why is not None:
            self._outbox.append(self.post(self.exchange.reject(placed, why, now)))
        elif placed.order_type is not OrderType.MARKET:
            self._outbox.append(self.post(placed))  # resting: acknowledged

    def cancel(self, order: Order) -> None:
        self.cancels.append(order.tag)
        if not self.cancels_answer or order.tag not in self.known or order.tag in self.told:
            return  # unknown, or its final state already told: nothing more to say
        placed = self.exchange.by_tag(order.tag)
        self.exchange.cancel(placed, self.clock.now(), "cancelled")
        self._outbox.append(self.post(placed))

    def modify(self, order: Order, *, price: Decimal | None = None,
               trigger_price: Decimal | None = None, quantity: int | None = None) -> None:
        self.modifies.append((order.tag, {"price": price, "trigger_price": trigger_price,
                                          "quantity": quantity}))
        if self.modifies_apply and order.tag in self.known:
            self.exchange.modify(self.exchange.by_tag(order.tag), price, trigger_price,
                                 quantity)

    def poll(self) -> list[OrderUpdate]:
        out, self._outbox = self._outbox, []
        return out

    def post(self, placed: Placed) -> OrderUpdate:
        """The update the adapter posts for one of our orders (noting a final one)."""
        if not placed.live:
            self.told.add(placed.tag or "")
        return self.exchange.update(placed)

    def on_price(self, token: int, price: Decimal, t: datetime) -> None:
        return None

    # ----- reading what it received
    def last(self) -> Placed:
        assert self.submitted, "nothing was sent to the broker"
        return self.submitted[-1]

    def since(self, mark: int) -> list[Placed]:
        return self.submitted[mark:]


# ------------------------------------------------------------------ the agent


def settings(syms: Iterable[Sym] = (AAA,), **kwargs: Any) -> Settings:
    """``make_settings`` (exchange stops are the default stop_mode)."""
    return make_settings(tuple(syms), **kwargs)


class Live:
    """A live engine and its broker (see the module docstring)."""

    def __init__(self, settings: Settings, instruments: Iterable[Instrument] | None = None, *,
                 start: datetime | None = None, exchange: Exchange | None = None,
                 paper: bool = False, fresh: bool = True, **desk: Any) -> None:
        self.settings = settings
        self.instruments = list(instruments) if instruments is not None else [
            Sym(c.symbol, c.token or 0, str(c.tick_size), c.lot_size or 1).instrument()
            for c in settings.instruments]
        self.clock = ManualClock(start or at(9, 14))
        self.notes: list[Notification] = []
        self.engine = Engine(settings, self.instruments, clock=self.clock,
                             notify=self.notes.append, carry_positions=True,
                             stop_mode=StopMode.EXCHANGE)
        self.exchange = exchange or Exchange(self.instruments)
        self.paper = paper
        self.desk = Desk(self.exchange, self.clock, **desk)
        self.paper_broker: PaperBroker | None = None
        if fresh:
            self._attach()
            self.handle(RunJob(Job.SESSION_START, at=self.clock.now()))

    def _attach(self) -> None:
        engine = self.engine
        if self.paper:  # as handlers/runtime.py builds it
            def price_of(token: int) -> Decimal | None:
                rt = engine.runtimes.get(token)
                return None if rt is None else rt.last_price

            self.paper_broker = PaperBroker(
                price_of, lambda t: engine.runtimes[t].instrument.tick_size, engine.now,
                self.settings.defaults.slippage_ticks)
            engine.attach_broker(self.paper_broker)
        else:
            engine.attach_broker(self.desk)

    # ----- driving
    def handle(self, event: Any, t: datetime | None = None) -> Any:
        if t is not None:
            self.clock.set(t)
        return self.engine.handle(event)

    def feed(self, *items: Tick | Iterable[Tick]) -> Live:
        for item in items:
            for tick in [item] if isinstance(item, Tick) else item:
                self.clock.set(tick.time)  # type: ignore[arg-type]
                self.engine.handle(tick)
        return self

    def second(self, t: datetime) -> None:
        """The live timer: a ClockTick at ``t``."""
        self.clock.set(t)
        self.engine.handle(ClockTick(t))

    def wait(self, until: datetime, tick: Callable[[datetime], Tick] | None = None) -> None:
        """Every wall second up to ``until``: the tick ``tick(t)`` if given, then the timer."""
        t = self.clock.now().replace(microsecond=0)
        while t < until:
            t += timedelta(seconds=1)
            if tick is not None:
                self.feed(tick(t))
            self.second(t)

    # ----- the broker tells the agent
    def tell(self, placed: Placed) -> None:
        """The adapter posts the broker's row of one of our orders (an order message or a
        poll): only for an order this run's adapter tracks."""
        if placed.tag in self.desk.known:
            self.engine.handle(self.desk.post(placed))

    def fill(self, placed: Placed, price: Any, t: datetime | None = None,
             filled: int | None = None) -> Placed:
        t = t or self.clock.now()
        self.clock.set(t)
        self.tell(self.exchange.fill(placed, price, t, filled))
        return placed

    def reject(self, placed: Placed, message: str, t: datetime | None = None) -> Placed:
        t = t or self.clock.now()
        self.clock.set(t)
        self.tell(self.exchange.reject(placed, message, t))
        return placed

    def answer_cancel(self, placed: Placed, t: datetime | None = None) -> Placed:
        t = t or self.clock.now()
        self.clock.set(t)
        self.tell(self.exchange.cancel(placed, t, "cancelled"))
        return placed

    def broker_read(self, t: datetime) -> None:
        """The adapter's periodic read of the order book and positions."""
        self.handle(self.exchange.snapshot(t), t)

    # ----- reading the agent
    def quantity(self, token: int = AAA.token) -> int:
        return self.engine.pnl.books[token].quantity

    def realized(self, token: int = AAA.token) -> Decimal:
        return self.engine.pnl.books[token].realized

    def status_row(self, symbol: str = AAA.symbol) -> dict[str, Any]:
        rows = self.engine.handle(Query(QueryKind.STATUS)).data["instruments"]
        return next(r for r in rows if r["symbol"] == symbol)

    # ----- crash-only restarts
    def save(self) -> dict[str, Any]:
        """The state file as the writer leaves it (a JSON round trip)."""
        return json.loads(json.dumps(snapshot.take(self.engine, self.clock.now())))

    def restart(self, saved: dict[str, Any], t: datetime, *, paper: bool | None = None,
                startup: BrokerSnapshot | None = None, **desk: Any) -> Live:
        """A new process on the same broker: restore ``saved`` (today's), attach a new
        broker, reconcile with the broker's book (``startup``: the start-up read, default
        the exchange as it is at ``t``), then the session start the catch-up runs."""
        again = Live(self.settings, self.instruments, start=t, exchange=self.exchange,
                     paper=self.paper if paper is None else paper, fresh=False, **desk)
        assert snapshot.restore(again.engine, saved, t.date())
        again._attach()
        if not again.paper:
            read = startup or self.exchange.snapshot(t)
            again.desk.adopt_open(read)
            again.handle(read, t)
        again.handle(RunJob(Job.SESSION_START, at=t), t)
        return again


# ------------------------------------------------------------------ small readers


def stops_of(orders: Iterable[Placed], side: Side = Side.SELL) -> list[Placed]:
    return [p for p in orders if p.is_stop and p.side is side]


def exits_of(orders: Iterable[Placed], side: Side = Side.SELL) -> list[Placed]:
    """Orders that are not stops on ``side`` (an exit of a long, or a short entry)."""
    return [p for p in orders if not p.is_stop and p.side is side]


def working_exit(live: Live, token: int = AAA.token) -> Placed:
    """The one order other than a stop working at the broker for ``token``: the exit (one
    sent again after it rested unfilled replaces the first)."""
    outs = live.exchange.working(token, stops=False)
    assert len(outs) == 1, f"{len(outs)} orders other than stops working: {outs}"
    return outs[0]


def covered(live: Live, token: int = AAA.token) -> int:
    """The quantity the stops working at the broker would close (a long's sell stops)."""
    held = live.exchange.position(token)
    side = Side.SELL if held >= 0 else Side.BUY
    return sum(p.quantity - p.filled for p in live.exchange.working(token, stops=True, side=side))


def protected(live: Live, token: int = AAA.token) -> bool:
    """Promise 3: the open quantity at the broker is covered by working stops, or an exit
    for it is working."""
    held = live.exchange.position(token)
    if not held:
        return True
    side = Side.SELL if held > 0 else Side.BUY
    exiting = sum(p.quantity - p.filled
                  for p in live.exchange.working(token, stops=False, side=side))
    return covered(live, token) == abs(held) or exiting >= abs(held)


__all__ = ["Desk", "Exchange", "Live", "ManualClock", "Placed", "covered", "exits_of",
           "protected", "settings", "stops_of", "working_exit"]
