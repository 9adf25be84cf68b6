"""The Kite broker's view of Kite's order book: rows in, updates out.

Rows come from the ticker's order messages, from polls of ``kite.orders()`` and from an
order's history; all are applied idempotently (a final state or a fill never goes back; a
repeat changes nothing), matched to our Kite orders by order id, or by tag for a placement
whose answer is lost or still on its way. A row is read leniently (``kite_rows``): numbers
as strings, a fill without a price (its price comes from a later row or the order's
trades, and COMPLETE waits for it: never "ended with nothing filled"), a status Kite has
not documented (not final; logged once; settled by later rows or, after
``UNKNOWN_POLLS`` polls, by the order's history, ``kite_reads``). Orders we do not track
are left to the engine (the broker snapshot carries them); a ticker message about one
brings the next poll forward. Every change to an engine order's aggregate is posted once.
Worker thread only (a mixin of ``KiteBroker``, whose attributes hold the state).
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from agent.adapters.kite_orders import Child, ChildState, Tracked, aggregate
from agent.adapters.kite_rows import RowView, agent_tag, int_of, row_view
from agent.events import OrderUpdate
from agent.models import Instrument, OrderStatus, Side

if TYPE_CHECKING:
    from agent.adapters.kite_broker import KiteBroker

log = logging.getLogger("agent.adapters.kite_broker")

UNKNOWN_POLLS = 3  # polls showing a status we do not know before its history is read


class KiteBook:
    """Order-book rows and updates of ``KiteBroker``'s worker (a mixin)."""

    def on_message(self: KiteBroker, row: dict[str, Any]) -> None:
        """A ticker order message: applied like a polled row; one about an order we do not
        track brings the next poll (and its snapshot) forward."""
        if not self.on_row(row):
            self.soon()

    def on_row(self: KiteBroker, row: dict[str, Any], polled: bool = False) -> bool:
        """One Kite order row: update its child, tell the engine. False: not ours."""
        order_id = str(row.get("order_id") or "")
        if not order_id:
            return False
        found = self.by_id.get(order_id) or self._attach(row) or self._adopt_open(row)
        if found is None:
            self.log_once(f"order:{order_id}", "kite broker: Kite order %s (tag %r) is not "
                          "one this run tracks: the engine sees it in the broker snapshot",
                          order_id, row.get("tag"))
            return False
        t, c = found
        view = row_view(row)
        if not view.known:
            self.log_once(f"status:{view.raw}", "kite broker: unknown Kite order status %r "
                          "(order %s): taken as not final until later rows or the order's "
                          "history settle it", view.raw, order_id)
        self.apply_view(t, c, view, polled)
        return True

    def apply_view(self: KiteBroker, t: Tracked, c: Child, view: RowView,
                   polled: bool = False) -> None:
        changed = c.apply(view)
        if polled and c.unknown and c.live:
            c.unknown_polls += 1
            if c.unknown_polls % UNKNOWN_POLLS == 0:
                c.history_wanted = True
        if changed:
            self.child_changed(t, c)

    def child_changed(self: KiteBroker, t: Tracked, c: Child) -> None:
        if c.final:
            self._child_final(t, c)
        self.publish(t)

    def _adopt_open(self: KiteBroker, row: dict[str, Any]) -> tuple[Tracked, Child] | None:
        """An open order under one of our tags that this run does not track (sent by an
        earlier run, after the start-up read): tracked from now on, so the engine can
        cancel or change it; a cancel or change the engine asked before is carried out."""
        tag = agent_tag(row)
        if tag is None or tag in self.orders:
            return None
        status = row_view(row).status
        if status is not None and status.is_terminal:
            return None
        self._adopt(tag, [row])
        found = self.by_id.get(str(row.get("order_id") or ""))
        wanted = self.wanted.pop(tag, None)
        if wanted is not None:
            log.info("kite broker: %s found at Kite: carrying out the %s the engine asked",
                     tag, "cancel" if wanted is True else "change")
            if wanted is True:
                self.queue_cancel(tag)
            else:
                self.queue_modify(wanted)
        return found

    def _attach(self: KiteBroker, row: dict[str, Any]) -> tuple[Tracked, Child] | None:
        """A row under one of our tags with an unknown id: a placement whose answer is lost
        (ambiguous) or not back yet."""
        tag = agent_tag(row)
        t = self.orders.get(tag) if tag is not None else None
        if t is None:
            return None
        for c in t.children:
            if c.state in (ChildState.UNRESOLVED, ChildState.SENDING) and _same(
                    row, t.instrument, t.side, c.quantity):
                if c.state is ChildState.UNRESOLVED:
                    log.info("kite broker: %s found at Kite as %s after an ambiguous "
                             "placement", t.tag, row.get("order_id"))
                else:  # the order message often outruns the REST answer
                    log.debug("kite broker: %s is %s at Kite before its placement's answer",
                              t.tag, row.get("order_id"))
                self.placed(t, c, str(row["order_id"]))
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

    # ------------------------------------------------------------ updates

    def update_key(self: KiteBroker, t: Tracked) -> tuple[Any, ...]:
        agg = aggregate(t)
        ids = [c.order_id for c in t.children if c.order_id]
        status = agg.status
        if status is OrderStatus.PENDING and t.posted is not None:
            status = t.posted[0]  # never back to PENDING (a stop between two Kite orders)
        return (status, agg.filled, agg.average, agg.message, ids[-1] if ids else None)

    def emit(self: KiteBroker, tag: str, status: OrderStatus, filled: int,
             average: Decimal | None, order_id: str | None, message: str) -> None:
        update = OrderUpdate(tag, status, filled, average, self._clock.now(), order_id, message)
        try:
            self._post(update)
        except Exception:
            log.exception("kite broker: posting %s failed", update)

    def log_once(self: KiteBroker, key: str, text: str, *args: object) -> None:
        if key not in self._logged:
            self._logged.add(key)
            log.info(text, *args)

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
    return (row.get("tradingsymbol") == ins.tradingsymbol and row.get("exchange") ==
            ins.exchange and row.get("transaction_type") == side.value and
            int_of(row.get("quantity")) == quantity)
