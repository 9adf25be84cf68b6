"""Benchmark: the optimizer's throughput against the same backtests one by one (issue 17).

``run(quick)`` writes a tick file as the backtest benchmark does (``bench.backtest``:
100 instruments ticking every second, here the first 150 minutes of the session, 900,000
rows, so that the part takes about two minutes on two cores; quick: 5 instruments for 30
minutes) in a temporary directory, outside the timed region, then measures a grid of
``percentage`` values (8 combinations; quick: 4):

- ``sequential``: ``run_backtest`` for each combination, one after the other in this
  process (each with its settings from the same config loader the optimizer uses), as a
  trader without the optimizer would run them;
- ``optimizer``: ``python bot.py optimize --grid percentage=... --jobs CORES --json`` as a
  process of its own, start-up, checks and (when present) the tick cache included.

Backtests per minute for each, and the ratio. The optimizer's net P&L of every combination
must equal the one-by-one run's (else the part fails: a fast wrong answer is no answer).
The caller (``python -m bench``) prints the dict; nothing here prints.
"""

from __future__ import annotations

import json
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


FULL = Plan(100, 150, "percentage=0.3:1.0:0.1")  # 8 combinations
QUICK = Plan(5, 30, "percentage=0.3:0.6:0.1")  # 4


def write_config(path: Path, instruments: list[Any]) -> None:
    lines = ["defaults: {interval: 5, percentage: 0.5, trade_side: both, lots: 1}",
             "instruments:"]
    lines += [f'  - {{symbol: "{i.symbol}", token: {i.token}, '
              f"tick_size: {i.tick_size}, lot_size: {i.lot_size}}}" for i in instruments]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def run(quick: bool) -> dict[str, Any]:
    plan = QUICK if quick else FULL
    cores = usable_cores()
    instruments = synthetic_instruments(plan.instruments)
    with tempfile.TemporaryDirectory(prefix="bench-optimize-") as tmp:
        ticks, config = Path(tmp) / "session.csv", Path(tmp) / "config.yaml"
        rows = write_session(instruments, plan.minutes, ticks)
        write_config(config, instruments)
        schedules = BOT.parent / "schedules.yaml"
        base = ConfigBase.load(config, schedules)
        combos = combinations(parse_grid([plan.grid]))

        start = time.perf_counter()
        one_by_one = {}
        for params in combos:
            result = run_backtest(base.settings(params), ticks, keep_notifications=False)
            one_by_one[params[0][1]] = number(figures(result.trades).net_pnl)
        sequential_s = time.perf_counter() - start

        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, str(BOT), "optimize", "--ticks", str(ticks), "--config",
             str(config), "--grid", plan.grid, "--jobs", str(cores), "--json", "--quiet"],
            capture_output=True, text=True, check=False, cwd=BOT.parent)
        optimizer_s = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"bot.py optimize exited {proc.returncode}: "
                               f"{proc.stderr[-500:]}")
        data = json.loads(proc.stdout)
    found = {r["params"]["percentage"]: r["figures"]["net_pnl"] for r in data["runs"]}
    if found != one_by_one:
        raise RuntimeError(f"the optimizer's net P&L differs from the one-by-one runs: "
                           f"{found} != {one_by_one}")
    n = len(combos)
    sequential_rate = n / sequential_s * 60
    optimizer_rate = n / optimizer_s * 60
    best = max(one_by_one.items(), key=lambda kv: Decimal(str(kv[1])))
    return {
        "instruments": plan.instruments, "session_minutes": plan.minutes, "rows": rows,
        "grid": plan.grid, "backtests": n, "jobs": cores,
        "sequential_s": round(sequential_s, 1),
        "sequential_per_min": round(sequential_rate, 2),
        "optimizer_s": round(optimizer_s, 1),
        "optimizer_per_min": round(optimizer_rate, 2),
        "ratio": round(optimizer_rate / sequential_rate, 2),
        "best": {"percentage": best[0], "net_pnl": best[1]},
    }
