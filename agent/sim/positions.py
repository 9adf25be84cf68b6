"""Positions of the simulated account, built from trades (all intraday: no overnight).

Owned by the simulator's loop thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from agent.models import Instrument, Side
from agent.sim.orders import SimTrade

ZERO = Decimal(0)


@dataclass(slots=True)
class Position:
    """One instrument and product: what was bought and sold today, and the open part."""

    instrument: Instrument
    product: str
    buy_quantity: int = 0
    buy_value: Decimal = ZERO
    sell_quantity: int = 0
    sell_value: Decimal = ZERO
    quantity: int = 0  # net: > 0 long, < 0 short
    average_price: Decimal = ZERO  # of the open part
    realised: Decimal = ZERO

    def apply(self, side: Side, quantity: int, price: Decimal) -> None:
        value = price * quantity
        if side is Side.BUY:
            self.buy_quantity += quantity
            self.buy_value += value
        else:
            self.sell_quantity += quantity
            self.sell_value += value
        signed = quantity * side.sign
        if self.quantity == 0 or (self.quantity > 0) == (signed > 0):
            total = abs(self.quantity) + quantity
            self.average_price = (self.average_price * abs(self.quantity) + value) / total
            self.quantity += signed
            return
        closing = min(abs(self.quantity), quantity)
        direction = 1 if self.quantity > 0 else -1
        self.realised += (price - self.average_price) * closing * direction
        self.quantity += signed
        if self.quantity == 0:
            self.average_price = ZERO
        elif (self.quantity > 0) != (direction > 0):  # flipped: the rest opens at this price
            self.average_price = price

    @property
    def buy_price(self) -> Decimal:
        return self.buy_value / self.buy_quantity if self.buy_quantity else ZERO

    @property
    def sell_price(self) -> Decimal:
        return self.sell_value / self.sell_quantity if self.sell_quantity else ZERO

    def pnl(self, last_price: Decimal) -> Decimal:
        """Realised plus unrealised rupees at a last price."""
        return self.sell_value - self.buy_value + self.quantity * last_price

    def unrealised(self, last_price: Decimal) -> Decimal:
        return self.pnl(last_price) - self.realised


class PositionBook:
    """Positions keyed by (instrument token, product), in the order they were opened."""

    def __init__(self) -> None:
        self._rows: dict[tuple[int, str], Position] = {}

    def apply(self, trade: SimTrade) -> Position:
        key = (trade.instrument.token, trade.product)
        pos = self._rows.get(key)
        if pos is None:
            pos = self._rows[key] = Position(trade.instrument, trade.product)
        pos.apply(trade.side, trade.quantity, trade.price)
        return pos

    def all(self) -> list[Position]:
        return list(self._rows.values())
