"""Zerodha's charges on a trade: brokerage, STT, exchange transaction charges, SEBI fee,
stamp duty and GST, per segment, from a dated rate table.

Sources (read 5 Dec 2026):

- zerodha.com/charges, the equity table (brokerage 0.03 % or ₹20 per executed order,
  whichever is lower, for intraday and futures; ₹20 flat per executed order for options;
  GST 18 % on brokerage + SEBI fee + transaction charges; SEBI ₹10 per crore; stamp duty on
  the buy side: delivery 0.015 %, intraday 0.003 %, futures 0.002 %, options 0.003 %).
  Copies of the table as published from 1 Oct 2024 (tradesee.in/stock-brokers/zerodha,
  ipobell.com) and as published after 1 Apr 2026 (proficientequities.com's copy).
- STT: intraday 0.025 % on the sell side, delivery 0.1 % on both sides; futures 0.02 % and
  options 0.1 % of the premium on the sell side from 1 Oct 2024, raised by Budget 2026 to
  0.05 % and 0.15 % for trades on or after 1 Apr 2026 (cleartax.in/s/securities-
  transaction-tax-stt). support.zerodha.com: "STT/CTT charged will be rounded off to the
  nearest rupee".
- Exchange transaction charges: NSE equity 0.00297 %, NSE futures 0.00173 %, NSE options
  0.03503 % of the premium; BSE equity 0.00375 %, BSE futures 0, BSE options 0.0325 % (the
  2024 table). NSE's IPFT levy (₹10 per crore; options ₹50 per crore of premium) "is
  included under exchange transaction charges in the contract note" (support.zerodha.com,
  "What are IPFT charges?"); Zerodha's table after 1 Apr 2026 shows NSE 0.00307 %, 0.00183 %
  and 0.03553 %, exactly those rates plus IPFT. Where the sources differ, the 2024 table
  keeps the rates as then published (without IPFT: a trade then reads about ₹0.02 per ₹2
  lakh of turnover below its contract note) and the 2026 table takes the IPFT-inclusive
  rates Zerodha publishes now.

Rounding, as Zerodha's brokerage calculator does it for a round trip: each executed
order's brokerage to the paisa; over the trade's orders, STT to the rupee (half up),
exchange charges, SEBI fee and stamp duty each to the paisa, GST on those rounded figures to
the paisa. Kite's virtual contract note (agent/charge_book.py) gives unrounded per-order
figures; the trade's total is then rounded to the paisa.

The tables are typed data; the config's ``defaults.charges`` may replace them
(agent/charges_config.py); the latest table whose ``effective_from`` is not after the trade's
day applies. Pure functions; any thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from types import MappingProxyType

from agent.models import Instrument, Side

ZERO = Decimal(0)
PAISA = Decimal("0.01")
RUPEE = Decimal(1)
HUNDRED = Decimal(100)
CRORE = Decimal(10_000_000)
# An instrument's exchange -> the exchange the rate table names (F&O trade on NFO/BFO).
MARKET_OF = MappingProxyType({"NSE": "NSE", "NFO": "NSE", "BSE": "BSE", "BFO": "BSE"})


class Segment(StrEnum):
    EQUITY_INTRADAY = "equity_intraday"
    EQUITY_DELIVERY = "equity_delivery"
    FUTURES = "futures"
    OPTIONS = "options"


class TaxSide(StrEnum):
    """Which orders STT is levied on."""

    SELL = "sell"
    BUY = "buy"
    BOTH = "both"

    def applies(self, side: Side) -> bool:
        return self is TaxSide.BOTH or self.value == side.value.lower()


@dataclass(frozen=True, slots=True)
class SegmentRates:
    """One segment's rates; percentages as published (0.03 means 0.03 %)."""

    brokerage: Decimal  # rupees per executed order: the cap, or the flat fee
    brokerage_pct: Decimal | None  # of the order's value; None: ``brokerage`` flat
    stt_pct: Decimal
    stt_side: TaxSide
    exchange_pct: Mapping[str, Decimal]  # 'NSE', 'BSE' (of the premium for options)
    stamp_pct: Decimal  # on the buy side

    def order_brokerage(self, value: Decimal) -> Decimal:
        """One executed order's brokerage, rounded to the paisa."""
        if self.brokerage_pct is None:
            return self.brokerage
        return min(value * self.brokerage_pct / HUNDRED, self.brokerage).quantize(
            PAISA, ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class ChargeTable:
    """The rates in force from ``effective_from`` (until a later table's date)."""

    effective_from: date
    gst_pct: Decimal
    sebi_per_crore: Decimal
    segments: Mapping[Segment, SegmentRates]
    source: str = ""


@dataclass(frozen=True, slots=True)
class Leg:
    """One executed order of a trade (or the part of it the trade holds): its side, its
    quantity and its value (quantity x average price; the premium for options)."""

    tag: str
    side: Side
    quantity: int
    value: Decimal


@dataclass(frozen=True, slots=True)
class Charges:
    brokerage: Decimal = ZERO
    stt: Decimal = ZERO
    exchange: Decimal = ZERO
    sebi: Decimal = ZERO
    stamp: Decimal = ZERO
    gst: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.brokerage + self.stt + self.exchange + self.sebi + self.stamp + self.gst


def _d(text: str) -> Decimal:
    return Decimal(text)


def _segments(futures_stt: str, options_stt: str, nse: tuple[str, str, str]
              ) -> Mapping[Segment, SegmentRates]:
    equity_nse, futures_nse, options_nse = nse
    exchange = MappingProxyType({"NSE": _d(equity_nse), "BSE": _d("0.00375")})
    return MappingProxyType({
        Segment.EQUITY_INTRADAY: SegmentRates(_d("20"), _d("0.03"), _d("0.025"), TaxSide.SELL,
                                              exchange, _d("0.003")),
        Segment.EQUITY_DELIVERY: SegmentRates(ZERO, None, _d("0.1"), TaxSide.BOTH, exchange,
                                              _d("0.015")),
        Segment.FUTURES: SegmentRates(_d("20"), _d("0.03"), _d(futures_stt), TaxSide.SELL,
                                      MappingProxyType({"NSE": _d(futures_nse), "BSE": ZERO}),
                                      _d("0.002")),
        Segment.OPTIONS: SegmentRates(_d("20"), None, _d(options_stt), TaxSide.SELL,
                                      MappingProxyType({"NSE": _d(options_nse),
                                                        "BSE": _d("0.0325")}), _d("0.003")),
    })


DEFAULT_TABLES: tuple[ChargeTable, ...] = (
    ChargeTable(date(2024, 10, 1), _d("18"), _d("10"),
                _segments("0.02", "0.1", ("0.00297", "0.00173", "0.03503")),
                "zerodha.com/charges as published from 1 Oct 2024"),
    ChargeTable(date(2026, 4, 1), _d("18"), _d("10"),
                _segments("0.05", "0.15", ("0.00307", "0.00183", "0.03553")),
                "zerodha.com/charges after Budget 2026"),
)


def table_for(tables: Sequence[ChargeTable], day: date) -> ChargeTable | None:
    """The latest table whose ``effective_from`` is not after ``day``; None before all."""
    found = None
    for table in tables:
        if table.effective_from <= day and (found is None
                                            or table.effective_from >= found.effective_from):
            found = table
    return found


def segment_of(ins: Instrument, overnight: bool = False) -> Segment | None:
    """The charge segment of a trade in ``ins``: equity intraday, or delivery when the
    position was held ``overnight`` (a CNC buy sold the same day is charged as intraday);
    futures; options. None for exchanges without a table here (MCX, currency)."""
    if ins.exchange in ("NSE", "BSE"):
        return Segment.EQUITY_DELIVERY if overnight else Segment.EQUITY_INTRADAY
    if ins.exchange not in ("NFO", "BFO"):
        return None
    kind, name = ins.instrument_type, ins.tradingsymbol.upper()
    if kind in ("CE", "PE") or ins.segment.endswith("-OPT") or (
            kind != "FUT" and name.endswith(("CE", "PE"))):
        return Segment.OPTIONS
    return Segment.FUTURES


def _paisa(value: Decimal) -> Decimal:
    return value.quantize(PAISA, ROUND_HALF_UP)


def _parts(table: ChargeTable, rates: SegmentRates, market: str, legs: Iterable[Leg]
           ) -> tuple[Decimal, Decimal, Decimal, Decimal, Decimal]:
    """Unrounded sums over ``legs``: brokerage (each order's, rounded), STT, exchange
    charges, SEBI fee, stamp duty."""
    brokerage = stt = exchange = sebi = stamp = ZERO
    ex_rate = rates.exchange_pct.get(market, ZERO)
    for leg in legs:
        value = leg.value
        brokerage += rates.order_brokerage(value)
        if rates.stt_side.applies(leg.side):
            stt += value * rates.stt_pct / HUNDRED
        exchange += value * ex_rate / HUNDRED
        sebi += value * table.sebi_per_crore / CRORE
        if leg.side is Side.BUY:
            stamp += value * rates.stamp_pct / HUNDRED
    return brokerage, stt, exchange, sebi, stamp


def trade_charges(table: ChargeTable, segment: Segment, exchange: str,
                  legs: Iterable[Leg]) -> Charges:
    """The charges of one trade's executed orders, rounded as a contract note does."""
    rates = table.segments[segment]
    brokerage, stt, ex, sebi, stamp = _parts(table, rates, MARKET_OF.get(exchange, exchange),
                                             legs)
    ex, sebi, stamp = _paisa(ex), _paisa(sebi), _paisa(stamp)
    gst = _paisa((brokerage + ex + sebi) * table.gst_pct / HUNDRED)
    return Charges(brokerage, stt.quantize(RUPEE, ROUND_HALF_UP), ex, sebi, stamp, gst)


def order_charges(table: ChargeTable, segment: Segment, exchange: str, leg: Leg) -> Charges:
    """One executed order's charges unrounded (brokerage to the paisa), as Kite's virtual
    contract note states them (the simulated exchange answers with these)."""
    rates = table.segments[segment]
    brokerage, stt, ex, sebi, stamp = _parts(table, rates, MARKET_OF.get(exchange, exchange),
                                             (leg,))
    gst = (brokerage + ex + sebi) * table.gst_pct / HUNDRED
    return Charges(brokerage, stt, ex, sebi, stamp, gst)
