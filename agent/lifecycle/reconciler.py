"""The broker is the truth: a broker snapshot makes the engine's books agree with it.

The live adapter posts a ``BrokerSnapshot`` (every order row of the day, ours and not, and
the net positions, read together) at start-up, every few seconds, and after every
reconnect. ``Reconciler.apply`` then, in this order:

1. **our orders** (rows under our tags, a tag's slices summed): each becomes an update of
   the engine's order, so every fill is booked once (``book.OrderBook`` is idempotent),
   including fills that happened while the agent was down, and a restored order that is
   final at the broker is settled. An order this process sent gets its fills from the
   rows but its end from the live adapter, which may still be at work on it. A tag the
   engine does not know (placed just before a crash) is adopted: its fills are booked, a
   working stop, entry or exit is tracked.
2. **orders that never arrived**: a restored working order the broker does not show in a
   complete snapshot read 10 broker seconds or more after this process started (longer
   than any request of the previous one can take to land) never reached it: given up, and
   what it was for is done again at once (no back-off). One such snapshot is proof: its
   read began after anything the dead process sent had landed; a second one would only
   leave the position bare for another poll.
3. **the owner's hand**: the net position under our tags, against the broker's net (ours,
   foreign orders, what was carried overnight). When the owner (in the Kite app) or the
   broker's own square-off has closed or reduced what the agent holds, the difference is
   booked as an exit at the price of those orders (reason ``manual``, or ``square_off``
   for the broker's), the strategy goes flat, the orphaned stop is cancelled by the next
   step, and the instrument takes no new entry until ``/resume SYMBOL`` or the next day.
   Positions the agent did not open are reported once and left alone.
4. the tag sequence moves past every tag of ours the broker knows (``tags.TagMint``).

Returns one line per finding (an alert for each). Engine thread only.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from agent.events import BrokerOrderRow, BrokerSnapshot, OrderUpdate
from agent.lifecycle.state import Close
from agent.lifecycle.tags import is_agent_tag, purpose_of
from agent.models import ExitReason, Fill, Order, OrderPurpose, OrderStatus, OrderType, Side
from agent.runtime_state import InstrumentRuntime

if TYPE_CHECKING:
    from agent.engine import Engine

log = logging.getLogger("agent.reconcile")

# An order the previous process sent just before it died lands at the broker within the
# client's timeout (kiteconnect: 7 s) or never: absent from a complete snapshot whose read
# began 10 broker seconds after this process started, it never arrived.
NEVER_ARRIVED = timedelta(seconds=10)
NEVER_REACHED = "never reached the broker"
BROKER_SQUARE_OFF = ("squared off by the broker", "auto square-off", "auto square off")


def aggregate(tag: str, rows: list[BrokerOrderRow], now: datetime) -> OrderUpdate:
    """One of our orders over its Kite orders (slices, replacements): filled summed, the
    average fill-weighted, final only when every row is final."""
    filled = sum(r.filled_quantity for r in rows)
    priced = [r for r in rows if r.filled_quantity]
    value = sum((r.average_price * r.filled_quantity for r in priced
                 if r.average_price is not None), Decimal(0))
    average = (value / filled if filled and all(r.average_price is not None for r in priced)
               else None)
    statuses = [r.status for r in rows]
    if any(s is None or not s.is_terminal for s in statuses):
        if OrderStatus.OPEN in statuses or filled:
            status = OrderStatus.OPEN
        elif OrderStatus.TRIGGER_PENDING in statuses:
            status = OrderStatus.TRIGGER_PENDING
        else:
            status = OrderStatus.PENDING
    elif all(s is OrderStatus.COMPLETE for s in statuses):
        status = OrderStatus.COMPLETE
    elif all(s is OrderStatus.REJECTED for s in statuses):
        status = OrderStatus.REJECTED
    else:
        status = OrderStatus.CANCELLED
    message = next((r.message for r in reversed(rows) if r.message), "")
    return OrderUpdate(tag, status, filled, average, now, rows[0].order_id, message)


class Reconciler:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._reported: set[tuple[int, int]] = set()  # (token, foreign qty) told once
        self._outside = 0
        self.born = engine.clock.now()  # this process's start, on the engine's clock

    def apply(self, snap: BrokerSnapshot) -> list[str]:
        engine = self.engine
        found: list[str] = []
        ours: dict[str, list[BrokerOrderRow]] = defaultdict(list)
        for row in snap.orders:
            if row.tag is not None and is_agent_tag(row.tag):
                ours[row.tag].append(row)
        if engine.day is not None:  # before anything is sent: no tag of theirs reused
            engine.book.mint.advance_past(ours, engine.day)
        updates = []
        for tag, rows in ours.items():  # every order known first, then their news: an
            if rows[0].instrument_token not in engine.runtimes:  # entry's fill must see
                continue  # the stop that already guards it
            update = aggregate(tag, rows, snap.time)
            if tag in engine.exec.sent and update.status.is_terminal:
                # The adapter is at work on what this process sent (slices still to place,
                # a stop being replaced, an answer held): its rows can look final before
                # the order is. Fills are taken from them; the end comes from the adapter.
                update = replace(update, status=OrderStatus.OPEN)
            if engine.book.get(tag) is None:
                found.append(self._adopt(tag, rows, update))
            updates.append(update)
        # Every fact first, then each instrument's step: an exit must not go out because
        # the fill that made it needless is the next row (a restart's first snapshot).
        ex = engine.exec
        ex.deferred = set()
        try:
            for update in updates:
                ex.on_update(update)
            found += self._claim_stops(ours, snap.time)
            if snap.complete:
                found += self._never_arrived(set(ours), snap.time)
                found += self._owner_hand(snap, ours)
        finally:
            touched, ex.deferred = ex.deferred, None
        for token in sorted(touched):
            rt = engine.runtimes.get(token)
            if rt is not None:
                ex.step(rt, snap.time)
        for line in found:
            log.warning("reconciliation: %s", line)
        if found:
            engine.dirty = True
        return found

    # ------------------------------------------------------------ 1. adopt

    def _adopt(self, tag: str, rows: list[BrokerOrderRow], update: OrderUpdate) -> str:
        engine, first = self.engine, rows[0]
        rt = engine.runtimes[first.instrument_token]
        purpose = purpose_of(tag)
        live = [r for r in rows if r.status is None or not r.status.is_terminal]
        last = (live or rows)[-1]
        quantity = (sum(r.quantity for r in live)
                    + sum(r.filled_quantity for r in rows if r not in live))
        order = Order(tag=tag, instrument_token=rt.token, symbol=rt.symbol, side=first.side,
                      quantity=max(quantity, update.filled_quantity, 1),
                      order_type=last.order_type, purpose=purpose, reason="adopted",
                      created_at=update.time, price=last.price,
                      trigger_price=last.trigger_price, product=first.product,
                      updated_at=update.time)
        engine.book.orders[tag] = order
        o = rt.orders
        if not update.status.is_terminal:
            if purpose is OrderPurpose.STOP and o.stop is None:
                o.stop = tag
            elif purpose is OrderPurpose.ENTRY and o.entry is None:
                o.entry = tag
            elif purpose is OrderPurpose.EXIT and o.exit is None:
                o.exit = tag
                if o.close is None:
                    o.close = Close(ExitReason.MANUAL, None, forced=True)
        return (f"{rt.symbol}: adopted {purpose.lower()} order {tag} ({first.side} "
                f"{order.quantity}, {update.status.lower()}, {update.filled_quantity} "
                "filled) from the broker")

    def _claim_stops(self, ours: dict[str, list[BrokerOrderRow]], now: datetime) -> list[str]:
        """A working stop of ours that its instrument does not track (adopted at a restart
        whose saved state still named the stop before it) becomes the position's stop when
        there is none, and is cancelled when there is one: one stop per position, and no
        stop forgotten at the broker to fill later against a flat position."""
        engine, found = self.engine, []
        for tag in ours:
            order = engine.book.get(tag)
            if (order is None or order.purpose is not OrderPurpose.STOP
                    or order.status.is_terminal):
                continue
            rt = engine.runtimes.get(order.instrument_token)
            o = None if rt is None else rt.orders
            if o is None or tag == o.stop or tag in o.cancels:
                continue
            current = engine.book.get(o.stop) if o.stop is not None else None
            if current is None or current.status.is_terminal:
                o.stop = tag
                found.append(f"{rt.symbol}: stop order {tag} at the broker is the "
                             "position's stop")
            elif engine.exec.cancel_extra(tag, rt, now):
                found.append(f"{rt.symbol}: a second stop order {tag} at the broker "
                             f"(the stop is {o.stop}): cancelled")
        return found

    # ------------------------------------------------------------ 2. never arrived

    def _never_arrived(self, seen: set[str], now: datetime) -> list[str]:
        engine, found = self.engine, []
        limit = timedelta(seconds=NEVER_ARRIVED.total_seconds() * engine.exec.wait_scale)
        if now - self.born < limit:
            return found
        for order in list(engine.book.orders.values()):
            if (order.status.is_terminal or order.tag in seen or order.broker_order_id
                    or order.tag in engine.exec.sent):  # the adapter settles its own
                continue
            engine.exec.on_update(OrderUpdate(order.tag, OrderStatus.REJECTED, 0, None, now,
                                              None, NEVER_REACHED))
            found.append(f"{order.symbol}: order {order.tag} never reached the broker: "
                         "given up")
        return found

    # ------------------------------------------------------------ 3. the owner's hand

    def _owner_hand(self, snap: BrokerSnapshot, ours: dict[str, list[BrokerOrderRow]]
                    ) -> list[str]:
        engine, found = self.engine, []
        product = engine.exec.product
        foreign: dict[int, list[BrokerOrderRow]] = defaultdict(list)
        for row in snap.orders:
            if row.tag not in ours and row.product == product and row.filled_quantity:
                foreign[row.instrument_token].append(row)
        carried = {p.instrument_token: p.overnight for p in snap.positions
                   if p.product == product}
        for token, rt in engine.runtimes.items():
            held = rt.book.quantity
            rows = foreign.get(token, [])
            outside = sum(r.filled_quantity * r.side.sign for r in rows) - rt.orders.outside
            broker_net = held + outside + carried.get(token, 0)
            if held and (broker_net * held <= 0 or abs(broker_net) < abs(held)):
                keep = 0 if broker_net * held <= 0 else broker_net
                found.append(self._closed_outside(rt, held - keep, rows, snap.time))
            elif outside and (token, outside) not in self._reported:
                self._reported.add((token, outside))
                found.append(f"{rt.symbol}: {outside:+d} at the broker not opened by the "
                             "agent: left alone")
        return found

    def _closed_outside(self, rt: InstrumentRuntime, quantity: int,
                        rows: list[BrokerOrderRow], now: datetime) -> str:
        """Book ``quantity`` (signed, of the agent's holding) as closed outside the agent,
        at the price of the orders that closed it."""
        engine = self.engine
        side = Side.SELL if quantity > 0 else Side.BUY
        closing = [r for r in rows if r.side is side and r.average_price is not None]
        filled = sum(r.filled_quantity for r in closing)
        price = (sum((r.average_price * r.filled_quantity for r in closing
                      if r.average_price is not None), Decimal(0)) / filled if filled
                 else rt.last_price or rt.book.average)
        broker = any(any(s in r.message.lower() for s in BROKER_SQUARE_OFF) for r in closing)
        reason = ExitReason.SQUARE_OFF if broker else ExitReason.MANUAL
        self._outside += 1
        order = Order(tag=f"OUT{now:%H%M%S}{self._outside}", instrument_token=rt.token,
                      symbol=rt.symbol, side=side, quantity=abs(quantity),
                      order_type=OrderType.MARKET, purpose=OrderPurpose.EXIT,
                      reason=reason.value, created_at=now, product=engine.exec.product,
                      status=OrderStatus.COMPLETE, filled_quantity=abs(quantity),
                      average_price=price, updated_at=now)
        engine.book.orders[order.tag] = order
        rt.orders.outside -= quantity  # those orders of others are accounted for now
        fill = Fill(order.tag, rt.token, side, abs(quantity), price, now)
        trade = engine.pnl.apply_fill(fill, order, rt.last_price)
        if trade is not None:
            engine.exec.on_trade(trade)
        who = "the broker's square-off" if broker else "the owner (outside the agent)"
        flat = not rt.book.quantity
        if flat:
            rt.strategy.force_flat(rt.state)
            engine.exec.drop_next_entry(rt, "closed outside the agent")
            rt.orders.close = None
            rt.orders.hold = f"closed by {who}"
        engine.exec.step(rt, now)
        then = (f"; its stop is cancelled; no new entries until /resume {rt.symbol} or the "
                "next day") if flat else "; the stop is resized"
        return f"{rt.symbol}: {abs(quantity)} closed by {who} at {price:.2f}: booked{then}"
