"""``defaults.charges`` in config.yaml: the charge tables a trader keeps up to date.

A list of tables, each with the date it applies from; the latest one not after a trade's
day applies. Given, the list replaces the built-in tables (``agent.charges.DEFAULT_TABLES``,
which config.example.yaml shows in full). Every rate is checked (a finite number in its
range, percentages as published: 0.03 means 0.03 %), every date too; each problem is named
by its key path, e.g. ``defaults.charges[1].futures.stt_pct: expected a number 0..1, got
'x'``. Plain functions; any thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from types import MappingProxyType
from typing import Any

from agent.charges import ChargeTable, Segment, SegmentRates, TaxSide
from agent.config_values import Convert, choice, describe, number, section, text

PCT = number(0, 1)  # STT, exchange and stamp rates: at most 1 % of the value
TABLE_SPEC: Mapping[str, Convert] = {
    "effective_from": lambda v: v,  # checked by ``_date``
    "gst_pct": number(0, 50),
    "sebi_per_crore": number(0, 10_000),
    "source": text,
    **{s.value: lambda v: v for s in Segment},  # checked by ``_segment``
}
SEGMENT_SPEC: Mapping[str, Convert] = {
    "brokerage": number(0, 1_000),  # rupees per executed order (the cap, or flat)
    "brokerage_pct": lambda v: v,  # checked below: null (flat) or 0..5
    "stt_pct": PCT,
    "stt_side": choice([s.value for s in TaxSide], TaxSide),
    "exchange_pct": lambda v: v,  # {NSE: .., BSE: ..}
    "stamp_pct": PCT,
}
MARKETS = ("NSE", "BSE")
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 12, 31)
BROKERAGE_PCT = number(0, 5)


def _date(value: Any) -> date:
    want = f"expected a date YYYY-MM-DD ({FIRST_DAY}..{LAST_DAY})"
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{want}, got {describe(value)}") from None
    if not isinstance(value, date) or not FIRST_DAY <= value <= LAST_DAY:
        raise ValueError(f"{want}, got {describe(value)}")
    return value


def _required(raw: Mapping[str, Any], keys: Any, where: str, problems: list[str]) -> bool:
    missing = [k for k in keys if k not in raw]
    for key in missing:
        problems.append(f"{where}.{key}: required")
    return not missing


def _segment(raw: Any, where: str, problems: list[str]) -> SegmentRates | None:
    before = len(problems)
    values = section(raw, where, SEGMENT_SPEC, problems)
    if not isinstance(raw, Mapping) or not _required(
            raw, [k for k in SEGMENT_SPEC if k != "brokerage_pct"], where, problems):
        return None
    pct = raw.get("brokerage_pct")
    if pct is not None:
        try:
            pct = BROKERAGE_PCT(pct)
        except ValueError as exc:
            problems.append(f"{where}.brokerage_pct: {exc} (or null: flat brokerage)")
    exchange: dict[str, Any] = {}
    rates = raw.get("exchange_pct")
    if not isinstance(rates, Mapping):
        problems.append(f"{where}.exchange_pct: expected a mapping such as {{NSE: 0.00297, "
                        f"BSE: 0.00375}}, got {describe(rates)}")
    else:
        exchange = section(rates, f"{where}.exchange_pct", dict.fromkeys(MARKETS, PCT),
                           problems)
        _required(rates, MARKETS, f"{where}.exchange_pct", problems)
    if len(problems) != before:
        return None
    return SegmentRates(values["brokerage"], pct, values["stt_pct"], values["stt_side"],
                        MappingProxyType(exchange), values["stamp_pct"])


def _table(raw: Any, where: str, problems: list[str]) -> ChargeTable | None:
    before = len(problems)
    values = section(raw, where, TABLE_SPEC, problems)
    if not isinstance(raw, Mapping):
        return None
    _required(raw, [k for k in TABLE_SPEC if k != "source"], where, problems)
    day = None
    if "effective_from" in raw:
        try:
            day = _date(raw["effective_from"])
        except ValueError as exc:
            problems.append(f"{where}.effective_from: {exc}")
    segments = {s: _segment(raw[s.value], f"{where}.{s.value}", problems)
                for s in Segment if s.value in raw}
    if len(problems) != before or day is None:
        return None
    return ChargeTable(day, values["gst_pct"], values["sebi_per_crore"],
                       MappingProxyType({s: r for s, r in segments.items() if r is not None}),
                       values.get("source", ""))


def charge_tables(raw: Any, problems: list[str], where: str = "defaults.charges"
                  ) -> tuple[ChargeTable, ...] | None:
    """The tables of ``defaults.charges``, oldest first; None (and ``problems``) when any
    is wrong."""
    if not isinstance(raw, list) or not raw:
        problems.append(f"{where}: expected a list of at least one table, each with "
                        f"effective_from, gst_pct, sebi_per_crore and the segments "
                        f"{', '.join(s.value for s in Segment)}, got {describe(raw)}")
        return None
    before = len(problems)
    tables = [_table(item, f"{where}[{i}]", problems) for i, item in enumerate(raw)]
    seen: dict[date, int] = {}
    for i, table in enumerate(tables):
        if table is None:
            continue
        if table.effective_from in seen:
            problems.append(f"{where}[{i}].effective_from: {table.effective_from} is already "
                            f"{where}[{seen[table.effective_from]}]'s")
        seen.setdefault(table.effective_from, i)
    if len(problems) != before:
        return None
    return tuple(sorted((t for t in tables if t is not None), key=lambda t: t.effective_from))
