"""Benchmark (issue 6, part 4): the whole of what Kite can stream, through the live agent.

``run(quick)`` runs the simulator and the agent in processes of their own
(``bench.live_run``): 9,000 instruments in full mode over 3 ticker connections of 3,000,
each ticking once a second (speed 1, one tick step a second: nothing thinned), for 5
simulated minutes = 5 wall minutes, from 09:19 so the first 5-minute candles complete
inside the window and the default strategy (0.5% breakout, 5-minute candles) trades live
orders through ``KiteBroker``. The agent is the live composition (``bench.live_agent``):
engine thread with state snapshots and candle files, ``KiteFeed``, ``KiteBroker``.

Figures, over the measured window (after the feed is up and a short warm-up):

- ``max_inbox_depth``: ``EngineRunner.max_depth`` (the deepest inbox the engine saw after
  taking an event, over the whole run); ``inbox_depth``: the depth sampled every 0.5 s, and
  its maximum per 30 s (``depth_by_30s``): bounded means it does not grow;
  ``rss_mb_by_30s``: the largest RSS sampled (every 0.5 s) per 30 s;
- ``cpu_share``: the agent process's CPU time (every thread) over the wall time, as a share
  of one core; ``threads_cpu_share`` splits it by thread; the simulator's CPU is its own
  process's and is not in it;
- ``peak_rss_mb``: the agent process's peak resident set (``VmHWM``; goal < 400 MB);
- ``ticks_per_s_received``: ticks the engine got per wall second (the goal is one per
  instrument per second); ``ticks_per_s_sent``: what the simulator streamed;
  ``streamed_seconds`` and ``ticks_per_streamed_second``: the exchange seconds whose frames
  arrived in the window and the ticks per such second (= instruments: nothing thinned);
  ``sim_cpu_share``: the simulator process's CPU over the window (near 1: it was the
  limit, and frames came late, then in bursts);
- ``engine_busy_share``: the engine thread's time on tick batches over the wall time;
  ``frame_to_engine_done_ms``: from a frame leaving the simulator to the engine having
  handled all its ticks: how far behind real time the agent runs.

Quick: 300 instruments over 3 connections of 100 for 4 s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agent.timeutil import IST
from bench.live_agent import AgentPlan, AgentRecord
from bench.live_run import run_live
from bench.live_sim import SimPlan, SimRecord
from bench.live_stats import percentile, spread_ms

START = datetime(2024, 1, 15, 9, 19, tzinfo=IST)  # a Monday; 5-minute candles end at 09:20


@dataclass(frozen=True, slots=True)
class Plan:
    instruments: int
    per_connection: int
    window: float  # wall seconds measured (= simulated seconds at speed 1)
    warmup: float


FULL = Plan(9_000, 3_000, 300.0, 5.0)
QUICK = Plan(300, 100, 4.0, 0.5)


def _in(window: tuple[float, float], t: float) -> bool:
    return window[0] <= t <= window[1]


def _frame_lag(sim: SimRecord, agent: AgentRecord) -> list[float]:
    """Per batch in the window: engine done minus its frame's send (same second, the latest
    frame sent before the batch was received)."""
    sent: dict[int, list[float]] = {}
    for at, _conn, second, _packets in sim.frames:
        sent.setdefault(second, []).append(at)
    out = []
    for received, _put, _start, end, _n, second in agent.batches:
        if second < 0 or not _in(agent.window, received):
            continue
        frame = max((s for s in sent.get(second, ()) if s <= received), default=None)
        if frame is not None:
            out.append(end - frame)
    return out


def summarize(sim: SimRecord, agent: AgentRecord, plan: Plan) -> dict[str, Any]:
    window = agent.window
    wall = window[1] - window[0]
    depths = [d for _at, d, _rss in agent.samples]
    by_30s: dict[int, tuple[int, float]] = {}
    for at, depth, rss in agent.samples:
        slot = int((at - window[0]) // 30)
        deepest, fattest = by_30s.get(slot, (0, 0.0))
        by_30s[slot] = (max(deepest, depth), max(fattest, rss))
    batches = [b for b in agent.batches if _in(window, b[0])]
    received = sum(b[4] for b in batches)
    streamed = {b[5] for b in batches if b[5] >= 0}  # exchange seconds that arrived
    sent = sum(p for at, _c, second, p in sim.frames if second >= 0 and _in(window, at))
    busy = sum(b[3] - b[2] for b in batches)
    minutes = wall / 60
    return {
        "instruments": plan.instruments,
        "connections": -(-plan.instruments // plan.per_connection),
        "simulated_minutes": int(minutes) if round(minutes, 2).is_integer()
        else round(minutes, 2),
        "max_inbox_depth": agent.max_depth,
        "cpu_share": round(agent.cpu_seconds / wall, 3),
        "peak_rss_mb": round(agent.peak_rss_mb, 1),
        "rss_at_start_mb": round(agent.rss_at_start_mb, 1),
        "rss_at_end_mb": round(agent.rss_at_end_mb, 1),
        "inbox_depth": {"p50": percentile(depths, 50) if depths else None,
                        "p99": percentile(depths, 99) if depths else None,
                        "max": max(depths, default=None), "samples": len(depths)},
        "depth_by_30s": [by_30s[k][0] for k in sorted(by_30s)],
        "rss_mb_by_30s": [round(by_30s[k][1]) for k in sorted(by_30s)],
        "state_file_mb": round(agent.state_file_mb, 1),
        "ticks_per_s_expected": plan.instruments,
        "ticks_per_s_received": round(received / wall),
        "ticks_per_s_sent": round(sent / wall),
        "streamed_seconds": len(streamed),
        "ticks_per_streamed_second": round(sum(b[4] for b in batches if b[5] >= 0)
                                           / len(streamed)) if streamed else None,
        "engine_busy_share": round(busy / wall, 3),
        "batch_ms": spread_ms([b[3] - b[2] for b in batches]),
        "frame_to_engine_done_ms": spread_ms(_frame_lag(sim, agent)),
        "threads_cpu_share": {k: round(v / wall, 3) for k, v in agent.threads.items()},
        "snapshots_ms": spread_ms([e - s for s, e in agent.snapshots if _in(window, s)]),
        "sim_cpu_share": sim.cpu_share(*window),
        "orders": agent.orders_by_status,
        "feed": agent.feed,
        "window_s": round(wall, 1),
    }


def run(quick: bool) -> dict[str, Any]:
    """Inbox depth, CPU share and peak RSS under the full feed."""
    plan = QUICK if quick else FULL
    sim, agent = run_live(
        SimPlan(plan.instruments, START, 1.0, warm_seconds=int(plan.window + plan.warmup + 90)),
        AgentPlan(plan.instruments, plan.window, warmup=plan.warmup,
                  per_connection=plan.per_connection),
        timeout=plan.window + plan.warmup + 240)
    return summarize(sim, agent, plan)
