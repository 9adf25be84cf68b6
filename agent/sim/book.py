"""The simulated exchange's order book: validation, matching, trades and positions.

Pure and synchronous. Orders match against the market's price path (``agent.sim.market``):
MARKET at the touch (ask for a buy, bid for a sell), LIMIT when marketable or when the last
price reaches the limit, SL/SL-M once the last price reaches the trigger. Fills are whole.
The caller drives resting orders with ``on_second`` for every session second. Listeners hear
every order change (the WebSocket's order messages). Owned by the simulator's loop thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal

from agent.models import Instrument, Side
from agent.sim import errors
from agent.sim import orders as st
from agent.sim.errors import KiteError
from agent.sim.market import Market, Quote
from agent.sim.orders import (
    OrderChange,
    OrderRequest,
    SimOrder,
    SimTrade,
    exchange_rejection,
    is_option,
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
        self._open: dict[int, dict[str, SimOrder]] = {}
        self._seq = 0
        self._trade_seq = 0
        self._day: date = market.trading_date

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
        ins = self._instrument(req)
        self._check_request(ins, req.order_type, req.side, req.price, req.trigger_price,
                            req.market_protection, now)
        if not req.autoslice:
            self._check_freeze(ins, req.quantity)
        return self._create(ins, req, req.quantity, now)

    def place_autoslice(self, req: OrderRequest, now: datetime) -> tuple[str, list[SimOrder]]:
        """Kite's autoslice: children of at most the freeze quantity. Returns the parent
        id (a reference only, as Kite's) and the children."""
        ins = self._instrument(req)
        freeze = self.freeze_quantity(ins)
        if freeze <= 0 or req.quantity <= freeze:
            raise errors.input_error(errors.AUTOSLICE_MINIMUM.format(minimum=freeze + 1))
        self._check_request(ins, req.order_type, req.side, req.price, req.trigger_price,
                            req.market_protection, now)
        parent = self._next_id()
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
        """The API-level (mini-RMS) checks: a failure answers 400 and creates no order."""
        if self.reject_outside_session and not self.market.is_open(now):
            raise errors.input_error(errors.MARKET_CLOSED)
        if order_type in ("MARKET", "SL-M"):
            if protection is None or protection == 0:
                raise errors.input_error(errors.MARKET_PROTECTION)
            if protection != -1 and not 0 < protection <= 100:
                raise errors.invalid("market_protection")
        if order_type in ("LIMIT", "SL") and price <= 0:
            raise errors.invalid("price")
        if order_type in ("SL", "SL-M") and trigger <= 0:
            raise errors.invalid("trigger_price")
        if order_type == "SL-M" and is_option(ins):
            raise errors.input_error(errors.SLM_OPTIONS)
        if order_type in ("SL", "SL-M"):
            ltp = self.market.ltp(ins.token, self.second_at(now))
            if side is Side.BUY and trigger < ltp:
                raise errors.input_error(errors.TRIGGER_BUY)
            if side is Side.SELL and trigger > ltp:
                raise errors.input_error(errors.TRIGGER_SELL)

    def _check_freeze(self, ins: Instrument, quantity: int) -> None:
        freeze = self.freeze_quantity(ins)
        if freeze > 0 and quantity > freeze:
            lot = ins.lot_size
            raise errors.input_error(errors.FREEZE.format(
                quantity=quantity, lots=quantity // lot, freeze=freeze, freeze_lots=freeze // lot))

    def _next_id(self) -> str:
        self._seq += 1
        return f"{self._day:%y%m%d}{300_000 + self._seq:09d}"

    def _create(self, ins: Instrument, req: OrderRequest, quantity: int, now: datetime,
                tags: tuple[str, ...] = ()) -> SimOrder:
        order_id = self._next_id()
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
            tags=tags + ((req.tag,) if req.tag else ()), guid=f"sim{order_id}")
        self.orders[order_id] = order
        order.set_status(st.PUT_ORDER_REQ_RECEIVED, now)
        order.set_status(st.VALIDATION_PENDING, now)
        order.set_status(st.OPEN_PENDING, now)
        reason = exchange_rejection(ins, order.order_type, quantity, order.price,
                                       order.trigger_price)
        if reason is not None:
            order.set_status(st.REJECTED, now, reason)
            self._notify(order)
            return order
        order.exchange_order_id = f"1{self._day:%y%m%d}{self._seq:09d}"
        order.exchange_timestamp = now
        waiting = order.order_type in ("SL", "SL-M")
        order.set_status(st.TRIGGER_PENDING if waiting else st.OPEN, now)
        self._open.setdefault(ins.token, {})[order_id] = order
        self._notify(order)
        self._evaluate(order, self._quote(ins.token, now), now)
        if not order.is_terminal and order.validity == "IOC" and order.status == st.OPEN:
            self._cancel(order, now, "IOC order cancelled as it could not be filled")
        return order

    # ----- modifying and cancelling -----
    def modify(self, order_id: str, change: OrderChange, now: datetime) -> SimOrder:
        order = self.get(order_id)
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
        order.set_status(st.MODIFY_VALIDATION_PENDING, now)
        order.set_status(st.MODIFY_PENDING, now)
        if order_type != order.order_type:
            order.triggered = False
        order.order_type, order.quantity, order.price = order_type, quantity, price
        order.trigger_price, order.market_protection = trigger, protection or Decimal(0)
        if change.validity:
            order.validity = change.validity
        if change.disclosed_quantity is not None:
            order.disclosed_quantity = change.disclosed_quantity
        order.modifications += 1
        order.set_status(st.MODIFIED, now)
        waiting = order_type in ("SL", "SL-M") and not order.triggered
        order.set_status(st.TRIGGER_PENDING if waiting else st.OPEN, now)
        self._notify(order)
        self._evaluate(order, self._quote(ins.token, now), now)
        return order

    def cancel(self, order_id: str, now: datetime) -> SimOrder:
        order = self.get(order_id)
        if order.is_terminal:
            raise KiteError(errors.NOT_CANCELLABLE.format(status=order.status.lower()),
                            "OrderException", 400)
        self._cancel(order, now, None)
        return order

    def _cancel(self, order: SimOrder, now: datetime, message: str | None) -> None:
        order.cancelled_quantity = order.quantity - order.filled_quantity
        order.set_status(st.CANCELLED, now, message)
        self._open.get(order.instrument.token, {}).pop(order.order_id, None)
        self._notify(order)

    # ----- matching -----
    def on_second(self, token: int, second: int) -> None:
        """Match the resting orders of an instrument against session second ``second``."""
        resting = self._open.get(token)
        if not resting or second < 0:
            return
        quote = self.market.quote(token, second)
        when = self.market.open_time() + timedelta(seconds=second)
        for order in list(resting.values()):
            if order.placed_second < second:
                self._evaluate(order, quote, when)

    def _quote(self, token: int, now: datetime) -> Quote:
        return self.market.quote(token, self.second_at(now))

    def _evaluate(self, order: SimOrder, quote: Quote, when: datetime) -> None:
        if order.is_terminal:
            return
        ltp, buy = quote.last_price, order.side is Side.BUY
        if order.order_type in ("SL", "SL-M") and not order.triggered:
            if not (ltp >= order.trigger_price if buy else ltp <= order.trigger_price):
                return
            order.triggered = True
            if order.order_type == "SL":
                order.set_status(st.OPEN, when)
                self._notify(order)
        if order.order_type in ("MARKET", "SL-M"):
            self._fill(order, quote.ask if buy else quote.bid, when)
            return
        limit = order.price
        if buy and min(quote.ask, ltp) <= limit:
            self._fill(order, min(limit, quote.ask), when)
        elif not buy and max(quote.bid, ltp) >= limit:
            self._fill(order, max(limit, quote.bid), when)

    def _fill(self, order: SimOrder, price: Decimal, when: datetime) -> None:
        qty = order.quantity - order.filled_quantity
        self._trade_seq += 1
        trade = SimTrade(trade_id=f"{10_000_000 + self._trade_seq}", order_id=order.order_id,
                         exchange_order_id=order.exchange_order_id or "",
                         instrument=order.instrument, product=order.product, side=order.side,
                         quantity=qty, price=price, time=when)
        self.trades.append(trade)
        self.positions.apply(trade)
        order.filled_quantity += qty
        order.average_price = price
        order.set_status(st.COMPLETE, when)
        self._open.get(order.instrument.token, {}).pop(order.order_id, None)
        logger.debug("sim fill %s %s %d @ %s", order.order_id, order.side, qty, price)
        self._notify(order)

    def _notify(self, order: SimOrder) -> None:
        for listener in self.listeners:
            listener(order)
