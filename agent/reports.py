"""The day report: a text summary and PNG charts (the equity curve, and per instrument its
candles with VWAP, alert bands, entries, exits, stop and target: agent/charts.py and
charts_pnl.py), each with a caption saying what it shows. Used by ``backtest --chart
DIR``, the 15:40 day report and the ``/report`` and ``/chart`` commands
(``report_from_views``, ``resample``).

Money is written by ``agent.money`` (₹, lakh/crore); the charts' time axes are IST. Pure
functions on plain data; any thread (a figure per call, so concurrent calls do not share
state). Bad candle or mark data (a record that is not one, an unreadable file) and a chart
that fails are skipped and listed in the report's text by instrument, never by the
server's path (the log has the file): the report is made from the rest.
"""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from agent.charts import candle_chart, candle_title
from agent.charts_pnl import equity_chart, equity_title
from agent.fields import FieldError
from agent.marks import Mark, mark_from_dict
from agent.models import Candle, Trade
from agent.money import money
from agent.serialize import candle_from_dict, trade_from_dict

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Chart:
    name: str  # its file name under ``--chart DIR`` or data/reports/DAY
    caption: str  # what it shows (plain text; never a path)
    png: bytes


@dataclass(frozen=True, slots=True)
class DayReport:
    text: str
    charts: tuple[Chart, ...]


def summary_text(day_label: str, trades: Sequence[Trade]) -> str:
    """A few lines of at most 40 columns (a phone): trades, winners, realized P&L (gross),
    the charges and the net (once there are charges), in total and per symbol, the exits
    by reason."""
    total = sum((t.pnl for t in trades), Decimal(0))
    charges = sum((t.charges for t in trades), Decimal(0))
    wins = sum(1 for t in trades if t.pnl > 0)
    lines = [f"Day report {day_label}",
             f"{_count(len(trades), 'trade')}, {_count(wins, 'winner')}",
             f"realized P&L {money(total)}"]
    if charges:
        lines += _fit(f"charges {money(charges, sign=False)},", f"net P&L {money(total - charges)}")
    per: dict[str, list[Trade]] = {}
    for t in trades:
        per.setdefault(t.symbol, []).append(t)
    for symbol, mine in sorted(per.items()):
        gross = sum((t.pnl for t in mine), Decimal(0))
        paid = sum((t.charges for t in mine), Decimal(0))
        net = f", net {money(gross - paid)}" if paid else ""
        lines += _fit(f"  {symbol}:", f"{_count(len(mine), 'trade')}, {money(gross)}{net}")
    reasons: dict[str, int] = {}
    for t in trades:
        reasons[t.exit_reason] = reasons.get(t.exit_reason, 0) + 1
    if reasons:
        lines += textwrap.wrap("exits: " + ", ".join(f"{k} {v}" for k, v in
                                                     sorted(reasons.items())),
                               WIDTH, initial_indent="  ", subsequent_indent="    ")
    return "\n".join(lines)


WIDTH = 40  # a phone's columns


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _fit(head: str, tail: str) -> list[str]:
    """'head tail' when it fits 40 columns, else the tail on the next line, indented."""
    if len(head) + 1 + len(tail) <= WIDTH:
        return [f"{head} {tail}"]
    return [head, f"    {tail}"]


def usable_candles(read: Any, label: str) -> tuple[list[Candle], list[str]]:
    """The candles of one read candle file (``storage.candles.CandleFileRead``: ``path``,
    ``records``, ``numbers``, ``bad_lines``, ``problem``) and one line per thing skipped,
    named by ``label`` ("NSE:INFY 5-minute candles"; the log names the file): the file
    (unreadable), a line that is not JSON, a record that is not a candle."""
    return _usable(read, label, candle_from_dict)


def usable_marks(read: Any, label: str) -> tuple[list[Mark], list[str]]:
    """The strategy's marks of one read marks file, as ``usable_candles``."""
    return _usable(read, label, mark_from_dict)


def _usable(read: Any, label: str, convert: Any) -> tuple[list[Any], list[str]]:
    if read.problem:
        log.warning("day report: %s (%s) skipped: %s", label, read.path, read.problem)
        return [], [f"{label}: {read.problem}"]
    skipped = [f"{label} line {n}: not a JSON object" for n in read.bad_lines]
    good = []
    for number, record in zip(read.numbers or range(1, len(read.records) + 1), read.records,
                              strict=False):
        try:
            good.append(convert(record))
        except FieldError as exc:
            log.warning("day report: %s line %d skipped: %s", read.path, number, exc)
            skipped.append(f"{label} line {number}: {exc}")
    return good, skipped


def day_report(day_label: str, trades: Sequence[Trade],
               candles: Mapping[str, Sequence[Candle]],
               skipped: Sequence[str] = (),
               marks: Mapping[str, Sequence[Mark]] | None = None) -> DayReport:
    """Text and charts: the equity curve and one chart per symbol that has candles (with
    its ``marks``: alert bands, stop, target). What was skipped (bad candle data, a chart
    that failed) is listed at the end of the text; the report is made from the rest."""
    charts: list[Chart] = []
    problems = list(skipped)
    marks = marks or {}
    try:
        day: date | None = date.fromisoformat(day_label)
    except ValueError:
        day = None
    if trades:
        _chart(charts, problems, f"{day_label}_pnl.png", equity_title(trades, day),
               "the P&L chart", equity_chart, trades, day)
    for symbol, series in sorted(candles.items()):
        if series:
            mine = [t for t in trades if t.symbol == symbol]
            name = symbol.replace(":", "_")
            _chart(charts, problems, f"{day_label}_{name}.png",
                   candle_title(symbol, series, mine), f"the chart of {symbol}",
                   candle_chart, symbol, series, mine, marks.get(symbol, ()))
    text = summary_text(day_label, trades)
    if problems:  # one a line (a path is not cut: it would not fit 40 columns whole)
        shown = problems[:SKIPPED_SHOWN]
        more = len(problems) - len(shown)
        text += "\n  skipped (bad data):\n" + "\n".join(f"  - {p}" for p in shown) + (
            f"\n  and {more} more (see the log)" if more else "")
    return DayReport(text, tuple(charts))


SKIPPED_SHOWN = 5  # lines about skipped data in the report's text


def _chart(charts: list[Chart], problems: list[str], name: str, caption: str, what: str,
           draw: Any, *args: Any) -> None:
    try:
        charts.append(Chart(name, caption, draw(*args)))
    except Exception as exc:  # one chart never stops the report
        log.warning("day report: %s failed", what, exc_info=True)
        problems.append(f"{what} failed ({type(exc).__name__}: {exc})")


def report_from_views(day: date, trade_rows: Sequence[Mapping[str, Any]],
                      instrument_rows: Sequence[Mapping[str, Any]], read: Any,
                      read_marks: Any = None) -> DayReport:
    """The day report from the engine's query data: ``trade_rows`` (``QueryKind.TRADES``),
    ``instrument_rows`` (``QueryKind.STATUS``'s ``instruments``: symbol, token, today's
    interval), ``read(day, token, interval)``, the stored candles
    (``storage.candles.CandleLog.read``), and ``read_marks(day, token)``, the strategy's
    marks (``CandleLog.read_marks``; None: charts without them). Any thread but the
    engine's: it reads files and draws (the 15:40 report and ``/report`` both build it so)."""
    trades = [trade_from_dict(t) for t in trade_rows]
    candles: dict[str, list[Candle]] = {}
    marks: dict[str, list[Mark]] = {}
    skipped: list[str] = []
    for row in instrument_rows:
        symbol, interval = row["symbol"], int(row["settings"]["interval"])
        series, bad = usable_candles(read(day, row["token"], interval),
                                     f"{symbol} {interval}-minute candles")
        candles[symbol] = series
        skipped += bad
        if read_marks is not None and series:
            marks[symbol], bad = usable_marks(read_marks(day, row["token"]),
                                              f"{symbol} chart marks")
            skipped += bad
    return day_report(day.isoformat(), trades, candles, skipped, marks)


def resample(candles: Sequence[Candle], minutes: int, anchor: datetime) -> list[Candle]:
    """``candles`` (in time order, on a grid from ``anchor``, the session open) merged into
    candles of ``minutes`` on the same grid; a bucket starts with its first candle's open.
    ``minutes`` should be a multiple of the candles' own length."""
    step = timedelta(minutes=minutes)
    out: list[Candle] = []
    for c in candles:
        start = anchor + step * ((c.start - anchor) // step)
        last = out[-1] if out else None
        if last is not None and last.start == start:
            last.high, last.low = max(last.high, c.high), min(last.low, c.low)
            last.close = c.close
            last.volume += c.volume
            last.ticks += c.ticks
        else:
            out.append(Candle(c.instrument_token, start, start + step, c.open, c.high, c.low,
                              c.close, c.volume, c.ticks))
    return out


def write_report(report: DayReport, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for chart in report.charts:
        path = out_dir / chart.name
        path.write_bytes(chart.png)
        paths.append(path)
    return paths
