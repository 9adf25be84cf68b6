"""The figures of one backtest of a search, and the ranking of the runs.

A ``Figures`` is what a worker process sends back: small and picklable, made from the
backtest's trades by ``agent.journal_stats.stats`` (the journal's definitions: net of
charges; a win is a trade whose net P&L is above zero; profit factor = the net won by the
winning trades over the net lost by the losing ones, infinite without losses, None without
either; max drawdown = the largest fall of the cumulative net P&L, trade by trade in exit
order, below its running peak, which starts at 0). Pure; any thread or process.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from agent.journal_stats import INFINITE, stats
from agent.models import Trade


class Metric(StrEnum):
    NET_PNL = "net_pnl"
    GROSS_PNL = "gross_pnl"
    PROFIT_FACTOR = "profit_factor"
    WIN_RATE = "win_rate"
    EXPECTANCY = "expectancy"
    TRADES = "trades"
    MAX_DRAWDOWN = "max_drawdown"

    @property
    def lower_is_better(self) -> bool:
        return self is Metric.MAX_DRAWDOWN


@dataclass(frozen=True, slots=True)
class Figures:
    """One backtest's result in figures (rupees and percent as exact Decimals)."""

    trades: int
    wins: int
    losses: int
    gross_pnl: Decimal
    charges: Decimal
    net_pnl: Decimal
    win_rate: Decimal | None  # percent; None without trades
    profit_factor: Decimal | None  # INFINITE without losses; None without wins or losses
    max_drawdown: Decimal
    expectancy: Decimal | None  # net per trade

    def value(self, metric: Metric) -> Decimal | None:
        return getattr(self, metric.value)


def figures(trades: Iterable[Trade]) -> Figures:
    s = stats(trades)
    return Figures(s.trades, s.wins, s.losses, s.gross, s.charges, s.net, s.win_rate,
                   s.profit_factor, s.max_drawdown, s.expectancy)


@dataclass(frozen=True, slots=True)
class Run:
    """One combination: its parameters, its figures (in-sample, or the whole file), the
    out-of-sample figures with ``--split``, and the error of a run that failed."""

    params: tuple[tuple[str, str], ...]
    figures: Figures | None
    out_of_sample: Figures | None = None
    error: str | None = None


def rank_key(metric: Metric, index: int, run: Run) -> tuple[int, Decimal, int]:
    """Best first: runs with a value, by the metric (higher is better, but a drawdown),
    ties in the order of the combinations; then runs without one (no trades for a profit
    factor or win rate), then failed runs."""
    if run.figures is None:
        return (2, Decimal(0), index)
    value = run.figures.value(metric)
    if value is None:
        return (1, Decimal(0), index)
    return (0, value if metric.lower_is_better else -value, index)


def ranked(runs: Sequence[Run], metric: Metric) -> list[Run]:
    """``runs`` (in the order of the combinations) sorted best first by ``metric``."""
    order = sorted(range(len(runs)), key=lambda i: rank_key(metric, i, runs[i]))
    return [runs[i] for i in order]


def text(value: Decimal | int | None, metric: Metric) -> str:
    """A figure for the table: '+1,234.50', '62.5%', '1.84', '∞', 'n/a'."""
    if value is None:
        return "n/a"
    if isinstance(value, int) or metric is Metric.TRADES:
        return f"{value:,}"
    if value == INFINITE:
        return "∞"
    if metric is Metric.WIN_RATE:
        return f"{value:.1f}%"
    if metric is Metric.PROFIT_FACTOR:
        return f"{value:.2f}"
    if metric is Metric.MAX_DRAWDOWN:
        return f"{value:,.2f}"
    return f"{value:+,.2f}"


def number(value: Decimal | int | None) -> float | int | str | None:
    """A figure for JSON: a number, "inf" for an infinite profit factor, or null."""
    if value is None:
        return None
    if isinstance(value, int):
        return value
    if value == INFINITE:
        return "inf"
    return int(value) if value == value.to_integral_value() else float(round(value, 6))
