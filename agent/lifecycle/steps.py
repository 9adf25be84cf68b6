"""The decision step: from one instrument's state as it is now, do the next thing needed.

``step`` is level-triggered: it reads the position the books hold, the working orders and
what is wanted, does at most one thing, and looks again (a synchronous broker may have
answered meanwhile). In order:

1. an exit is wanted while an entry works: cancel the entry (what it filled is closed);
2. flat with nothing working: the close is done; an orphaned stop is cancelled; then the
   entry waiting behind the exit may go (the limits and the gate are asked again);
3. an exit is wanted and something is held (EXITING): a crossed stop's own order is the
   exit until ``stop_due``; any other exit cancels the stop first; then one exit order for
   the whole held quantity, re-priced when it rests unfilled past ``exit_due``, retried
   after ``exit_backoff`` when refused (a forced close for ever; the position is guarded
   by a new stop meanwhile);
4. something is held and no exit is wanted (OPEN): with exchange stops, a stop order for
   the actual open quantity at the strategy's level, from the first fill: placed, resized,
   moved; a stop the exchange cancels is placed again (after two refusals the engine
   watches the stop itself).

Mixed into ``executor.Executor``; engine thread only.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING

from agent.events import AlertKind
from agent.lifecycle.orders_out import crossed, market_order, stop_limit, through
from agent.lifecycle.state import STOP_REASONS, Close
from agent.models import (
    EntryReason,
    ExitReason,
    Order,
    OrderPurpose,
    OrderStatus,
    OrderType,
    Side,
)
from agent.runtime_state import InstrumentRuntime
from agent.strategy.base import Enter

if TYPE_CHECKING:
    from agent.lifecycle.executor import Executor

log = logging.getLogger("agent.orders")

STOP_FILL_WAIT = 3.0  # broker seconds: a crossed stop's own fill is due by then
EXIT_REPRICE_WAIT = 5.0  # broker seconds: an exit resting unfilled is re-priced then
ENTRY_FILL_WAIT = 10.0  # broker seconds: an entry resting unfilled is cancelled then
EXIT_RETRY = 5.0  # broker seconds: after a refused exit, the next try
CANCEL_AGAIN = 5.0  # broker seconds: a cancel not answered by then is asked again
MODIFY_AGAIN = 2.0  # broker seconds: after a refused change of the stop, the next try
ENTRY_BACKOFF = (timedelta(seconds=30), timedelta(minutes=2))  # after the 1st, 2nd refusal
MAX_ENTRY_REFUSALS = 3  # refused entries in a day: then the instrument halts
MAX_STOP_REFUSALS = 2  # refused stop orders for one position: then the engine watches it
MAX_STEPS = 8
MAX_DEPTH = 24

class Stepper:
    """The step and the orders it sends (a mixin of ``Executor``)."""

    def wait(self: Executor, seconds: float) -> timedelta:
        """Broker latency in engine time (a scaled clock makes it longer)."""
        return timedelta(seconds=seconds * self.wait_scale)

    def step(self: Executor, rt: InstrumentRuntime, now: datetime) -> None:
        """Do what the instrument needs now (see the module docstring). A synchronous
        broker answers inside it, so steps nest; a broker that answers every order with
        a reason for another is cut off (``MAX_DEPTH``) rather than run for ever."""
        if self.deferred is not None:  # a broker snapshot is being applied: facts first
            self.deferred.add(rt.token)
            return
        if self.depth >= MAX_DEPTH:
            log.error("%s order steps nested %d deep: stopped (the broker answers every "
                      "order with another?)", rt.symbol, self.depth)
            return
        self.depth += 1
        try:
            self._forget_stale(rt)
            self._cancel_again(rt, now)
            for _ in range(MAX_STEPS):
                if not self._step_once(rt, now):
                    return
            log.warning("%s order step did not settle in %d rounds", rt.symbol, MAX_STEPS)
        finally:
            self.depth -= 1

    def _step_once(self: Executor, rt: InstrumentRuntime, now: datetime) -> bool:
        o, held = rt.orders, rt.book.quantity
        if o.entry is not None and not o.entry_cancel and (
                o.close is not None or self._overdue(o.entry, o.entry_due, now)):
            o.entry_cancel = True
            return self._cancel(o.entry, rt, now, "an exit is wanted" if o.close is not None
                                else "it rests unfilled")
        if (o.next_entry is not None and held and o.close is None and o.entry is None
                and o.exit is None and (held > 0) is (o.next_entry.side is Side.BUY)):
            self.drop_next_entry(rt, "already held: the broker shows it filled")
            return True
        if not held and o.exit is not None and not o.exit_cancel:
            o.exit_cancel = True  # nothing is held any more: never sell what is not there
            return self._cancel(o.exit, rt, now, "nothing is held")
        if not held and o.entry is None and o.exit is None:
            if o.close is not None:
                o.close, o.exit_backoff, o.stop_rejections = None, None, 0
                o.stop_level = o.modify_again = None
            if o.stop is not None:
                if o.stop_cancel:
                    return False
                o.stop_cancel = True
                return self._cancel(o.stop, rt, now, "nothing is held")
            if o.next_entry is not None:
                return self._resume(rt, now)
            return False
        if o.close is not None and held:
            return self._drive_exit(rt, held, now)
        if held and o.close is None and o.exit is None:
            return self._guard(rt, held, now)
        return False

    # ------------------------------------------------------------ entries

    def place_entry(self: Executor, rt: InstrumentRuntime, intent: Enter,
                    now: datetime) -> bool:
        """Send an entry (it counts) unless the instrument backs off, a limit has just
        tripped, or the gate refuses; then the strategy hears it was rejected."""
        o = rt.orders
        self.check_limits(now)  # a stop's own fill may have moved a limit just now
        refused = ""
        if o.entry_backoff is not None and now < o.entry_backoff:
            refused = f"backing off after a refused entry until {o.entry_backoff:%H:%M:%S}"
        elif not rt.gate(intent.side, now):
            refused = "not allowed now"
        if refused:
            log.info("%s %s entry %s not sent: %s", rt.symbol, intent.reason, intent.side,
                     refused)
            rt.strategy.entry_rejected(rt.state)
            return False
        rt.trades_today += 1
        side = intent.side
        kind, price = market_order(rt.instrument, side, rt.last_price)
        order = self.book.new(token=rt.token, symbol=rt.symbol, side=side,
                              quantity=rt.quantity, order_type=kind,
                              purpose=OrderPurpose.ENTRY, reason=intent.reason.value, now=now,
                              product=self.product, price=price)
        o.entry, o.entry_cancel, o.entry_due = order.tag, False, now + self.wait(
            ENTRY_FILL_WAIT)
        verb = "reverse" if intent.reason is EntryReason.REVERSE else "signal"
        log.info("%s %s entry %s %d @ %s (last %s), stop %s [%s]", rt.symbol, verb, side,
                 order.quantity, price or "market", intent.price, intent.stop, order.tag)
        self.entries[order.tag] = intent  # for the alert when it is filled (announce.py)
        self.say(AlertKind.ENTRY_PLACED, rt, now,
                 f"{rt.symbol} {side} {order.quantity} ({intent.reason}) at ~"
                 f"{intent.price}, stop {intent.stop}", order, stop=str(intent.stop))
        self.check_margin(rt, side, order.quantity, price or rt.last_price, now)
        self.submit(order)
        return True

    def _resume(self: Executor, rt: InstrumentRuntime, now: datetime) -> bool:
        """Flat with nothing working: the waiting entry goes, judged again without its own
        count (else max_trades_per_day N could never place an N-th reverse)."""
        o = rt.orders
        waiting, o.next_entry = o.next_entry, None
        assert waiting is not None
        rt.trades_today = max(0, rt.trades_today - 1)
        if not self.place_entry(rt, waiting, now):
            log.info("%s waiting %s entry %s dropped; trades today %d", rt.symbol,
                     waiting.reason, waiting.side, rt.trades_today)
            return False
        return True

    def entry_finished(self: Executor, rt: InstrumentRuntime, order: Order,
                       now: datetime) -> None:
        o = rt.orders
        ours = o.entry_cancel
        if o.entry == order.tag:
            o.entry, o.entry_cancel, o.entry_due = None, False, None
        if order.filled_quantity:
            return  # a position: the step guards it (or closes it, if an exit is wanted)
        if o.close is not None:  # cancelled for the exit (or refused meanwhile)
            if order.status is OrderStatus.REJECTED:
                rt.trades_today = max(0, rt.trades_today - 1)
            return
        rt.trades_today = max(0, rt.trades_today - 1)
        rt.strategy.entry_rejected(rt.state)
        if ours or order.message == "never reached the broker":
            # it rested unfilled and we took it back, or it never arrived: not a refusal
            log.info("%s entry %s %s: the strategy decides again [%s]", rt.symbol, order.side,
                     "rested unfilled: cancelled" if ours else order.message, order.tag)
            return
        o.entry_rejections += 1
        why = order.message or "no reason given"
        if o.entry_rejections >= MAX_ENTRY_REFUSALS:
            rt.halted = f"{o.entry_rejections} entries refused today ({why})"
            after = "halted for the day (/unhalt to try again)"
        else:
            o.entry_backoff = now + ENTRY_BACKOFF[min(o.entry_rejections,
                                                      len(ENTRY_BACKOFF)) - 1]
            after = f"next entry not before {o.entry_backoff:%H:%M:%S}"
        log.warning("%s entry %s %s: %s; %s [%s]", rt.symbol, order.side,
                    order.status.lower(), why, after, order.tag)
        self.say(AlertKind.ORDER_REJECTED, rt, now,
                 f"{rt.symbol} entry {order.side} {order.quantity} {order.status.lower()}: "
                 f"{why}; {after}", order, message=order.message)

    # ------------------------------------------------------------ exits

    def _drive_exit(self: Executor, rt: InstrumentRuntime, held: int, now: datetime) -> bool:
        o = rt.orders
        close = o.close
        assert close is not None
        if o.exit is not None:
            if not o.exit_cancel and self._overdue(o.exit, o.exit_due, now):
                o.exit_cancel = True
                return self._cancel(o.exit, rt, now, "it rests unfilled: re-pricing it")
            return False
        if o.stop is not None:
            if o.stop_cancel:
                return False
            if close.reason in STOP_REASONS or o.stop_due is not None:
                if o.stop_due is None:
                    stop = self.book.get(o.stop)
                    o.stop_due = now + self.wait(STOP_FILL_WAIT)
                    if stop is not None and close.level is None:
                        close.level = stop.trigger_price
                    log.info("%s stop crossed (last %s): the exchange stop is the exit [%s]",
                             rt.symbol, rt.last_price, o.stop)
                    self.say(AlertKind.EXIT_PLACED, rt, now, f"{rt.symbol} stop "
                             f"{stop.trigger_price if stop else ''} crossed at ~"
                             f"{rt.last_price}: the exchange stop is the exit", stop,
                             reason=close.reason.value)
                    return False
                if now < o.stop_due:
                    return False
                if not o.stop_pushed and self._push_stop(rt, now):
                    return False
                o.stop_cancel = True
                return self._cancel(o.stop, rt, now, "it did not fill in time (price past "
                                    "its limit?): exiting at market once it is cancelled")
            if o.exit_backoff is not None and now < o.exit_backoff:
                return False  # it guards the position until the exit is tried again
            o.stop_cancel = True
            return self._cancel(o.stop, rt, now, f"exit ({close.reason}) first")
        if o.exit_backoff is not None and now < o.exit_backoff:
            if self.stops_enabled and o.stop_rejections < MAX_STOP_REFUSALS:
                return self._place_stop(rt, held, now, "while the exit waits to be retried")
            return False
        return self._place_exit(rt, held, close, now)

    def _place_exit(self: Executor, rt: InstrumentRuntime, held: int, close: Close,
                    now: datetime) -> bool:
        o = rt.orders
        side = Side.SELL if held > 0 else Side.BUY
        kind, price = market_order(rt.instrument, side, rt.last_price)
        order = self.book.new(token=rt.token, symbol=rt.symbol, side=side,
                              quantity=abs(held), order_type=kind,
                              purpose=OrderPurpose.EXIT, reason=close.reason.value, now=now,
                              product=self.product, price=price)
        o.exit, o.exit_cancel, o.exit_due = order.tag, False, now + self.wait(
            EXIT_REPRICE_WAIT)
        log.info("%s exit %s %d @ %s (%s) [%s]", rt.symbol, side, order.quantity,
                 price or "market", close.reason, order.tag)
        self.say(AlertKind.EXIT_PLACED, rt, now,
                 f"{rt.symbol} exit {side} {order.quantity} ({close.reason}) at ~"
                 f"{rt.last_price}", order, reason=close.reason.value)
        self.submit(order)
        return True

    def exit_finished(self: Executor, rt: InstrumentRuntime, order: Order,
                      now: datetime) -> None:
        o = rt.orders
        ours = o.exit_cancel
        if o.exit == order.tag:
            o.exit, o.exit_cancel, o.exit_due = None, False, None
        held = rt.book.quantity
        if not held or order.status is OrderStatus.COMPLETE:
            return  # flat (the step ends the close), or more to close: the step sends it
        if ours:
            log.info("%s exit %s: %d still held, sending it again [%s]", rt.symbol,
                     order.status.lower(), held, order.tag)
            return
        why = order.message or "no reason given"
        if why == "never reached the broker":  # sent by a process that died: send it now
            log.info("%s exit %s never reached the broker: sending it again [%s]",
                     rt.symbol, order.side, order.tag)
            return
        o.exit_backoff = now + self.wait(EXIT_RETRY)
        close = o.close
        log.error("%s exit %s %s: %s; position %d still open and managed [%s]", rt.symbol,
                  order.side, order.status.lower(), why, held, order.tag)
        self.say(AlertKind.ORDER_REJECTED, rt, now,
                 f"{rt.symbol} EXIT {order.status.lower()}: {why}; position still open and "
                 "managed", order, message=order.message)
        if close is not None and not close.forced and close.prior is not None:
            rt.strategy.exit_rejected(rt.state, close.prior)
            o.close = None
            self.drop_next_entry(rt, f"exit {order.status.lower()}")

    # ------------------------------------------------------------ stops

    def _guard(self: Executor, rt: InstrumentRuntime, held: int, now: datetime) -> bool:
        """OPEN: a stop order for the actual open quantity at the strategy's level."""
        if not self.stops_enabled:
            return False
        o = rt.orders
        if o.stop is None:
            if o.stop_rejections >= MAX_STOP_REFUSALS:
                return False
            return self._place_stop(rt, held, now, "")
        order = self.book.get(o.stop)
        if order is None or order.status.is_terminal:
            o.stop, o.stop_due, o.stop_cancel = None, None, False
            return True
        if o.stop_cancel or o.stop_due is not None:
            return False
        side = Side.SELL if held > 0 else Side.BUY
        if order.side is not side:
            o.stop_cancel = True
            return self._cancel(o.stop, rt, now, "the position turned round")
        trigger = self._stop_level(rt, held)
        quantity = order.filled_quantity + abs(held)
        again = o.modify_again is not None and now >= o.modify_again
        if order.trigger_price == trigger and order.quantity == quantity and not again:
            return False
        o.modify_again, o.stop_level = None, trigger
        order.quantity = quantity
        if order.trigger_price != trigger:
            order.trigger_price = trigger
            order.price = stop_limit(rt.instrument, side, trigger, self.buffer_ticks)
            order.reason = rt.strategy.stop_reason(rt.state).value
        assert self.broker is not None
        self.broker.modify(order, trigger_price=order.trigger_price, price=order.price,
                           quantity=quantity)
        self.pump()
        return False

    def _place_stop(self: Executor, rt: InstrumentRuntime, held: int, now: datetime,
                    why: str) -> bool:
        o = rt.orders
        side = Side.SELL if held > 0 else Side.BUY
        trigger = self._stop_level(rt, held)
        if crossed(side, trigger, rt.last_price):
            if rt.strategy.position(rt.state) is None and o.close is None:
                o.close = Close(ExitReason.STOP, None, forced=True,  # nobody else will
                                level=trigger)
                log.info("%s stop %s already crossed (last %s): exiting", rt.symbol, trigger,
                         rt.last_price)
                return True
            if o.noted != f"crossed {trigger}":
                o.noted = f"crossed {trigger}"
                log.info("%s stop %s already crossed (last %s): the strategy exits it",
                         rt.symbol, trigger, rt.last_price)
            return False
        order = self.book.new(token=rt.token, symbol=rt.symbol, side=side,
                              quantity=abs(held), order_type=OrderType.SL,
                              purpose=OrderPurpose.STOP,
                              reason=rt.strategy.stop_reason(rt.state).value, now=now,
                              product=self.product,
                              price=stop_limit(rt.instrument, side, trigger, self.buffer_ticks),
                              trigger_price=trigger)
        o.stop, o.stop_due, o.stop_cancel, o.stop_level = order.tag, None, False, trigger
        o.stop_pushed = False
        log.info("%s exchange stop %s %d trigger %s limit %s%s [%s]", rt.symbol, side,
                 order.quantity, trigger, order.price, f" ({why})" if why else "", order.tag)
        self.say(AlertKind.STOP_PLACED, rt, now, f"{rt.symbol} stop placed at {trigger}"
                 + (f" ({why})" if why else ""), order, stop=str(trigger))
        self.submit(order)
        return True

    def _push_stop(self: Executor, rt: InstrumentRuntime, now: datetime) -> bool:
        """The crossed stop has not filled (the price jumped past its limit): move its limit
        to a marketable price, so the stop order itself is the exit and the position is
        never without one; cancelling it for a market exit is the last resort."""
        o = rt.orders
        stop = self.book.get(o.stop or "")
        if stop is None or rt.last_price is None or self.broker is None:
            return False
        price = through(rt.instrument, stop.side, rt.last_price)
        o.stop_pushed, o.stop_due = True, now + self.wait(STOP_FILL_WAIT)
        log.info("%s stop did not fill in time (price past its limit?): its limit moves to "
                 "%s [%s]", rt.symbol, price, stop.tag)
        stop.price = price
        self.broker.modify(stop, price=price, trigger_price=stop.trigger_price)
        self.pump()
        return True

    def stop_finished(self: Executor, rt: InstrumentRuntime, order: Order,
                      now: datetime) -> None:
        o = rt.orders
        if o.stop != order.tag:
            return
        asked, was_exit = o.stop_cancel, o.stop_due is not None
        o.stop, o.stop_due, o.stop_cancel, o.stop_pushed = None, None, False, False
        held = rt.book.quantity
        if order.filled_quantity and not held:
            if o.close is None and order.average_price is not None:
                self.on_stopped_out(rt, order.average_price, now)  # faster than our feed
            elif o.close is not None and o.close.reason not in STOP_REASONS and not was_exit:
                log.info("%s the stop filled before its cancel: closed [%s]", rt.symbol,
                         order.tag)
            return
        why = order.message or "no reason given"
        if order.status is OrderStatus.REJECTED:
            o.stop_rejections += 1
            # Kite refuses a stop whose trigger the price has already passed ("... should
            # be higher than the last traded price"): the stop is crossed.
            passed = "last traded price" in why.lower()
            then = ("the engine watches the stop" if o.stop_rejections >= MAX_STOP_REFUSALS
                    or passed else "placing it again")
            if (passed or o.stop_rejections >= MAX_STOP_REFUSALS) and held \
                    and o.close is None and rt.strategy.position(rt.state) is None:
                o.close = Close(ExitReason.STOP, None, forced=True,  # nobody else watches
                                level=order.trigger_price)
                then = "exiting at market (a position the strategy does not know)"
            elif passed:
                o.stop_rejections = MAX_STOP_REFUSALS  # the strategy exits on its next tick
            log.error("%s exchange stop rejected: %s; %s [%s]", rt.symbol, why, then,
                      order.tag)
            self.say(AlertKind.ORDER_REJECTED, rt, now, f"{rt.symbol} stop order rejected: "
                     f"{why}; {then}", order, message=order.message)
        elif not asked and held:
            log.error("%s exchange stop cancelled by the broker: %s; %s [%s]", rt.symbol, why,
                      "exiting at market" if was_exit else "placing a new one", order.tag)
            self.say(AlertKind.ERROR, rt, now, f"{rt.symbol} stop order cancelled by the "
                     f"broker ({why}); " + ("exiting at market" if was_exit
                                             else "placing a new one"), order)

    def _stop_level(self: Executor, rt: InstrumentRuntime, held: int) -> Decimal:
        """The strategy's stop; for a position it does not know (adopted), the configured
        percentage from the average price."""
        view = rt.strategy.position(rt.state)
        if view is not None:
            return view.stop
        if rt.orders.stop_level is not None:  # the strategy was made flat (a forced close)
            return rt.orders.stop_level
        tick = rt.instrument.tick_size
        p = rt.params.percentage / 100
        avg = rt.book.average
        if held > 0:
            raw, rounding = avg * (1 - p), ROUND_FLOOR
        else:
            raw, rounding = avg * (1 + p), ROUND_CEILING
        return ((raw / tick).to_integral_value(rounding=rounding) * tick).quantize(tick)

    # ------------------------------------------------------------ helpers

    def _forget_stale(self: Executor, rt: InstrumentRuntime) -> None:
        """Tags of orders that are final, or unknown, are no longer working (a restored
        state can hold them); an exit order at work means an exit is wanted."""
        o, book = rt.orders, self.book
        for name in ("entry", "exit", "stop"):
            tag = getattr(o, name)
            order = None if tag is None else book.get(tag)
            if tag is not None and (order is None or order.status.is_terminal):
                log.info("%s forgetting the finished %s order [%s]", rt.symbol, name, tag)
                setattr(o, name, None)
                setattr(o, f"{name}_cancel", False)
                if name == "stop":
                    o.stop_due = None
        if o.exit is not None and o.close is None:
            order = book.get(o.exit)
            reason = order.reason if order is not None else ""
            o.close = Close(ExitReason(reason) if reason in ExitReason._value2member_map_
                            else ExitReason.MANUAL, None, forced=True)

    def _overdue(self: Executor, tag: str, due: datetime | None, now: datetime) -> bool:
        """A working order acknowledged by the broker and still not filled by ``due``."""
        if due is None or now < due:
            return False
        order = self.book.get(tag)
        return (order is not None and not order.status.is_terminal
                and order.status is not OrderStatus.PENDING
                and order.filled_quantity < order.quantity)

    def _cancel(self: Executor, tag: str, rt: InstrumentRuntime, now: datetime,
                why: str) -> bool:
        order = self.book.get(tag)
        if order is None or order.status.is_terminal or self.broker is None:
            return False
        log.info("%s cancelling %s %s: %s [%s]", rt.symbol, order.purpose.lower(),
                 order.side, why, tag)
        rt.orders.cancels[tag] = now + self.wait(CANCEL_AGAIN)
        self.broker.cancel(order)
        self.pump()
        return True

    def cancel_extra(self: Executor, tag: str, rt: InstrumentRuntime, now: datetime) -> bool:
        """Cancel an order of ours the instrument does not track (a second stop); asked
        again by the next broker snapshot that still shows it working."""
        return self._cancel(tag, rt, now, "not the position's own order")

    def _cancel_again(self: Executor, rt: InstrumentRuntime, now: datetime) -> None:
        """A cancel the broker has not carried out in ``CANCEL_AGAIN`` is asked again
        (refused "being processed", a 5xx, a lost answer), until the order is final."""
        o = rt.orders
        for tag, due in list(o.cancels.items()):
            order = self.book.get(tag)
            if order is None or order.status.is_terminal or tag not in (o.entry, o.exit,
                                                                         o.stop):
                del o.cancels[tag]
            elif now >= due and self.broker is not None:
                log.info("%s asking again to cancel %s %s [%s]", rt.symbol,
                         order.purpose.lower(), order.side, tag)
                o.cancels[tag] = now + self.wait(CANCEL_AGAIN)
                self.broker.cancel(order)
                self.pump()
