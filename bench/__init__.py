"""Benchmarks: ``python -m bench [--quick] [--markdown]`` (issue 6; charts: issue 15).

Each part is a module with ``run(quick: bool) -> dict`` returning plain JSON-able figures;
``bench.__main__`` runs them in ``PARTS`` order, prints the table (``bench.report``) and
writes ``bench/results.json``. A part that cannot be measured yet raises ``NotMeasured``:
its row says so and results.json records ``null``. Figures are quoted against a baseline
measured in the same run, since the machines are noisy. Benchmarks are not tests: ``make
test`` only runs the quick smoke run. Single-threaded; run from the repository root.
"""

from __future__ import annotations

PARTS: tuple[str, ...] = ("parse", "engine", "latency", "scale", "storage", "backtest",
                          "charts", "redis", "optimize")  # charts: issue 15; redis: issue 16;
# optimize: issue 17


class NotMeasured(Exception):
    """Raised by a part's ``run`` when it cannot measure yet; the message says why."""
