"""Benchmark placeholder (issue 6, part 4): the whole of what Kite can stream.

To measure: 9,000 instruments over 3 connections at one tick a second each, for 5
simulated minutes, through the live feed adapter and the engine runner: the inbox depth
stays bounded; CPU share and peak RSS reported; goal RSS < 400 MB. The live adapters are
being finished, so ``run`` raises ``NotMeasured``: the table says "not yet measured (needs
the live adapters)" and results.json records null. Numbers are never made up here.

The contract for the real ``run(quick)``: a dict with ``instruments``, ``connections``,
``simulated_minutes``, ``max_inbox_depth`` (ints), ``cpu_share`` (0..1 of one core) and
``peak_rss_mb`` (float); ``bench.report`` shows these keys.
"""

from __future__ import annotations

from typing import Any

from bench import NotMeasured


def run(quick: bool) -> dict[str, Any]:
    """Inbox depth, CPU share and peak RSS under the full feed (not yet measured)."""
    raise NotMeasured("needs the live adapters")
