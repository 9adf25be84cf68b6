"""Benchmark: a whole session through the backtest, as ``python bot.py backtest`` runs it.

``run(quick)`` writes a tick file with ``agent.synthetic.write_csv`` (100 instruments ticking
every second of a whole session, 09:15 to 15:30: 2,250,000 rows; quick: 5 instruments for
30 minutes) in a temporary directory, outside the timed region, then measures:

- ``wall_s``: ``agent.backtest.run_backtest`` on that file with ``use_cache=False`` (the
  CSV read and parsed, every tick through the engine with the paper broker); best of two
  (quick: one);
- ``build_cache_s``: the first run with the cache (agent/tick_cache.py): it parses the
  CSV in a child process that also writes the cache, while the engine runs;
- ``cached_wall_s``: the runs after it, reading the cache; best of two (quick: one);
- ``e2e_over_engine``: ``cached_wall_s / engine_only_s``, end to end over the engine alone
  (issue 17: within 1.3); ``uncached_over_engine`` the same for ``wall_s``;
- ``parse_only_s``: the same file read through ``TickFile`` alone (every tick made and
  dropped, as the backtest streams them);
- ``engine_only_s``: the file's ticks, parsed beforehand (untimed), through a fresh engine
  (``make_engine``, as ``run_backtest`` builds it), out of the garbage collector's sight.
  A large file is parsed in a child process while the engine runs (agent/adapters/replay.py),
  so the two overlap on two cores: ``overlap_s`` is how much of them ran side by side
  (their sum minus the wall time);
- ``profile``: where the time goes under cProfile on the first 30 minutes of the same
  instruments (quick: the whole quick file), parsed in this process so that the profile sees
  it: the shares of ``TickFile.chunks`` (CSV parsing and checks), of building ``Tick``
  objects from the chunks, and of ``Engine.on_tick``, and the top costs.
- ``memory``: the peak resident set of ``python bot.py backtest --json`` (a process of its
  own, as a user runs it) on tick files of one instrument ticking every second of every
  session for 1, 20 and 200 days in a row (quick: 1 and 5; 200 days is 4.5 million rows,
  about 225 MB), each file written beforehand in a temporary directory. The one-day file
  is the baseline, measured in the same run; ``ratio`` is each file's peak over it (issue
  13: memory is bounded by the number of instruments, not by the length of the file).
  ``main_mb`` is the backtest's own process (``VmHWM``), ``parser_mb`` the child process
  that parses a file of 4 MB or more (``getrusage``; 0 when the file was parsed in the main
  process); ``peak_mb`` the larger of the two. That first run builds the tick cache;
  ``cached_peak_mb`` (and ``cached_ratio``) is a second run, reading it. Measured first,
  while this process is small.

The caller (``python -m bench``) prints the dict; nothing here prints.
"""

from __future__ import annotations

import gc
import json
import math
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from agent.adapters.replay import TickFile
from agent.backtest import (
    BacktestResult,
    make_engine,
    resolve_instruments,
    run_backtest,
    run_ticks,
)
from agent.models import Instrument, Tick
from agent.settings import InstrumentConfig, Settings
from agent.synthetic import (
    SESSION_CLOSE,
    SESSION_OPEN,
    session_ticks,
    synthetic_instruments,
    write_csv,
)
from agent.tick_cache import cache_path
from bench.profiling import cumulative_share, profile, top_costs

DAY = date(2024, 1, 15)  # a Monday
BOT = Path(__file__).resolve().parent.parent / "bot.py"


@dataclass(frozen=True, slots=True)
class Plan:
    instruments: int
    minutes: int  # of the session, from the open
    profile_minutes: int
    repeats: int  # best of this many runs (the machines are shared and noisy)
    memory_days: tuple[int, ...]  # tick files of one instrument; the first is the baseline


FULL = Plan(100, 375, 30, 2, (1, 20, 200))  # 09:15 to 15:30
QUICK = Plan(5, 30, 30, 1, (1, 5))


def settings_for(instruments: list[Instrument]) -> Settings:
    """A backtest config with every instrument inline (token, tick size, lot size)."""
    return Settings(instruments=tuple(
        InstrumentConfig(i.symbol, i.token, i.tick_size, i.lot_size) for i in instruments))


def write_session(instruments: list[Instrument], minutes: int, path: Path) -> int:
    """A tick file of ``minutes`` from the open, every instrument every second."""
    end = datetime.combine(DAY, SESSION_OPEN) + timedelta(minutes=minutes)
    stop = min(end.time(), SESSION_CLOSE) if end.date() == DAY else SESSION_CLOSE
    return write_csv(session_ticks(instruments, DAY, seed=11, every_seconds=1, end=stop,
                                   skip_chance=0.0), path)


def _engine_alone(settings: Settings, ticks: list[Tick]) -> tuple[float, int]:
    """Seconds for ``ticks`` through a fresh engine (end of data included), and its trades."""
    engine = make_engine(settings, resolve_instruments(settings))
    on_tick = engine.on_tick
    gc.collect()
    gc.freeze()  # a million pre-parsed ticks are the benchmark's, not the engine's garbage
    try:
        start = time.perf_counter()
        for tick in ticks:
            on_tick(tick)
        engine.end_of_data()
        seconds = time.perf_counter() - start
    finally:
        gc.unfreeze()
    return seconds, len(engine.all_trades)


def _profile(settings: Settings, path: Path) -> dict[str, Any]:
    instruments = resolve_instruments(settings)
    known = {i.token for i in instruments}

    def job() -> None:  # run_backtest's work, with the file parsed in this process
        run_ticks(make_engine(settings, instruments),
                  TickFile(path, known, parallel_bytes=1 << 62))

    stats = profile(job)
    parsing = cumulative_share(stats, "agent/adapters/replay.py", "chunks")
    return {
        "parsing_share": parsing,
        "ticks_share": round(cumulative_share(stats, "agent/adapters/replay.py", "_ticks")
                             - parsing, 3),
        "engine_share": cumulative_share(stats, "agent/engine.py", "on_tick"),
        "top": top_costs(stats, 12),
    }


def _best(repeats: int, action: Callable[[], object]) -> tuple[float, object]:
    best, out = math.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        out = action()
        best = min(best, time.perf_counter() - start)
    return best, out


def _timings(settings: Settings, path: Path, rows: int, repeats: int) -> dict[str, Any]:
    """The timed figures on one tick file of ``rows`` rows, checked for completeness."""
    wall, result = _best(repeats, lambda: run_backtest(settings, path, use_cache=False))
    assert isinstance(result, BacktestResult)
    cache_path(path).unlink(missing_ok=True)
    build, built = _best(1, lambda: run_backtest(settings, path))
    cached_wall, cached = _best(repeats, lambda: run_backtest(settings, path))
    for run in (result, built, cached):
        assert isinstance(run, BacktestResult)
        if run.bad_count or run.accepted != rows or run.trades != result.trades:
            raise RuntimeError(f"backtest accepted {run.accepted} of {rows} rows "
                               f"({run.bad_count} bad, {len(run.trades)} trades)")
    known = {i.token for i in resolve_instruments(settings)}
    parse_only, parsed = _best(repeats, lambda: sum(1 for _ in TickFile(path, known)))
    if parsed != rows:
        raise RuntimeError(f"TickFile gave {parsed} of {rows} rows")
    gc.disable()  # holding millions of ticks would set off full collections over them
    try:
        ticks = list(TickFile(path, known))
    finally:
        gc.enable()
    engine_only, engine_trades = _engine_alone(settings, ticks)
    if engine_trades != len(result.trades):
        raise RuntimeError(f"the engine alone made {engine_trades} trades, the backtest "
                           f"{len(result.trades)}")
    return {
        "wall_s": round(wall, 2),
        "ticks_per_s": round(rows / wall),
        "trades": len(result.trades),
        "orders": len(result.orders),
        "parse_only_s": round(parse_only, 2),
        "parse_share": round(parse_only / wall, 3),
        "parse_only_ticks_per_s": round(rows / parse_only),
        "engine_only_s": round(engine_only, 2),
        "engine_share": round(engine_only / wall, 3),
        "engine_only_ticks_per_s": round(rows / engine_only),
        "overlap_s": round(max(0.0, parse_only + engine_only - wall), 2),
        "build_cache_s": round(build, 2),
        "cached_wall_s": round(cached_wall, 2),
        "cache_mb": round(cache_path(path).stat().st_size / 1e6, 1),
        "e2e_over_engine": round(cached_wall / engine_only, 2),
        "uncached_over_engine": round(wall / engine_only, 2),
    }


# Runs bot.py (argv[1:]) as its __main__, then prints, as the last line of stderr, the peak
# RSS in KiB of this process (VmHWM: of its own memory since exec, not of the process that
# started it) and of its largest child (the parser, from getrusage).
_RSS_DRIVER = """
import json, resource, runpy, sys
sys.argv = sys.argv[1:]
code = 0
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as exit:
    code = exit.code
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    with open("/proc/self/status", encoding="ascii") as status:
        own = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
except (OSError, StopIteration, ValueError):
    pass
print("RSS " + json.dumps([own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]),
      file=sys.stderr)
sys.exit(code)
"""


def write_days(instrument: Instrument, days: int, path: Path) -> int:
    """A tick file of ``instrument`` ticking every second of ``days`` sessions in a row."""
    ticks = (tick for k in range(days)
             for tick in session_ticks([instrument], DAY + timedelta(days=k), seed=11,
                                       every_seconds=1, skip_chance=0.0))
    return write_csv(ticks, path)


def backtest_rss(ticks: Path, config: Path, bot: Path = BOT) -> dict[str, Any]:
    """``python bot.py backtest --json`` in a process of its own: its peak RSS and its
    parser's, the wall time, and the summary's row counts."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _RSS_DRIVER, str(bot), "backtest",
                           "--ticks", str(ticks), "--config", str(config), "--json"],
                          capture_output=True, text=True, check=False, cwd=bot.parent)
    wall = time.perf_counter() - start
    lines = proc.stderr.splitlines()
    if proc.returncode != 0 or not lines or not lines[-1].startswith("RSS "):
        raise RuntimeError(f"bot.py backtest exited {proc.returncode}: {proc.stderr[-500:]}")
    main_kb, parser_kb = json.loads(lines[-1][4:])
    summary = json.loads(proc.stdout)["summary"]
    return {"main_mb": round(main_kb / 1024, 1), "parser_mb": round(parser_kb / 1024, 1),
            "peak_mb": round(max(main_kb, parser_kb) / 1024, 1), "wall_s": round(wall, 1),
            "trades": summary["trades"], "rows": summary.get("rows")}


def memory(days: tuple[int, ...], bot: Path = BOT) -> dict[str, Any]:
    """Peak RSS of bot.py backtest on one instrument over each number of ``days``; the first
    is the baseline of the ratios."""
    instrument = synthetic_instruments(1)[0]
    out: dict[str, Any] = {"instrument_rows_per_day": 22_500, "files": {}}
    with tempfile.TemporaryDirectory(prefix="bench-backtest-memory-") as tmp:
        config = Path(tmp) / "config.yaml"
        config.write_text(
            "defaults: {interval: 5, percentage: 0.5, trade_side: both, lots: 1}\n"
            f"instruments:\n  - {{symbol: \"{instrument.symbol}\", token: "
            f"{instrument.token}, tick_size: {instrument.tick_size}, lot_size: 1}}\n",
            encoding="utf-8")
        for n in days:
            path = Path(tmp) / f"{n}-days.csv"
            rows = write_days(instrument, n, path)
            file_mb = round(path.stat().st_size / 1e6, 1)
            figures = backtest_rss(path, config, bot)  # builds the tick cache
            cached = backtest_rss(path, config, bot)  # reads it
            figures["cached_peak_mb"] = cached["peak_mb"]
            path.unlink()
            cache_path(path).unlink(missing_ok=True)
            counted = figures.pop("rows")
            if counted is not None and counted["accepted"] != rows:  # None: before issue 13
                raise RuntimeError(f"the backtest accepted {counted['accepted']} of {rows} "
                                   "rows")
            out["files"][str(n)] = {"days": n, "rows": rows, "file_mb": file_mb, **figures}
    base = out["files"][str(days[0])]
    out["baseline_days"] = days[0]
    for figures in out["files"].values():
        figures["ratio"] = round(figures["peak_mb"] / base["peak_mb"], 2)
        figures["cached_ratio"] = round(figures["cached_peak_mb"] / base["cached_peak_mb"], 2)
    return out


def run(quick: bool) -> dict[str, Any]:
    """Wall time of a session's backtest, its split into parsing and engine, a profile, and
    the peak memory of long backtests against a one-day one."""
    plan = QUICK if quick else FULL
    instruments = synthetic_instruments(plan.instruments)
    settings = settings_for(instruments)
    figures = memory(plan.memory_days)  # first: the runs below make this process large
    with tempfile.TemporaryDirectory(prefix="bench-backtest-") as tmp:
        path = Path(tmp) / "session.csv"
        rows = write_session(instruments, plan.minutes, path)
        file_mb = path.stat().st_size / 1e6
        timings = _timings(settings, path, rows, plan.repeats)
        if plan.profile_minutes < plan.minutes:
            path = Path(tmp) / "profile.csv"
            profiled_rows = write_session(instruments, plan.profile_minutes, path)
        else:
            profiled_rows = rows
        profiled = {"rows": profiled_rows, **_profile(settings, path)}
    return {
        "instruments": plan.instruments,
        "session_minutes": plan.minutes,
        "rows": rows,
        "file_mb": round(file_mb, 1),
        **timings,
        "profile": profiled,
        "memory": figures,
    }
