"""The Kite broker's writes: place, cancel, modify; one REST call per action, sent on the
writer pool (``kite_writes``) and judged on the worker when its answer comes back.

Rules (worker thread only; a mixin of ``KiteBroker``, whose attributes hold the state):
- A placement that certainly did not happen (429, no connection) is retried after a
  backoff. One that MAY have happened (timeout, dropped connection, any 5xx) is never
  simply retried: ``retry.settle`` seconds after its call ended the order book is read and
  the tag's Kite orders not yet accounted for are matched (symbol, side, quantity); only if
  none is there is the placement tried again. A row that names the order while its answer
  is still on its way settles it at once (``kite_book``). Refusals (InputException,
  OrderException, other 4xx) are final: the engine gets REJECTED with Kite's message.
  TokenException: ``on_token_error``, no retry, REJECTED.
- A modify or cancel refused for a passing reason (429, 5xx, a network failure, Kite's
  "being processed" or "does not exist": ``kite_rest.classify_change``) is sent again
  after a backoff (0.5 s doubling to 8 s) until it works or the order is final. Only a
  definitive answer stops it: the order is already complete, cancelled or rejected (the
  book will say), the modification cap (then the order is replaced), another refusal
  (input, permission, the IP: the engine reads why in the next update's message), or a
  dead session.
- Modifications go out at most once per ``modify_interval`` per Kite order, always with
  the latest wanted values. An order modified ``replace_after`` times is cancelled and, once
  the cancellation is confirmed, placed afresh for its unfilled quantity under the same tag
  (not if it filled meanwhile).
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from agent.adapters.kite_orders import (
    MARKET_TYPES,
    CancelState,
    Child,
    ChildState,
    Tracked,
)
from agent.adapters.kite_rest import Change, Failure, classify, classify_change
from agent.models import OrderType

if TYPE_CHECKING:
    from agent.adapters.kite_broker import KiteBroker

log = logging.getLogger("agent.adapters.kite_broker")

RATE_LIMITED_RETRY = 0.6  # seconds after a 429: past the end of Kite's calendar second

VARIETY = "regular"
LOUD_EVERY = 10  # a write retried for a passing reason: logged on the 1st, 10th, 20th ...


class KiteActions:
    """The write actions of ``KiteBroker``'s worker (a mixin)."""

    def soon(self: KiteBroker) -> None:
        """Read the order book ``poll_after_write`` from now (after a read in progress)."""
        at = self.timer.monotonic() + self.poll_after_write
        if self.polling:  # that read may have started before the change: one more after it
            self.poll_again_at = min(self.poll_again_at, at)
        else:
            self.next_poll = min(self.next_poll, at)

    # ------------------------------------------------------------ place

    def place_child(self: KiteBroker, t: Tracked, c: Child) -> None:
        ins, kind = t.instrument, t.order_type
        params: dict[str, Any] = {
            "variety": VARIETY, "exchange": ins.exchange, "tradingsymbol": ins.tradingsymbol,
            "transaction_type": t.side.value, "quantity": c.quantity, "product": t.product,
            "order_type": kind.value, "validity": "DAY", "tag": t.tag}
        if kind in (OrderType.LIMIT, OrderType.SL):
            params["price"] = _text(c.want_price)
        if kind in (OrderType.SL, OrderType.SL_M):
            params["trigger_price"] = _text(c.want_trigger)
        if kind in MARKET_TYPES:
            params["market_protection"] = self.market_protection
        c.attempts += 1
        c.state, c.inflight = ChildState.SENDING, True
        c.price, c.trigger = c.want_price, c.want_trigger  # what this placement carries
        self.send(self.order_rate, self.kite.place_order,
                  lambda result, error, ended: self._place_done(t, c, result, error, ended),
                  what=f"place {t.tag}", **params)

    def _place_done(self: KiteBroker, t: Tracked, c: Child, result: Any,
                    error: Exception | None, ended: float) -> None:
        c.inflight = False
        if error is not None:
            failed, text = self.failure(error)
            if c.state is ChildState.PLACED:  # a row found it meanwhile: it is there
                log.info("kite broker: %s placement answer lost (%s), but Kite shows order %s",
                         t.tag, text, c.order_id)
            else:
                c.state = ChildState.QUEUED
                self._place_failed(t, c, failed, text, ended)
            self.publish(t)
            return
        order_id = str(result)
        if c.state is ChildState.PLACED and c.order_id != order_id:
            log.error("kite broker: %s placed as %s, but a row had matched %s to it: both are "
                      "at Kite (the snapshot shows them)", t.tag, order_id, c.order_id)
        elif c.state is not ChildState.PLACED:
            self.placed(t, c, order_id)
        log.info("kite broker: %s placed %s %d %s %s -> %s", t.tag, t.side, c.quantity,
                 t.instrument.symbol, t.order_type, order_id)
        self.soon()
        self.publish(t)

    def placed(self: KiteBroker, t: Tracked, c: Child, order_id: str) -> None:
        """``c`` is Kite's order ``order_id`` (an answer, or a row that names it)."""
        c.state, c.order_id = ChildState.PLACED, order_id
        self.by_id[order_id] = (t, c)
        if t.cancel_requested:  # found after the engine cancelled: cancel it now
            c.cancel = CancelState.WANTED

    def _place_failed(self: KiteBroker, t: Tracked, c: Child, failed: Failure, text: str,
                      ended: float) -> None:
        c.message = text
        if failed is Failure.AMBIGUOUS:
            c.state, c.ambiguous_at = ChildState.UNRESOLVED, ended
            c.not_before = ended + self.retry.settle
            log.warning("kite broker: %s placement may have reached Kite (%s): looking it up "
                        "before any retry", t.tag, text)
        elif failed is Failure.RETRY and "too many requests" in text.lower():
            # Kite's windows are calendar seconds: the next one has room. Not counted as
            # an attempt: an exit or a stop must not be given up for the rate limit.
            c.attempts -= 1
            c.not_before = ended + RATE_LIMITED_RETRY
            log.warning("kite broker: %s placement rate-limited (%s): again in %.1fs", t.tag,
                        text, RATE_LIMITED_RETRY)
        elif failed is Failure.RETRY and c.attempts < self.retry.attempts:
            c.not_before = ended + self.retry.delay(c.attempts)
            log.warning("kite broker: %s placement failed (%s): retry %d in %.1fs", t.tag,
                        text, c.attempts, c.not_before - ended)
        else:
            targets = [c]
            if failed is Failure.TOKEN:
                text = f"Kite session expired, log in again ({text})"
                targets += [s for s in t.children if s.state is ChildState.QUEUED]
            elif failed is Failure.RETRY:
                text = f"not placed after {c.attempts} attempts: {text}"
            for s in targets:
                s.state, s.rejected, s.message = ChildState.FAILED, True, text
            log.warning("kite broker: %s %s x%d refused: %s", t.tag, t.instrument.symbol,
                        c.quantity, text)
        if t.cancel_requested and c.state is ChildState.QUEUED:
            c.state, c.message = ChildState.FAILED, "cancelled before it was placed"

    def resolve(self: KiteBroker, started: float) -> None:
        """After a poll that began ``started``: an ambiguous placement whose settle time had
        passed and that the book does not show was not placed."""
        for t in [t for t in self.orders.values() if not t.done]:
            for c in t.children:
                if c.state is not ChildState.UNRESOLVED or c.not_before > started:
                    continue
                if t.cancel_requested:
                    c.state, c.message = ChildState.FAILED, "cancelled before it was placed"
                elif c.attempts >= self.retry.attempts:
                    c.state, c.rejected = ChildState.FAILED, True
                    c.message = f"not placed after {c.attempts} attempts: {c.message}"
                else:
                    log.info("kite broker: %s not in Kite's order book: placing again", t.tag)
                    c.state, c.not_before = ChildState.QUEUED, started
                self.publish(t)

    # ------------------------------------------------------------ cancel

    def cancel_child(self: KiteBroker, t: Tracked, c: Child) -> None:
        c.cancel_attempts += 1
        c.inflight = True
        self.send(self.order_rate, self.kite.cancel_order,
                  lambda result, error, ended: self._cancel_done(t, c, error, ended),
                  what=f"cancel {c.order_id}", variety=VARIETY, order_id=c.order_id)

    def _cancel_done(self: KiteBroker, t: Tracked, c: Child, error: Exception | None,
                     ended: float) -> None:
        c.inflight = False
        if error is None:
            c.cancel = CancelState.SENT
            log.info("kite broker: %s cancel of %s sent%s", t.tag, c.order_id,
                     " (to re-place it)" if c.replace else "")
            self.soon()
            return
        _, text = self.failure(error)
        verdict = classify_change(error)
        if verdict is Change.RETRY:
            c.cancel_not_before = ended + self.retry.delay(c.cancel_attempts)
            self._retrying(t, c, "cancel", c.cancel_attempts, text)
        elif verdict in (Change.ORDER_FINAL, Change.MAX_MODIFICATIONS):
            log.info("kite broker: %s cancel of %s refused: %s", t.tag, c.order_id, text)
            c.cancel = CancelState.SENT  # the book will say how it ended
            self.soon()
        else:
            c.cancel, c.replace = CancelState.NONE, False
            t.note = f"cancel failed: {text}"
            log.error("kite broker: %s cancel of %s failed: %s", t.tag, c.order_id, text)
            self.publish(t)

    def _retrying(self: KiteBroker, t: Tracked, c: Child, what: str, attempt: int,
                  text: str) -> None:
        level = logging.WARNING if attempt == 1 or attempt % LOUD_EVERY == 0 else logging.DEBUG
        log.log(level, "kite broker: %s %s of %s refused for now (%s): again in %.1fs "
                "(attempt %d)", t.tag, what, c.order_id, text, self.retry.delay(attempt),
                attempt)
        self.soon()  # the book may show the order final: then nothing is sent again

    # ------------------------------------------------------------ modify

    def modify_child(self: KiteBroker, t: Tracked, c: Child) -> None:
        if c.modifications >= self.replace_after:  # Kite allows 25: start afresh before it
            log.info("kite broker: %s order %s modified %d times: cancelling it to place a "
                     "fresh one", t.tag, c.order_id, c.modifications)
            c.cancel, c.replace, c.cancel_attempts = CancelState.WANTED, True, 0
            return
        price, trigger = c.want_price, c.want_trigger
        params: dict[str, Any] = {"variety": VARIETY, "order_id": c.order_id}
        if price is not None and t.order_type in (OrderType.LIMIT, OrderType.SL):
            params["price"] = _text(price)
        if trigger is not None and t.order_type in (OrderType.SL, OrderType.SL_M):
            params["trigger_price"] = _text(trigger)
        if t.order_type in MARKET_TYPES:
            params["market_protection"] = self.market_protection
        c.modify_attempts += 1
        c.inflight = True
        sent = self.timer.monotonic()
        self.send(self.order_rate, self.kite.modify_order,
                  lambda result, error, ended: self._modify_done(
                      t, c, price, trigger, sent, error, ended),
                  what=f"modify {c.order_id}", **params)

    def _modify_done(self: KiteBroker, t: Tracked, c: Child, price: Decimal | None,
                     trigger: Decimal | None, sent: float, error: Exception | None,
                     ended: float) -> None:
        c.inflight = False
        if error is None:
            c.modifications += 1
            c.modify_attempts, c.next_modify_at = 0, sent + self.modify_interval
            c.price, c.trigger = price, trigger
            log.info("kite broker: %s modified %s (%d): price %s trigger %s", t.tag,
                     c.order_id, c.modifications, c.price, c.trigger)
            self.soon()
            return
        _, text = self.failure(error)
        verdict = classify_change(error)
        if verdict is Change.MAX_MODIFICATIONS:
            c.modifications = self.replace_after  # someone else used them up
        elif verdict is Change.RETRY:
            if classify(error) is Failure.AMBIGUOUS:
                c.modifications += 1  # it may have counted at Kite
            c.modify_not_before = ended + self.retry.delay(c.modify_attempts)
            self._retrying(t, c, "modify", c.modify_attempts, text)
        else:
            self.soon()  # e.g. the order is complete: the book will say
            if (c.want_price, c.want_trigger) == (price, trigger):  # nothing newer wanted
                c.want_price, c.want_trigger = c.price, c.trigger
            c.modify_attempts = 0
            t.note = f"modify refused: {text}"
            log.warning("kite broker: %s modify of %s refused: %s", t.tag, c.order_id, text)
            self.publish(t)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")
