"""The statuses an order goes through on its way, and the requests refused meanwhile.

``interim_statuses`` (the interim statuses of Kite's "Order statuses" docs; the history of
the mocks' ``order_info.json``): a placed order is PUT ORDER REQ RECEIVED when the API answers
with its id, then VALIDATION PENDING, OPEN PENDING, and OPEN (or TRIGGER PENDING, or
REJECTED by the exchange) with its ``exchange_order_id`` (null until then). It can fill
only once OPEN. A modify goes MODIFY VALIDATION PENDING, MODIFY PENDING, then MODIFIED and
OPEN (or TRIGGER PENDING) with the new fields (the mock's order shows its new price only
in that last snapshot); a cancel goes CANCEL PENDING, then CANCELLED. While a modify or a
cancel is on its way the exchange still holds the order as it was: it may fill (a cancel
that loses the race ends COMPLETE). Each step lasts a seeded random delay on the
exchange's clock (``core.clock``, so it scales with the speed): log-uniform between 15 and
400 ms, and one step in 50 takes 1 to 5 s instead (Kite's forum shows an order 70 s in
OPEN PENDING, and one stuck for an hour: the ``hold_pending`` fault holds OPEN PENDING for
as long as a test asks). ``Lifecycle.run_due`` carries the steps out; the market loop
(``agent.sim.core``) wakes for them. Every step is a snapshot in the order's history and an
order message with its status (openalgo's ticker adapter maps them all). Without the rule
every interim status is recorded at the instant of the request, with no message.

``transient_refusals``: while an order is in an interim status, a modify is refused with
``errors.MODIFY_BEING_PROCESSED`` and a cancel with ``errors.CANCEL_BEING_PROCESSED``
(both InputException, HTTP 400: the cancel text with that class is in a user's kiteconnect
traceback; that Kite refuses cancels this way is otherwise UNVERIFIED, kept as the safer
default). A modify within ``UNKNOWN_FOR`` (5 ms, exchange clock) of the placement
gets ``errors.ORDER_UNKNOWN`` (OrderException, 400; forum comment/48691: "milliseconds
after placement"). Without the rule a request during an interim status is carried out at
once (a modify amends the order in place, a cancel cancels it).

Loop thread only.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from agent.sim import errors
from agent.sim import orders as st
from agent.sim.errors import KiteError
from agent.sim.orders import SimOrder, exchange_rejection

if TYPE_CHECKING:
    from agent.sim.book import Book

STEP_SECONDS = (0.015, 0.4)  # log-uniform, one interim step
LONG_PROBABILITY = 0.02
LONG_SECONDS = (1.0, 5.0)
UNKNOWN_FOR = timedelta(milliseconds=5)
IOC_CANCELLED = "IOC order cancelled as it could not be filled"

Action = Callable[[datetime], None]


@dataclass(frozen=True, slots=True)
class Amendment:
    """A modification's new fields, validated and complete."""

    order_type: str
    quantity: int
    price: Decimal
    trigger_price: Decimal
    market_protection: Decimal
    validity: str | None
    disclosed_quantity: int | None


def _no_hold() -> float | None:
    return None


class Lifecycle:
    def __init__(self, book: Book, seed: int) -> None:
        self.book = book
        self._rng = random.Random(f"{seed}:lifecycle")
        self._queue: list[tuple[datetime, int, Action]] = []
        self._seq = itertools.count()
        # seconds to hold the next order in OPEN PENDING (the ``hold_pending`` fault)
        self.take_hold: Callable[[], float | None] = _no_hold

    # ----- the scheduler -----
    def delay(self) -> timedelta:
        rng = self._rng
        if rng.random() < LONG_PROBABILITY:
            return timedelta(seconds=rng.uniform(*LONG_SECONDS))
        low, high = STEP_SECONDS
        return timedelta(seconds=math.exp(rng.uniform(math.log(low), math.log(high))))

    def schedule(self, when: datetime, action: Action) -> None:
        heapq.heappush(self._queue, (when, next(self._seq), action))

    def next_due(self) -> datetime | None:
        return self._queue[0][0] if self._queue else None

    def run_due(self, now: datetime) -> None:
        """Carry out, in time order, every step due at or before ``now``."""
        queue = self._queue
        while queue and queue[0][0] <= now:
            when, _, action = heapq.heappop(queue)
            action(when)

    def _then(self, order: SimOrder, after: datetime, expect: str, step: Action,
              hold: float | None = None) -> None:
        """Run ``step`` after a delay if the order is still ``expect`` by then."""
        def run(when: datetime) -> None:
            if order.status == expect:
                step(when)

        delay = timedelta(seconds=hold) if hold is not None else self.delay()
        self.schedule(after + delay, run)

    def _interim(self, order: SimOrder, status: str, when: datetime) -> None:
        order.set_status(status, when)
        self.book.notify(order)

    @property
    def _stepping(self) -> bool:
        return self.book.realism.on("interim_statuses")

    # ----- placing -----
    def accept(self, order: SimOrder, now: datetime) -> None:
        """A new order the API has accepted: on its way to the exchange."""
        order.accepted_at = now
        order.set_status(st.PUT_ORDER_REQ_RECEIVED, now)
        if not self._stepping:
            order.set_status(st.VALIDATION_PENDING, now)
            order.set_status(st.OPEN_PENDING, now)
            self._release(order, now)
            return
        self.book.notify(order)
        hold = self.take_hold()

        def validation(when: datetime) -> None:
            self._interim(order, st.VALIDATION_PENDING, when)
            self._then(order, when, st.VALIDATION_PENDING, open_pending)

        def open_pending(when: datetime) -> None:
            self._interim(order, st.OPEN_PENDING, when)
            self._then(order, when, st.OPEN_PENDING, lambda w: self._release(order, w), hold)

        self._then(order, now, st.PUT_ORDER_REQ_RECEIVED, validation)

    def _release(self, order: SimOrder, when: datetime) -> None:
        """The exchange takes the order: rejected, or working (and matched at once)."""
        book = self.book
        reason = exchange_rejection(order.instrument, order.order_type, order.quantity,
                                    order.price, order.trigger_price)
        if reason is not None:
            order.set_status(st.REJECTED, when, reason)
            book.notify(order)
            return
        order.exchange_order_id = book.ids.exchange_order_id()
        order.exchange_timestamp = when
        quote = book.quote_at(order.instrument.token, when)
        if order.order_type == "MARKET" and book.realism.on("market_protection"):
            book.matcher.protect(order, quote.last_price)
        waiting = order.order_type in ("SL", "SL-M")
        order.set_status(st.TRIGGER_PENDING if waiting else st.OPEN, when)
        book.rest(order)
        book.notify(order)
        book.matcher.evaluate(order, quote, when, force=True)
        if order.validity == "IOC" and order.status == st.OPEN:
            book.cancel_now(order, when, IOC_CANCELLED)

    # ----- refusals -----
    def refuse_modify(self, order: SimOrder, now: datetime) -> None:
        if not self.book.realism.on("transient_refusals"):
            return
        if order.accepted_at is not None and now - order.accepted_at < UNKNOWN_FOR:
            raise KiteError(errors.ORDER_UNKNOWN.format(order_id=order.order_id),
                            "OrderException", 400)
        if order.is_interim:
            raise errors.input_error(errors.MODIFY_BEING_PROCESSED)

    def refuse_cancel(self, order: SimOrder) -> None:
        if self.book.realism.on("transient_refusals") and order.is_interim:
            raise errors.input_error(errors.CANCEL_BEING_PROCESSED)

    # ----- modifying -----
    def modify(self, order: SimOrder, change: Amendment, now: datetime) -> None:
        """A modification the API has accepted (``refuse_modify`` has been asked)."""
        if order.is_interim:  # only without transient refusals: amended in place
            self._amend(order, change)
            order.record(now)
            self._changed(order, now)
            return
        order.order_timestamp = now  # as the mocks' order_info.json shows it
        if not self._stepping:
            order.set_status(st.MODIFY_VALIDATION_PENDING, now)
            order.set_status(st.MODIFY_PENDING, now)
            self._modified(order, change, now)
            return
        self._interim(order, st.MODIFY_VALIDATION_PENDING, now)

        def pending(when: datetime) -> None:
            self._interim(order, st.MODIFY_PENDING, when)
            self._then(order, when, st.MODIFY_PENDING,
                       lambda w: self._modified(order, change, w))

        self._then(order, now, st.MODIFY_VALIDATION_PENDING, pending)

    def _modified(self, order: SimOrder, change: Amendment, when: datetime) -> None:
        order.exchange_timestamp = when
        order.set_status(st.MODIFIED, when)
        self._amend(order, change)
        if order.filled_quantity >= order.quantity:
            order.quantity = order.filled_quantity
            order.set_status(st.COMPLETE, when)
            self.book.retire(order)
            self.book.notify(order)
            return
        waiting = order.order_type in ("SL", "SL-M") and not order.triggered
        order.set_status(st.TRIGGER_PENDING if waiting else st.OPEN, when)
        self._changed(order, when)

    def _changed(self, order: SimOrder, when: datetime) -> None:
        book = self.book
        book.notify(order, st.UPDATE if book.realism.on("partial_fills") else None)
        book.matcher.evaluate(order, book.quote_at(order.instrument.token, when), when,
                              force=True)

    @staticmethod
    def _amend(order: SimOrder, change: Amendment) -> None:
        if change.order_type != order.order_type:
            order.triggered = False
        order.order_type, order.price = change.order_type, change.price
        order.quantity = max(change.quantity, order.filled_quantity)
        order.trigger_price = change.trigger_price
        order.market_protection = change.market_protection
        if change.validity:
            order.validity = change.validity
        if change.disclosed_quantity is not None:
            order.disclosed_quantity = change.disclosed_quantity
        order.modifications += 1

    # ----- cancelling -----
    def cancel(self, order: SimOrder, now: datetime) -> None:
        """A cancel the API has accepted (``refuse_cancel`` has been asked)."""
        if not self._stepping or order.is_interim:
            self.book.cancel_now(order, now, None)
            return
        self._interim(order, st.CANCEL_PENDING, now)
        self._then(order, now, st.CANCEL_PENDING,
                   lambda w: self.book.cancel_now(order, w, None))
