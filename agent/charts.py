"""The candle chart of one instrument's day, as PNG bytes.

What it shows: the candles; the VWAP as the strategy computes it (the running sum of
(H + L + C) x V over 3 x the running volume, the mean of (H + L + C) / 3 while no volume
traded: ``agent/strategy/breakout_state.py``); each alert candle's band from the candle to
its clearing, with its trigger edge dashed; the entries (triangles) and exits (crosses)
with their reasons; the stop's path and the target while a position was open (from the
day's marks, ``agent/marks.py``); a legend; a title with the day's result for the symbol.

The x axis is the candle index, not wall time: candle i spans i - 0.5 .. i + 0.5, so a
break in trading (another exchange's lunch hour, a late start) leaves no gap; a dotted line
marks where time jumps. Ticks are IST hours and minutes. Each chart is a figure of its own
(matplotlib's Agg canvas, no pyplot, no display): pure, any thread. The equity and journal
charts are in ``agent/charts_pnl.py``.
"""

from __future__ import annotations

import io
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from agent.marks import Mark, MarkKind
from agent.models import Candle, Side
from agent.money import money
from agent.timeutil import IST

DPI = 100
UP, DOWN = "#26a269", "#c01c28"  # candle and profit colours (green, red)


@dataclass(frozen=True, slots=True)
class ChartSize:
    """A chart's size in pixels (the PNG's width and height exactly)."""

    width: int
    height: int


CANDLE_SIZE = ChartSize(1280, 720)


def net_of(trade: Any) -> Decimal:
    """A trade's net P&L (after charges) when it knows it, else its P&L."""
    return getattr(trade, "net_pnl", trade.pnl)


def day_text(day: date) -> str:
    """'7 Dec 2026'."""
    return f"{day.day} {day:%b %Y}"


def count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def figure(size: ChartSize) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(size.width / DPI, size.height / DPI), dpi=DPI)


def rupees(value: float, _pos: Any = None) -> str:
    """An axis tick in rupees: '₹16,000', '-₹2,500.50' (``money``, no '+', no '.00')."""
    return money(Decimal(str(value)), sign=False).removesuffix(".00")


def png(fig: Any) -> bytes:
    """The figure as PNG at exactly its size (no tight bounding box: the size is kept)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


class CandleAxis:
    """Times to x positions on a chart drawn against the candle index: candle i spans
    i - 0.5 .. i + 0.5; a time inside a candle falls in proportion; a time between two
    candles (a break) at the boundary between them; before the first at -0.5, after the
    last at n - 0.5."""

    def __init__(self, candles: Sequence[Candle]) -> None:
        self.starts = [c.start for c in candles]
        self.ends = [c.end for c in candles]

    def x(self, t: datetime) -> float:
        i = bisect_right(self.starts, t) - 1
        if i < 0:
            return -0.5
        start, end = self.starts[i], self.ends[i]
        if t >= end:
            return i + 0.5
        return i - 0.5 + (t - start) / (end - start)

    def breaks(self) -> list[float]:
        """Where time jumps (a candle that does not start where the previous one ended)."""
        return [i + 0.5 for i in range(len(self.starts) - 1)
                if self.starts[i + 1] != self.ends[i]]

    def ticks(self, most: int = 9) -> tuple[list[float], list[str]]:
        """Tick positions (a candle's left edge) and their IST labels: the candles starting
        on a round time, with the smallest step of 15, 30, 60 or 120 minutes that gives at
        most ``most`` of them; the first candle when none does."""
        local = [s.astimezone(IST) for s in self.starts]
        chosen: list[int] = []
        for step in (15, 30, 60, 120, 240):
            chosen = [i for i, s in enumerate(local) if (s.hour * 60 + s.minute) % step == 0]
            if len(chosen) <= most:
                break
        if not chosen and local:
            chosen = [0]
        return [i - 0.5 for i in chosen], [f"{local[i]:%H:%M}" for i in chosen]


def vwap_series(candles: Sequence[Candle]) -> list[Decimal]:
    """The VWAP after each candle, as the strategy computes it on completed candles."""
    out: list[Decimal] = []
    sum_hlcv, sum_v, sum_hlc = Decimal(0), 0, Decimal(0)
    for n, c in enumerate(candles, start=1):
        hlc = c.high + c.low + c.close
        sum_hlcv += hlc * c.volume
        sum_v += c.volume
        sum_hlc += hlc
        out.append(sum_hlcv / (3 * sum_v) if sum_v else sum_hlc / (3 * n))
    return out


def candle_title(symbol: str, candles: Sequence[Candle], trades: Sequence[Any]) -> str:
    """'NSE:INFY 5-minute candles, 7 Dec 2026: 3 trades, net +₹1,234.00' (also the
    caption of the chart's photo)."""
    head = symbol
    if candles:
        first = candles[0]
        minutes = int((first.end - first.start).total_seconds() // 60)
        head = f"{symbol} {minutes}-minute candles, {day_text(first.start.astimezone(IST))}"
    if not trades:
        return f"{head}: no trades"
    net = sum((net_of(t) for t in trades), Decimal(0))
    return f"{head}: {count(len(trades), 'trade')}, net {money(net)}"


def candle_chart(symbol: str, candles: Sequence[Candle], trades: Iterable[Any],
                 marks: Iterable[Mark] = (), *, base: Sequence[Candle] | None = None,
                 size: ChartSize = CANDLE_SIZE) -> bytes:
    """The chart of ``symbol``'s day: ``candles`` (in time order), its ``trades`` and its
    ``marks``. ``base``: the candles the strategy saw when ``candles`` were merged to a
    longer interval (/chart SYMBOL 15): the VWAP is theirs."""
    return png(candle_figure(symbol, candles, trades, marks, base=base, size=size))


def candle_figure(symbol: str, candles: Sequence[Candle], trades: Iterable[Any],
                  marks: Iterable[Mark] = (), *, base: Sequence[Candle] | None = None,
                  size: ChartSize = CANDLE_SIZE) -> Any:
    """The candle chart's figure (``candle_chart`` saves it)."""
    trades = sorted(trades, key=lambda t: t.entry_time)
    marks = list(marks)
    fig = figure(size)
    ax = fig.add_subplot(1, 1, 1)
    axis = CandleAxis(candles)
    _candles(ax, candles)
    _vwap(ax, axis, base if base is not None else candles)
    _bands(ax, axis, sorted(marks, key=lambda m: m.time), len(candles))
    for t in trades:
        _trade(ax, axis, t, [m for m in marks if t.entry_time <= m.time <= t.exit_time])
    for x in axis.breaks():
        ax.axvline(x, color="grey", linestyle=":", linewidth=0.8)
    positions, labels = axis.ticks()
    ax.set_xticks(positions, labels)
    ax.set_xlim(-1, max(len(candles), 1))
    ax.set_xlabel("IST (time breaks without trading are left out, dotted)"
                  if axis.breaks() else "IST")
    ax.set_ylabel("price")
    ax.grid(True, alpha=0.25)
    ax.set_title(candle_title(symbol, candles, trades), fontsize=13)
    _legend(ax)
    fig.subplots_adjust(left=0.065, right=0.985, top=0.93, bottom=0.15)  # (tight_layout: slow)
    return fig


def _candles(ax: Any, candles: Sequence[Candle]) -> None:
    from matplotlib.collections import PolyCollection

    if not candles:
        return
    xs = range(len(candles))
    colours = [UP if c.close >= c.open else DOWN for c in candles]
    lows = [float(min(c.open, c.close)) for c in candles]
    span = float(max(c.high for c in candles) - min(c.low for c in candles)) or 1.0
    heights = [max(float(abs(c.close - c.open)), span / 500) for c in candles]
    ax.vlines(xs, [float(c.low) for c in candles], [float(c.high) for c in candles],
              colors=colours, linewidth=1)
    bodies = [((x - 0.3, low), (x - 0.3, low + h), (x + 0.3, low + h), (x + 0.3, low))
              for x, low, h in zip(xs, lows, heights, strict=True)]
    ax.add_collection(PolyCollection(bodies, facecolors=colours, edgecolors=colours,
                                     linewidths=0.5))  # one artist: faster than bars


def _vwap(ax: Any, axis: CandleAxis, candles: Sequence[Candle]) -> None:
    if not candles:
        return
    xs = [axis.x(c.start + (c.end - c.start) / 2) for c in candles]
    ax.plot(xs, [float(v) for v in vwap_series(candles)], color="#1c71d8", linewidth=1.4,
            label="VWAP")


def _bands(ax: Any, axis: CandleAxis, marks: Sequence[Mark], n: int) -> None:
    """Each alert candle's band, from the candle to its clearing (or the day's end)."""
    open_: dict[Side, Mark] = {}

    def close(side: Side, until: float) -> None:
        mark = open_.pop(side, None)
        if mark is None or mark.upper is None or mark.lower is None or mark.candle is None:
            return
        start, armed = axis.x(mark.candle), axis.x(mark.time)
        colour = UP if side is Side.BUY else DOWN
        name = "buy" if side is Side.BUY else "sell"
        ax.fill_between([start, until], float(mark.lower), float(mark.upper), color=colour,
                        alpha=0.12, linewidth=0, label=f"{name} alert band")
        trigger = mark.upper if side is Side.BUY else mark.lower
        ax.hlines(float(trigger), armed, until, colors=colour, linestyles="--",
                  linewidth=0.9, label=f"{name} trigger")

    for mark in marks:
        if mark.kind is MarkKind.ALERT:
            close(mark.side, axis.x(mark.time))
            open_[mark.side] = mark
        elif mark.kind is MarkKind.CLEARED:
            close(mark.side, axis.x(mark.time))
    for side in list(open_):
        close(side, n - 0.5)


def _trade(ax: Any, axis: CandleAxis, t: Any, marks: Sequence[Mark]) -> None:
    """One trade: its entry and exit, the stop's path and the target between them."""
    x0, x1 = axis.x(t.entry_time), axis.x(t.exit_time)
    long = t.side is Side.BUY
    for kind, style, label in ((MarkKind.STOP, "-", "stop"), (MarkKind.TARGET, ":", "target")):
        levels = [m for m in marks if m.kind is kind and m.side is t.side and m.level]
        if levels:
            xs = [max(x0, axis.x(m.time)) for m in levels] + [x1]
            ys = [float(m.level) for m in levels]  # type: ignore[arg-type]
            ax.step(xs, ys + ys[-1:], where="post", color="#e66100" if kind is MarkKind.STOP
                    else "#613583", linestyle=style, linewidth=1.3, label=label)
    won = net_of(t) >= 0
    ax.plot([x0, x1], [float(t.entry_price), float(t.exit_price)], color=UP if won else DOWN,
            linewidth=0.8, alpha=0.7)
    ax.plot([x0], [float(t.entry_price)], marker="^" if long else "v", markersize=9,
            color=UP if long else DOWN, markeredgecolor="black", linestyle="none",
            label="long entry" if long else "short entry")
    ax.plot([x1], [float(t.exit_price)], marker="X", markersize=8, color="black",
            linestyle="none", label="exit")
    # the reasons: an entry's below its marker, an exit's above (a reverse's two apart)
    ax.annotate(t.entry_reason.replace("_", " "), (x0, float(t.entry_price)),
                textcoords="offset points", xytext=(0, -15), ha="center", fontsize=7,
                color="#333333")
    ax.annotate(t.exit_reason.replace("_", " "), (x1, float(t.exit_price)),
                textcoords="offset points", xytext=(0, 8), ha="center", fontsize=7,
                color="#333333")


LEGEND_ORDER = ("VWAP", "buy alert band", "buy trigger", "sell alert band", "sell trigger",
                "long entry", "short entry", "exit", "stop", "target")


def _legend(ax: Any) -> None:
    """One legend entry per kind of thing drawn, in one row below the plot (the candles
    keep the whole frame)."""
    handles, labels = ax.get_legend_handles_labels()
    seen: dict[str, Any] = {}
    for handle, label in zip(handles, labels, strict=True):
        seen.setdefault(label, handle)
    if seen:
        names = sorted(seen, key=LEGEND_ORDER.index)
        ax.legend([seen[n] for n in names], names, loc="upper center", fontsize=8,
                  ncols=len(names), bbox_to_anchor=(0.5, -0.1), frameon=False)
