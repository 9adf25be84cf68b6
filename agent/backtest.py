"""Backtests: a tick file through the same engine, with a SimClock and the paper broker.

``python bot.py backtest --ticks F --config C [--json] [--chart DIR] [--verbose]
[--no-cache]``. The tick file is parsed once into a columnar cache beside it
(agent/tick_cache.py) that later runs read. A
backtest keeps its state in memory and never touches the data directory; its memory is
bounded by the number of instruments (and the trades it made), not by the length of the
file: ``--chart`` writes each day's charts when the day is over and forgets its candles.
Bad input ends in one line on stderr and exit 1, or in skipped rows named by line, never in
a traceback. Single-threaded.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from agent.adapters.paper import PaperBroker
from agent.adapters.replay import BadRow, TickFileError
from agent.cached_ticks import open_ticks
from agent.clock import SimClock
from agent.engine import Engine
from agent.events import Notification
from agent.instruments import (
    BUNDLED_DUMP,
    InstrumentIndex,
    InstrumentsError,
    load_dump,
    resolve_configured,
)
from agent.marks import Mark
from agent.models import Candle, Instrument, Order, StopMode, Tick, Trade
from agent.settings import Settings
from agent.strategy.base import Strategy
from agent.timeutil import IST

log = logging.getLogger(__name__)


@dataclass
class BacktestResult:
    trades: list[Trade]
    orders: list[Order]
    notifications: list[Notification] = field(default_factory=list)
    bad_rows: list[BadRow] = field(default_factory=list)
    bad_count: int = 0
    rows: int = 0
    accepted: int = 0
    candles: dict[str, list[Candle]] = field(default_factory=dict)  # only when asked
    marks: dict[str, list[Mark]] = field(default_factory=dict)  # with the candles
    stale: int = 0  # rows dropped: older than their instrument's current candle
    outside_session: int = 0  # rows dropped: outside their instrument's session
    charts: list[Path] = field(default_factory=list)  # written by ``chart_dir``


# Called for each dropped row with ``--verbose``: (line number, tick, why).
DroppedHook = Callable[[int, Tick, str], None]


class ChartError(Exception):
    """``--chart DIR`` cannot be created or written; the message is one line."""


def resolve_instruments(settings: Settings) -> list[Instrument]:
    """Inline instruments as given; the others through the configured or bundled dump."""
    path = Path(settings.kite.instruments_file) if settings.kite.instruments_file \
        else BUNDLED_DUMP
    return resolve_configured(settings.instruments, lambda: InstrumentIndex(load_dump(path)))


def make_engine(settings: Settings, instruments: Iterable[Instrument], *,
                notes: list[Notification] | None = None,
                strategy: Strategy | None = None) -> Engine:
    """An engine on a SimClock with the paper broker, as the backtest runs it. Stops are
    synthetic: the strategy's rules (docs/strategy.md) are stated for them. ``strategy``:
    one strategy object for every instrument instead of the configured ones (tests)."""
    clock = SimClock(datetime(2000, 1, 1, tzinfo=IST))
    engine = Engine(settings, instruments, clock=clock, stop_mode=StopMode.SYNTHETIC,
                    notify=notes.append if notes is not None else (lambda n: None),
                    strategy=strategy)

    def price_of(token: int) -> Decimal | None:
        rt = engine.runtimes.get(token)
        return None if rt is None else rt.last_price

    def tick_of(token: int) -> Decimal:
        return engine.runtimes[token].instrument.tick_size

    engine.attach_broker(PaperBroker(price_of, tick_of, engine.now,
                                     settings.defaults.slippage_ticks))
    return engine


def run_ticks(engine: Engine, ticks: Iterable[Tick]) -> None:
    on_tick = engine.on_tick
    feed = getattr(ticks, "feed", None)  # CachedTicks: the same ticks, less overhead
    if feed is not None:
        feed(on_tick)
    else:
        for tick in ticks:
            on_tick(tick)
    engine.end_of_data()


def run_numbered(engine: Engine, numbered: Iterable[tuple[int, Tick]],
                 on_dropped: DroppedHook) -> None:
    """``run_ticks`` on (line, tick) pairs, telling ``on_dropped`` of each tick the engine
    drops as stale or outside the session (docs/strategy.md 8), with why."""
    on_tick = engine.on_tick
    runtimes = engine.runtimes
    for line, tick in numbered:
        rt = runtimes.get(tick.instrument_token)
        if rt is None:
            on_tick(tick)
            continue
        stale, outside, floor, day = rt.stale, rt.outside, rt.series.floor, engine.day
        on_tick(tick)
        if rt.stale != stale:
            on_dropped(line, tick, _stale_why(rt.symbol, tick, floor, day))
        elif rt.outside != outside:
            t = tick.timestamp
            assert t is not None
            opens, closes = engine.session_hours(t.date(), rt.instrument.exchange)
            on_dropped(line, tick, f"outside the session: {rt.symbol} at {t:%Y-%m-%d %H:%M:%S}"
                                   f" is not in {opens:%H:%M:%S}-{closes:%H:%M:%S}")
    engine.end_of_data()


def _stale_why(symbol: str, tick: Tick, floor: datetime | None, day: date | None) -> str:
    t = tick.timestamp
    assert t is not None
    if floor is not None and t.date() == floor.date():
        return (f"stale: {symbol} at {t:%H:%M:%S} is before the start of its current "
                f"candle, {floor:%H:%M:%S}")
    return f"stale: {symbol} at {t:%Y-%m-%d %H:%M:%S} is before the current day, {day}"


class DayCharts:
    """``--chart DIR``: each day's report written once the day is over (its first candle
    of a later day, or the end of data), so only one day's candles are ever held."""

    def __init__(self, out_dir: Path, engine: Engine) -> None:
        self.out_dir = out_dir
        self.engine = engine
        self.day: date | None = None
        self.candles: dict[str, list[Candle]] = {}
        self.marks: dict[str, list[Mark]] = {}  # the day's alert bands, stops, targets
        self.paths: list[Path] = []
        self._seen = 0  # engine.all_trades before this: charted, or of earlier days

    def on_candle(self, ins: Instrument, candle: Candle) -> None:
        day = candle.start.date()
        if day != self.day:
            self.flush()
            self.day = day
        self.candles.setdefault(ins.symbol, []).append(candle)

    def on_mark(self, ins: Instrument, mark: Mark) -> None:
        self.marks.setdefault(ins.symbol, []).append(mark)

    def flush(self) -> None:
        """Write the held day's report (its trades are closed: a backtest ends each day)."""
        if self.day is None or not self.candles:
            return
        from agent.reports import day_report, write_report

        done = self.engine.all_trades[self._seen:]
        self._seen += len(done)
        trades = sorted_trades(t for t in done if t.entry_time.date() == self.day)
        # a mark of the next day (made before its first candle) waits for that day's report
        marks = {s: [m for m in ms if m.time.date() <= self.day] for s, ms in self.marks.items()}
        self.marks = {s: kept for s, ms in self.marks.items()
                      if (kept := [m for m in ms if m.time.date() > self.day])}
        report = day_report(self.day.isoformat(), trades, self.candles, marks=marks)
        self.candles = {}
        try:
            self.paths += write_report(report, self.out_dir)
        except OSError as exc:
            raise ChartError(f"--chart {self.out_dir}: cannot write a chart: "
                             f"{exc.strerror or exc}") from None


def run_backtest(settings: Settings, ticks_path: Path, keep_candles: bool = False, *,
                 chart_dir: Path | None = None, on_dropped: DroppedHook | None = None,
                 keep_notifications: bool = True, use_cache: bool = True,
                 days: tuple[date, date] | None = None) -> BacktestResult:
    """The backtest of one tick file. ``keep_candles``: every candle in the result (for
    ``write_charts``); ``chart_dir``: each day's charts written there as the run goes;
    ``on_dropped``: told of every row dropped as stale or outside the session;
    ``keep_notifications``: the engine's notifications in the result (the command line
    does not print them, so it does not keep them: a few per trade); ``use_cache``: read
    (or build) the tick file's cache (agent/tick_cache.py), else parse it as it is;
    ``days``: only the ticks dated (IST) from the first to the last of these dates reach the
    engine; the others are read and passed over, and not counted as accepted (``bot.py
    optimize --split``)."""
    instruments = resolve_instruments(settings)
    notes: list[Notification] = []
    engine = make_engine(settings, instruments, notes=notes if keep_notifications else None)
    candles: dict[str, list[Candle]] = {}
    charts = DayCharts(chart_dir, engine) if chart_dir is not None else None
    hooks: list[Callable[[Instrument, Candle], None]] = []
    marks: dict[str, list[Mark]] = {}
    marking: list[Callable[[Instrument, Mark], None]] = []
    if keep_candles:
        hooks.append(lambda ins, c: candles.setdefault(ins.symbol, []).append(c))
        marking.append(lambda ins, m: marks.setdefault(ins.symbol, []).append(m))
    if charts is not None:
        hooks.append(charts.on_candle)
        marking.append(charts.on_mark)
    if hooks:
        engine.on_candle = _every(hooks)
        engine.on_mark = _every(marking)
    passed_over = [0]
    if days is not None:  # run_ticks and run_numbered read engine.on_tick once
        engine.on_tick = only_days(engine.on_tick, days, passed_over)  # type: ignore[method-assign]
    source = open_ticks(ticks_path, {i.token for i in instruments}, use_cache=use_cache)
    if on_dropped is None:
        run_ticks(engine, source)
    else:
        run_numbered(engine, source.numbered(), on_dropped)
    if charts is not None:
        charts.flush()
    good = source.rows - source.bad_count - passed_over[0]
    stale = sum(rt.stale for rt in engine.runtimes.values())
    outside = sum(rt.outside for rt in engine.runtimes.values())
    return BacktestResult(sorted_trades(engine.all_trades), list(engine.book.orders.values()),
                          notes, source.bad, source.bad_count, source.rows,
                          good - engine.unknown_ticks - engine.ignored_ticks, candles,
                          marks, stale, outside, charts.paths if charts is not None else [])


def only_days(on_tick: Callable[[Tick], None], days: tuple[date, date],
              passed_over: list[int]) -> Callable[[Tick], None]:
    """``on_tick`` for the ticks dated (IST) ``days[0]`` to ``days[1]``; ``passed_over[0]``
    counts the others."""
    start = datetime.combine(days[0], time.min, IST)
    end = datetime.combine(days[1] + timedelta(days=1), time.min, IST)

    def on_tick_of_days(tick: Tick) -> None:
        t = tick.timestamp
        if t is None or start <= t < end:
            on_tick(tick)
        else:
            passed_over[0] += 1

    return on_tick_of_days


def _every(hooks: list[Callable[[Instrument, Any], None]]
           ) -> Callable[[Instrument, Any], None]:
    """One hook that calls each of ``hooks`` (the only one as it is)."""
    if len(hooks) == 1:
        return hooks[0]

    def every_hook(ins: Instrument, item: Any) -> None:
        for hook in hooks:
            hook(ins, item)

    return every_hook


def sorted_trades(trades: Iterable[Trade]) -> list[Trade]:
    """Ordered by entry time, then symbol, then exit time (the JSON contract)."""
    return sorted(trades, key=lambda t: (t.entry_time, t.symbol, t.exit_time))


def _num(value: Decimal) -> float | int:
    return int(value) if value == value.to_integral_value() else float(value)


def result_json(result: BacktestResult) -> dict[str, Any]:
    trades = [{
        "symbol": t.symbol, "instrument_token": t.instrument_token, "side": t.side.value,
        "quantity": t.quantity, "entry_time": t.entry_time.isoformat(),
        "entry_price": _num(t.entry_price), "entry_reason": t.entry_reason,
        "exit_time": t.exit_time.isoformat(), "exit_price": _num(t.exit_price),
        "exit_reason": t.exit_reason, "pnl": _num(t.pnl),
        "charges": _num(t.charges), "net_pnl": _num(t.net_pnl),
    } for t in result.trades]
    by_symbol: dict[str, dict[str, Any]] = {}
    total = charges = Decimal(0)
    for t in result.trades:
        row = by_symbol.setdefault(t.symbol, {"trades": 0, "realized_pnl": Decimal(0)})
        row["trades"] += 1
        row["realized_pnl"] += t.pnl
        total += t.pnl
        charges += t.charges
    summary = {"trades": len(trades), "realized_pnl": _num(total),
               "charges": _num(charges), "net_pnl": _num(total - charges),
               "by_symbol": {s: {"trades": r["trades"], "realized_pnl": _num(r["realized_pnl"])}
                             for s, r in sorted(by_symbol.items())},
               "rows": row_counts(result)}
    return {"trades": trades, "summary": summary}


def row_counts(result: BacktestResult) -> dict[str, int]:
    """What became of the file's rows (blank lines aside): ``read`` = ``bad`` (skipped) +
    ``stale`` + ``outside_session`` (dropped by the engine) + ``accepted``."""
    return {"read": result.rows, "bad": result.bad_count, "stale": result.stale,
            "outside_session": result.outside_session, "accepted": result.accepted}


def print_table(result: BacktestResult, out: TextIO) -> None:
    head = ("#", "symbol", "side", "qty", "entry time", "entry", "why", "exit time", "exit",
            "why", "P&L", "charges", "net")
    rows = [head]
    for n, t in enumerate(result.trades, 1):
        rows.append((str(n), t.symbol, t.side.value, str(t.quantity),
                     t.entry_time.strftime("%Y-%m-%d %H:%M:%S"), str(t.entry_price),
                     t.entry_reason, t.exit_time.strftime("%H:%M:%S"), str(t.exit_price),
                     t.exit_reason, f"{t.pnl:+,.2f}", f"{t.charges:,.2f}",
                     f"{t.net_pnl:+,.2f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for r in rows:
        out.write("  ".join(c.rjust(w) if i in (0, 3, 5, 8, 10, 11, 12) else c.ljust(w)
                            for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip())
        out.write("\n")
    data = result_json(result)["summary"]
    days: dict[str, list[Trade]] = {}
    for t in result.trades:
        days.setdefault(t.entry_time.date().isoformat(), []).append(t)
    out.write("\nday summary\n")
    for day, trades in sorted(days.items()):
        wins = sum(1 for t in trades if t.pnl > 0)
        gross = sum((t.pnl for t in trades), Decimal(0))
        charges = sum((t.charges for t in trades), Decimal(0))
        out.write(f"  {day}: {len(trades)} trades, {wins} winners, realized P&L "
                  f"{gross:+,.2f}{_net_text(gross, charges)}\n")
    per = {sym: sum((t.charges for t in result.trades if t.symbol == sym), Decimal(0))
           for sym in data["by_symbol"]}
    for sym, row in data["by_symbol"].items():
        gross = Decimal(str(row["realized_pnl"]))
        out.write(f"  {sym}: {row['trades']} trades, realized P&L "
                  f"{gross:+,.2f}{_net_text(gross, per[sym])}\n")
    out.write(f"  total: {data['trades']} trades, realized P&L "
              f"{Decimal(str(data['realized_pnl'])):+,.2f}"
              f"{_net_text(Decimal(str(data['realized_pnl'])), Decimal(str(data['charges'])))}"
              "\n")
    rows = data["rows"]
    out.write(f"  rows: {rows['read']:,} read, {rows['bad']:,} bad (skipped), "
              f"{rows['stale']:,} stale (dropped), {rows['outside_session']:,} outside the "
              f"session (dropped), {rows['accepted']:,} accepted\n")


def _net_text(gross: Decimal, charges: Decimal) -> str:
    """', charges 38.84, net -73.84' after a realized P&L."""
    return f", charges {charges:,.2f}, net {gross - charges:+,.2f}"


def backtest_command(ticks: Path, config: Path, schedules: Path, *, as_json: bool,
                     chart_dir: str | None, verbose: bool = False,
                     use_cache: bool = True) -> int:
    """``bot.py backtest``: 0, or 1 after one line on stderr saying what is wrong."""
    from agent.config import settings_or_report

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    settings = settings_or_report(config, schedules)
    if settings is None:
        return 1
    charts, usable = chart_dir_arg(chart_dir)
    if not usable:
        return 1

    def dropped(line: int, tick: Tick, why: str) -> None:
        print(f"{ticks}:{line}: {why} (dropped)", file=sys.stderr)

    try:
        result = run_backtest(settings, ticks, chart_dir=charts, keep_notifications=False,
                              on_dropped=dropped if verbose else None, use_cache=use_cache)
    except (TickFileError, InstrumentsError, ChartError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug, still not a traceback unless asked for
        if verbose:
            traceback.print_exc(file=sys.stderr)
        print(f"error: the backtest of {ticks} failed: {type(exc).__name__}: {exc} (a bug: "
              "please report it; --verbose shows where)", file=sys.stderr)
        return 1
    if result.bad_count:
        for bad in result.bad_rows:
            print(f"{ticks}:{bad.line}: {bad.message} (skipped)", file=sys.stderr)
        more = result.bad_count - len(result.bad_rows)
        if more > 0:
            print(f"... and {more} more bad rows", file=sys.stderr)
        print(f"skipped {result.bad_count} bad row(s) of {result.rows}", file=sys.stderr)
    if result.stale or result.outside_session:
        print(f"dropped {result.stale} stale and {result.outside_session} outside-the-session "
              f"row(s) of {result.rows}" + ("" if verbose else " (--verbose lists them)"),
              file=sys.stderr)
    if as_json:
        json.dump(result_json(result), sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print_table(result, sys.stdout)
    for path in result.charts:
        print(f"chart: {path}", file=sys.stderr)
    return 0


def chart_dir_arg(chart_dir: str | None) -> tuple[Path | None, bool]:
    """``--chart DIR`` of a command: (the directory or None, whether it can be used); a
    directory that cannot take charts is one ``error:`` line on stderr."""
    charts = Path(chart_dir) if chart_dir else None
    if charts is not None:
        problem = chart_dir_problem(charts)
        if problem:
            print(f"error: --chart {charts}: {problem}", file=sys.stderr)
            return charts, False
    return charts, True


def chart_dir_problem(path: Path) -> str | None:
    """Why ``--chart DIR`` cannot take charts (made here if missing), or None."""
    for parent in [path, *path.parents]:
        if parent.exists() or parent.is_symlink():
            if parent.is_dir():
                break
            what = "a file, not a directory" if parent.is_file() else "not a directory"
            return f"is {what}" if parent == path else f"{parent} is {what}"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot create it: {exc.strerror or exc}"
    if not path.is_dir():
        return "not a directory"
    if not os.access(path, os.W_OK | os.X_OK):
        return "not writable"
    return None


def write_charts(result: BacktestResult, out_dir: Path) -> list[Path]:
    """One day report's charts per date of the data (P&L curve, one chart per symbol), from
    a result made with ``keep_candles``."""
    from agent.reports import day_report, write_report

    days = sorted({c.start.date() for cs in result.candles.values() for c in cs})
    paths: list[Path] = []
    for day in days:
        trades = [t for t in result.trades if t.entry_time.date() == day]
        candles = {s: [c for c in cs if c.start.date() == day]
                   for s, cs in result.candles.items()}
        marks = {s: [m for m in ms if m.time.date() == day] for s, ms in result.marks.items()}
        paths += write_report(day_report(day.isoformat(), trades, candles, marks=marks),
                              out_dir)
    return paths
