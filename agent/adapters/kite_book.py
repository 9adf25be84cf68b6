"""The Kite broker's view of Kite's order book: rows in, updates out.

Rows come from the ticker's order messages and from polls of ``kite.orders()``; both are
applied idempotently (a final state or a fill never goes back; a repeat changes nothing),
matched to our Kite orders by order id, or by tag for a placement whose answer was lost.
Orders we did not place are logged once and ignored. Every change to an engine order's
aggregate is posted once. Also the reads other threads wait for (``reconcile``).
Worker thread only (a mixin of ``KiteBroker``, whose attributes hold the state).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from agent.adapters.kite_orders import (
    Child,
    ChildState,
    Tracked,
    aggregate,
    decimal_of,
    kite_status,
)
from agent.adapters.kite_reconcile import Reconciliation, reconcile_rows
from agent.adapters.kite_rest import Failure
from agent.models import Instrument, OrderStatus, OrderType, Side

if TYPE_CHECKING:
    from agent.adapters.kite_broker import KiteBroker

log = logging.getLogger("agent.adapters.kite_broker")


class BrokerError(Exception):
    """Kite could not answer a read the caller waits for (reconcile)."""


@dataclass(eq=False)
class ReadJob:
    """A read some other thread waits for; retried like any read."""

    fn: Callable[[], Any]
    future: Future[Any]
    calls: int = 1
    attempts: int = 0
    not_before: float = 0.0


@dataclass(frozen=True, slots=True)
class PollDone:
    """An order-book read finished on the reader thread (rows, or the error)."""

    started: float
    rows: list[dict[str, Any]] | None
    error: Exception | None


class KiteBook:
    """Order-book rows, reads and updates of ``KiteBroker``'s worker (a mixin)."""

    def poll_orders(self: KiteBroker) -> None:
        """Start reading Kite's order book on the reader thread (the worker goes on placing
        orders meanwhile: a book of a busy day is a large answer); ``poll_done`` applies it.
        One read at a time."""
        self.polling = True
        started = self.timer.monotonic()
        self.reader.submit(self._read_book, started)

    def _read_book(self: KiteBroker, started: float) -> None:
        """Reader thread: the order book, handed back to the worker."""
        try:
            done = PollDone(started, self.kite.orders(), None)
        except Exception as exc:  # judged on the worker
            done = PollDone(started, None, exc)
        self.put_work(done)

    def poll_done(self: KiteBroker, done: PollDone) -> None:
        """Apply an order-book read: every row (also settles ambiguous placements)."""
        self.polling = False
        started = done.started
        self.other_rate.take(self.timer.monotonic())
        if done.error is not None:
            failed, text = self.failure(done.error)
            self.poll_failures += 1
            later = started + max(self.poll_interval, self.retry.delay(self.poll_failures))
            if failed is not Failure.TOKEN:
                log.warning("kite broker: order book poll failed (%s)", text)
            self.next_poll = later
            for t in self.orders.values():
                for c in t.children:
                    if c.state is ChildState.UNRESOLVED:
                        c.not_before = max(c.not_before, started + self.retry.delay(
                            self.poll_failures))
            return
        self.answered()
        self.poll_failures = 0
        for row in done.rows or []:
            self.on_row(row)
        self._resolve(started)
        self.next_poll = self.timer.monotonic() + self.poll_interval

    def on_row(self: KiteBroker, row: dict[str, Any]) -> None:
        """One Kite order row (poll or ticker message): update its child, tell the engine."""
        order_id = str(row.get("order_id") or "")
        if not order_id:
            return
        found = self.by_id.get(order_id)
        if found is None:
            found = self._attach(row)
            if found is None:
                self.log_once(f"order:{order_id}", "kite broker: ignoring Kite order %s "
                              "(tag %r): not placed by this agent run", order_id,
                              row.get("tag"))
                return
        t, c = found
        known, status = kite_status(row.get("status"))
        if not known:
            self.log_once(f"status:{row.get('status')}", "kite broker: unknown Kite order "
                          "status %r: its fills count, its status is ignored", row.get("status"))
        try:
            filled = int(row.get("filled_quantity") or 0)
        except (TypeError, ValueError):
            filled = 0
        message = str(row.get("status_message") or "")
        if not c.apply(status, filled, decimal_of(row.get("average_price")), message):
            return
        if c.final:
            self._child_final(t, c)
        self.publish(t)

    def _attach(self: KiteBroker, row: dict[str, Any]) -> tuple[Tracked, Child] | None:
        """A row under one of our tags with an unknown id: an ambiguous placement found."""
        t = self.orders.get(str(row.get("tag") or ""))
        if t is None:
            return None
        for c in t.children:
            if c.state is ChildState.UNRESOLVED and _same(row, t.instrument, t.side,
                                                          c.quantity):
                log.info("kite broker: %s found at Kite as %s after an ambiguous placement",
                         t.tag, row.get("order_id"))
                self._placed(t, c, str(row["order_id"]))
                return t, c
        return None

    def _child_final(self: KiteBroker, t: Tracked, c: Child) -> None:
        if c.status is OrderStatus.REJECTED:
            log.warning("kite broker: %s order %s rejected: %s", t.tag, c.order_id,
                        c.message or "no reason given")
        if not c.replace or c.replaced:
            return
        c.replaced = True
        left = c.quantity - c.filled
        if c.status is OrderStatus.CANCELLED and left > 0 and not t.cancel_requested:
            t.children.append(Child(left, want_price=t.price, want_trigger=t.trigger))
            log.info("kite broker: %s re-placing %d after cancelling %s", t.tag, left,
                     c.order_id)
        else:
            log.info("kite broker: %s order %s ended %s before its replacement: nothing "
                     "re-placed", t.tag, c.order_id, c.status)

    # ------------------------------------------------------------ reads others wait for

    def run_read(self: KiteBroker, job: ReadJob) -> None:
        job.attempts += 1
        try:
            result = job.fn()
        except Exception as exc:
            failed, text = self.failure(exc)
            if failed in (Failure.RETRY, Failure.AMBIGUOUS) and \
                    job.attempts < self.retry.attempts:
                job.not_before = self.timer.monotonic() + self.retry.delay(job.attempts)
                return
            self.reads.remove(job)
            job.future.set_exception(BrokerError(text))
            return
        self.reads.remove(job)
        job.future.set_result(result)

    def do_reconcile(self: KiteBroker) -> Reconciliation:
        rows = self.call(self.other_rate, self.kite.orders)
        positions = self.call(self.other_rate, self.kite.positions)
        found = reconcile_rows(rows, positions.get("net", []))
        for order in found.open_orders:
            if order.tag not in self.orders:
                self._adopt(order.tag, [r for r in rows if r.get("tag") == order.tag])
        for p in found.foreign_positions:
            log.warning("kite broker: %s %s position %d not opened by the agent (agent's "
                        "part %d): left alone", p.symbol, p.product, p.quantity,
                        p.agent_quantity)
        return found

    def _adopt(self: KiteBroker, tag: str, rows: list[dict[str, Any]]) -> None:
        first = rows[0]
        token = int(first.get("instrument_token") or 0)
        try:
            ins = self._instruments(token)
        except Exception:
            ins = None
        if ins is None:
            ins = Instrument(token, str(first.get("exchange")), str(first.get("tradingsymbol")),
                             Decimal(0))
        last = rows[-1]
        kind = OrderType(str(last.get("order_type")))
        t = Tracked(tag, ins, Side(str(first.get("transaction_type"))), 0, kind,
                    str(first.get("product")), decimal_of(last.get("price")),
                    decimal_of(last.get("trigger_price")))
        for row in rows:
            c = Child(int(row.get("quantity") or 0), state=ChildState.PLACED,
                      order_id=str(row["order_id"]))
            c.price = c.want_price = t.price if kind in (OrderType.LIMIT, OrderType.SL) else None
            c.trigger = c.want_trigger = t.trigger if kind in (OrderType.SL,
                                                                OrderType.SL_M) else None
            t.children.append(c)
            self.by_id[c.order_id or ""] = (t, c)
            c.apply(kite_status(row.get("status"))[1], int(row.get("filled_quantity") or 0),
                    decimal_of(row.get("average_price")), str(row.get("status_message") or ""))
        t.quantity = sum(c.filled if c.final else c.quantity for c in t.children)
        t.posted = self.update_key(t)
        self.orders[tag] = t
        log.info("kite broker: adopted %s (%d Kite orders) from the order book", tag,
                 len(rows))

    # ------------------------------------------------------------ updates

    def update_key(self: KiteBroker, t: Tracked) -> tuple[Any, ...]:
        agg = aggregate(t)
        ids = [c.order_id for c in t.children if c.order_id]
        status = agg.status
        if status is OrderStatus.PENDING and t.posted is not None:
            status = t.posted[0]  # never back to PENDING (a stop between two Kite orders)
        return (status, agg.filled, agg.average, agg.message, ids[-1] if ids else None)

    def publish(self: KiteBroker, t: Tracked) -> None:
        """Post the tag's aggregate if it changed since the last post."""
        key = self.update_key(t)
        if key == t.posted:
            return
        t.posted = key
        status, filled, average, message, order_id = key
        t.done = status.is_terminal
        self.emit(t.tag, status, filled, average, order_id, message)


def _same(row: dict[str, Any], ins: Instrument, side: Side, quantity: int) -> bool:
    try:
        qty = int(row.get("quantity") or 0)
    except (TypeError, ValueError):
        return False
    return (row.get("tradingsymbol") == ins.tradingsymbol and row.get("exchange") ==
            ins.exchange and row.get("transaction_type") == side.value and qty == quantity)
