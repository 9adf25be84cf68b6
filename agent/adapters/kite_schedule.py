"""The Kite broker's schedule: engine requests become pending work on the worker, and
``step`` starts the most urgent action that is due, fits Kite's rate windows and has a free
thread in its pool (``kite_writes``).

Urgency, so that entries never starve exits of the rate limits or of the writer threads:
cancellations; then exits' and stops' placements and modifications (tags X..., S...);
then entries' (E...), which also leave one writer thread free for the others; then the
reads: an order's trades (a fill without a price) or history (a status we do not know),
order-book lookups for unresolved placements, reads other threads wait for, the periodic
poll, the periodic margins read (``kite_funds``). One Kite order of a tag is placed at a
time (none while a placement of that tag is on its way or unresolved); each Kite order has
at most one call in flight.
Worker thread only (a mixin of ``KiteBroker``, whose attributes hold the state).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, NamedTuple

from agent.adapters.kite_orders import (
    CancelState,
    Child,
    ChildState,
    Tracked,
    lot_problem,
    round_limit,
    round_trigger,
    slices,
)
from agent.adapters.kite_rest import RateWindows
from agent.models import OrderStatus, OrderType, Side

if TYPE_CHECKING:
    from agent.adapters.kite_broker import KiteBroker

log = logging.getLogger("agent.adapters.kite_broker")

MAX_TRACKED = 10_000  # engine orders remembered (Kite allows 5,000 orders a day)


class Candidate(NamedTuple):
    """One possible action: due ``at`` (timer), ``calls`` REST calls counted in ``rate``, on
    the writer pool (``write``) or the reader pool; ``entry``: an entry's write (leaves a
    writer free); ``needed``: to be done before the broker closes."""

    at: float
    rate: RateWindows
    calls: int
    action: Callable[[], None]
    write: bool
    entry: bool = False
    needed: bool = True


@dataclass(frozen=True, slots=True)
class PlaceRequest:
    tag: str
    token: int
    side: Side
    quantity: int
    order_type: OrderType
    price: Decimal | None
    trigger: Decimal | None
    product: str


@dataclass(frozen=True, slots=True)
class CancelRequest:
    tag: str


@dataclass(frozen=True, slots=True)
class ModifyRequest:
    tag: str
    price: Decimal | None
    trigger: Decimal | None
    quantity: int | None


class KiteSchedule:
    """Intake and scheduling of ``KiteBroker``'s worker (a mixin)."""

    def step(self: KiteBroker) -> tuple[bool, float, bool]:
        """Start the first due action: (started one, when the next is due, work pending:
        an action to be done before closing, or a write in flight)."""
        now, due, pending = self.timer.monotonic(), math.inf, False
        for cand in self._candidates():
            pending = pending or cand.needed
            if cand.at > now:
                due = min(due, cand.at)
                continue
            spare = 1 if cand.entry and self.calls.size[True] > 1 else 0
            if self.calls.free(cand.write) <= spare:
                continue  # the worker is woken when a call ends
            wait = cand.rate.wait(now, cand.calls)
            if wait > 0:
                due = min(due, now + wait)  # inf: when a call in flight ends
                continue
            cand.action()
            return True, now, True
        return False, due, pending or self.calls.in_flight(True) > 0

    def _candidates(self: KiteBroker) -> Iterator[Candidate]:
        """Every possible action, most urgent first (see the module docstring)."""
        live = [t for t in self.orders.values() if not t.done]
        order_rate = self.order_rate
        for t in live:
            for c in t.children:
                if c.live and c.cancel is CancelState.WANTED and not c.inflight:
                    yield Candidate(c.cancel_not_before, order_rate, 1,
                                    partial(self.cancel_child, t, c), True)
        urgent = [t for t in live if t.urgent]
        entries = [t for t in live if not t.urgent]
        for group, entry in ((urgent, False), (entries, True)):
            for t in group:
                c = self._next_placement(t)
                if c is not None:
                    yield Candidate(c.not_before, order_rate, 1,
                                    partial(self.place_child, t, c), True, entry)
            for t in group:
                for c in t.children:
                    if c.needs_modify and not c.inflight:
                        at = c.modify_not_before if self.closing else max(
                            c.modify_not_before, c.next_modify_at)
                        yield Candidate(at, order_rate, 1, partial(self.modify_child, t, c),
                                        True, entry)
        yield from self._read_candidates(live)

    def _read_candidates(self: KiteBroker, live: list[Tracked]) -> Iterator[Candidate]:
        other = self.other_rate
        for t in live:
            for c in t.children:
                if c.reading:
                    continue
                if c.needs_price:
                    yield Candidate(c.trades_not_before, other, 1,
                                    partial(self.read_trades, t, c), False, needed=False)
                elif c.history_wanted and c.live:
                    yield Candidate(0.0, other, 1, partial(self.read_history, t, c), False,
                                    needed=False)
        lookups = [c.not_before for t in live for c in t.children
                   if c.state is ChildState.UNRESOLVED]
        if lookups:  # while a read is out, its answer is awaited (the worker is woken)
            at = math.inf if self.polling else min(lookups)
            yield Candidate(at, other, 2, self.poll_orders, False)
        for job in self.reads:
            if not job.running:
                yield Candidate(job.not_before, other, job.calls, partial(self.run_read, job),
                                False)
        if not self.closing and not self.polling:
            yield Candidate(self.next_poll, other, 2, self.poll_orders, False, needed=False)
        yield from self.funds_candidates()

    @staticmethod
    def _next_placement(t: Tracked) -> Child | None:
        """The tag's next Kite order to place: none while one is on its way or unresolved."""
        if t.cancel_requested or any(c.state in (ChildState.SENDING, ChildState.UNRESOLVED)
                                     for c in t.children):
            return None
        return next((c for c in t.children if c.state is ChildState.QUEUED), None)

    def queue_place(self: KiteBroker, p: PlaceRequest) -> None:
        if len(self.orders) >= MAX_TRACKED:
            self._forget_done()
        if p.tag in self.orders:
            log.error("kite broker: %s submitted twice; the second is ignored", p.tag)
            return
        try:
            ins = self._instruments(p.token)
        except Exception:  # a lookup that raises is the same as one that finds nothing
            ins = None
        why = None if ins is not None else f"unknown instrument token {p.token}"
        if ins is not None:
            why = lot_problem(p.quantity, ins) or _price_problem(p)
        if why is not None or ins is None:
            log.warning("kite broker: %s refused before sending: %s", p.tag, why)
            self.emit(p.tag, OrderStatus.REJECTED, 0, None, None, why or "")
            return
        tick = ins.tick_size
        price = None if p.price is None else round_limit(p.price, p.side, tick)
        trigger = None if p.trigger is None else round_trigger(p.trigger, p.side, tick)
        t = Tracked(p.tag, ins, p.side, p.quantity, p.order_type, p.product, price, trigger)
        t.children = [Child(q, want_price=price, want_trigger=trigger)
                      for q in slices(p.quantity, ins)]
        t.posted = self.update_key(t)
        self.orders[p.tag] = t
        log.info("kite broker: %s %s %d %s %s%s queued (%d order%s)", p.tag, p.side,
                 p.quantity, ins.symbol, p.order_type, "" if price is None else f" @ {price}",
                 len(t.children), "s" if len(t.children) > 1 else "")

    def _forget_done(self: KiteBroker) -> None:
        """Drop the oldest finished orders (a process that runs for days)."""
        for tag in [tag for tag, t in self.orders.items() if t.done][:MAX_TRACKED // 2]:
            for c in self.orders.pop(tag).children:
                self.by_id.pop(c.order_id or "", None)

    def queue_cancel(self: KiteBroker, tag: str) -> None:
        t = self.orders.get(tag)
        if t is None:  # an earlier run's order not seen yet: carried out once it is
            log.warning("kite broker: cancel for %s, an order this run does not track yet: "
                        "it is carried out when the order book shows it", tag)
            self.wanted[tag] = True
            self.soon()
            return
        if t.done:
            return
        t.cancel_requested = True
        for c in t.children:  # one on its way is cancelled once placed (``placed``)
            if c.state is ChildState.QUEUED:
                c.state, c.message = ChildState.FAILED, "cancelled before it was sent"
            elif c.live and c.cancel is CancelState.NONE:
                c.cancel, c.cancel_attempts = CancelState.WANTED, 0
        self.publish(t)

    def queue_modify(self: KiteBroker, m: ModifyRequest) -> None:
        t = self.orders.get(m.tag)
        if t is None and self.wanted.get(m.tag) is not True:
            self.wanted[m.tag] = m  # carried out when the order book shows it
            self.soon()
        if t is None or t.done:
            log.info("kite broker: modify for %s %s", m.tag,
                     "waits until the order book shows it" if t is None else
                     "ignored (already final)")
            return
        if m.quantity is not None and m.quantity != t.quantity:
            log.warning("kite broker: %s quantity change to %d refused: cancel and place a "
                        "new order instead", m.tag, m.quantity)
            t.note = "quantity changes are not supported: cancel and place a new order"
            self.publish(t)
        tick = t.instrument.tick_size
        if m.price is not None:
            t.price = round_limit(m.price, t.side, tick)
        if m.trigger is not None:
            t.trigger = round_trigger(m.trigger, t.side, tick)
        for c in t.children:
            if not c.final:
                c.want_price, c.want_trigger = t.price, t.trigger


def _price_problem(p: PlaceRequest) -> str | None:
    if p.order_type in (OrderType.LIMIT, OrderType.SL) and p.price is None:
        return f"{p.order_type} order needs a price"
    if p.order_type in (OrderType.SL, OrderType.SL_M) and p.trigger is None:
        return f"{p.order_type} order needs a trigger price"
    return None
