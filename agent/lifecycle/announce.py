"""What the owner hears of a trade: one notification per entry, one per exit.

An entry is announced once, when its order is finished (filled, or part-filled and the
rest cancelled), never per partial fill: the side, the quantity filled, the average price,
why (the level the price crossed), the stop and the rupees at risk to it. An exit is
announced once, when the position is flat again: its reason, the entry and exit prices,
the holding time and the P&L. The reason comes from the order that closed it: an exchange
stop order's fill is a stop hit (a trailing stop when the stop had moved: the stop order's
reason is kept current as it is moved), naming the stop it had when it filled.

Placements (entry, exit, stop orders) are notified too, as the quiet kinds
``ENTRY_PLACED``, ``EXIT_PLACED``, ``STOP_PLACED`` (off by default in the chat).

Mixed into ``executor.Executor``; engine thread only.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from agent.events import AlertKind
from agent.lifecycle.state import STOP_REASONS
from agent.marks import Mark, MarkKind
from agent.models import ExitReason, Order, OrderPurpose, Trade
from agent.runtime_state import InstrumentRuntime
from agent.strategy.base import Enter

if TYPE_CHECKING:
    from agent.lifecycle.executor import Executor

# The alert kind of an exit, by its reason (others: EXIT_FILLED).
EXIT_ALERT = {
    ExitReason.STOP: AlertKind.STOP_HIT,
    ExitReason.TRAILING_STOP: AlertKind.STOP_HIT,
    ExitReason.TARGET: AlertKind.TARGET_HIT,
    ExitReason.SIGNAL_REVERSE: AlertKind.REVERSAL,
    ExitReason.INSTRUMENT_LIMIT: AlertKind.LIMIT_HIT,
    ExitReason.GROUP_LIMIT: AlertKind.LIMIT_HIT,
    ExitReason.DAILY_LIMIT: AlertKind.LIMIT_HIT,
    ExitReason.SQUARE_OFF: AlertKind.SQUARE_OFF,
    ExitReason.MANUAL: AlertKind.SQUARE_OFF,
    ExitReason.CUTOFF: AlertKind.SQUARE_OFF,  # a time exit, like the square-off
    ExitReason.STRATEGY_CHANGED: AlertKind.SQUARE_OFF,
}


def _s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def average(value: Decimal | None, rt: InstrumentRuntime | None) -> Decimal | None:
    """An average price as shown: to the paisa (4 places for a tick below one paisa)."""
    if value is None:
        return None
    fine = rt is not None and rt.instrument.tick_size < Decimal("0.01")
    return value.quantize(Decimal("0.0001") if fine else Decimal("0.01"), ROUND_HALF_UP)


def contract_data(rt: InstrumentRuntime | None) -> dict[str, Any]:
    """What the chat needs to write a quantity in lots."""
    if rt is None:
        return {}
    ins = rt.instrument
    return {"exchange": ins.exchange, "lot_size": ins.lot_size,
            "instrument_type": ins.instrument_type}


class Announcer:
    """The entry and exit notifications (a mixin of ``Executor``)."""

    def entry_done(self: Executor, rt: InstrumentRuntime | None, order: Order,
                   intent: Enter | None, now: datetime) -> None:
        """An entry order is finished with a fill: one notification for all of it."""
        price, qty = average(order.average_price, rt), order.filled_quantity
        view = None if rt is None else rt.strategy.position(rt.state)
        stop = (view.stop if view is not None and view.side is order.side
                else intent.stop if intent is not None
                else None if rt is None else rt.orders.stop_level)
        risk = None if stop is None or price is None else abs(price - stop) * qty
        level = None if intent is None else intent.level
        why = ""
        if level is not None:
            crossed = "above" if order.side.sign > 0 else "below"
            why = (f"reverse at stop {level}" if order.reason == "reverse"
                   else f"{crossed} {level}")
        text = f"{order.symbol} {order.side} {qty} @ {price}"
        text += f" ({why})" if why else f" ({order.reason})"
        if stop is not None:
            text += f", stop {stop}" + ("" if risk is None else f", risk {risk:.2f}")
        self.say(AlertKind.ENTRY_FILLED, rt, now, text, order, side=order.side.value,
                 quantity=qty, price=_s(price), stop=_s(stop), risk=_s(risk),
                 level=_s(level), reason=order.reason, **contract_data(rt))
        if rt is not None:  # the chart's stop path and target start here
            if stop is not None:
                self.on_mark(rt, Mark(MarkKind.STOP, now, order.side, stop))
            if view is not None and view.side is order.side and view.target is not None:
                self.on_mark(rt, Mark(MarkKind.TARGET, now, order.side, view.target))

    def exit_done(self: Executor, rt: InstrumentRuntime | None, order: Order,
                  trade: Trade) -> None:
        """A fill made the position flat: one notification for the whole exit."""
        reason = trade.exit_reason
        known = ExitReason(reason) if reason in ExitReason._value2member_map_ else None
        level = None
        if order.purpose is OrderPurpose.STOP:  # the exchange stop filled: a stop hit
            level = order.trigger_price
            if known not in STOP_REASONS:
                known, reason = ExitReason.STOP, ExitReason.STOP.value
        elif rt is not None:
            close = rt.orders.close
            if close is not None and close.reason is known:
                level = close.level
            if level is None and known in STOP_REASONS:
                level = rt.orders.stop_level
        held = max(0, int((trade.exit_time - trade.entry_time).total_seconds()))
        long = "long" if trade.side.sign > 0 else "short"
        entry, exit_ = average(trade.entry_price, rt), average(trade.exit_price, rt)
        text = (f"{trade.symbol} {long} {trade.quantity} closed ({reason}"
                f"{'' if level is None else ' ' + str(level)}): {entry} -> {exit_}, held "
                f"{held} s, P&L {trade.pnl:+.2f}, charges {trade.charges:.2f}, net "
                f"{trade.net_pnl:+.2f}")
        kind = EXIT_ALERT.get(known, AlertKind.EXIT_FILLED) if known else AlertKind.EXIT_FILLED
        self.say(kind, rt, trade.exit_time, text, order, reason=reason,
                 side=trade.side.value, quantity=trade.quantity,
                 entry=str(entry), exit=str(exit_),
                 pnl=str(trade.pnl), charges=str(trade.charges),
                 net=str(trade.net_pnl), held=held, level=_s(level),
                 entry_time=trade.entry_time.isoformat(), **contract_data(rt))
