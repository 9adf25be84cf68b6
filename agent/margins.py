"""Funds and margins: Kite's ``margins()`` as typed values, the margin a position blocks
and an entry needs, and Kite's JSON shape of a segment's margins (the simulated exchange
and the paper account both answer in it, so one reader serves all three).

The margin rules are a documented simplification of Zerodha's (the broker decides for
real; these only feed ``/funds`` in paper mode, the simulated exchange and the margin
alert):

- equity (NSE, BSE shares): MIS blocks 20 % of the value (Kite's 5x intraday leverage),
  CNC and NRML 100 %; booked as ``exposure``;
- futures (type FUT, any exchange, MIS or NRML): 15 % of the contract value, SPAN-like:
  12 % ``span`` + 3 % ``exposure``;
- options bought: the premium paid (``option_premium``); options sold: the premium value
  as ``span`` plus 15 % of it as ``exposure`` - far below Kite's SPAN for a short option,
  which needs the underlying's price: no margin alert is raised for a short option
  (``entry_margin`` is None).

Pure functions and frozen values, any thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from agent.models import Instrument, Side

ZERO = Decimal(0)
MIS_LEVERAGE = 5  # Kite's intraday leverage on equity: 20 % margin
EQUITY_MIS_RATE = Decimal(1) / MIS_LEVERAGE
FUTURES_SPAN_RATE = Decimal("0.12")
FUTURES_EXPOSURE_RATE = Decimal("0.03")
SHORT_OPTION_EXPOSURE_RATE = Decimal("0.15")
SEGMENTS = ("equity", "commodity")


@dataclass(frozen=True, slots=True)
class MarginParts:
    """What a position blocks, in Kite's utilised buckets."""

    span: Decimal = ZERO
    exposure: Decimal = ZERO
    option_premium: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.span + self.exposure + self.option_premium

    def __add__(self, other: MarginParts) -> MarginParts:
        return MarginParts(self.span + other.span, self.exposure + other.exposure,
                           self.option_premium + other.option_premium)


def segment_of(ins: Instrument) -> str:
    """Kite's margin segment of an instrument: 'commodity' for MCX, else 'equity'."""
    return "commodity" if ins.exchange in ("MCX", "NCO") else "equity"


def _is_option(ins: Instrument) -> bool:
    return ins.instrument_type in ("CE", "PE") or ins.segment.endswith("-OPT")


def _is_future(ins: Instrument) -> bool:
    return ins.instrument_type == "FUT" or ins.segment.endswith("-FUT")


def position_margin(ins: Instrument, product: str, quantity: int, price: Decimal
                    ) -> MarginParts:
    """The margin an open position of ``quantity`` (signed: + long) blocks at ``price``."""
    if not quantity:
        return MarginParts()
    value = abs(quantity) * price
    if _is_option(ins):
        if quantity > 0:
            return MarginParts(option_premium=value)
        return MarginParts(span=value, exposure=value * SHORT_OPTION_EXPOSURE_RATE)
    if _is_future(ins):
        return MarginParts(span=value * FUTURES_SPAN_RATE,
                           exposure=value * FUTURES_EXPOSURE_RATE)
    rate = EQUITY_MIS_RATE if product == "MIS" else Decimal(1)
    return MarginParts(exposure=value * rate)


def entry_margin(ins: Instrument, product: str, side: Side, quantity: int,
                 price: Decimal | None) -> Decimal | None:
    """The margin an entry of ``quantity`` at about ``price`` needs (``position_margin``
    of the position it opens); None when it cannot be told (no price, a short option)."""
    if price is None or price <= 0 or quantity <= 0:
        return None
    if _is_option(ins) and side is Side.SELL:
        return None
    return position_margin(ins, product, quantity * side.sign, price).total


def _num(value: Decimal) -> float | int:
    """A JSON number as Kite writes it (the simulator's ``shapes.num`` rule)."""
    return int(value) if value == value.to_integral_value() else float(value)


def segment_shape(opening: Decimal, realised: Decimal, unrealised: Decimal,
                  parts: MarginParts) -> dict[str, Any]:
    """One segment of Kite's ``GET /user/margins`` (tests/data/kite-mocks/margins.json):
    ``net`` = opening + realised + unrealised - what positions block; ``utilised.debits``
    = what they block plus any loss."""
    blocked = parts.total
    net = opening + realised + unrealised - blocked
    return {
        "enabled": True, "net": _num(net),
        "available": {"adhoc_margin": 0, "cash": _num(opening),
                      "opening_balance": _num(opening), "live_balance": _num(net),
                      "collateral": 0, "intraday_payin": 0},
        "utilised": {"debits": _num(blocked - min(realised + unrealised, ZERO)),
                     "exposure": _num(parts.exposure), "m2m_realised": _num(realised),
                     "m2m_unrealised": _num(unrealised),
                     "option_premium": _num(parts.option_premium), "payout": 0,
                     "span": _num(parts.span), "holding_sales": 0, "turnover": 0,
                     "liquid_collateral": 0, "stock_collateral": 0, "delivery": 0},
    }


@dataclass(frozen=True, slots=True)
class SegmentFunds:
    """One segment of ``margins()``: ``available`` is Kite's ``net`` (what new positions
    may use), ``used`` its ``utilised.debits``, ``opening`` the day's opening balance."""

    segment: str
    available: Decimal
    used: Decimal
    opening: Decimal = ZERO
    exposure: Decimal = ZERO
    span: Decimal = ZERO
    option_premium: Decimal = ZERO
    realised: Decimal = ZERO
    unrealised: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class Funds:
    """The account's funds at ``time``, per segment; ``source`` 'kite' or 'paper'. Also
    an engine event: the live broker posts one after each periodic read."""

    time: datetime
    segments: tuple[SegmentFunds, ...]
    source: str = "kite"

    def segment(self, name: str) -> SegmentFunds | None:
        return next((s for s in self.segments if s.segment == name), None)


def _dec(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{where}: expected a number, got {value!r}")
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValueError(f"{where}: expected a number, got {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"{where}: expected a finite number, got {value!r}")
    return number


def _segment(name: str, data: Mapping[str, Any]) -> SegmentFunds:
    available = data.get("available") or {}
    used = data.get("utilised") or {}
    if not isinstance(available, Mapping) or not isinstance(used, Mapping):
        raise ValueError(f"{name}: available and utilised must be objects")

    def opt(part: Mapping[str, Any], key: str, where: str) -> Decimal:
        return _dec(part[key], f"{name}.{where}.{key}") if key in part else ZERO

    return SegmentFunds(
        segment=name, available=_dec(data.get("net"), f"{name}.net"),
        used=_dec(used.get("debits"), f"{name}.utilised.debits"),
        opening=opt(available, "opening_balance", "available"),
        exposure=opt(used, "exposure", "utilised"), span=opt(used, "span", "utilised"),
        option_premium=opt(used, "option_premium", "utilised"),
        realised=opt(used, "m2m_realised", "utilised"),
        unrealised=opt(used, "m2m_unrealised", "utilised"))


def funds_from_kite(data: Any, at: datetime, source: str = "kite") -> Funds:
    """``KiteConnect.margins()`` (both segments, or one segment's object) as ``Funds``;
    a disabled segment is left out. ValueError naming the field when the shape is not
    Kite's."""
    if not isinstance(data, Mapping):
        raise ValueError(f"margins: expected an object, got {type(data).__name__}")
    if "net" in data:  # one segment's answer (margins("equity"))
        return Funds(at, (_segment("equity", data),), source)
    segments = []
    for name in SEGMENTS:
        part = data.get(name)
        if isinstance(part, Mapping) and part.get("enabled", True):
            segments.append(_segment(name, part))
    if not segments:
        raise ValueError("margins: neither an equity nor a commodity segment")
    return Funds(at, tuple(segments), source)
