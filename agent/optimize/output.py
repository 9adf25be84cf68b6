"""A search's results: the ranked table, the JSON object, the heatmap PNG of two keys.

The table and the JSON list the runs best first by the ranking metric (in-sample with
``--split``, the out-of-sample figures beside them). The heatmap is the ranking metric over
the grid of two keys (first key down, second across), each cell annotated; drawn with
matplotlib's Agg canvas (no pyplot), as the other charts. Pure; main thread in practice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, TextIO

from agent.charts import ChartSize, figure, png
from agent.journal_stats import INFINITE
from agent.optimize.grid import Axis
from agent.optimize.metrics import Figures, Metric, Run, number, text

COLUMNS: tuple[tuple[str, Metric], ...] = (
    ("net P&L", Metric.NET_PNL), ("trades", Metric.TRADES), ("win rate", Metric.WIN_RATE),
    ("PF", Metric.PROFIT_FACTOR), ("max DD", Metric.MAX_DRAWDOWN))


@dataclass(frozen=True, slots=True)
class Report:
    """Everything a search has to show (ranked runs, best first)."""

    runs: list[Run]
    axes: list[Axis]
    metric: Metric
    search: str  # "grid" or "optuna"
    split: str | None  # Split.describe(), or None
    ticks: str
    config: str
    seconds: float
    jobs: int
    seed: int | None = None


def _cells(fig: Figures | None) -> list[str]:
    if fig is None:
        return ["-"] * len(COLUMNS)
    return [text(fig.value(m), m) for _, m in COLUMNS]


def write_table(report: Report, out: TextIO, top: int) -> None:
    """The ranked table (at most ``top`` rows), then the failed runs, one line each."""
    split = report.split is not None
    keys = [a.key for a in report.axes]
    head = ["#", *keys, *(f"{n}*" if m is report.metric else n for n, m in COLUMNS)]
    if split:
        head += [f"OOS {n}" for n, _ in COLUMNS]
    rows = [head]
    good = [r for r in report.runs if r.error is None]
    for n, run in enumerate(good[:top], 1):
        row = [str(n), *(v for _, v in run.params), *_cells(run.figures)]
        if split:
            row += _cells(run.out_of_sample)
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    first_figure = 1 + len(keys)
    if split:
        out.write(f"{report.split}; ranked by the in-sample {report.metric.value}, "
                  "OOS = the same parameters out of sample\n")
    for r in rows:
        out.write("  ".join(c.rjust(w) if i == 0 or i >= first_figure else c.ljust(w)
                            for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip())
        out.write("\n")
    if len(good) > top:
        out.write(f"... and {len(good) - top} more (--top N shows more; the JSON has all)\n")
    out.write(f"{len(report.runs)} runs ({report.search}), ranked by {report.metric.value}"
              f"{' (lowest first)' if report.metric.lower_is_better else ''}, "
              f"* = the ranking column; in {report.seconds:.1f} s on {report.jobs} "
              f"process{'es' if report.jobs != 1 else ''}\n")
    failed = [r for r in report.runs if r.error is not None]
    for run in failed:
        params = " ".join(f"{k}={v}" for k, v in run.params)
        out.write(f"failed: {params}: {run.error}\n")


def _figures_json(fig: Figures | None) -> dict[str, Any] | None:
    if fig is None:
        return None
    return {m.value: number(fig.value(m)) for m in Metric} | {
        "wins": fig.wins, "losses": fig.losses, "charges": number(fig.charges)}


def report_json(report: Report) -> dict[str, Any]:
    runs = []
    rank = 0
    for run in report.runs:
        entry: dict[str, Any] = {"params": dict(run.params)}
        if run.error is None:
            rank += 1
            entry["rank"] = rank
        key = "in_sample" if report.split is not None else "figures"
        entry[key] = _figures_json(run.figures)
        if report.split is not None:
            entry["out_of_sample"] = _figures_json(run.out_of_sample)
        entry["error"] = run.error
        runs.append(entry)
    return {
        "ticks": report.ticks, "config": report.config, "search": report.search,
        "seed": report.seed, "by": report.metric.value, "split": report.split,
        "grid": [{"key": a.key, "values": list(a.values)} for a in report.axes],
        "jobs": report.jobs, "seconds": round(report.seconds, 2), "runs": runs,
    }


def heatmap_png(report: Report) -> bytes:
    """The ranking metric over the grid of exactly two keys (in-sample with --split)."""
    y_axis, x_axis = report.axes
    index = {run.params: run for run in report.runs}
    values: list[list[float]] = []
    labels: list[list[str]] = []
    for y in y_axis.values:
        row, row_text = [], []
        for x in x_axis.values:
            run = index.get(((y_axis.key, y), (x_axis.key, x)))
            fig = run.figures if run is not None else None
            value = fig.value(report.metric) if fig is not None else None
            row_text.append("failed" if run is not None and run.error else
                            text(value, report.metric))
            row.append(math.nan if value is None else
                       math.inf if value == INFINITE else float(value))
        values.append(row)
        labels.append(row_text)
    finite = [v for r in values for v in r if math.isfinite(v)]
    top = max(finite, default=1.0)
    shown = [[top if v == math.inf else v for v in r] for r in values]
    cols, rows = len(x_axis.values), len(y_axis.values)
    size = ChartSize(min(1600, max(640, 150 + 80 * cols)), min(1200, max(420, 140 + 42 * rows)))
    fig = figure(size)
    ax = fig.add_subplot()
    cmap = "RdYlGn_r" if report.metric.lower_is_better else "RdYlGn"
    image = ax.imshow(shown, cmap=cmap, aspect="auto", origin="lower")
    for i in range(rows):
        for j in range(cols):
            ax.text(j, i, labels[i][j], ha="center", va="center", fontsize=8)
    ax.set_xticks(range(cols), list(x_axis.values))
    ax.set_yticks(range(rows), list(y_axis.values))
    ax.set_xlabel(x_axis.key)
    ax.set_ylabel(y_axis.key)
    sample = " (in-sample)" if report.split is not None else ""
    ax.set_title(f"{report.metric.value}{sample} by {y_axis.key} and {x_axis.key}",
                 fontsize=11)
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    return png(fig)


def best_params(report: Report) -> dict[str, str] | None:
    good = [r for r in report.runs if r.error is None]
    return dict(good[0].params) if good else None
