"""Intents become orders; broker updates become fills, positions and strategy feedback.

The rules of the order manager (issue 2):
- one exit order per instrument at a time: a second exit trigger while one is in flight
  (or two on one tick) adds nothing;
- exits use the actual open quantity from the P&L book, never the intended one;
- an entry that follows an exit in flight (a reverse) waits until that exit completes;
- ``max_trades_per_day`` counts an entry when the strategy decides it (a waiting reverse
  included); an entry that is rejected, or dropped before it is placed (by a forced close,
  another exit, a rejected exit, or the gate checked again when it would go out), is
  taken back (``_drop_chained``, ``_entry_finished``);
- a rejected entry leaves the instrument flat and free to trade (the trade is not counted);
- a rejected exit keeps the position managed (the strategy's prior state comes back), raises
  an alert, and exits for that instrument pause for ``EXIT_RETRY`` before the next try.

Engine thread only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from agent.adapters.broker import Broker
from agent.events import AlertKind, Notification, OrderUpdate
from agent.models import (
    EntryReason,
    ExitReason,
    Order,
    OrderPurpose,
    OrderStatus,
    OrderType,
    Trade,
)
from agent.orders import OrderBook
from agent.pnl import PnlBook
from agent.runtime_state import InstrumentRuntime
from agent.strategy.base import AlertChanged, Enter, Exit, Intent, StopMoved, Strategy

if TYPE_CHECKING:
    from agent.stops import ExchangeStops

log = logging.getLogger("agent.orders")

EXIT_RETRY = timedelta(seconds=5)

_EXIT_ALERT = {
    ExitReason.STOP: AlertKind.STOP_HIT,
    ExitReason.TRAILING_STOP: AlertKind.STOP_HIT,
    ExitReason.TARGET: AlertKind.TARGET_HIT,
    ExitReason.SIGNAL_REVERSE: AlertKind.REVERSAL,
    ExitReason.INSTRUMENT_LIMIT: AlertKind.LIMIT_HIT,
    ExitReason.GROUP_LIMIT: AlertKind.LIMIT_HIT,
    ExitReason.DAILY_LIMIT: AlertKind.LIMIT_HIT,
    ExitReason.SQUARE_OFF: AlertKind.SQUARE_OFF,
    ExitReason.MANUAL: AlertKind.SQUARE_OFF,
}


class Executor:
    def __init__(self, book: OrderBook, pnl: PnlBook, strategy: Strategy,
                 runtimes: dict[int, InstrumentRuntime], product: str,
                 notify: Callable[[Notification], None],
                 on_trade: Callable[[Trade], None]) -> None:
        self.book = book
        self.pnl = pnl
        self.strategy = strategy
        self.runtimes = runtimes
        self.product = product
        self.notify = notify
        self.on_trade = on_trade
        self.broker: Broker | None = None
        self.stops: ExchangeStops | None = None  # set by the engine

    # ------------------------------------------------------------ intents

    def apply(self, rt: InstrumentRuntime, intents: list[Intent], now: datetime) -> None:
        """Act on the strategy's intents for one instrument, in order. Engine thread."""
        refused = False  # an exit that could not be placed: skip the entry behind it
        for intent in intents:
            kind = type(intent)
            if kind is Exit:
                refused = not self.exit(rt, intent.reason, now, intent.prior)
            elif kind is Enter:
                if refused:
                    continue
                self.enter(rt, intent, now)
            elif kind is StopMoved:
                log.info("%s stop moved %s -> %s", rt.symbol, intent.old, intent.new)
                self.say(AlertKind.STOP_MOVED, rt, now,
                         f"{rt.symbol} stop moved {intent.old} -> {intent.new}",
                         stop=str(intent.new), old=str(intent.old))
                if self.stops is not None:
                    self.stops.move(rt, intent.new)
            elif kind is AlertChanged:
                self._log_alert(rt, intent)

    def enter(self, rt: InstrumentRuntime, intent: Enter, now: datetime) -> None:
        """An entry the strategy decided: it counts now (docs/strategy.md 9.5). Engine
        thread."""
        if rt.exit_tag is not None or rt.flatten_pending is not None:
            # An exit, or an entry being cancelled, is in flight: this entry waits until the
            # instrument is flat with nothing in flight (``_resume``). One that was already
            # waiting (the strategy reversed again meanwhile) is never placed.
            self._drop_chained(rt, "replaced by a new entry")
            rt.trades_today += 1
            rt.chained = intent
            return
        rt.trades_today += 1
        self._place_entry(rt, intent, now)

    def _drop_chained(self, rt: InstrumentRuntime, why: str) -> None:
        """Forget the entry waiting behind the exit in flight, if any: it was never placed,
        so it does not count against ``max_trades_per_day`` (docs/strategy.md 9.5). The
        strategy's view is the caller's business. Engine thread."""
        chained, rt.chained = rt.chained, None
        if chained is None:
            return
        rt.trades_today = max(0, rt.trades_today - 1)
        log.info("%s waiting %s entry %s dropped (%s); trades today %d", rt.symbol,
                 chained.reason, chained.side, why, rt.trades_today)

    def _resume(self, rt: InstrumentRuntime, now: datetime) -> None:
        """Place the chained entry once the instrument is flat with nothing in flight, if
        an entry is still allowed; else drop it. Engine thread."""
        if (rt.exit_tag is not None or rt.entry_tag is not None
                or rt.flatten_pending is not None or self.pnl.books[rt.token].quantity):
            return
        chained, rt.chained = rt.chained, None
        if chained is None:
            return
        # Checked again as it goes out, against the entries made before it: its own count
        # is taken back first (else max_trades_per_day N could never place an N-th reverse).
        rt.trades_today = max(0, rt.trades_today - 1)
        if rt.gate(chained.side, now):
            rt.trades_today += 1
            self._place_entry(rt, chained, now)
            return
        log.info("%s waiting %s entry %s dropped: no longer allowed; trades today %d",
                 rt.symbol, chained.reason, chained.side, rt.trades_today)
        self.strategy.entry_rejected(rt.state)

    def _place_entry(self, rt: InstrumentRuntime, intent: Enter, now: datetime) -> None:
        """A market entry order (already counted). Engine thread."""
        order = self.book.new(token=rt.token, symbol=rt.symbol, side=intent.side,
                              quantity=rt.quantity, order_type=OrderType.MARKET,
                              purpose=OrderPurpose.ENTRY, reason=intent.reason.value, now=now,
                              product=self.product)
        rt.entry_tag = order.tag
        verb = "reverse" if intent.reason is EntryReason.REVERSE else "signal"
        log.info("%s %s entry %s %d @ market (last %s), stop %s [%s]", rt.symbol, verb,
                 intent.side, order.quantity, intent.price, intent.stop, order.tag)
        self.say(AlertKind.REVERSAL if intent.reason is EntryReason.REVERSE
                  else AlertKind.ENTRY_PLACED, rt, now,
                  f"{rt.symbol} {intent.side} {order.quantity} ({intent.reason}) at ~"
                  f"{intent.price}, stop {intent.stop}", order, stop=str(intent.stop))
        self.submit(order)

    def exit(self, rt: InstrumentRuntime, reason: ExitReason, now: datetime,
             prior: Any = None) -> bool:
        """Close the instrument's position at market. False when no exit could be placed
        now (the strategy's prior state is then restored). An entry waiting behind an exit
        in flight is the position the strategy is leaving: it is dropped. Engine thread."""
        self._drop_chained(rt, f"exit {reason}")
        if rt.exit_tag is not None:
            return True  # one exit order at a time; the one in flight does the job
        if rt.entry_tag is not None:
            entry = self.book.get(rt.entry_tag)
            rt.flatten_pending = reason
            if entry is not None and self.broker is not None:
                self.broker.cancel(entry)
                self.pump()
        held = self.pnl.books[rt.token].quantity
        if held == 0:
            return True
        if rt.stop_tag is not None and self.stops is not None:
            return self.stops.exit(rt, reason, now, prior)
        if rt.exit_retry_at is not None and now < rt.exit_retry_at:
            if prior is not None:
                self.strategy.exit_rejected(rt.state, prior)
            else:
                rt.pending_close = reason
            return False
        self.place_exit(rt, reason, now, prior)
        # A synchronous broker may already have rejected it: then nothing may follow it.
        return rt.exit_tag is not None or self.pnl.books[rt.token].quantity == 0

    def place_exit(self, rt: InstrumentRuntime, reason: ExitReason, now: datetime,
                   prior: Any) -> None:
        """A market order for the whole open quantity (an entry chained behind stays).
        Engine thread."""
        held = self.pnl.books[rt.token].quantity
        side = self.pnl.books[rt.token].side.opposite  # type: ignore[union-attr]
        order = self.book.new(token=rt.token, symbol=rt.symbol, side=side,
                              quantity=abs(held), order_type=OrderType.MARKET,
                              purpose=OrderPurpose.EXIT, reason=reason.value, now=now,
                              product=self.product)
        rt.exit_tag = order.tag
        rt.exit_prior = prior
        rt.pending_close = None
        log.info("%s exit %s %d @ market (%s) [%s]", rt.symbol, side, order.quantity,
                 reason, order.tag)
        self.say(_EXIT_ALERT.get(reason, AlertKind.EXIT_PLACED), rt, now,
                 f"{rt.symbol} exit {side} {order.quantity} ({reason}) at ~{rt.last_price}",
                 order, reason=reason.value)
        self.submit(order)

    def close(self, rt: InstrumentRuntime, reason: ExitReason, now: datetime) -> None:
        """A forced close (limits, square-off, owner): the strategy goes flat first and a
        reverse waiting behind an exit in flight is dropped (not counted). Engine thread."""
        self.strategy.force_flat(rt.state)
        self._drop_chained(rt, f"forced close {reason}")
        if not self.exit(rt, reason, now):
            rt.pending_close = reason

    # ------------------------------------------------------------ broker side

    def submit(self, order: Order) -> None:
        assert self.broker is not None, "no broker attached"
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
        applied = self.book.apply(update)
        if applied is None:
            log.warning("order update for unknown tag %s (%s), ignored", update.tag,
                        update.status)
            return
        order = applied.order
        rt = self.runtimes.get(order.instrument_token)
        if applied.fill is not None:
            self._on_fill(rt, order, applied.fill)
        if applied.finished and rt is not None:
            if order.purpose is OrderPurpose.ENTRY:
                self._entry_finished(rt, order, update.time)
            elif order.purpose is OrderPurpose.EXIT:
                self.exit_finished(rt, order, update.time)
            elif self.stops is not None:
                self.stops.finished(rt, order, update.time)

    def _on_fill(self, rt: InstrumentRuntime | None, order: Order, fill: Any) -> None:
        trade = self.pnl.apply_fill(fill, order, None if rt is None else rt.last_price)
        symbol = order.symbol
        log.info("%s fill %s %d @ %s (%s) [%s]", symbol, fill.side, fill.quantity, fill.price,
                 order.reason, order.tag)
        if order.purpose is OrderPurpose.ENTRY:
            if rt is not None and rt.flatten_pending is None:
                self.strategy.entry_filled(rt.state, order.average_price)
            self.say(AlertKind.ENTRY_FILLED, rt, fill.time,
                      f"{symbol} {fill.side} {fill.quantity} filled @ {fill.price}", order,
                      price=str(fill.price))
        else:
            text = f"{symbol} {fill.side} {fill.quantity} filled @ {fill.price}"
            if trade is not None:
                text += f", P&L {trade.pnl:+.2f}"
            self.say(AlertKind.EXIT_FILLED, rt, fill.time, text, order, price=str(fill.price),
                      pnl=None if trade is None else str(trade.pnl))
        if trade is not None:
            self.on_trade(trade)
        if (rt is not None and order.purpose is OrderPurpose.ENTRY
                and rt.flatten_pending is not None and rt.exit_tag is None
                and self.pnl.books[rt.token].quantity):
            # An exit came while this entry was in flight: close what it filled. The flag
            # stays until the entry is final (more may fill before the cancel lands).
            self.place_exit(rt, rt.flatten_pending, fill.time, None)

    def _entry_finished(self, rt: InstrumentRuntime, order: Order, now: datetime) -> None:
        if rt.entry_tag == order.tag:
            rt.entry_tag = None
        # The flag covers what this entry filled or might still fill: it ends when that is
        # all closed (here, or when the last flattening exit completes).
        if rt.flatten_pending is not None:
            if order.status is OrderStatus.REJECTED and not order.filled_quantity:
                rt.trades_today = max(0, rt.trades_today - 1)  # rejected: not counted
            if rt.exit_tag is None and not self.pnl.books[rt.token].quantity:
                rt.flatten_pending = None
            self._resume(rt, now)
            return
        if order.status is OrderStatus.COMPLETE or order.filled_quantity:
            if self.stops is not None:
                self.stops.place(rt, now)
            return
        self.strategy.entry_rejected(rt.state)
        rt.trades_today = max(0, rt.trades_today - 1)
        log.warning("%s entry %s %s: %s [%s]", rt.symbol, order.side, order.status.lower(),
                    order.message or "no reason given", order.tag)
        self.say(AlertKind.ORDER_REJECTED, rt, now,
                  f"{rt.symbol} entry {order.side} {order.quantity} {order.status.lower()}: "
                  f"{order.message or 'no reason given'}", order, message=order.message)

    def exit_finished(self, rt: InstrumentRuntime, order: Order, now: datetime) -> None:
        if rt.exit_tag == order.tag:
            rt.exit_tag = None
        prior, rt.exit_prior = rt.exit_prior, None
        if self.pnl.books[rt.token].quantity == 0:
            rt.exit_retry_at = None
            if rt.entry_tag is None:
                rt.flatten_pending = None  # everything the cancelled entry filled is closed
            self._resume(rt, now)
            return
        if order.status is OrderStatus.COMPLETE and rt.flatten_pending is not None:
            # The entry being cancelled filled more meanwhile: close that too.
            self.place_exit(rt, rt.flatten_pending, now, prior)
            return
        # Rejected or cancelled (or partly filled): the position is still there.
        self._drop_chained(rt, f"exit {order.status.lower()}")
        if prior is not None:
            self.strategy.exit_rejected(rt.state, prior)
        else:
            rt.pending_close = ExitReason(order.reason)
        rt.exit_retry_at = now + EXIT_RETRY
        log.error("%s exit %s %s: %s; position %d still open and managed [%s]", rt.symbol,
                  order.side, order.status.lower(), order.message or "no reason given",
                  self.pnl.books[rt.token].quantity, order.tag)
        self.say(AlertKind.ORDER_REJECTED, rt, now,
                  f"{rt.symbol} EXIT {order.status.lower()}: {order.message or 'no reason'}; "
                  f"position still open and managed", order, message=order.message)

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
