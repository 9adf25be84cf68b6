"""The agent of the live benchmarks, in a process of its own, with its stamps.

``agent_process(pipe, plan, info)`` is the child's entry (``bench.live_run`` spawns it):
the live composition of ``handlers.runtime.AgentProcess`` without the chat and the day
scheduler: ``Engine`` on an ``EngineRunner`` (with ``EnginePersistence`` snapshots and
candles in a temporary data directory), the real ``KiteConnect`` behind ``KiteBroker``,
the real ``KiteTicker`` behind ``KiteFeed`` (full mode), all against the simulator of
``info`` and on its clock. It waits until the feed is up, lets ``plan.warmup`` seconds
pass, measures for ``plan.seconds``, takes everything down and sends an ``AgentRecord``.
Alone in its process, its CPU time and peak RSS are the agent's own.

The stamps are ``bench.live_hooks``'s.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from agent.adapters.kite_feed import FeedOptions, KiteFeed
from agent.adapters.kite_rest import ORDER_LIMITS
from agent.clock import ScaledClock
from agent.engine import Engine
from agent.runner import THREAD_SWITCH_SECONDS, EngineRunner
from agent.settings import Defaults, InstrumentConfig, Settings, StrategyParams
from bench.live_hooks import RecordingRates, StampedBroker, StampedKite, Stamps
from bench.live_sim import SimInfo, bench_instruments
from bench.threads import ThreadCpu


@dataclass(frozen=True, slots=True)
class AgentPlan:
    instruments: int
    seconds: float  # the measured window
    warmup: float = 0.0  # seconds after the feed is up before the window opens
    per_connection: int = 3_000
    default_params: Mapping[str, Any] = field(default_factory=dict)  # StrategyParams keys
    active: int = 0  # this many instruments, evenly spread, get ``active_params`` on top
    active_params: Mapping[str, Any] = field(default_factory=dict)
    sample_every: float = 0.5
    connect_timeout: float = 60.0
    snapshots: bool = True  # False only to diagnose: the live agent always snapshots
    switch_interval: float | None = None  # sys.setswitchinterval (None: the live agent's)
    prioritize: bool = True  # False only to diagnose: the live agent hands armed ticks first


@dataclass(slots=True)
class AgentRecord:
    window: tuple[float, float] = (0.0, 0.0)  # monotonic start, end of the measured window
    cpu_seconds: float = 0.0  # the process's CPU in the window (all threads)
    threads: dict[str, float] = field(default_factory=dict)  # CPU seconds by thread
    samples: list[tuple[float, int, float]] = field(default_factory=list)  # (at, depth, RSS)
    max_depth: int = 0  # EngineRunner.max_depth over the whole run
    peak_rss_mb: float = 0.0
    rss_at_start_mb: float = 0.0
    rss_at_end_mb: float = 0.0  # after everything was closed
    state_file_mb: float = 0.0  # state.json at the end
    batches: list[tuple[float, float, float, float, int, int]] = field(default_factory=list)
    submits: list[tuple[float, str, str, str, int, tuple[float, float] | None, int, int]] = (
        field(default_factory=list))
    calls: list[tuple[str, str, float, float]] = field(default_factory=list)
    rate_waits: list[float] = field(default_factory=list)
    snapshots: list[tuple[float, float]] = field(default_factory=list)
    feed: dict[str, int] = field(default_factory=dict)
    orders_by_status: dict[str, int] = field(default_factory=dict)
    error: str = ""


def active_instruments(plan: AgentPlan) -> list[int]:
    """Indexes of the instruments with ``active_params``: spread evenly over the universe,
    so their ticks sit anywhere in a frame (the engine handles a frame in order)."""
    count = min(plan.active, plan.instruments)
    return [i * plan.instruments // count for i in range(count)] if count else []


def bench_settings(plan: AgentPlan, data_dir: Path) -> Settings:
    universe = bench_instruments(plan.instruments)
    names = [universe[i].symbol for i in active_instruments(plan)]
    overrides = MappingProxyType(dict(plan.active_params))
    return Settings(data_dir=data_dir,
                    defaults=Defaults(params=StrategyParams().with_overrides(
                        plan.default_params)),
                    instruments=tuple(InstrumentConfig(n, overrides=overrides)
                                      for n in names))


def _rss_mb(field_name: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def agent_process(pipe: Any, plan: AgentPlan, info: SimInfo) -> None:
    """Child process: run, measure, send the AgentRecord (see the module docstring)."""
    from bench.live_sim import quiet_logs

    quiet_logs()
    sys.setswitchinterval(plan.switch_interval or THREAD_SWITCH_SECONDS)
    record = AgentRecord()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-agent-") as tmp:
            _run(plan, info, Path(tmp), record)
    except Exception as exc:  # reported to the parent, which raises it
        record.error = f"{type(exc).__name__}: {exc}"
    pipe.send(record)


def _run(plan: AgentPlan, info: SimInfo, data_dir: Path, record: AgentRecord) -> None:
    from storage.hookup import EnginePersistence

    clock = ScaledClock(info.clock_start(), info.speed)
    instruments = bench_instruments(plan.instruments)
    by_token = {i.token: i for i in instruments}

    def storage_error(message: str) -> None:
        record.error = f"storage: {message}"

    persistence = EnginePersistence(data_dir, storage_error)
    engine = Engine(bench_settings(plan, data_dir), instruments, clock=clock,
                    on_candle=persistence.candle, carry_positions=True)

    def snapshot(eng: Engine) -> None:
        start = time.monotonic()
        persistence.snapshot(eng)
        record.snapshots.append((start, time.monotonic()))

    made: list[KiteFeed] = []  # the feed, once made

    def prioritize(tokens: frozenset[int]) -> None:
        if made and plan.prioritize:
            made[0].prioritize(tokens)

    runner = EngineRunner(engine, clock, snapshot=snapshot if plan.snapshots else None,
                          on_armed=prioritize)
    kite = StampedKite(info.api_key, root=info.rest_root)
    kite.calls = record.calls
    kite.set_access_token(info.access_token)
    stamps = Stamps(record, runner.put)
    broker = StampedBroker(kite, by_token.get, runner.put, clock=clock)
    broker.stamps = stamps
    broker.order_rate = RecordingRates(ORDER_LIMITS, record.rate_waits)
    engine.attach_broker(broker)
    stamps.wrap_handle(engine)
    feed = KiteFeed(info.api_key, lambda: info.access_token, stamps.put, clock=clock,
                    tokens=list(by_token), root=info.ws_root,
                    options=FeedOptions(max_per_connection=plan.per_connection),
                    on_order_message=broker.on_order_message)
    stamps.wrap_frame(feed)
    made.append(feed)
    runner.start()
    feed.start()
    try:
        _measure(plan, feed, runner, record)
    finally:
        feed.close()
        broker.close()
        runner.stop()
        persistence.close()
    state = data_dir / "state.json"
    record.state_file_mb = state.stat().st_size / 2**20 if state.exists() else 0.0
    counters = feed.status().counters
    record.feed = {"ticks": counters.ticks, "frames": counters.frames,
                   "bad_packets": counters.bad_packets, "drops": counters.drops,
                   "reconnects": counters.reconnects}
    for order in engine.book.orders.values():
        key = f"{order.purpose.value} {order.status.value}"
        record.orders_by_status[key] = record.orders_by_status.get(key, 0) + 1
    record.max_depth = runner.max_depth
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across the exec of a spawned child, so
    # it would report the bench process's own RSS when it forked (hundreds of MB).
    record.peak_rss_mb = (_rss_mb("VmHWM")
                          or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    record.rss_at_end_mb = _rss_mb("VmRSS")


def _measure(plan: AgentPlan, feed: KiteFeed, runner: EngineRunner,
             record: AgentRecord) -> None:
    pause = threading.Event()
    deadline = time.monotonic() + plan.connect_timeout
    while not (feed.status().connected and record.batches):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the feed did not stream within {plan.connect_timeout} s: "
                               f"{feed.status().detail}")
        pause.wait(0.05)
    pause.wait(plan.warmup)
    threads = ThreadCpu()
    start, cpu0 = time.monotonic(), time.process_time()
    record.rss_at_start_mb = _rss_mb("VmRSS")
    end = start + plan.seconds
    while (now := time.monotonic()) < end:
        record.samples.append((now, runner.inbox.qsize(), _rss_mb("VmRSS")))
        pause.wait(min(plan.sample_every, end - now))
    record.window = (start, time.monotonic())
    record.cpu_seconds = time.process_time() - cpu0
    record.threads = threads.spent()
