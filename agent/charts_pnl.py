"""The money charts, as PNG bytes: the day's equity curve and the journal's days.

- ``equity_chart``: the cumulative net P&L after each exit, in the order the exits
  happened (several exits in one minute: one step each), from ₹0 at the start of the day
  to exactly the day's net at its last point; the drawdown from the running peak shaded.
  Drawn against the exit's rank (x = 1 for the first exit), labelled with its IST time.
- ``journal_chart``: each day's net P&L as a bar (green for a gain, red for a loss) and
  the cumulative net as a line, from the journal's day summaries.

Net is after charges where the trade knows them (``charts.net_of``). Pure, any thread
(one figure per call).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from agent.charts import DOWN, UP, ChartSize, count, day_text, figure, net_of, png, rupees
from agent.money import money
from agent.timeutil import IST

EQUITY_SIZE = ChartSize(1280, 560)
JOURNAL_SIZE = ChartSize(1280, 640)
MOST_LABELS = 14  # x tick labels on either chart


def equity_points(trades: Sequence[Any]) -> list[Decimal]:
    """₹0, then the cumulative net P&L after each exit in exit order (ties keep the given
    order): the last is the sum of the trades' net, exactly."""
    running = Decimal(0)
    out = [running]
    for t in sorted(trades, key=lambda t: t.exit_time):
        running += net_of(t)
        out.append(running)
    return out


def max_drawdown(points: Sequence[Decimal]) -> Decimal:
    """The largest fall from a running peak (₹0 at the start counts as one)."""
    peak, worst = Decimal(0), Decimal(0)
    for p in points:
        peak = max(peak, p)
        worst = max(worst, peak - p)
    return worst


def equity_title(trades: Sequence[Any], day: date | None = None) -> str:
    """'Net P&L through 7 Dec 2026: 10 trades, net +₹1,234.00, max drawdown ₹300.00'."""
    points = equity_points(trades)
    when = day if day is not None else (
        max(t.exit_time for t in trades).astimezone(IST).date() if trades else None)
    head = "Net P&L through the day" if when is None else f"Net P&L through {day_text(when)}"
    return (f"{head}: {count(len(trades), 'trade')}, net {money(points[-1])}, "
            f"max drawdown {money(max_drawdown(points), sign=False)}")


def equity_figure(trades: Sequence[Any], day: date | None = None,
                  size: ChartSize = EQUITY_SIZE) -> Any:
    """The equity chart's figure (``equity_chart`` saves it): its first line is the curve."""
    ordered = sorted(trades, key=lambda t: t.exit_time)
    points = equity_points(ordered)
    ys = [float(p) for p in points]
    xs = list(range(len(points)))
    peaks, top = [], 0.0
    for y in ys:
        top = max(top, y)
        peaks.append(top)
    fig = figure(size)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(xs, ys, color="#1c71d8", marker="o", markersize=4, linewidth=1.6,
            label="cumulative net P&L")
    ax.fill_between(xs, ys, peaks, where=[y < p for y, p in zip(ys, peaks, strict=True)],
                    interpolate=True, color=DOWN, alpha=0.25, linewidth=0, label="drawdown")
    ax.axhline(0, color="grey", linewidth=0.8)
    if len(points) > 1:
        ax.annotate(money(points[-1]), (xs[-1], ys[-1]), textcoords="offset points",
                    xytext=(6, 0), va="center", fontsize=9,
                    color=UP if points[-1] >= 0 else DOWN)
    chosen = _spread(len(ordered))
    ax.set_xticks([0] + [i + 1 for i in chosen], ["start"] + [
        f"{ordered[i].exit_time.astimezone(IST):%H:%M}" for i in chosen])
    ax.yaxis.set_major_formatter(rupees)
    ax.set_xlim(-0.5, len(points) - 0.5 + 0.08 * len(points))
    ax.set_xlabel("exits in order (IST time of each)")
    ax.grid(True, alpha=0.25)
    ax.set_title(equity_title(trades, day), fontsize=13)
    ax.legend(loc="upper left", fontsize=8)
    fig.subplots_adjust(left=0.085, right=0.985, top=0.92, bottom=0.11)
    return fig


def equity_chart(trades: Sequence[Any], day: date | None = None,
                 size: ChartSize = EQUITY_SIZE) -> bytes:
    return png(equity_figure(trades, day, size))


def _spread(n: int, most: int = MOST_LABELS) -> list[int]:
    """At most ``most`` indexes of 0..n-1, evenly spread: the first and the last included."""
    if n <= most:
        return list(range(n))
    step = -(-(n - 1) // (most - 1))
    return [*range(0, n - 1 - step // 2, step), n - 1]


class JournalDay(Protocol):
    """What the journal chart reads of a day's summary (``Journal.days(...)``)."""

    date: date
    trades: Any  # how many (or the trades themselves)
    net: Decimal


def journal_title(days: Sequence[JournalDay]) -> str:
    """'Journal 1 Dec 2026 to 7 Dec 2026: 5 days, 42 trades, net +₹3,210.00'."""
    if not days:
        return "Journal: no days"
    total = sum((d.net for d in days), Decimal(0))
    trades = sum(d.trades if isinstance(d.trades, int) else len(d.trades) for d in days)
    span = day_text(days[0].date) if len(days) == 1 else (
        f"{day_text(days[0].date)} to {day_text(days[-1].date)}")
    return (f"Journal {span}: {count(len(days), 'day')}, {count(trades, 'trade')}, "
            f"net {money(total)}")


def journal_chart(days: Sequence[JournalDay], size: ChartSize = JOURNAL_SIZE) -> bytes:
    """Each day's net P&L (bars) and the cumulative net (line), oldest day first."""
    return png(journal_figure(days, size))


def journal_figure(days: Sequence[JournalDay], size: ChartSize = JOURNAL_SIZE) -> Any:
    """The journal chart's figure (``journal_chart`` saves it)."""
    from matplotlib.patches import Patch

    days = sorted(days, key=lambda d: d.date)
    nets = [float(d.net) for d in days]
    running, cumulative = Decimal(0), []
    for d in days:
        running += d.net
        cumulative.append(float(running))
    fig = figure(size)
    ax = fig.add_subplot(1, 1, 1)
    xs = list(range(len(days)))
    ax.bar(xs, nets, width=0.7, color=[UP if d.net >= 0 else DOWN for d in days])
    curve = ax.plot(xs, cumulative, color="#1c71d8", marker="o", markersize=4,
                    linewidth=1.6)[0]
    ax.axhline(0, color="grey", linewidth=0.8)
    chosen = _spread(len(days))
    ax.set_xticks(chosen, [f"{days[i].date.day} {days[i].date:%b}" for i in chosen])
    ax.set_xlim(-0.7, max(len(days), 1) - 0.3)
    ax.yaxis.set_major_formatter(rupees)
    ax.grid(True, axis="y", alpha=0.25)
    ax.set_title(journal_title(days), fontsize=13)
    ax.legend([Patch(color=UP), Patch(color=DOWN), curve],
              ["a day's net gain", "a day's net loss", "cumulative net P&L"],
              loc="upper left", fontsize=8)
    fig.subplots_adjust(left=0.085, right=0.985, top=0.92, bottom=0.08)
    return fig
