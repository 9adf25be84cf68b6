"""Exchange-side stops (``stop_mode: exchange``): an SL order rests at the broker for every
open position, so the position is protected even if this process or its feed dies.

- After an entry fills, an SL order (trigger = the strategy's stop; limit a buffer of
  ticks beyond it) is placed for the open quantity; it is modified as the stop trails (the
  broker adapter throttles and works around Kite's 25-modification cap).
- When the strategy sees its stop crossed, no market order is sent: the SL order is the
  exit, and a reverse waits for its fill. If it has not filled ``STOP_FILL_WAIT`` later
  (the price jumped past its limit), it is cancelled and the position exits at market.
- Any other exit (target, signal reverse, limits, square-off, the owner) first cancels the
  SL order; the market exit goes out only once the cancel is confirmed. If the SL filled
  meanwhile, the position is already closed and nothing more is sent: never two exits.
- An SL fill the engine did not ask for (the exchange was faster than our feed) tells the
  strategy it was stopped out, so stop-and-reverse still happens.

Engine thread only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from agent.events import AlertKind
from agent.models import ExitReason, Order, OrderPurpose, OrderStatus, OrderType, Side
from agent.runtime_state import InstrumentRuntime

if TYPE_CHECKING:
    from agent.execution import Executor

log = logging.getLogger("agent.orders")

STOP_FILL_WAIT = timedelta(seconds=3)
_STOP_REASONS = (ExitReason.STOP, ExitReason.TRAILING_STOP)


class ExchangeStops:
    def __init__(self, executor: Executor, *, enabled: bool, buffer_ticks: int,
                 on_stopped_out: Callable[[InstrumentRuntime, Decimal, datetime], None]) -> None:
        self.ex = executor
        self.enabled = enabled
        self.buffer_ticks = buffer_ticks
        self.on_stopped_out = on_stopped_out

    def _limit(self, rt: InstrumentRuntime, side: Side, trigger: Decimal) -> Decimal:
        move = rt.instrument.tick_size * self.buffer_ticks
        if side is Side.SELL:
            return max(trigger - move, rt.instrument.tick_size)
        return trigger + move

    def place(self, rt: InstrumentRuntime, now: datetime) -> None:
        """After an entry filled: protect the open quantity with an SL order."""
        ex = self.ex
        book = ex.pnl.books[rt.token]
        view = ex.strategy.position(rt.state)
        if not self.enabled or rt.stop_tag is not None or not book.quantity or view is None:
            return
        side = book.side.opposite  # type: ignore[union-attr]
        trigger, last = view.stop, rt.last_price
        if last is not None and (trigger >= last if side is Side.SELL else trigger <= last):
            log.info("%s stop %s already crossed (last %s): the engine exits it", rt.symbol,
                     trigger, last)
            return
        order = ex.book.new(token=rt.token, symbol=rt.symbol, side=side,
                            quantity=abs(book.quantity), order_type=OrderType.SL,
                            purpose=OrderPurpose.STOP,
                            reason=ex.strategy.stop_reason(rt.state).value, now=now,
                            product=ex.product, price=self._limit(rt, side, trigger),
                            trigger_price=trigger)
        rt.stop_tag = order.tag
        log.info("%s exchange stop %s %d trigger %s limit %s [%s]", rt.symbol, side,
                 order.quantity, trigger, order.price, order.tag)
        ex.say(AlertKind.STOP_PLACED, rt, now, f"{rt.symbol} stop placed at {trigger}", order,
               stop=str(trigger))
        ex.submit(order)

    def move(self, rt: InstrumentRuntime, stop: Decimal) -> None:
        """The strategy's stop trailed: modify the SL order (unless it is the exit now)."""
        if rt.stop_tag is None or rt.exit_tag == rt.stop_tag:
            return
        order = self.ex.book.get(rt.stop_tag)
        if order is None or order.status.is_terminal:
            return
        order.reason = ExitReason.TRAILING_STOP.value
        assert self.ex.broker is not None
        self.ex.broker.modify(order, trigger_price=stop, price=self._limit(rt, order.side, stop))
        self.ex.pump()

    def exit(self, rt: InstrumentRuntime, reason: ExitReason, now: datetime,
             prior: Any) -> bool:
        """An exit while an SL order rests: see the module docstring."""
        ex = self.ex
        order = ex.book.get(rt.stop_tag or "")
        assert order is not None
        rt.exit_tag, rt.exit_prior, rt.pending_close = order.tag, prior, None
        if reason in _STOP_REASONS:
            rt.stop_wait_until = now + STOP_FILL_WAIT
            log.info("%s stop crossed (last %s): the exchange stop is the exit [%s]",
                     rt.symbol, rt.last_price, order.tag)
            ex.say(AlertKind.STOP_HIT, rt, now, f"{rt.symbol} stop {order.trigger_price} hit "
                   f"at ~{rt.last_price}", order, reason=reason.value)
        else:
            rt.exit_after_cancel = reason
            log.info("%s exit (%s): cancelling the exchange stop first [%s]", rt.symbol,
                     reason, order.tag)
            assert ex.broker is not None
            ex.broker.cancel(order)
            ex.pump()
        return rt.exit_tag is not None or ex.pnl.books[rt.token].quantity == 0

    def timeout(self, rt: InstrumentRuntime, now: datetime) -> None:
        """The SL order has not filled in STOP_FILL_WAIT: cancel it, exit at market."""
        rt.stop_wait_until = None
        order = self.ex.book.get(rt.stop_tag or "")
        if order is None or order.status.is_terminal or rt.exit_tag != order.tag:
            return
        rt.exit_after_cancel = ExitReason(order.reason)
        log.warning("%s exchange stop did not fill within %ss (price past its limit?): "
                    "cancelling it and exiting at market [%s]", rt.symbol,
                    STOP_FILL_WAIT.total_seconds(), order.tag)
        assert self.ex.broker is not None
        self.ex.broker.cancel(order)
        self.ex.pump()

    def finished(self, rt: InstrumentRuntime, order: Order, now: datetime) -> None:
        """The SL order is final: filled, cancelled or rejected."""
        ex = self.ex
        if rt.stop_tag == order.tag:
            rt.stop_tag = None
        rt.stop_wait_until = None
        was_exit = rt.exit_tag == order.tag
        held = ex.pnl.books[rt.token].quantity
        if order.status is OrderStatus.COMPLETE or (order.filled_quantity and not held):
            rt.exit_after_cancel = None
            ex.exit_finished(rt, order, now)
            if not was_exit and order.average_price is not None:
                self.on_stopped_out(rt, order.average_price, now)
            return
        if was_exit:
            reason = rt.exit_after_cancel or ExitReason(order.reason)
            rt.exit_after_cancel = None
            rt.exit_tag = None
            if held:
                ex.place_exit(rt, reason, now, rt.exit_prior)
            else:
                ex.exit_finished(rt, order, now)
            return
        if order.status is OrderStatus.REJECTED:
            log.error("%s exchange stop rejected: %s; the engine watches the stop itself [%s]",
                      rt.symbol, order.message or "no reason given", order.tag)
            ex.say(AlertKind.ORDER_REJECTED, rt, now, f"{rt.symbol} stop order rejected: "
                   f"{order.message or 'no reason given'}; the engine watches the stop", order,
                   message=order.message)
