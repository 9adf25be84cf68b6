"""The day report: a text summary and PNG charts (candles with entries and exits, and the
cumulative realized P&L). Used by ``backtest --chart DIR``, the 15:40 day report and the
``/report`` and ``/chart`` commands (``report_from_views``, ``resample``).

Money is written by ``agent.money`` (₹, lakh/crore); the charts' time axes are IST
(matplotlib would draw UTC). Pure functions on plain data; any thread (matplotlib's Agg
backend, no display, and a figure per call, so concurrent calls do not share state).
Bad candle data (a record that is not a candle, an unreadable file) and a chart that fails
are skipped and listed in the report's text: the report is made from the rest.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from agent.fields import FieldError
from agent.models import Candle, Side, Trade
from agent.money import money
from agent.serialize import candle_from_dict, trade_from_dict
from agent.timeutil import IST

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DayReport:
    text: str
    charts: tuple[tuple[str, bytes], ...]  # (file name, PNG bytes)


def summary_text(day_label: str, trades: Sequence[Trade]) -> str:
    """A few lines: trades, winners, realized P&L (gross), the charges and the net, in
    total and per symbol."""
    total = sum((t.pnl for t in trades), Decimal(0))
    charges = sum((t.charges for t in trades), Decimal(0))
    wins = sum(1 for t in trades if t.pnl > 0)
    lines = [f"Day report {day_label}: {len(trades)} trades, {wins} winners, "
             f"realized P&L {money(total)}",
             f"  charges {money(charges, sign=False)}, net P&L {money(total - charges)}"]
    per: dict[str, list[Trade]] = {}
    for t in trades:
        per.setdefault(t.symbol, []).append(t)
    for symbol, mine in sorted(per.items()):
        gross = sum((t.pnl for t in mine), Decimal(0))
        net = sum((t.net_pnl for t in mine), Decimal(0))
        lines.append(f"  {symbol}: {len(mine)} trades, {money(gross)}, net {money(net)}")
    reasons: dict[str, int] = {}
    for t in trades:
        reasons[t.exit_reason] = reasons.get(t.exit_reason, 0) + 1
    if reasons:
        lines.append("  exits: " + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())))
    return "\n".join(lines)


def _figure(width: float = 10.0, height: float = 4.5):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100)


def _ist_axis(ax) -> None:
    """Times on the x axis as IST hours and minutes."""
    from matplotlib.dates import AutoDateLocator, DateFormatter

    ax.xaxis.set_major_locator(AutoDateLocator(tz=IST))
    ax.xaxis.set_major_formatter(DateFormatter("%H:%M", tz=IST))
    ax.set_xlabel("IST")


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def candle_chart(symbol: str, candles: Sequence[Candle], trades: Iterable[Trade]) -> bytes:
    """OHLC bars of one instrument's day with its entries (triangles) and exits (crosses);
    ``symbol`` is the chart's title."""
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    width = 0.0
    if len(candles) > 1:
        width = (candles[1].start - candles[0].start).total_seconds() / 86400 * 0.6
    for c in candles:
        colour = "tab:green" if c.close >= c.open else "tab:red"
        ax.vlines(c.start, float(c.low), float(c.high), colors=colour, linewidth=1)
        ax.add_patch(_body(c, width, colour))
    for t in trades:
        long = t.side is Side.BUY
        ax.plot([t.entry_time], [float(t.entry_price)], marker="^" if long else "v",
                color="tab:blue" if long else "tab:orange", markersize=8)
        ax.plot([t.exit_time], [float(t.exit_price)], marker="x", color="black", markersize=7)
    ax.set_title(symbol)
    ax.grid(True, alpha=0.3)
    if candles:
        ax.set_xlim(candles[0].start, candles[-1].end)
    _ist_axis(ax)
    fig.autofmt_xdate()
    return _png(fig)


def _body(c: Candle, width: float, colour: str):
    from matplotlib.dates import date2num
    from matplotlib.patches import Rectangle

    low, high = sorted((float(c.open), float(c.close)))
    return Rectangle((date2num(c.start) - width / 2, low), width, max(high - low, 1e-9),
                     color=colour)


def pnl_chart(trades: Sequence[Trade]) -> bytes:
    """Cumulative realized P&L over the exits of the day."""
    fig = _figure(height=3.5)
    ax = fig.add_subplot(1, 1, 1)
    ordered = sorted(trades, key=lambda t: t.exit_time)
    running = Decimal(0)
    xs, ys = [], []
    for t in ordered:
        running += t.pnl
        xs.append(t.exit_time)
        ys.append(float(running))
    ax.step(xs, ys, where="post", color="tab:blue")
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_title("cumulative realized P&L (rupees)")
    ax.grid(True, alpha=0.3)
    if xs:
        _ist_axis(ax)
    fig.autofmt_xdate()
    return _png(fig)


def usable_candles(read: Any) -> tuple[list[Candle], list[str]]:
    """The candles of one read candle file (``storage.candles.CandleFileRead``: ``path``,
    ``records``, ``numbers``, ``bad_lines``, ``problem``) and one line per thing skipped:
    the file (unreadable), a line that is not JSON, a record that is not a candle."""
    where = str(read.path)
    if read.problem:
        return [], [f"{where}: {read.problem}"]
    skipped = [f"{where} line {n}: not a JSON object" for n in read.bad_lines]
    candles = []
    for number, record in zip(read.numbers or range(1, len(read.records) + 1), read.records,
                              strict=False):
        try:
            candles.append(candle_from_dict(record))
        except FieldError as exc:
            skipped.append(f"{where} line {number}: {exc}")
    return candles, skipped


def day_report(day_label: str, trades: Sequence[Trade],
               candles: Mapping[str, Sequence[Candle]],
               skipped: Sequence[str] = ()) -> DayReport:
    """Text and charts: the P&L curve and one chart per symbol that has candles. What was
    skipped (bad candle data, a chart that failed) is listed at the end of the text; the
    report is made from the rest."""
    charts: list[tuple[str, bytes]] = []
    problems = list(skipped)
    if trades:
        _chart(charts, problems, f"{day_label}_pnl.png", "the P&L chart", pnl_chart, trades)
    for symbol, series in sorted(candles.items()):
        if series:
            mine = [t for t in trades if t.symbol == symbol]
            name = symbol.replace(":", "_")
            _chart(charts, problems, f"{day_label}_{name}.png", f"the chart of {symbol}",
                   candle_chart, symbol, series, mine)
    text = summary_text(day_label, trades)
    if problems:
        shown = problems[:SKIPPED_SHOWN]
        more = len(problems) - len(shown)
        text += "\n  skipped (bad data): " + "; ".join(shown) + (
            f"; and {more} more (see the log)" if more else "")
    return DayReport(text, tuple(charts))


SKIPPED_SHOWN = 5  # lines about skipped data in the report's text


def _chart(charts: list[tuple[str, bytes]], problems: list[str], name: str, what: str,
           draw: Any, *args: Any) -> None:
    try:
        charts.append((name, draw(*args)))
    except Exception as exc:  # one chart never stops the report
        log.warning("day report: %s failed", what, exc_info=True)
        problems.append(f"{what} failed ({type(exc).__name__}: {exc})")


def report_from_views(day: date, trade_rows: Sequence[Mapping[str, Any]],
                      instrument_rows: Sequence[Mapping[str, Any]], read: Any) -> DayReport:
    """The day report from the engine's query data: ``trade_rows`` (``QueryKind.TRADES``),
    ``instrument_rows`` (``QueryKind.STATUS``'s ``instruments``: symbol, token, today's
    interval) and ``read(day, token, interval)``, the stored candles
    (``storage.candles.CandleLog.read``). Any thread but the engine's: it reads files and
    draws (the 15:40 report and ``/report`` both build it so)."""
    trades = [trade_from_dict(t) for t in trade_rows]
    candles: dict[str, list[Candle]] = {}
    skipped: list[str] = []
    for row in instrument_rows:
        series, bad = usable_candles(read(day, row["token"], row["settings"]["interval"]))
        candles[row["symbol"]] = series
        skipped += bad
    return day_report(day.isoformat(), trades, candles, skipped)


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
    for name, data in report.charts:
        path = out_dir / name
        path.write_bytes(data)
        paths.append(path)
    return paths
