"""Benchmark placeholder (issue 6, part 3): tick-to-order latency over loopback.

To measure: from a frame leaving the simulated exchange (``agent.sim``) to the order
request reaching it, over loopback, with 3,000 instruments ticking once a second, through
the live feed and broker adapters; goal p99 < 5 ms. Those adapters are being finished, so
``run`` raises ``NotMeasured``: the table says "not yet measured (needs the live adapters)"
and results.json records null. Numbers are never made up here.

The contract for the real ``run(quick)``: a dict with ``instruments`` (int), ``samples``
(int), ``p50_ms``, ``p99_ms`` and ``max_ms`` (floats); ``bench.report`` shows these keys.
"""

from __future__ import annotations

from typing import Any

from bench import NotMeasured


def run(quick: bool) -> dict[str, Any]:
    """p50, p99 and max of frame-out to order-in, in milliseconds (not yet measured)."""
    raise NotMeasured("needs the live adapters")
