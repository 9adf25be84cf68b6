"""The simulated exchange of the live benchmarks (latency, scale), in a process of its own.

``sim_process(pipe, plan)`` is the child's entry (``bench.live_run`` spawns it): it starts a
``SimExchange`` on loopback at ``plan.speed``, installs the stamps below, sends a
``SimInfo`` (addresses, key, a valid access token, and the sim clock's reading at a
``time.monotonic()`` instant, so the agent can run the same clock), waits for any message,
then sends the ``SimRecord`` and stops. Running it apart keeps its CPU (quotes, encoding,
sockets) and memory out of the agent's figures, and its work off the agent's GIL.

The stamps (``time.monotonic()``, which on Linux is one clock for every process), taken in
the simulator's loop thread without editing ``agent.sim``:

- a frame leaves: each ticker connection's ``ws.send_bytes`` is wrapped (the hub's
  ``send_step`` wraps connections it has not seen yet before it streams a step); the stamp
  is taken just before the frame is written to the socket. Full-mode frames carry their
  exchange second (the first packet's exchange timestamp); others record -1;
- an order arrives: the order rate limiter is the first thing the ``place_order`` handler
  consults, so ``core.order_limiter`` is replaced by an identical limiter whose time source
  stamps; the wrapped ``book.place`` then pairs that stamp with the order's tag.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from agent.models import Instrument

FULL_PACKET = 184
_STAMP_AT = 4 + 60  # frame header (2) + packet length (2) + offset of the exchange timestamp
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")


def bench_instruments(count: int) -> list[Instrument]:
    """NSE equities SYN0000, SYN0001, ... with Kite-shaped tokens (segment 1 in the low
    byte: the ticker scales prices by it), tick 0.05, lot 1. ``agent.synthetic``'s
    consecutive tokens would stream some instruments as currencies or indices."""
    return [Instrument(((100_000 + i) << 8) | 1, "NSE", f"SYN{i:04d}", Decimal("0.05"), 1)
            for i in range(count)]


@dataclass(frozen=True, slots=True)
class SimPlan:
    instruments: int
    start: datetime  # the sim clock's start (IST)
    speed: float = 1.0
    warm_seconds: int = 0  # price paths generated this far ahead before the agent connects


@dataclass(frozen=True, slots=True)
class SimInfo:
    rest_root: str
    ws_root: str
    api_key: str
    access_token: str
    sim_now: datetime  # the sim clock read at ...
    monotonic: float  # ... this time.monotonic()
    speed: float = 1.0

    def clock_start(self) -> datetime:
        """The sim clock's reading now (call it in any process of this machine)."""
        return self.sim_now + timedelta(seconds=(time.monotonic() - self.monotonic)
                                        * self.speed)


@dataclass(slots=True)
class SimRecord:
    """What the simulator saw. ``frames``: (sent at, connection, exchange epoch second or
    -1, packets); ``orders``: (arrived at, tag, tradingsymbol); ``cpu``: its process's CPU
    time, read every half second."""

    frames: list[tuple[float, int, int, int]] = field(default_factory=list)
    orders: list[tuple[float, str | None, str]] = field(default_factory=list)
    cpu: list[tuple[float, float]] = field(default_factory=list)  # (at, process CPU s)

    def cpu_share(self, start: float, end: float) -> float | None:
        """The simulator process's CPU share of one core between two monotonic times."""
        inside = [(t, c) for t, c in self.cpu if start <= t <= end]
        if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
            return None
        return round((inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0]), 3)


def frame_second(data: bytes) -> tuple[int, int]:
    """(exchange epoch second of the first packet or -1, packet count) of a binary frame."""
    if len(data) < 4:
        return -1, 0
    count = _U16.unpack_from(data, 0)[0]
    if _U16.unpack_from(data, 2)[0] != FULL_PACKET or len(data) < _STAMP_AT + 4:
        return -1, count
    return _U32.unpack_from(data, _STAMP_AT)[0], count


class Stamps:
    """Installs the stamps on a running simulator's core (its loop thread only)."""

    def __init__(self) -> None:
        self.record = SimRecord()
        self._seen: set[int] = set()
        self._arrived = 0.0

    def install(self, core: Any) -> None:
        from agent.sim.faults import RateLimiter
        from agent.sim.server import KITE_ORDER_LIMITS

        hub = core.hub
        send_step = hub.send_step

        def stamped_step(second: int) -> None:
            for conn in hub.connections:
                if id(conn) not in self._seen:
                    self._seen.add(id(conn))
                    conn.ws.send_bytes = self._wrap_send(conn.ws.send_bytes, len(self._seen) - 1)
            send_step(second)

        hub.send_step = stamped_step
        core.order_limiter = RateLimiter(KITE_ORDER_LIMITS, now=self._arrival)
        place = core.book.place

        def stamped_place(req: Any, now: datetime) -> Any:
            order = place(req, now)
            self.record.orders.append((self._arrived, req.tag, req.tradingsymbol))
            return order

        core.book.place = stamped_place

    def _arrival(self) -> float:
        self._arrived = time.monotonic()
        return self._arrived

    def _wrap_send(self, send: Callable[..., Any], index: int) -> Callable[..., Any]:
        frames = self.record.frames

        async def stamped_send(data: bytes, compress: int | None = None) -> None:
            sent = time.monotonic()
            await send(data, compress)
            if len(data) > 1:
                second, packets = frame_second(data)
                frames.append((sent, index, second, packets))

        return stamped_send


def quiet_logs() -> None:
    """A benchmark's child process: errors only (no feed-up warnings, and not KiteTicker's
    ERROR line for a normal close)."""
    import logging

    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("kiteconnect.ticker").setLevel(logging.CRITICAL)


def sim_process(pipe: Any, plan: SimPlan) -> None:
    """Child process: serve until told to stop; see the module docstring."""
    from agent.sim.server import SimExchange

    quiet_logs()
    instruments = bench_instruments(plan.instruments)
    sim = SimExchange(instruments, start=plan.start, speed=plan.speed,
                      max_stream_rate=max(200.0, plan.speed * 2))
    if plan.warm_seconds:  # the paths are lazy: grow them now, not while streaming
        first = sim.market.second_of(plan.start)
        for ins in instruments:
            sim.market.path(ins.token).extend_to(max(first, 0) + plan.warm_seconds)
    sim.start()
    stamps = Stamps()
    sim.call(stamps.install)
    token = sim.new_access_token()
    now, mono = sim.clock.now(), time.monotonic()
    pipe.send(SimInfo(sim.rest_root, sim.ws_root, sim.api_key, token, now, mono, plan.speed))
    while not pipe.poll(0.5):  # until told to stop, the CPU used so far every 0.5 s
        stamps.record.cpu.append((time.monotonic(), time.process_time()))
    record = sim.call(lambda _core: stamps.record)
    sim.stop()
    pipe.send(record)
