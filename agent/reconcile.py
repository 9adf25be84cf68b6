"""Start-up reconciliation: make the engine agree with what the broker holds.

Called by the composition root after the saved state is restored and before the runner
starts (so on the thread that will own the engine), with the broker adapter's view
(``agent.adapters.kite_reconcile``). The broker is the truth for quantities:

- our open orders missing from the engine (a state file older than the last order) are
  adopted, an exchange stop among them becomes the instrument's stop order again;
- a position the engine does not know, that today's fills under our tags explain, is
  adopted without a strategy stop (it closes by limits, square-off or /squareoff, and the
  owner is told);
- a position the engine holds that the broker no longer has was closed while the agent
  was down (an exchange stop, the broker's own square-off): the engine goes flat;
- a position the agent did not open is reported and left alone.

Returns one line per finding; the composition root sends them as alerts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from agent.adapters.kite_reconcile import BrokerOrder, BrokerPosition
from agent.engine import Engine
from agent.models import Order, OrderPurpose

log = logging.getLogger(__name__)


def adopt(engine: Engine, orders: Iterable[BrokerOrder], positions: Iterable[BrokerPosition],
          now: datetime) -> list[str]:
    found: list[str] = []
    for bo in orders:
        if engine.book.get(bo.tag) is not None or bo.instrument_token not in engine.runtimes:
            continue
        order = Order(tag=bo.tag, instrument_token=bo.instrument_token, symbol=bo.symbol,
                      side=bo.side, quantity=bo.quantity, order_type=bo.order_type,
                      purpose=bo.purpose, reason="adopted", created_at=now, price=bo.price,
                      trigger_price=bo.trigger_price, product=bo.product, status=bo.status,
                      filled_quantity=bo.filled_quantity, average_price=bo.average_price,
                      broker_order_id=bo.broker_order_ids[0] if bo.broker_order_ids else None)
        engine.book.orders[bo.tag] = order
        rt = engine.runtimes[bo.instrument_token]
        if bo.purpose is OrderPurpose.STOP:
            rt.stop_tag = bo.tag
        elif bo.purpose is OrderPurpose.ENTRY:
            rt.entry_tag = bo.tag
        else:
            rt.exit_tag = bo.tag
        found.append(f"{bo.symbol}: adopted open order {bo.tag} ({bo.purpose.lower()} "
                     f"{bo.side} {bo.quantity}, {bo.status})")
    held = {p.instrument_token: p for p in positions}
    for token, rt in engine.runtimes.items():
        book = engine.pnl.books[token]
        pos = held.pop(token, None)
        broker_qty = 0 if pos is None else pos.agent_quantity
        if broker_qty == book.quantity:
            continue
        if broker_qty == 0:
            found.append(f"{rt.symbol}: the saved position {book.quantity:+d} is not at the "
                         "broker any more (closed while the agent was down); now flat")
            engine.strategy.force_flat(rt.state)
            book.quantity = 0
        else:
            assert pos is not None
            book.quantity = broker_qty
            book.average = pos.average_price
            book.entry_time = book.entry_time or now
            book.entry_reason = book.entry_reason or "adopted"
            found.append(f"{rt.symbol}: adopted position {broker_qty:+d} @ {pos.average_price} "
                         "from the broker; no strategy stop: it closes by limits, at square-off "
                         f"or with /squareoff {rt.symbol}")
        if pos is not None and pos.foreign_quantity:
            found.append(f"{rt.symbol}: {pos.foreign_quantity:+d} more at the broker were not "
                         "opened by the agent: left alone")
    for pos in held.values():
        found.append(f"{pos.symbol}: position {pos.quantity:+d} ({pos.product}) not opened by "
                     "the agent: left alone")
    engine.pnl.recount()
    engine.dirty = bool(found) or engine.dirty
    for line in found:
        log.warning("reconciliation: %s", line)
    return found
