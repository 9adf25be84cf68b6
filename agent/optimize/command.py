"""``python bot.py optimize``: the command line of a parameter search (main thread).

    python bot.py optimize --ticks F --config C --grid KEY=a:b:step --grid KEY=v1,v2,...
        [--by METRIC] [--jobs N] [--split DATE|FRACTION] [--out DIR] [--json] [--top N]
        [--search grid|optuna] [--trials N] [--seed S] [--quiet]

Everything is checked before the first backtest: the config, every grid value (through the
config loader), ``--split`` against the file's days, ``--out``. The table (or, with
``--json``, one JSON object) goes to stdout, progress to stderr; ``--out DIR`` writes
``optimize.json`` and, for two grid keys, ``heatmap.png``. Exit 0 when at least one run
worked (the failed ones are listed with their parameters), 1 on bad input or when every
run failed, 130 on Ctrl-C or SIGTERM (the workers are terminated).
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from agent.optimize.grid import ConfigBase, GridError, check_combinations, parse_grid
from agent.optimize.metrics import Metric, ranked
from agent.optimize.output import Report, heatmap_png, report_json, write_table
from agent.optimize.runner import (
    Progress,
    Workers,
    prepare_cache,
    quiet_repeats,
    usable_cores,
)
from agent.optimize.search import grid_search, optuna_search
from agent.optimize.split import Split, SplitError, file_days, parse_split, split_days


@dataclass(frozen=True, slots=True)
class Options:
    ticks: Path
    config: Path
    schedules: Path
    grid: list[str]
    by: Metric = Metric.NET_PNL
    jobs: int | None = None
    split: str | None = None
    out: Path | None = None
    as_json: bool = False
    top: int = 20
    search: str = "grid"
    trials: int = 50
    seed: int | None = None
    quiet: bool = False


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def optimize_command(opts: Options) -> int:
    """0, or 1 after one line (or the config's problems) on stderr; 130 on Ctrl-C or
    SIGTERM."""
    from agent.adapters.replay import TickFileError
    from agent.backtest import chart_dir_problem
    from agent.config import ConfigError

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    quiet_repeats()
    try:
        axes = parse_grid(opts.grid)
        if opts.search == "optuna":
            import optuna  # noqa: F401  (missing: said before anything runs)
        base = ConfigBase.load(opts.config, opts.schedules)
        check_combinations(base, axes)
    except GridError as exc:
        return _error(str(exc))
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{len(exc.problems)} problem(s) in the configuration", file=sys.stderr)
        return 1
    except ImportError:
        return _error("--search optuna needs optuna: pip install -r requirements.txt")
    if opts.out is not None and (problem := chart_dir_problem(opts.out)):
        return _error(f"--out {opts.out}: {problem}")
    if not opts.ticks.is_file():
        return _error(f"tick file not found: {opts.ticks}" if not opts.ticks.exists()
                      else f"{opts.ticks}: not a regular file")
    split: Split | None = None
    try:
        if opts.split is not None:
            split = split_days(file_days(opts.ticks), parse_split(opts.split))
            if opts.as_json and not opts.quiet:  # the table says it otherwise
                print(f"split: {split.describe()}", file=sys.stderr)
        prepare_cache(opts.ticks)
    except (SplitError, TickFileError) as exc:
        return _error(str(exc))

    per_run = 1 if split is None else 2
    planned = opts.trials if opts.search == "optuna" else _count(axes)
    jobs = max(1, min(opts.jobs or usable_cores(), planned * per_run))
    progress = Progress(planned * per_run, None if opts.quiet else sys.stderr)
    start = time.perf_counter()
    signal.signal(signal.SIGTERM, _stop)  # as Ctrl-C: the workers are stopped too
    try:
        with Workers(opts.config, opts.schedules, opts.ticks, jobs, base) as workers:
            if opts.search == "optuna":
                runs = optuna_search(workers, axes, split, progress, opts.by, opts.trials,
                                     opts.seed)
            else:
                runs = grid_search(workers, axes, split, progress)
    except KeyboardInterrupt:
        print(f"\ninterrupted: {progress.done} of {progress.total} backtests done; the "
              "workers were stopped", file=sys.stderr)
        return 130
    report = Report(ranked(runs, opts.by), axes, opts.by, opts.search,
                    None if split is None else split.describe(), str(opts.ticks),
                    str(opts.config), time.perf_counter() - start, jobs, opts.seed)
    return _output(report, opts)


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _count(axes: list) -> int:
    total = 1
    for axis in axes:
        total *= len(axis.values)
    return total


def _output(report: Report, opts: Options) -> int:
    data = report_json(report)
    if opts.as_json:
        json.dump(data, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        write_table(report, sys.stdout, opts.top)
    failed = [r for r in report.runs if r.error is not None]
    if failed:
        print(f"{len(failed)} of {len(report.runs)} runs failed (listed "
              f"{'in the JSON' if opts.as_json else 'under the table'})", file=sys.stderr)
    if opts.out is not None:
        try:
            path = opts.out / "optimize.json"
            path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
            print(f"results: {path}", file=sys.stderr)
            if len(report.axes) == 2 and report.search == "grid":
                path = opts.out / "heatmap.png"
                path.write_bytes(heatmap_png(report))
                print(f"heatmap: {path}", file=sys.stderr)
        except OSError as exc:
            return _error(f"--out {opts.out}: cannot write: {exc.strerror or exc}")
    return 1 if len(failed) == len(report.runs) else 0
