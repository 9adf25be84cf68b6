"""The simulator's state in one place, and the market driver that moves it in time.

``SimCore`` holds the market, the order book, the tokens, the fault switches and the ticker
hub. Everything in it is owned by the simulator's loop thread, except ``sessions``,
``faults``, ``access`` and ``realism`` (locked) and ``clock`` (any thread). ``run_market``
is the loop's clock: it walks the session second by second as the accelerated clock moves,
carries out the order lifecycle's steps when they are due (``agent.sim.lifecycle``: it
wakes for them, so their delays on the exchange's clock scale with its speed), matches
working orders and streams ticks.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from agent.clock import ScaledClock
from agent.instruments import (
    BUNDLED_DUMP,
    InstrumentIndex,
    InstrumentsError,
    dump_csv,
    parse_dump,
)
from agent.models import Instrument
from agent.sim.access import Access
from agent.sim.auth import Sessions
from agent.sim.book import Book
from agent.sim.faults import Faults, RateLimiter
from agent.sim.market import Market
from agent.sim.paths import SESSION_SECONDS
from agent.sim.rates import Rates
from agent.sim.realism import Realism
from agent.sim.shapes import Account
from agent.sim.squareoff import SquareOff

if TYPE_CHECKING:
    from agent.sim.ticker_ws import TickerHub

logger = logging.getLogger(__name__)

MAX_CATCHUP_STEPS = 600  # tick steps sent at most per wake-up when the loop falls behind
MAX_SLEEP = 0.2  # seconds: wake at least this often (heartbeats, stop)


@dataclass(eq=False)
class SimCore:
    market: Market
    book: Book
    sessions: Sessions
    faults: Faults
    clock: ScaledClock
    account: Account
    instruments_csv: str
    order_limiter: RateLimiter
    tick_interval: float = 1.0
    stream_stride: int = 1  # stream every n-th tick step (bounds the wall-time tick rate)
    redirect_url: str | None = None
    access: Access = field(default_factory=Access)
    realism: Realism = field(default_factory=Realism)
    rates: Rates = field(default_factory=Rates)  # quotes, historical, the rest
    rate_clock: str = "wall"  # whose seconds the rate windows count (SimExchange)
    square_off: SquareOff = field(default_factory=SquareOff)  # the broker's, at 15:20
    hub: TickerHub | None = None
    matched_second: int = -1  # resting orders have seen every second up to this one

    def __post_init__(self) -> None:
        self.book.lifecycle.take_hold = self.faults.take_hold

    def now(self) -> datetime:
        return self.clock.now()

    def second_now(self) -> int:
        return self.market.second_of(self.clock.now())

    def match_until(self, second: int) -> None:
        """Show working orders every session second up to ``second``, in order, with the
        lifecycle's steps due before each second carried out first."""
        second = min(second, SESSION_SECONDS - 1)
        open_time = self.market.open_time()
        while self.matched_second < second:
            self.matched_second += 1
            self.book.run_due(open_time + timedelta(seconds=self.matched_second))
            for token in self.book.open_tokens():
                self.book.on_second(token, self.matched_second)

    def advance(self, now: datetime) -> None:
        """Everything due by ``now``: the seconds started, then the lifecycle's steps."""
        self.match_until(self.market.second_of(now))
        self.book.run_due(now)


def load_instruments(source: str | Path | Iterable[Instrument] | None
                     ) -> tuple[list[Instrument], str]:
    """Instruments and the CSV text ``/instruments`` serves: a Kite dump file (default: the
    bundled sample) is served as it is; a list of Instruments is dumped in Kite's columns."""
    if source is None or isinstance(source, str | Path):
        path = Path(source) if source is not None else BUNDLED_DUMP
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InstrumentsError(f"cannot read instruments file {path}: {exc.strerror}") \
                from None
        return parse_dump(text, str(path)), text
    items = list(source)
    return items, dump_csv(items)


def token_of(index: InstrumentIndex, key: int | str) -> int:
    """The token of an instrument named by token or "EXCHANGE:SYMBOL"; raises naming it."""
    if isinstance(key, int) or key.isdigit():
        if index.by_token(int(key)) is None:
            raise InstrumentsError(f"instrument token {key} is not in the simulated market")
        return int(key)
    return index.resolve(key).token


async def run_market(core: SimCore) -> None:
    """Walk the session as the clock moves: match orders every second, send one tick step
    per ``tick_interval`` simulated seconds (every ``stream_stride``-th step when the clock
    runs too fast to stream them all). Runs until cancelled (loop thread)."""
    interval = core.tick_interval
    open_time = core.market.open_time()
    step = 0
    last_step = math.ceil(SESSION_SECONDS / interval) - 1
    while True:
        elapsed = (core.clock.now() - open_time).total_seconds()
        due = min(math.floor(elapsed / interval), last_step) if elapsed >= 0 else -1
        if due - step >= MAX_CATCHUP_STEPS:
            logger.debug("sim market behind by %d steps: skipping ahead", due - step)
            step = due - MAX_CATCHUP_STEPS + 1
        while step <= due:
            second = int(step * interval)
            core.match_until(second)
            if core.hub is not None and step % core.stream_stride == 0:
                core.hub.send_step(second)
            step += 1
        core.advance(core.clock.now())
        core.square_off.step(core.book, core.realism, core.clock.now())
        next_at = open_time + timedelta(seconds=step * interval)
        wait = core.clock.wall_seconds_until(next_at) if step <= last_step else MAX_SLEEP
        due = core.book.next_due()
        if due is not None:
            wait = min(wait, core.clock.wall_seconds_until(due))
        await asyncio.sleep(min(max(wait, 0.001), MAX_SLEEP))
