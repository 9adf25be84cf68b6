"""The simulated exchange's order book: every order, trade and position, and its requests.

Pure and synchronous. The book checks a request (``_check_request``, the freeze quantity)
and creates the order; ``agent.sim.lifecycle`` takes it through Kite's statuses (and
refuses a modify or cancel while it is on its way), ``agent.sim.matching`` matches it
against the market's price path (``agent.sim.market``) and ``agent.sim.ids`` names it.
The caller drives time: ``run_due`` for the lifecycle's steps, ``on_second`` for every
session second of an instrument with working orders (``agent.sim.core`` does both in
time order). Listeners hear every order change (the WebSocket's order messages). Owned by
the simulator's loop thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal

from agent.models import Instrument, Side
from agent.sim import errors, rules
from agent.sim import orders as st
from agent.sim.errors import KiteError
from agent.sim.ids import Ids
from agent.sim.lifecycle import Amendment, Lifecycle
from agent.sim.market import Market, Quote
from agent.sim.matching import Matcher
from agent.sim.orders import (
    OrderChange,
    OrderRequest,
    SimOrder,
    SimTrade,
    exchange_rejection,
)
from agent.sim.positions import PositionBook
from agent.sim.realism import Realism

logger = logging.getLogger(__name__)

MAX_MODIFICATIONS = 25


class Book:
    """Every order, trade and position of the one simulated account."""

    def __init__(self, market: Market, *, freeze_quantities: Mapping[int, int] | None = None,
                 reject_outside_session: bool = True, realism: Realism | None = None) -> None:
        self.market = market
        self.realism = realism if realism is not None else Realism()
        self.orders: dict[str, SimOrder] = {}
        self.trades: list[SimTrade] = []
        self.positions = PositionBook()
        self.listeners: list[Callable[[SimOrder], None]] = []
        self.reject_outside_session = reject_outside_session
        self._freeze = dict(freeze_quantities or {})
        self._open: dict[int, dict[str, SimOrder]] = {}  # working orders at the exchange
        self.ids = Ids(market.trading_date)
        self.matcher = Matcher(self)
        self.lifecycle = Lifecycle(self, market.seed)

    # ----- configuration -----
    def freeze_quantity(self, ins: Instrument) -> int:
        """The largest quantity one order may carry (0: no limit)."""
        return self._freeze.get(ins.token, ins.freeze_quantity)

    def set_freeze_quantity(self, token: int, quantity: int) -> None:
        self.market.instrument(token)
        self._freeze[token] = quantity

    # ----- queries -----
    def open_tokens(self) -> list[int]:
        return [t for t, found in self._open.items() if found]

    def get(self, order_id: str) -> SimOrder:
        found = self.orders.get(order_id)
        if found is None:
            raise errors.input_error(errors.ORDER_NOT_FOUND)
        return found

    def second_at(self, when: datetime) -> int:
        return self.market.second_of(when)

    # ----- placing -----
    def place(self, req: OrderRequest, now: datetime) -> SimOrder:
        """Place one order; raises KiteError when the API would refuse it outright."""
        self.run_due(now)
        ins = self._instrument(req)
        self._check_request(ins, req.order_type, req.side, req.price, req.trigger_price,
                            req.market_protection, now)
        if not req.autoslice:
            self._check_freeze(ins, req.quantity)
        return self._create(ins, req, req.quantity, now)

    def place_autoslice(self, req: OrderRequest, now: datetime) -> tuple[str, list[SimOrder]]:
        """Kite's autoslice: children of at most the freeze quantity. Returns the parent
        id (a reference only, as Kite's) and the children."""
        self.run_due(now)
        ins = self._instrument(req)
        freeze = self.freeze_quantity(ins)
        if freeze <= 0 or req.quantity <= freeze:
            raise errors.input_error(errors.AUTOSLICE_MINIMUM.format(minimum=freeze + 1))
        self._check_request(ins, req.order_type, req.side, req.price, req.trigger_price,
                            req.market_protection, now)
        parent = self.ids.order_id(now)
        slice_qty = freeze - freeze % ins.lot_size if freeze >= ins.lot_size else freeze
        children, left = [], req.quantity
        while left > 0:
            qty = min(slice_qty, left)
            child = self._create(ins, req, qty, now, tags=("autoslice", f"autoslice:{parent}"))
            children.append(child)
            left -= qty
        return parent, children

    def _instrument(self, req: OrderRequest) -> Instrument:
        ins = self.market.index.by_symbol(f"{req.exchange}:{req.tradingsymbol}")
        if ins is None:
            raise errors.invalid("tradingsymbol")
        return ins

    def _check_request(self, ins: Instrument, order_type: str, side: Side, price: Decimal,
                       trigger: Decimal, protection: Decimal | None, now: datetime) -> None:
        """The API-level (mini-RMS) checks, ``agent.sim.rules`` (the realism rules
        ``option_rules``, ``circuit_limits`` and ``sl_checks`` among them): a failure answers
        400 and creates no order."""
        rules.check_request(self, ins, order_type, side, price, trigger, protection, now)

    def _check_freeze(self, ins: Instrument, quantity: int) -> None:
        freeze = self.freeze_quantity(ins)
        if freeze > 0 and quantity > freeze:
            lot = ins.lot_size
            raise errors.input_error(errors.FREEZE.format(
                quantity=quantity, lots=quantity // lot, freeze=freeze, freeze_lots=freeze // lot))

    def _create(self, ins: Instrument, req: OrderRequest, quantity: int, now: datetime,
                tags: tuple[str, ...] = ()) -> SimOrder:
        order_id = self.ids.order_id(now)
        market_type = req.order_type in ("MARKET", "SL-M")
        order = SimOrder(
            order_id=order_id, instrument=ins, variety=req.variety, side=req.side,
            order_type=req.order_type, product=req.product, validity=req.validity,
            quantity=quantity,
            price=Decimal(0) if market_type else req.price,
            trigger_price=req.trigger_price if req.order_type in ("SL", "SL-M") else Decimal(0),
            tag=req.tag, market_protection=req.market_protection or Decimal(0),
            order_timestamp=now, placed_second=self.second_at(now),
            disclosed_quantity=req.disclosed_quantity,
            # the user's tag first, then the system's (mocks: orders.json)
            tags=((req.tag,) if req.tag else ()) + tags, guid=f"sim{order_id}")
        self.orders[order_id] = order
        self.lifecycle.accept(order, now)
        return order

    # ----- modifying and cancelling -----
    def modify(self, order_id: str, change: OrderChange, now: datetime) -> SimOrder:
        self.run_due(now)
        order = self.get(order_id)
        self.lifecycle.refuse_modify(order, now)  # "does not exist", "being processed"
        if order.is_terminal:
            raise KiteError(errors.NOT_MODIFIABLE.format(status=order.status.lower()),
                            "OrderException", 400)
        if order.modifications >= MAX_MODIFICATIONS:
            raise KiteError(errors.MAX_MODIFICATIONS, "NetworkException", 400)
        ins = order.instrument
        order_type = change.order_type or order.order_type
        quantity = change.quantity if change.quantity is not None else order.quantity
        price = change.price if change.price is not None else order.price
        trigger = change.trigger_price if change.trigger_price is not None \
            else order.trigger_price
        protection = change.market_protection if change.market_protection is not None \
            else (order.market_protection or None)
        if order_type in ("MARKET", "SL-M"):
            price = Decimal(0)
        if order_type in ("MARKET", "LIMIT"):
            trigger = Decimal(0)
        if not (order.triggered and order_type == "SL"):
            self._check_request(ins, order_type, order.side, price, trigger, protection, now)
        self._check_freeze(ins, quantity)
        if quantity < order.filled_quantity:
            raise errors.invalid("quantity")
        reason = exchange_rejection(ins, order_type, quantity, price, trigger)
        if reason is not None:
            raise errors.input_error(reason)
        self.lifecycle.modify(order, Amendment(
            order_type, quantity, price, trigger, protection or Decimal(0), change.validity,
            change.disclosed_quantity), now)
        return order

    def cancel(self, order_id: str, now: datetime) -> SimOrder:
        self.run_due(now)
        order = self.get(order_id)
        if order.is_terminal:
            raise KiteError(errors.NOT_CANCELLABLE.format(status=order.status.lower()),
                            "OrderException", 400)
        self.lifecycle.refuse_cancel(order)
        self.lifecycle.cancel(order, now)
        return order

    def cancel_now(self, order: SimOrder, when: datetime, message: str | None) -> None:
        """CANCELLED at once: the end of a cancel, or the exchange's own (IOC, LPP)."""
        order.cancelled_quantity = order.quantity - order.filled_quantity
        order.set_status(st.CANCELLED, when, message)
        self.retire(order)
        self.notify(order)

    # ----- time and matching -----
    def run_due(self, now: datetime) -> None:
        """Carry out the lifecycle's steps due by ``now`` (exchange time)."""
        self.lifecycle.run_due(now)

    def next_due(self) -> datetime | None:
        return self.lifecycle.next_due()

    def on_second(self, token: int, second: int) -> None:
        """Match the working orders of an instrument against session second ``second``."""
        resting = self._open.get(token)
        if not resting or second < 0:
            return
        quote = self.market.quote(token, second)
        when = self.market.open_time() + timedelta(seconds=second)
        for order in list(resting.values()):
            self.matcher.evaluate(order, quote, when)

    def quote_at(self, token: int, when: datetime) -> Quote:
        return self.market.quote(token, self.second_at(when))

    # ----- for the lifecycle and the matcher -----
    def rest(self, order: SimOrder) -> None:
        """The order works at the exchange: it is matched every second."""
        self._open.setdefault(order.instrument.token, {})[order.order_id] = order

    def retire(self, order: SimOrder) -> None:
        self._open.get(order.instrument.token, {}).pop(order.order_id, None)

    def live_status(self, order: SimOrder, status: str, when: datetime) -> None:
        """A working order's new status (a trigger), unless a modify or cancel is on its
        way: that status stays until it is done (the change is in the history)."""
        if order.status in (st.MODIFY_VALIDATION_PENDING, st.MODIFY_PENDING,
                            st.CANCEL_PENDING):
            order.record(when)
        else:
            order.set_status(status, when)
        self.notify(order)

    def notify(self, order: SimOrder, as_status: str | None = None) -> None:
        """Tell the listeners; ``as_status``: what the message says instead (UPDATE)."""
        order.event_status = as_status
        try:
            for listener in self.listeners:
                listener(order)
        finally:
            order.event_status = None
