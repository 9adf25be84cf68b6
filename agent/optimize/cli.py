"""The ``optimize`` subcommand's arguments (light: bot.py builds every parser at start)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

METRICS = ("net_pnl", "gross_pnl", "profit_factor", "win_rate", "expectancy", "trades",
           "max_drawdown")  # agent.optimize.metrics.Metric


def _whole(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not text.strip().isascii() or not text.strip().isdigit():
            raise argparse.ArgumentTypeError(f"expected a whole number {low}..{high}, "
                                             f"got {text[:40]!r}")
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected a whole number {low}..{high}, "
                                             f"got {value}")
        return value
    return parse


def add_parser(sub: Any, config_arg: Callable[..., None]) -> None:
    p = sub.add_parser("optimize", help="a parameter search: many backtests of one tick "
                       "file on every core, ranked")
    p.add_argument("--ticks", required=True, help="tick CSV (as for backtest)")
    config_arg(p, required=True)
    p.add_argument("--grid", action="append", required=True, metavar="KEY=a:b:step|v1,v2",
                   help="a key of defaults and its values: an inclusive range "
                   "(percentage=0.3:0.8:0.1) or a list (interval=3,5,15); repeat for more keys")
    p.add_argument("--by", choices=METRICS, default="net_pnl",
                   help="the ranking metric (default: net_pnl; max_drawdown ranks lowest first)")
    p.add_argument("--jobs", type=_whole(1, 1024), default=None, metavar="N",
                   help="worker processes (default: the usable cores; 1 = in this process)")
    p.add_argument("--split", default=None, metavar="DATE|FRACTION",
                   help="rank on the days before DATE (or the first FRACTION of the days) "
                   "and show the same parameters on the rest")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="write optimize.json and, for two grid keys, heatmap.png here")
    p.add_argument("--json", action="store_true", help="print one JSON object, not the table")
    p.add_argument("--top", type=_whole(1, 100_000), default=20, metavar="N",
                   help="rows of the table (default: 20)")
    p.add_argument("--search", choices=("grid", "optuna"), default="grid",
                   help="every combination (default), or optuna's sampler over the ranges")
    p.add_argument("--trials", type=_whole(1, 100_000), default=50, metavar="N",
                   help="optuna's trials (default: 50)")
    p.add_argument("--seed", type=_whole(0, 2**32 - 1), default=None, metavar="S",
                   help="optuna's seed (the same seed, the same trials)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def command_from_args(args: argparse.Namespace) -> int:
    from agent.optimize.command import Options, optimize_command
    from agent.optimize.metrics import Metric

    return optimize_command(Options(
        Path(args.ticks), Path(args.config), Path(args.schedules), list(args.grid),
        Metric(args.by), args.jobs, args.split, args.out, args.json, args.top, args.search,
        args.trials, args.seed, args.quiet))
