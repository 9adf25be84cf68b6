"""The Kite broker's writes: place, cancel, modify; one REST call per action.

Rules (worker thread only; a mixin of ``KiteBroker``, whose attributes hold the state):
- A placement that certainly did not happen (429, no connection) is retried after a
  backoff. One that MAY have happened (timeout, dropped connection, any 5xx) is never
  simply retried: after ``retry.settle`` seconds the order book is read and the tag's Kite
  orders not yet accounted for are matched (symbol, side, quantity); only if none is there
  is the placement tried again. Refusals (InputException, OrderException, other 4xx) are
  final: the engine gets REJECTED with Kite's message. TokenException: ``on_token_error``,
  no retry, REJECTED.
- Modifications go out at most once per ``modify_interval`` per Kite order, always with
  the latest wanted values. An order modified ``replace_after`` times is cancelled and, once
  the cancellation is confirmed, placed afresh for its unfilled quantity under the same tag
  (not if it filled meanwhile). A refused modification leaves the order as it was and says
  why in the next update's message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from agent.adapters.kite_access import AccessProblem, AccessRefusal, order_refusal
from agent.adapters.kite_orders import (
    MARKET_TYPES,
    CancelState,
    Child,
    ChildState,
    Tracked,
)
from agent.adapters.kite_rest import Failure, RateWindows, classify, describe
from agent.models import OrderType

if TYPE_CHECKING:
    from agent.adapters.kite_broker import KiteBroker

log = logging.getLogger("agent.adapters.kite_broker")

VARIETY = "regular"
MAX_MODS_TEXT = "maximum allowed order modifications"


class KiteActions:
    """The write actions of ``KiteBroker``'s worker (a mixin)."""

    def call(self: KiteBroker, rate: RateWindows, fn: Callable[..., Any], **kw: Any) -> Any:
        """One REST call, counted in ``rate`` when it ends: Kite saw it arrive somewhere
        between its start and its end, so spacing starts from ends keeps us inside Kite's
        windows whatever the latency (a first request slower than the eleventh)."""
        try:
            result = fn(**kw)
        finally:
            rate.take(self.timer.monotonic())
        self.answered()
        if self.ip_refused and rate is self.order_rate:
            log.info("kite broker: Kite accepts order calls from this IP again")
            self.ip_refused = False
        return result

    def answered(self: KiteBroker) -> None:
        """A call worked: a session thought dead is alive again."""
        if self.token_dead:
            log.info("kite broker: Kite answers again")
            self.token_dead = False

    def failure(self: KiteBroker, exc: Exception) -> tuple[Failure, str]:
        """What a failed order call (place, cancel, modify) means, and the text to report:
        a refusal for the IP says so plainly and tells the owner once."""
        kind = classify(exc)
        if kind is None:
            log.exception("kite broker: unexpected error from kiteconnect", exc_info=exc)
            kind = Failure.REFUSED
        if kind is Failure.TOKEN:
            self.token_lost(describe(exc))
            return kind, describe(exc)
        refusal = order_refusal(exc) if kind is Failure.REFUSED else None
        if refusal is not None and refusal.problem is AccessProblem.IP_NOT_ALLOWED:
            self.access_refused(refusal)
            return kind, refusal.text()
        return kind, describe(exc)

    def token_lost(self: KiteBroker, detail: str) -> None:
        if self.token_dead:
            return
        self.token_dead = True
        log.error("kite broker: Kite session expired (%s): login needed", detail)
        if self.on_token_error is not None:
            try:
                self.on_token_error()
            except Exception:
                log.exception("kite broker: on_token_error failed")

    def access_refused(self: KiteBroker, refusal: AccessRefusal) -> None:
        if self.ip_refused:
            return
        self.ip_refused = True
        log.error("kite broker: %s", refusal.text())
        if self.on_access_refused is not None:
            try:
                self.on_access_refused(refusal)
            except Exception:
                log.exception("kite broker: on_access_refused failed")

    def soon(self: KiteBroker) -> None:
        self.next_poll = min(self.next_poll, self.timer.monotonic() + self.poll_after_write)

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
        now = self.timer.monotonic()
        try:
            order_id = str(self.call(self.order_rate, self.kite.place_order, **params))
        except Exception as exc:
            failed, text = self.failure(exc)
            self._place_failed(t, c, failed, text, now)
            self.publish(t)
            return
        self._placed(t, c, order_id)
        log.info("kite broker: %s placed %s %d %s %s -> %s", t.tag, t.side, c.quantity,
                 ins.symbol, kind, order_id)
        self.soon()
        self.publish(t)

    def _placed(self: KiteBroker, t: Tracked, c: Child, order_id: str) -> None:
        c.state, c.order_id = ChildState.PLACED, order_id
        c.price, c.trigger = c.want_price, c.want_trigger
        self.by_id[order_id] = (t, c)
        if t.cancel_requested:  # found after the engine cancelled: cancel it now
            c.cancel = CancelState.WANTED

    def _place_failed(self: KiteBroker, t: Tracked, c: Child, failed: Failure, text: str,
                      now: float) -> None:
        c.message = text
        if failed is Failure.AMBIGUOUS:
            c.state, c.ambiguous_at = ChildState.UNRESOLVED, now
            c.not_before = now + self.retry.settle
            log.warning("kite broker: %s placement may have reached Kite (%s): looking it up "
                        "before any retry", t.tag, text)
        elif failed is Failure.RETRY and c.attempts < self.retry.attempts:
            c.not_before = now + self.retry.delay(c.attempts)
            log.warning("kite broker: %s placement failed (%s): retry %d in %.1fs", t.tag,
                        text, c.attempts, c.not_before - now)
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

    def _resolve(self: KiteBroker, started: float) -> None:
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

    # ------------------------------------------------------------ cancel and modify

    def cancel_child(self: KiteBroker, t: Tracked, c: Child) -> None:
        c.cancel_attempts += 1
        now = self.timer.monotonic()
        try:
            self.call(self.order_rate, self.kite.cancel_order, variety=VARIETY,
                      order_id=c.order_id)
        except Exception as exc:
            failed, text = self.failure(exc)
            if failed is Failure.REFUSED:  # e.g. already complete: the book will say
                log.info("kite broker: %s cancel of %s refused: %s", t.tag, c.order_id, text)
                c.cancel = CancelState.SENT
                self.soon()
            elif failed is not Failure.TOKEN and c.cancel_attempts < self.retry.attempts:
                c.cancel_not_before = now + self.retry.delay(c.cancel_attempts)
            else:
                c.cancel, c.replace = CancelState.NONE, False
                t.note = f"cancel failed: {text}"
                log.error("kite broker: %s cancel of %s failed: %s", t.tag, c.order_id, text)
                self.publish(t)
            return
        c.cancel = CancelState.SENT
        log.info("kite broker: %s cancel of %s sent%s", t.tag, c.order_id,
                 " (to re-place it)" if c.replace else "")
        self.soon()

    def modify_child(self: KiteBroker, t: Tracked, c: Child) -> None:
        if c.modifications >= self.replace_after:  # Kite allows 25: start afresh before it
            log.info("kite broker: %s order %s modified %d times: cancelling it to place a "
                     "fresh one", t.tag, c.order_id, c.modifications)
            c.cancel, c.replace, c.cancel_attempts = CancelState.WANTED, True, 0
            return
        params: dict[str, Any] = {"variety": VARIETY, "order_id": c.order_id}
        if c.want_price is not None and t.order_type in (OrderType.LIMIT, OrderType.SL):
            params["price"] = _text(c.want_price)
        if c.want_trigger is not None and t.order_type in (OrderType.SL, OrderType.SL_M):
            params["trigger_price"] = _text(c.want_trigger)
        if t.order_type in MARKET_TYPES:
            params["market_protection"] = self.market_protection
        c.modify_attempts += 1
        now = self.timer.monotonic()
        try:
            self.call(self.order_rate, self.kite.modify_order, **params)
        except Exception as exc:
            failed, text = self.failure(exc)
            if failed is Failure.REFUSED and MAX_MODS_TEXT in text.lower():
                c.modifications = self.replace_after  # someone else used them up
            elif failed in (Failure.RETRY, Failure.AMBIGUOUS) \
                    and c.modify_attempts < self.retry.attempts:
                if failed is Failure.AMBIGUOUS:
                    c.modifications += 1  # it may have counted at Kite
                c.modify_not_before = now + self.retry.delay(c.modify_attempts)
            else:
                self.soon()  # e.g. the order is complete: the book will say
                c.want_price, c.want_trigger, c.modify_attempts = c.price, c.trigger, 0
                t.note = f"modify refused: {text}"
                log.warning("kite broker: %s modify of %s refused: %s", t.tag, c.order_id,
                            text)
                self.publish(t)
            return
        c.modifications += 1
        c.modify_attempts, c.next_modify_at = 0, now + self.modify_interval
        c.price, c.trigger = c.want_price, c.want_trigger
        log.info("kite broker: %s modified %s (%d): price %s trigger %s", t.tag, c.order_id,
                 c.modifications, c.price, c.trigger)
        self.soon()


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")
