"""The broker port: how the engine hands orders to an exchange, paper or real.

The engine thread calls every method. ``submit``, ``cancel`` and ``modify`` never block:
a live adapter queues the REST call for its worker thread, and its order updates come
back through the engine's inbox. A synchronous adapter (paper) answers at once through
``poll``, which the engine drains right after each call, so paper fills land within the
tick that caused them.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Protocol

from agent.events import OrderUpdate
from agent.models import Order


class Broker(Protocol):
    # Tokens with resting orders that need every price (paper SL/LIMIT orders).
    watched: set[int]

    def submit(self, order: Order) -> None: ...

    def cancel(self, order: Order) -> None: ...

    def modify(self, order: Order, *, price: Decimal | None = None,
               trigger_price: Decimal | None = None, quantity: int | None = None) -> None: ...

    def poll(self) -> list[OrderUpdate]:
        """Updates that are ready now (paper); a live adapter returns []."""
        ...

    def on_price(self, token: int, price: Decimal, t: datetime) -> None:
        """A new last price for a watched token."""
        ...
