"""Price bands of the simulated exchange: market protection and limit price protection.

Pure functions of an instrument and prices (Decimal rupees, on the tick grid).

Market protection (Kite, from 1 Apr 2026 every MARKET and SL-M order carries one): the
order goes to the exchange as a LIMIT at the LTP moved by the protection percentage, against
the order (above for a buy, below for a sell), the price rounded towards the LTP so the cap
is never exceeded. ``market_protection`` is the percentage (0 < p <= 100) or -1, automatic:
Zerodha's own table (support.zerodha.com, "Market price protection in Alert Triggers Order
(ATO)"), by the LTP:

    equity and futures   below 100: 2 %    100 to 500: 1 %    above 500: 0.5 %
    options              below 10: 5 %     10 to 100: 3 %     100 to 500: 2 %   above 500: 1 %

Limit price protection (LPP, NSE, F&O only; support.zerodha.com "price outside the current
allowed limit price protection range"; NSE's circular as quoted by brokers): around a
reference price, futures +/- 3 %; options +/- 40 % above a premium of 50, +/- 20 rupees at
or below it. A buy above the upper limit or a sell below the lower one is out of range (a
buy below or a sell above is not). The reference is NSE's: the average of the trade prices
of the last 30 seconds (here: of the last 30 session seconds' LTPs). The cash market has no
LPP (its daily circuit is checked when an order is placed).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from agent.models import Instrument, Side
from agent.sim.orders import is_option

AUTO = Decimal(-1)
LPP_WINDOW = 30  # session seconds of LTPs averaged into the LPP reference
_EQ_BANDS = ((Decimal(100), Decimal(2)), (Decimal(500), Decimal(1)), (None, Decimal("0.5")))
_OPT_BANDS = ((Decimal(10), Decimal(5)), (Decimal(100), Decimal(3)), (Decimal(500), Decimal(2)),
              (None, Decimal(1)))


def is_derivative(ins: Instrument) -> bool:
    return is_option(ins) or ins.instrument_type == "FUT" or ins.segment.endswith("-FUT")


def auto_percent(ins: Instrument, ltp: Decimal) -> Decimal:
    """The automatic (-1) market protection percentage for an instrument at a price."""
    for below, percent in _OPT_BANDS if is_option(ins) else _EQ_BANDS:
        if below is None or ltp < below:
            return percent
    raise AssertionError("unreachable: the last band is open")


def protection_percent(ins: Instrument, protection: Decimal, ltp: Decimal) -> Decimal:
    return auto_percent(ins, ltp) if protection == AUTO else protection


def protection_price(ins: Instrument, side: Side, ltp: Decimal, percent: Decimal) -> Decimal:
    """The LIMIT price a protected market order goes to the exchange with."""
    tick = ins.tick_size
    if side is Side.BUY:
        steps = (ltp * (100 + percent) / 100 / tick).to_integral_value(ROUND_FLOOR)
        return max(steps * tick, ltp)
    steps = (ltp * (100 - percent) / 100 / tick).to_integral_value(ROUND_CEILING)
    return max(min(steps * tick, ltp), tick)


def mktp_tags(percent: Decimal) -> tuple[str, str]:
    """What Kite adds to ``tags`` (the mocks' ``["mktp", "mktp:2.00"]``)."""
    return "mktp", f"mktp:{percent.quantize(Decimal('0.01'))}"


def lpp_reference(ltps: Sequence[Decimal]) -> Decimal:
    return sum(ltps, Decimal(0)) / len(ltps)


def lpp_band(ins: Instrument, reference: Decimal) -> tuple[Decimal, Decimal] | None:
    """The LPP range around a reference price, or None where there is no LPP (cash)."""
    if not is_derivative(ins):
        return None
    if is_option(ins):
        width = reference * Decimal("0.4") if reference > 50 else Decimal(20)
    else:
        width = reference * Decimal("0.03")
    return reference - width, reference + width


def outside_lpp(ins: Instrument, side: Side, price: Decimal, reference: Decimal) -> bool:
    band = lpp_band(ins, reference)
    if band is None:
        return False
    low, high = band
    return price > high if side is Side.BUY else price < low
