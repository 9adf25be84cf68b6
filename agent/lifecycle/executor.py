"""The lifecycle's front door: intents in, broker facts in, one decision step.

``Executor`` is the one owner of every instrument's orders (``state.InstrumentOrders``).
Three kinds of input change what is wanted or what is known, and each ends with ``step``,
which looks at the instrument as it is now and does the next thing needed
(``steps.Stepper``):

- the strategy's intents (``apply``) and forced closes (``close``: limits, square-off, the
  owner) say what is wanted;
- broker facts (``on_update``: one order's status and fills) say what is: fills are booked
  once (``book.OrderBook`` is idempotent), the strategy hears what differs from its view;
- time (``step`` from the engine's ticks and timer) runs out deadlines and back-offs.

Because ``step`` decides from the state alone, a lost event, a rejected order or a restart
cannot leave an instrument stuck half-way: the next step sees what is missing and does it.

Engine thread only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from agent.adapters.broker import Broker
from agent.events import AlertKind, Notification, OrderUpdate
from agent.lifecycle.announce import Announcer
from agent.lifecycle.book import OrderBook
from agent.lifecycle.state import Close
from agent.lifecycle.steps import MODIFY_AGAIN, Stepper
from agent.marks import Mark, MarkKind
from agent.models import ExitReason, Fill, Order, OrderPurpose, OrderStatus, Trade
from agent.pnl import PnlBook
from agent.runtime_state import InstrumentRuntime
from agent.strategy.base import AlertChanged, Enter, Exit, Intent, StopMoved

log = logging.getLogger("agent.orders")


class Executor(Stepper, Announcer):
    def __init__(self, book: OrderBook, pnl: PnlBook,
                 runtimes: dict[int, InstrumentRuntime], product: str,
                 notify: Callable[[Notification], None],
                 on_trade: Callable[[Trade], None], *, stops_enabled: bool = False,
                 buffer_ticks: int = 10) -> None:
        self.book = book
        self.pnl = pnl
        self.runtimes = runtimes
        self.product = product
        self.notify = notify
        self.on_trade = on_trade
        self.stops_enabled = stops_enabled
        self.buffer_ticks = buffer_ticks
        self.broker: Broker | None = None
        self.wait_scale = 1.0  # engine-time seconds per second of broker latency
        self.depth = 0  # steps under way (a synchronous broker makes them nest)
        self.sent: set[str] = set()  # tags this process sent: their broker adapter owns them
        self.entries: dict[str, Enter] = {}  # the intent behind each working entry order
        # while a broker snapshot is applied: instruments whose step waits for all its facts
        self.deferred: set[int] | None = None
        # set by the engine: the limits check before an entry, a stop's own fill
        self.check_limits: Callable[[datetime], None] = lambda now: None
        # set by agent.margin_watch: (rt, side, quantity, price, now) before an entry goes
        self.check_margin: Callable[..., None] = lambda *args: None
        self.on_stopped_out: Callable[[InstrumentRuntime, Any, datetime], None] = \
            lambda rt, price, now: None
        # set by the engine: the strategy's marks for the charts (agent/marks.py)
        self.on_mark: Callable[[InstrumentRuntime, Mark], None] = lambda rt, mark: None

    # ------------------------------------------------------------ intents

    def apply(self, rt: InstrumentRuntime, intents: list[Intent], now: datetime) -> None:
        """Act on the strategy's intents for one instrument, in order. Engine thread."""
        refused = False  # an exit that cannot go out now: the entry behind it is skipped
        for intent in intents:
            kind = type(intent)
            if kind is Exit:
                refused = not self.want_exit(rt, intent.reason, intent.prior, now,
                                             intent.level)
            elif kind is Enter:
                if refused:
                    continue
                self.want_entry(rt, intent, now)
            elif kind is StopMoved:
                log.info("%s stop moved %s -> %s", rt.symbol, intent.old, intent.new)
                self.say(AlertKind.STOP_MOVED, rt, now,
                         f"{rt.symbol} stop moved {intent.old} -> {intent.new}",
                         stop=str(intent.new), old=str(intent.old),
                         interval=rt.params.interval)
                self.on_mark(rt, Mark(MarkKind.STOP, now, intent.side, intent.new))
                self.step(rt, now)
            elif kind is AlertChanged:
                self._log_alert(rt, intent)
                c = intent.candle
                self.on_mark(rt, Mark(MarkKind.CLEARED, now, intent.side) if c is None else
                             Mark(MarkKind.ALERT, now, intent.side, None, intent.upper,
                                  intent.lower, c.start))

    def want_entry(self, rt: InstrumentRuntime, intent: Enter, now: datetime) -> None:
        """An entry the strategy decided: it counts now (docs/strategy.md 9.5); it goes out
        at once when the instrument is flat with nothing working, else it waits."""
        o = rt.orders
        if (o.close is not None or o.entry or o.exit or o.stop or rt.book.quantity
                or self.deferred is not None):  # (a broker snapshot's facts come first)
            self.drop_next_entry(rt, "replaced by a new entry")
            rt.trades_today += 1
            o.next_entry = intent
            self.step(rt, now)
            return
        self.place_entry(rt, intent, now)

    def want_exit(self, rt: InstrumentRuntime, reason: ExitReason, prior: Any,
                  now: datetime, level: Any = None) -> bool:
        """A strategy exit. False when no exit can go out now (after a refused exit): the
        strategy gets its prior state back and decides again later."""
        o = rt.orders
        self.drop_next_entry(rt, f"exit {reason}")
        if o.close is not None:
            return True  # one exit at a time: the one under way keeps its reason
        if not rt.book.quantity and not o.entry:
            return True
        if o.exit_backoff is not None and now < o.exit_backoff and o.stop is None:
            rt.strategy.exit_rejected(rt.state, prior)
            return False
        o.close = Close(reason, prior, level=level)
        self.step(rt, now)
        return True

    def close(self, rt: InstrumentRuntime, reason: ExitReason, now: datetime) -> None:
        """A forced close (limits, square-off, the owner, end of data): the strategy goes
        flat at once, and the close is retried until the instrument is flat."""
        rt.strategy.force_flat(rt.state)
        self.drop_next_entry(rt, f"forced close {reason}")
        o = rt.orders
        if o.close is None:
            o.close = Close(reason, None, forced=True)
        else:  # a strategy exit under way becomes a forced one: never handed back
            o.close.forced, o.close.prior = True, None
            if o.close.reason not in (ExitReason.STOP, ExitReason.TRAILING_STOP):
                o.close.reason = reason
        self.step(rt, now)

    def drop_next_entry(self, rt: InstrumentRuntime, why: str) -> None:
        """Forget the entry waiting until flat: never placed, so not counted."""
        waiting, rt.orders.next_entry = rt.orders.next_entry, None
        if waiting is None:
            return
        rt.trades_today = max(0, rt.trades_today - 1)
        log.info("%s waiting %s entry %s dropped (%s); trades today %d", rt.symbol,
                 waiting.reason, waiting.side, why, rt.trades_today)

    def has_position(self, rt: InstrumentRuntime) -> bool:
        return bool(rt.book.quantity or rt.orders.entry
                    or rt.strategy.position(rt.state) is not None)

    # ------------------------------------------------------------ broker facts

    def submit(self, order: Order) -> None:
        assert self.broker is not None, "no broker attached"
        self.sent.add(order.tag)
        self.broker.submit(order)
        self.pump()

    def pump(self) -> None:
        """Apply whatever a synchronous broker has ready."""
        if self.broker is None:
            return
        updates = self.broker.poll()
        while updates:
            for update in updates:
                self.on_update(update)
            updates = self.broker.poll()

    def on_update(self, update: OrderUpdate) -> None:
        """One order's status and fills from the broker (repeats change nothing)."""
        applied = self.book.apply(update)
        if applied is None:
            log.warning("order update for unknown tag %s (%s), ignored", update.tag,
                        update.status)
            return
        order = applied.order
        rt = self.runtimes.get(order.instrument_token)
        if applied.fill is not None:
            self._on_fill(rt, order, applied.fill)
        if applied.finished and order.purpose is OrderPurpose.ENTRY:
            intent = self.entries.pop(order.tag, None)
            if order.filled_quantity:
                self.entry_done(rt, order, intent, update.time)
        if rt is None:
            return
        if (order.tag == rt.orders.stop and not applied.finished
                and update.message.lower().startswith("modify refused")):
            rt.orders.modify_again = update.time + self.wait(MODIFY_AGAIN)
        if applied.finished:
            self._finished(rt, order, update.time)
        self.step(rt, update.time)

    def _on_fill(self, rt: InstrumentRuntime | None, order: Order, fill: Fill) -> None:
        trade = self.pnl.apply_fill(fill, order, None if rt is None else rt.last_price)
        log.info("%s fill %s %d @ %s (%s) [%s]", order.symbol, fill.side, fill.quantity,
                 fill.price, order.reason, order.tag)
        if (order.purpose is OrderPurpose.ENTRY and rt is not None
                and rt.orders.close is None and order.tag == rt.orders.entry):
            rt.strategy.entry_filled(rt.state, order.average_price)
        if trade is not None:  # flat again: one alert for the whole exit, with its reason
            self.on_trade(trade)
            self.exit_done(rt, order, trade)

    def _finished(self, rt: InstrumentRuntime, order: Order, now: datetime) -> None:
        if order.purpose is OrderPurpose.ENTRY:
            self.entry_finished(rt, order, now)
        elif order.purpose is OrderPurpose.EXIT:
            self.exit_finished(rt, order, now)
        else:
            self.stop_finished(rt, order, now)

    # ------------------------------------------------------------ output

    def _log_alert(self, rt: InstrumentRuntime, a: AlertChanged) -> None:
        if a.candle is None:
            log.info("%s %s alert cleared (vwap %s)", rt.symbol, a.side.lower(),
                     _fmt(a.vwap))
        else:
            log.info("%s %s alert %s candle %s, band %s - %s (vwap %s)", rt.symbol,
                     a.side.lower(), "set", a.candle.start.strftime("%H:%M"), a.lower, a.upper,
                     _fmt(a.vwap))

    def say(self, kind: AlertKind, rt: InstrumentRuntime | None, now: datetime, text: str,
            order: Order | None = None, **data: Any) -> None:
        self.notify(Notification(kind, text, now, rt.symbol if rt else "",
                                 order.tag if order else "", data))


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.2f}"


__all__ = ["Executor", "OrderStatus"]
