"""The two searches: every combination of the grid, or optuna's sampler over the same keys.

Both hand ``Job``s to ``Workers`` and gather one ``Run`` per distinct combination (with
``--split``: its in-sample and out-of-sample backtests). optuna (``--search optuna
--trials N --seed S``) samples each ``--grid`` key: a range ``a:b:step`` on its steps (whole
numbers as integers), a list as a choice. It asks for ``BATCH`` trials at a time (or
``jobs``, when more) and is told their results in that order, so a seed gives the same
trials whatever finishes first, on any machine with up to ``BATCH`` jobs. The
objective is the ranking metric in-sample; a run without a value (no trades) or that failed
is a failed trial. A combination it asks for twice is run once. Main thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from agent.optimize.grid import Axis, Params, combinations
from agent.optimize.metrics import Figures, Metric, Run
from agent.optimize.runner import Done, Job, Progress, Workers
from agent.optimize.split import Split

BATCH = 8  # optuna's trials asked at a time (more with more jobs)


def jobs_of(index: int, params: Params, split: Split | None) -> list[Job]:
    if split is None:
        return [Job(index, params)]
    return [Job(index, params, split.in_sample, "in"),
            Job(index, params, split.out_of_sample, "out")]


def gather(params: Sequence[Params], done: Sequence[Done]) -> list[Run]:
    """One Run per combination (in the order of ``params``) from its jobs' results."""
    parts: dict[tuple[int, str], Done] = {(d.job.index, d.job.part): d for d in done}
    runs = []
    for index, combo in enumerate(params):
        main = parts.get((index, "all")) or parts.get((index, "in"))
        out = parts.get((index, "out"))
        errors = [f"{d.job.part if d.job.part != 'all' else ''} {d.error}".strip()
                  for d in (main, out) if d is not None and d.error is not None]
        if main is None:
            errors.append("not run")
        runs.append(Run(combo, None if main is None else main.figures,
                        None if out is None else out.figures,
                        "; ".join(errors) if errors else None))
    return runs


def grid_search(workers: Workers, axes: Sequence[Axis], split: Split | None,
                progress: Progress) -> list[Run]:
    combos = combinations(axes)
    jobs = [job for i, combo in enumerate(combos) for job in jobs_of(i, combo, split)]
    done = []
    for result in workers.run(jobs):
        done.append(result)
        progress.step(result.error is None)
    return gather(combos, done)


def _distributions(axes: Sequence[Axis]) -> dict[str, Any]:
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    out: dict[str, Any] = {}
    for axis in axes:
        low, high, step = axis.low, axis.high, axis.step
        if low is None or high is None or step is None:
            out[axis.key] = CategoricalDistribution(list(axis.values))
        elif all(v == v.to_integral_value() for v in (low, high, step)):
            top = low + (high - low) // step * step  # optuna wants high on a step
            out[axis.key] = IntDistribution(int(low), int(top), step=int(step))
        else:
            top = low + (high - low) // step * step
            out[axis.key] = FloatDistribution(float(low), float(top), step=float(step))
    return out


def value_text(axis: Axis, value: Any) -> str:
    """optuna's value as the grid's exact text: the nearest step of a range."""
    if axis.step is None or axis.low is None:
        return str(value)
    steps = round((Decimal(str(value)) - axis.low) / axis.step)
    return str(axis.low + steps * axis.step)


def _objective(fig: Figures | None, metric: Metric) -> float | None:
    value = None if fig is None else fig.value(metric)
    return None if value is None else float(value)


def optuna_search(workers: Workers, axes: Sequence[Axis], split: Split | None,
                  progress: Progress, metric: Metric, trials: int, seed: int | None
                  ) -> list[Run]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="minimize" if metric.lower_is_better else "maximize",
        sampler=optuna.samplers.TPESampler(seed=seed))
    distributions = _distributions(axes)
    combos: list[Params] = []
    known: dict[Params, int] = {}
    done: list[Done] = []
    batch = max(BATCH, workers.jobs)
    left = trials
    while left > 0:
        asked = [study.ask(distributions) for _ in range(min(batch, left))]
        left -= len(asked)
        wanted: list[int] = []
        new_jobs: list[Job] = []
        for trial in asked:
            params = tuple((a.key, value_text(a, trial.params[a.key])) for a in axes)
            if params not in known:
                known[params] = len(combos)
                combos.append(params)
                new_jobs += jobs_of(known[params], params, split)
            else:  # asked again: told the same result, not run again
                progress.total -= 1 if split is None else 2
            wanted.append(known[params])
        for result in workers.run(new_jobs):
            done.append(result)
            progress.step(result.error is None)
        runs = gather(combos, done)
        for trial, index in zip(asked, wanted, strict=True):
            run = runs[index]
            value = None if run.error else _objective(run.figures, metric)
            if value is None:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(trial, value)
    return gather(combos, done)
