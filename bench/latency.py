"""Benchmark (issue 6, part 3): from a frame leaving the simulated exchange to the order
request reaching it, over loopback, through the live adapters; goal p99 < 5 ms.

``run(quick)`` runs the simulator and the agent in processes of their own
(``bench.live_run``): 3,000 instruments ticking once a second in full mode on one ticker
connection, at speed 1 (a simulated second is a wall second), for ``window`` seconds. The
agent is the live composition (engine thread with state snapshots, ``KiteFeed`` over the
real KiteTicker, ``KiteBroker`` over the real KiteConnect). To make entries frequent,
``ACTIVE`` instruments spread evenly over the frame trade a 0.01% breakout on 1-minute
candles (both sides, no daily cap); the rest need a 30% move, so they never enter but still
go through candles and the strategy on every tick. The simulator starts ten seconds before
a minute so the first candles complete at once.

A sample is an entry the engine submitted while handling a frame's ticks: from the moment
that frame began to leave the simulator (``bench.live_sim``) to the moment the simulator's
``place_order`` handler received the entry (same monotonic clock, both processes). Every
such entry is counted; none is dropped as an outlier. The stages split each sample:
frame to WebSocket message (wire, Twisted/autobahn), parse, inbox to submit (queue and
the engine's work on the frame's earlier ticks), submit to the REST call (the broker's
worker: thread hand-off, calls ahead of it, Kite's 10 orders/s window) and the call to the
handler (kiteconnect/requests, loopback, aiohttp). Samples whose worker had to wait for the
order rate windows, or had another REST call in progress or started ahead of them, are
counted apart; ``clean`` are the others. ``position_in_frame`` is the instrument's tick's
position in the batch the engine handled: the feed hands armed instruments' ticks (a
trigger within 1% of the price) over first, in a batch of their own. Quick: 60 instruments
at speed 10 for 4 s (its first candles complete 10 simulated seconds after the start, so
the agent must connect within one wall second).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from agent.models import TradeSide
from agent.timeutil import IST
from bench.live_agent import AgentPlan, AgentRecord
from bench.live_run import run_live
from bench.live_sim import SimPlan, SimRecord
from bench.live_stats import spread_ms

START = datetime(2024, 1, 15, 9, 29, 50, tzinfo=IST)  # a Monday, 10 s before a minute
# Entries cycle: no trailing (no stop modifications), no reverse, a target one alert range
# away; so order writes stay well inside Kite's windows (10/s, 400/min).
TRIGGER = {"percentage": Decimal("0.01"), "interval": 1, "trade_side": TradeSide.BOTH,
           "max_trades_per_day": 0, "trailing": False, "reverse_on_stop": False,
           "target_multiple": Decimal(1)}
NEVER = {"percentage": Decimal(30)}  # a 30% breakout: never in a session (circuits: 20%)


@dataclass(frozen=True, slots=True)
class Plan:
    instruments: int
    active: int
    speed: float
    window: float  # wall seconds measured
    warmup: float


FULL = Plan(3_000, 150, 1.0, 300.0, 2.0)
QUICK = Plan(60, 60, 10.0, 4.0, 0.5)


@dataclass(frozen=True, slots=True)
class Sample:
    """One frame-triggered entry; times on the shared monotonic clock."""

    tag: str
    sent: float  # the frame began to leave the simulator
    received: float  # the WebSocket handed it to the feed
    put: float  # its TickBatch went on the inbox
    submitted: float  # the engine called KiteBroker.submit
    called: float  # the worker called KiteConnect.place_order
    arrived: float  # the simulator's place_order handler had it
    position: int  # the instrument's tick's index in the frame
    rate_limited: bool
    behind_call: bool

    @property
    def total(self) -> float:
        return self.arrived - self.sent


def match(sim: SimRecord, agent: AgentRecord) -> tuple[list[Sample], int]:
    """The samples, and how many frame-triggered entries could not be matched (no frame of
    their second before they were received, no REST call, or never arrived)."""
    frames: dict[int, list[float]] = {}
    for sent, _conn, second, _packets in sim.frames:
        frames.setdefault(second, []).append(sent)
    arrivals = {tag: at for at, tag, _symbol in sim.orders if tag}
    calls = {}
    for name, tag, start, _end in agent.calls:
        if name == "place" and tag not in calls:
            calls[tag] = start
    out, unmatched = [], 0
    for at, tag, purpose, _reason, _token, batch, second, position in agent.submits:
        if purpose != "ENTRY" or batch is None:
            continue  # not placed while handling a frame (e.g. a chained reverse)
        received, put = batch
        sent = max((s for s in frames.get(second, ()) if s <= received), default=None)
        if sent is None or tag not in calls or tag not in arrivals:
            unmatched += 1
            continue
        called = calls[tag]
        limited = any(at <= w <= called for w in agent.rate_waits)
        behind = any(start < called and end > at and not (name == "place" and t == tag)
                     for name, t, start, end in agent.calls)
        out.append(Sample(tag, sent, received, put, at, called, arrivals[tag], position,
                          limited, behind))
    return out, unmatched


def summarize(samples: list[Sample], sim: SimRecord, agent: AgentRecord, plan: Plan
              ) -> dict[str, Any]:
    window = agent.window[1] - agent.window[0]
    inside = [s for s in samples if agent.window[0] <= s.submitted <= agent.window[1]]
    clean = [s for s in inside if not (s.rate_limited or s.behind_call)]
    total = spread_ms([s.total for s in inside])
    packets = max((p for *_, p in sim.frames), default=0)
    return {
        "instruments": plan.instruments,
        "connections": -(-plan.instruments // 3_000),  # KiteFeed fills 3,000 a connection
        "speed": plan.speed,
        "window_s": round(window, 1),
        "active_instruments": plan.active,
        "strategy": "active: 0.01% breakout on 1-minute candles, both sides, target 1x "
                    "range, no trailing or reverse; others: 30%",
        "samples": len(inside),
        "p50_ms": total["p50_ms"],
        "p99_ms": total["p99_ms"],
        "max_ms": total["max_ms"],
        "unmatched_entries": _unmatched_inside(agent, inside),
        "held_by_rate_limit": sum(s.rate_limited for s in inside),
        "behind_another_call": sum(s.behind_call and not s.rate_limited for s in inside),
        "clean": spread_ms([s.total for s in clean]),
        "stages_ms": {
            "frame_to_websocket": spread_ms([s.received - s.sent for s in inside]),
            "parse": spread_ms([s.put - s.received for s in inside]),
            "inbox_to_submit": spread_ms([s.submitted - s.put for s in inside]),
            "submit_to_rest_call": spread_ms([s.called - s.submitted for s in inside]),
            "rest_call_to_handler": spread_ms([s.arrived - s.called for s in inside]),
        },
        "frame_to_submit_ms": spread_ms([s.submitted - s.sent for s in inside]),
        "submit_to_handler_ms": spread_ms([s.arrived - s.submitted for s in inside]),
        "position_in_frame": {"median": sorted(s.position for s in inside)[len(inside) // 2]
                              if inside else None, "packets": packets},
        "snapshots_ms": spread_ms([e - s for s, e in agent.snapshots
                                   if agent.window[0] <= s <= agent.window[1]]),
        "agent_cpu_share": round(agent.cpu_seconds / window, 3) if window else None,
        "agent_threads_cpu_s": agent.threads,
        "sim_cpu_share": sim.cpu_share(*agent.window),
        "orders": agent.orders_by_status,
        "feed": agent.feed,
    }


def _unmatched_inside(agent: AgentRecord, inside: list[Sample]) -> int:
    """Frame-triggered entries submitted in the window that gave no sample."""
    start, end = agent.window
    tags = {s.tag for s in inside}
    return sum(1 for at, tag, purpose, _r, _t, batch, _s, _p in agent.submits
               if purpose == "ENTRY" and batch is not None and start <= at <= end
               and tag not in tags)


def run(quick: bool) -> dict[str, Any]:
    """p50, p99 and max of frame-out to order-in, in milliseconds, with the stages."""
    plan = QUICK if quick else FULL
    sim, agent = run_live(
        SimPlan(plan.instruments, START, plan.speed,
                warm_seconds=int((plan.window + plan.warmup + 60) * plan.speed)),
        AgentPlan(plan.instruments, plan.window, warmup=plan.warmup, default_params=NEVER,
                  active=plan.active, active_params=TRIGGER),
        timeout=plan.window + plan.warmup + 180)
    samples, _ = match(sim, agent)
    return summarize(samples, sim, agent, plan)
