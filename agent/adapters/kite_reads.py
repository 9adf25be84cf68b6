"""The Kite broker's reads: the order book with the positions (the poll, and the broker
snapshot it makes), an order's trades and history, and the reads other threads wait for.

All run on the reader pool (``kite_writes``); their answers are applied on the worker.

- The poll reads ``kite.orders()`` then ``kite.positions()`` (two calls of the "other" 10/s
  window, every poll), every ``poll_interval`` (3 s), ``poll_after_write`` (1 s) after a
  write or a ticker message about an order we do not track, at once at start-up and on
  ``refresh()``. Its rows are applied (``kite_book``), ambiguous placements settled, and
  then ONE ``agent.events.BrokerSnapshot`` is posted: every order row of the day typed
  (ours and foreign, ``kite_rows.order_row``) and the MIS/NRML net positions, stamped with
  the clock's time when the read was sent. ``complete`` is False when a read failed or a
  row could not be typed. Positions are read after the order book: a fill between the two
  reads may show in the positions before it shows in the rows, never the other way round.
- A fill without a usable price: the order's trades (``kite.order_trades``) give it;
  retried with backoff; after ``retry.attempts`` reads their total is taken as the truth.
- A status Kite has not documented, seen by ``UNKNOWN_POLLS`` polls: the order's history
  (``kite.order_history``) settles it when its last row is final; else the word is read
  (``kite_rows.guess_status``: REJECT..., CANCEL..., LAPSE..., EXPIRE...); else it stays
  open (a fully filled order is complete anyway), the log says so once, and the history is
  read again every ``UNKNOWN_POLLS`` polls.
Worker thread only (a mixin of ``KiteBroker``, whose attributes hold the state).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from agent.adapters.kite_orders import Child, ChildState, Tracked
from agent.adapters.kite_reconcile import Reconciliation, reconcile_rows
from agent.adapters.kite_rest import Failure
from agent.adapters.kite_rows import (
    decimal_of,
    guess_status,
    int_of,
    order_row,
    order_rows,
    position_rows,
    price_of,
    row_view,
)
from agent.events import BrokerOrderRow, BrokerPositionRow, BrokerSnapshot
from agent.models import Instrument, OrderType, Side

if TYPE_CHECKING:
    from agent.adapters.kite_broker import KiteBroker

log = logging.getLogger("agent.adapters.kite_broker")


class BrokerError(Exception):
    """Kite could not answer a read the caller waits for (reconcile)."""


@dataclass(eq=False)
class ReadJob:
    """A read some other thread waits for, retried like any read: ``fn`` on a reader
    thread, then ``then(result)`` on the worker gives the future's value."""

    fn: Callable[[], Any]
    then: Callable[[Any], Any]
    future: Future[Any]
    calls: int = 1
    attempts: int = 0
    not_before: float = 0.0
    running: bool = False


class KiteReads:
    """The reads of ``KiteBroker``'s worker (a mixin)."""

    # ------------------------------------------------------------ the poll and snapshot

    def poll_orders(self: KiteBroker) -> None:
        """Read the order book and the positions on a reader thread (one poll at a time)."""
        self.polling = True
        started, at = self.timer.monotonic(), self._clock.now()
        self.send(self.other_rate, self._read_book,
                  lambda result, error, ended: self.poll_done(started, at, result, error),
                  write=False, calls=2, what="order book")

    def _read_book(self: KiteBroker) -> tuple[Any, Any]:
        """Reader thread: the order book (raises: the poll failed), then the positions
        (their failure is returned: the rows still count)."""
        rows = self.kite.orders()
        try:
            positions = self.kite.positions()
        except Exception as exc:  # judged on the worker
            positions = exc
        return rows, positions

    def poll_done(self: KiteBroker, started: float, at: datetime, result: Any,
                  error: Exception | None) -> None:
        """Apply a poll: every row, the ambiguous placements, then the snapshot."""
        self.polling = False
        again, self.poll_again_at = self.poll_again_at, math.inf
        rows, positions = result if error is None else (None, None)
        if error is None and not isinstance(rows, list):
            error = TypeError(f"the order book is a {type(rows).__name__}, not a list")
        if error is not None:
            self._poll_failed(started, at, error)
            return
        if self.poll_failures:
            log.info("kite broker: the order book answers again")
        self.poll_failures = 0
        for row in rows:
            if isinstance(row, dict):
                self.on_row(row, polled=True)
        self.resolve(started)
        self.next_poll = min(self.timer.monotonic() + self.poll_interval, again)
        orders, complete = order_rows(rows)
        if not complete:
            self.log_once("bad-row", "kite broker: an order row could not be typed (snapshots "
                          "incomplete while it lasts): %s", next((
                              r for r in rows if not isinstance(r, dict) or order_row(r) is None),
                              None))
        held: tuple[BrokerPositionRow, ...] = ()
        net = positions.get("net") if isinstance(positions, dict) else None
        if isinstance(positions, Exception):
            _, text = self.failure(positions, order_call=False)
            log.warning("kite broker: positions read failed (%s): snapshot incomplete", text)
            complete = False
        elif not isinstance(net, list):
            log.warning("kite broker: positions answer without a net list: snapshot "
                        "incomplete")
            complete = False
        else:
            held, typed = position_rows(net)
            complete = complete and typed
        self.post_snapshot(at, orders, held, complete)

    def _poll_failed(self: KiteBroker, started: float, at: datetime, error: Exception) -> None:
        failed, text = self.failure(error, order_call=False)
        self.poll_failures += 1
        if failed is not Failure.TOKEN and self.poll_failures == 1:
            log.warning("kite broker: order book poll failed (%s)", text)
        delay = self.retry.delay(self.poll_failures)
        self.next_poll = started + max(self.poll_interval, delay)
        for t in self.orders.values():
            for c in t.children:
                if c.state is ChildState.UNRESOLVED:
                    c.not_before = max(c.not_before, started + delay)
        self.post_snapshot(at, (), (), False)

    def post_snapshot(self: KiteBroker, at: datetime, orders: tuple[BrokerOrderRow, ...],
                      positions: tuple[BrokerPositionRow, ...], complete: bool) -> None:
        snapshot = BrokerSnapshot(at, orders, positions, complete)
        try:
            self._post(snapshot)
        except Exception:
            log.exception("kite broker: posting a broker snapshot failed")

    def refresh_due(self: KiteBroker) -> None:
        """``refresh()`` arrived: a poll now, or right after the one in progress."""
        now = self.timer.monotonic()
        if self.polling:
            self.poll_again_at = now
        else:
            self.next_poll = now

    # ------------------------------------------------------------ trades and history

    def read_trades(self: KiteBroker, t: Tracked, c: Child) -> None:
        c.reading = True
        c.trades_reads += 1
        self.send(self.other_rate, self.kite.order_trades,
                  lambda result, error, ended: self._trades_done(t, c, result, error, ended),
                  write=False, what=f"trades of {c.order_id}", order_id=c.order_id)

    def _trades_done(self: KiteBroker, t: Tracked, c: Child, result: Any,
                     error: Exception | None, ended: float) -> None:
        c.reading = False
        total, value = 0, Decimal(0)
        if error is None:
            for trade in result if isinstance(result, list) else []:
                qty = int_of(trade.get("quantity")) if isinstance(trade, dict) else None
                price = price_of(trade.get("average_price")) if qty else None
                if qty and price is not None:
                    total, value = total + qty, value + price * qty
        else:
            self.failure(error, order_call=False)
        settle = c.trades_reads >= self.retry.attempts
        if c.apply_trades(total, value / total if total else None, settle):
            self.child_changed(t, c)
        if c.needs_price:
            c.trades_not_before = ended + self.retry.delay(c.trades_reads)
            if settle:
                self.log_once(f"noprice:{c.order_id}", "kite broker: %s order %s: Kite says "
                              "%d filled but neither its rows nor its trades give a price "
                              "yet; still asking", t.tag, c.order_id, c.row_filled)

    def read_history(self: KiteBroker, t: Tracked, c: Child) -> None:
        c.reading, c.history_wanted = True, False
        self.send(self.other_rate, self.kite.order_history,
                  lambda result, error, ended: self._history_done(t, c, result, error),
                  write=False, what=f"history of {c.order_id}", order_id=c.order_id)

    def _history_done(self: KiteBroker, t: Tracked, c: Child, result: Any,
                      error: Exception | None) -> None:
        c.reading = False
        if error is not None:
            self.failure(error, order_call=False)
            return  # the next polls ask again
        rows = [r for r in result if isinstance(r, dict)] if isinstance(result, list) else []
        if not c.live or not c.unknown or not rows:
            return
        view = row_view(rows[-1])
        if view.status is None or not view.status.is_terminal:  # history does not settle it
            guess = guess_status(c.unknown)
            if guess is None:
                self.log_once(f"stuck:{c.order_id}", "kite broker: %s order %s has status "
                              "%r, which neither its history nor its words settle: taken as "
                              "working; check it in Kite", t.tag, c.order_id, c.unknown)
                return
            log.warning("kite broker: %s order %s: status %r taken to mean %s", t.tag,
                        c.order_id, c.unknown, guess)
            view = row_view(rows[-1], guess)
        self.apply_view(t, c, view)

    # ------------------------------------------------------------ reads others wait for

    def run_read(self: KiteBroker, job: ReadJob) -> None:
        job.attempts += 1
        job.running = True
        self.send(self.other_rate, job.fn,
                  lambda result, error, ended: self._read_done(job, result, error, ended),
                  write=False, calls=job.calls, what="read")

    def _read_done(self: KiteBroker, job: ReadJob, result: Any, error: Exception | None,
                   ended: float) -> None:
        job.running = False
        if error is not None:
            failed, text = self.failure(error, order_call=False)
            if failed in (Failure.RETRY, Failure.AMBIGUOUS) and \
                    job.attempts < self.retry.attempts:
                job.not_before = ended + self.retry.delay(job.attempts)
                return
            self.reads.remove(job)
            job.future.set_exception(BrokerError(text))
            return
        self.reads.remove(job)
        try:
            job.future.set_result(job.then(result))
        except Exception as exc:
            log.exception("kite broker: a read's answer could not be used")
            job.future.set_exception(BrokerError(f"{type(exc).__name__}: {exc}"))

    def read_orders_and_positions(self: KiteBroker) -> tuple[Any, Any]:
        """Reader thread: the order book and the positions (reconciliation)."""
        return self.kite.orders(), self.kite.positions()

    def reconciled(self: KiteBroker, answer: tuple[Any, Any]) -> Reconciliation:
        rows, positions = answer
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
        token = int_of(first.get("instrument_token")) or 0
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
            c = Child(int_of(row.get("quantity")) or 0, state=ChildState.PLACED,
                      order_id=str(row["order_id"]))
            c.price = c.want_price = t.price if kind in (OrderType.LIMIT, OrderType.SL) else None
            c.trigger = c.want_trigger = t.trigger if kind in (OrderType.SL,
                                                                OrderType.SL_M) else None
            t.children.append(c)
            self.by_id[c.order_id or ""] = (t, c)
            c.apply(row_view(row))
        t.quantity = sum(c.filled if c.final else c.quantity for c in t.children)
        t.posted = self.update_key(t)
        self.orders[tag] = t
        log.info("kite broker: adopted %s (%d Kite orders) from the order book", tag,
                 len(rows))
