"""The orders the lifecycle sends, shaped: entries, exits and stops. Engine thread only.

- An entry or exit of an equity or a future is a MARKET order (the live adapter adds
  Kite's market protection). An option's is a marketable LIMIT a few percent through the
  last price (``OPTION_LIMIT_STEP``): Kite refuses MARKET orders on stock options and
  illiquid index options, and SL-M on every option.
- A stop is an SL order: trigger the strategy's stop, limit ``buffer_ticks`` beyond it.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from agent.models import Instrument, OrderType, Side

OPTION_LIMIT_STEP = Decimal("0.03")  # 3% through the last price: marketable, inside bands
OPTION_TYPES = frozenset({"CE", "PE"})


def is_option(ins: Instrument) -> bool:
    return ins.instrument_type in OPTION_TYPES


def on_tick(price: Decimal, tick: Decimal, up: bool) -> Decimal:
    if tick <= 0:
        return price
    steps = (price / tick).to_integral_value(rounding=ROUND_CEILING if up else ROUND_FLOOR)
    return (steps * tick).quantize(tick)


def through(ins: Instrument, side: Side, last: Decimal) -> Decimal:
    """A marketable limit ``OPTION_LIMIT_STEP`` through the last price, on the tick grid."""
    if side is Side.BUY:
        return on_tick(last * (1 + OPTION_LIMIT_STEP), ins.tick_size, up=True)
    return max(on_tick(last * (1 - OPTION_LIMIT_STEP), ins.tick_size, up=False),
               ins.tick_size)


def market_order(ins: Instrument, side: Side, last: Decimal | None
                 ) -> tuple[OrderType, Decimal | None]:
    """(order type, price) of an entry or exit at the market."""
    if not is_option(ins) or last is None:
        return OrderType.MARKET, None
    return OrderType.LIMIT, through(ins, side, last)


def stop_limit(ins: Instrument, side: Side, trigger: Decimal, buffer_ticks: int) -> Decimal:
    """The SL order's limit: ``buffer_ticks`` beyond the trigger (at least one tick)."""
    move = ins.tick_size * buffer_ticks
    if side is Side.SELL:
        return max(trigger - move, ins.tick_size)
    return trigger + move


def crossed(side: Side, trigger: Decimal, last: Decimal | None) -> bool:
    """Has the price already passed a stop of ``side`` (SELL protects a long)?"""
    if last is None:
        return False
    return trigger >= last if side is Side.SELL else trigger <= last
