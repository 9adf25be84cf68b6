"""Benchmark: the optimizer's throughput against the same backtests one by one (issue 17).

``run(quick)`` writes a tick file as the backtest benchmark does (``bench.backtest``:
100 instruments ticking every second, here the first 90 minutes of the session, 540,000
rows, so that the part takes about two minutes on two cores; quick: 5 instruments for 30
minutes) in a temporary directory, outside the timed region, then measures a grid of
``percentage`` values (8 combinations; quick: 4):

- ``sequential``: ``run_backtest`` for each combination, one after the other in this
  process (each with its settings from the same config loader the optimizer uses), as a
  trader without the optimizer would run them;
- ``optimizer``: ``python bot.py optimize --grid percentage=... --jobs CORES --json`` as a
  process of its own, start-up, checks and (when present) the tick cache included.

Each side reads its own copy of the file, so that each starts without a tick cache beside
it (``agent/tick_cache.py``, when present: the first backtest one by one builds it, the
optimizer's parent builds it before its workers start).

Each twice: ``cold``, the first time (the tick cache, when present, is built on the way),
then ``warm`` (a cache already there: the steady state of a longer search). Backtests per
minute for each, and the ratio. The optimizer's net P&L of every combination
must equal the one-by-one run's (else the part fails: a fast wrong answer is no answer).
The caller (``python -m bench``) prints the dict; nothing here prints.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from agent.backtest import run_backtest
from agent.optimize.grid import ConfigBase, combinations, parse_grid
from agent.optimize.metrics import figures, number
from agent.optimize.runner import usable_cores
from agent.synthetic import synthetic_instruments
from bench.backtest import BOT, write_session


@dataclass(frozen=True, slots=True)
class Plan:
    instruments: int
    minutes: int
    grid: str  # the --grid argument


FULL = Plan(100, 90, "percentage=0.3:1.0:0.1")  # 8 combinations
QUICK = Plan(5, 30, "percentage=0.3:0.6:0.1")  # 4


def write_config(path: Path, instruments: list[Any]) -> None:
    lines = ["defaults: {interval: 5, percentage: 0.5, trade_side: both, lots: 1}",
             "instruments:"]
    lines += [f'  - {{symbol: "{i.symbol}", token: {i.token}, '
              f"tick_size: {i.tick_size}, lot_size: {i.lot_size}}}" for i in instruments]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _one_by_one(base: ConfigBase, combos: list, ticks: Path) -> tuple[float, dict]:
    """Seconds for the backtests in this process, one after the other; net P&L by value."""
    start = time.perf_counter()
    nets = {}
    for params in combos:
        result = run_backtest(base.settings(params), ticks, keep_notifications=False)
        nets[params[0][1]] = number(figures(result.trades).net_pnl)
    return time.perf_counter() - start, nets


def _optimizer(ticks: Path, config: Path, grid: str, jobs: int) -> tuple[float, dict]:
    """Seconds for ``bot.py optimize`` in a process of its own; net P&L by value."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(BOT), "optimize", "--ticks", str(ticks), "--config",
         str(config), "--grid", grid, "--jobs", str(jobs), "--json", "--quiet"],
        capture_output=True, text=True, check=False, cwd=BOT.parent)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"bot.py optimize exited {proc.returncode}: {proc.stderr[-500:]}")
    runs = json.loads(proc.stdout)["runs"]
    return seconds, {r["params"]["percentage"]: r["figures"]["net_pnl"] for r in runs}


def _pair(n: int, sequential_s: float, optimizer_s: float) -> dict[str, float]:
    sequential, optimizer = n / sequential_s * 60, n / optimizer_s * 60
    return {"sequential_s": round(sequential_s, 1), "sequential_per_min": round(sequential, 2),
            "optimizer_s": round(optimizer_s, 1), "optimizer_per_min": round(optimizer, 2),
            "ratio": round(optimizer / sequential, 2)}


def run(quick: bool) -> dict[str, Any]:
    plan = QUICK if quick else FULL
    cores = usable_cores()
    instruments = synthetic_instruments(plan.instruments)
    with tempfile.TemporaryDirectory(prefix="bench-optimize-") as tmp:
        ticks, config = Path(tmp) / "session.csv", Path(tmp) / "config.yaml"
        rows = write_session(instruments, plan.minutes, ticks)
        # the optimizer reads a copy: each side starts without a tick cache beside its file
        (Path(tmp) / "optimizer").mkdir()
        copy = Path(tmp) / "optimizer" / "session.csv"
        shutil.copyfile(ticks, copy)
        write_config(config, instruments)
        base = ConfigBase.load(config, BOT.parent / "schedules.yaml")
        combos = combinations(parse_grid([plan.grid]))
        cold_sequential, one_by_one = _one_by_one(base, combos, ticks)
        cold_optimizer, found = _optimizer(copy, config, plan.grid, cores)
        warm_sequential, again = _one_by_one(base, combos, ticks)
        warm_optimizer, found_again = _optimizer(copy, config, plan.grid, cores)
    if not found == again == found_again == one_by_one:
        raise RuntimeError(f"the optimizer's net P&L differs from the one-by-one runs: "
                           f"{found} != {one_by_one}")
    n = len(combos)
    best = max(one_by_one.items(), key=lambda kv: Decimal(str(kv[1])))
    return {
        "instruments": plan.instruments, "session_minutes": plan.minutes, "rows": rows,
        "grid": plan.grid, "backtests": n, "jobs": cores,
        "cold": _pair(n, cold_sequential, cold_optimizer),
        "warm": _pair(n, warm_sequential, warm_optimizer),
        "best": {"percentage": best[0], "net_pnl": best[1]},
    }
