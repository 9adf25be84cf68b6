"""The backtests of a search, in worker processes (one backtest at a time each).

``Workers`` is a ``ProcessPoolExecutor`` whose processes read the config once (the
initializer) and then run ``Job``s: one combination's settings through ``run_backtest`` on
the tick file, restricted to a range of days with ``--split``, returning its ``Figures`` (or
the error, so a failing combination is reported with its parameters, never a hang). The
workers ignore Ctrl-C; the parent (main thread) catches it, cancels what has not started
and terminates the workers. ``jobs=1`` runs everything in the calling process instead.
``Progress`` writes a throttled line to stderr as runs finish.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TextIO

from agent.optimize.grid import ConfigBase, Params
from agent.optimize.metrics import Figures, figures

Days = tuple[date, date]


@dataclass(frozen=True, slots=True)
class Job:
    """One backtest: a combination (by its index) on some days (None: the whole file)."""

    index: int
    params: Params
    days: Days | None = None
    part: str = "all"  # "all", or "in" / "out" of sample with --split


@dataclass(frozen=True, slots=True)
class Done:
    job: Job
    figures: Figures | None
    error: str | None = None


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# ------------------------------------------------------------- in a worker process

_BASE: ConfigBase | None = None
_TICKS: Path | None = None


def _start_worker(config: Path, schedules: Path, ticks: Path) -> None:
    """The initializer of each worker process: Ctrl-C is the parent's to handle."""
    global _BASE, _TICKS
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _TICKS = ticks
    _BASE = ConfigBase.load(config, schedules)


def run_job(base: ConfigBase, ticks: Path, job: Job) -> Done:
    """One backtest (any process); an exception is the run's error, one line."""
    from agent.backtest import run_backtest
    from agent.config import ConfigError

    try:
        settings = base.settings(job.params)
        result = run_backtest(settings, ticks, keep_notifications=False, days=job.days)
    except ConfigError as exc:
        return Done(job, None, "; ".join(exc.problems))
    except Exception as exc:  # reported with the parameters by the parent
        return Done(job, None, f"{type(exc).__name__}: {exc}")
    return Done(job, figures(result.trades))


def _worker_job(job: Job) -> Done:
    assert _BASE is not None and _TICKS is not None
    return run_job(_BASE, _TICKS, job)


# ------------------------------------------------------------- in the parent


class Workers:
    """The worker processes of one search (a context manager; main thread)."""

    def __init__(self, config: Path, schedules: Path, ticks: Path, jobs: int,
                 base: ConfigBase) -> None:
        self.jobs = jobs
        self.base = base
        self.ticks = ticks
        self._pool: ProcessPoolExecutor | None = None
        if jobs > 1:
            self._pool = ProcessPoolExecutor(jobs, initializer=_start_worker,
                                             initargs=(config, schedules, ticks))

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        if kind is None:
            self.close()
        else:
            self.terminate()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def terminate(self) -> None:
        """Stop at once: nothing more starts and the running backtests are killed."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(5)

    def run(self, jobs: Sequence[Job]) -> Iterator[Done]:
        """Each job's ``Done`` as it finishes (in this process, in order, with jobs=1)."""
        if self._pool is None:
            for job in jobs:
                yield run_job(self.base, self.ticks, job)
            return
        pending: dict[Future[Done], Job] = {self._pool.submit(_worker_job, j): j
                                            for j in jobs}
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                job = pending.pop(future)
                try:
                    yield future.result()
                except BrokenProcessPool:
                    yield Done(job, None, "a worker process died (out of memory or killed?)")
                except Exception as exc:  # the job could not be sent or returned
                    yield Done(job, None, f"{type(exc).__name__}: {exc}")


class OncePerMessage(logging.Filter):
    """Lets each distinct log message through once (per process): the same warning from
    every backtest of a search (a date without a charge table) is said once, not per run."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[tuple[str, int, str]] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, record.getMessage())
        if key in self.seen:
            return False
        self.seen.add(key)
        return True


def quiet_repeats() -> None:
    """Every root handler says each message once (workers forked later inherit it)."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(OncePerMessage())


def prepare_cache(ticks: Path) -> None:
    """The parsed tick cache beside the file (``agent.tick_cache``, when present), made
    once here so that the workers read it instead of each parsing the CSV."""
    try:
        from agent.tick_cache import ensure_cache  # type: ignore[import-not-found]
    except ImportError:
        return
    ensure_cache(ticks)


def clock_text(seconds: float) -> str:
    """'7s', '1m05s', '2h03m'."""
    s = int(seconds + 0.5)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class Progress:
    """``12/30 done, 1m05s elapsed, ~1m40s left`` on ``out``, at most once per ``every``
    seconds (and always for the last run); main thread."""

    def __init__(self, total: int, out: TextIO | None = None, *, every: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.out = out
        self.every = every
        self.clock = clock
        self.start = clock()
        self.done = 0
        self.failed = 0
        self._shown = self.start

    def step(self, ok: bool = True) -> str | None:
        """One more run finished; the line written, if one was."""
        self.done += 1
        self.failed += not ok
        now = self.clock()
        if self.done < self.total and now - self._shown < self.every:
            return None
        self._shown = now
        spent = now - self.start
        line = f"{self.done}/{self.total} done"
        if self.failed:
            line += f" ({self.failed} failed)"
        line += f", {clock_text(spent)} elapsed"
        if self.done < self.total:
            line += f", ~{clock_text(spent / self.done * (self.total - self.done))} left"
        if self.out is not None:
            print(line, file=self.out, flush=True)
        return line


def stderr_progress(total: int, quiet: bool) -> Progress:
    return Progress(total, None if quiet else sys.stderr)
