"""Fixtures of the feed tests: simulated exchanges, feeds, and an inbox to wait on.

Twisted's reactor is shared by every test in the process (tests/sim's too) and is never
stopped: feeds are closed with ``KiteFeed.close()``, before their simulator stops.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agent.adapters.kite_feed import FeedOptions, KiteFeed
from agent.adapters.kite_reactor import ensure_reactor_running, in_reactor
from agent.events import FeedStatus, TickBatch
from agent.models import Tick
from agent.sim.server import SimExchange

DATA = Path(__file__).resolve().parents[2] / "agent" / "sim" / "data"
INDEX_ROW = "256265,1001,NIFTY 50,NIFTY 50,0.0,,0.0,0.05,0,EQ,INDICES,NSE\n"
TRADING_DAY = date(2024, 1, 15)  # a Monday
ADANIPORTS = 3861249  # NSE equity, tick 0.05
BANKBEES = 2928385  # NSE ETF, tick 0.01
CDSL = 5420545
NIFTY = 256265  # an index (segment 9)
WAIT = 20.0  # seconds: the longest any test waits for something that must happen
# fast retries so reconnects take a fraction of a second
QUICK = FeedOptions(min_reconnect_delay=0.1, max_reconnect_delay=0.5, watchdog_interval=0.1)


@pytest.fixture(scope="session", autouse=True)
def reactor_kept_awake() -> Iterator[None]:
    """Start the shared reactor and nudge it every 50 ms until the session ends.

    Once these tests have started the reactor and closed their feeds, it sleeps with
    nothing scheduled. tests/sim's ``open_ticker`` calls ``KiteTicker.connect`` from the
    main thread; when the reactor already runs, that call is off the reactor thread, and
    the ``callLater(0)`` Twisted's connector schedules then waits until something wakes the
    reactor: without this, forever (that test hangs when tests/feed ran first). The nudges
    come from a thread timed on the monotonic clock, because Twisted times its own calls
    with ``time.time``, which tests that travel in time (time-machine) move under it.
    """
    ensure_reactor_running()
    done = threading.Event()

    def nudge() -> None:
        while not done.wait(0.05):
            try:
                in_reactor(lambda: None)
            except OSError:  # a test that fails os.write for a moment: nudge again later
                continue

    thread = threading.Thread(target=nudge, name="reactor-nudger", daemon=True)
    thread.start()
    yield
    done.set()
    thread.join(5)


@pytest.fixture(scope="session")
def feed_instruments_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled Kite sample dump plus one index row."""
    text = (DATA / "instruments_all.csv").read_text(encoding="utf-8")
    path = tmp_path_factory.mktemp("feed") / "instruments.csv"
    path.write_text(text.rstrip("\n") + "\n" + INDEX_ROW, encoding="utf-8")
    return path


@pytest.fixture()
def make_sim(feed_instruments_csv: Path) -> Iterator[Callable[..., SimExchange]]:
    """Started simulators of this test (each has its own 3-connection budget)."""
    made: list[SimExchange] = []

    def factory(**options: Any) -> SimExchange:
        options.setdefault("speed", 60.0)
        options.setdefault("start", TRADING_DAY)
        options.setdefault("heartbeat_interval", 0.2)
        options.setdefault("base_prices", {ADANIPORTS: Decimal(1000)})
        exchange = SimExchange(feed_instruments_csv, **options)
        made.append(exchange.start())
        return exchange

    yield factory
    for exchange in made:
        exchange.stop()


class Inbox:
    """Stands in for ``EngineRunner.put`` and collects callbacks; tests wait on it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.events: list[Any] = []
        self.orders: list[dict[str, Any]] = []
        self.logins = 0

    def put(self, event: Any) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def on_order_message(self, data: dict[str, Any]) -> None:
        with self._cond:
            self.orders.append(data)
            self._cond.notify_all()

    def on_login_needed(self) -> None:
        with self._cond:
            self.logins += 1
            self._cond.notify_all()

    def wait_for(self, condition: Callable[[], bool], timeout: float = WAIT) -> bool:
        """Wait until ``condition()`` holds; it is re-checked on every event."""
        with self._cond:
            return self._cond.wait_for(condition, timeout)

    def mark(self) -> int:
        with self._cond:
            return len(self.events)

    def statuses(self, since: int = 0) -> list[FeedStatus]:
        with self._cond:
            return [e for e in self.events[since:] if isinstance(e, FeedStatus)]

    def batches(self, since: int = 0) -> list[TickBatch]:
        with self._cond:
            return [e for e in self.events[since:] if isinstance(e, TickBatch)]

    def ticks(self, since: int = 0) -> list[Tick]:
        return [t for b in self.batches(since) for t in b.ticks]

    def tokens(self, since: int = 0) -> set[int]:
        return {t.instrument_token for t in self.ticks(since)}

    def wait_status(self, up: bool, since: int = 0, text: str = "") -> FeedStatus:
        def found() -> FeedStatus | None:
            return next((s for s in self.statuses(since)
                         if s.up is up and text in s.detail), None)

        assert self.wait_for(lambda: found() is not None), \
            f"no FeedStatus(up={up}, {text!r}) after {since}; saw {self.statuses(since)}"
        status = found()
        assert status is not None
        return status

    def wait_tokens(self, tokens: set[int], since: int = 0, each: int = 1) -> list[Tick]:
        """Wait until every token has at least ``each`` ticks after event ``since``."""
        def enough() -> bool:
            ticks = self.ticks(since)
            return all(sum(t.instrument_token == k for t in ticks) >= each for k in tokens)

        assert self.wait_for(enough), f"ticks of {tokens} never came; got {self.tokens(since)}"
        return self.ticks(since)


@pytest.fixture()
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture()
def make_feed(inbox: Inbox) -> Iterator[Callable[..., KiteFeed]]:
    """Feeds wired to ``inbox``; every one is closed after the test (the reactor stays)."""
    made: list[KiteFeed] = []

    def factory(sim: SimExchange | None, token: Callable[[], str | None], **options: Any
                ) -> KiteFeed:
        if sim is not None:
            options.setdefault("root", sim.ws_root)
            options.setdefault("clock", sim.clock)
        options.setdefault("options", QUICK)
        options.setdefault("on_order_message", inbox.on_order_message)
        options.setdefault("on_login_needed", inbox.on_login_needed)
        api_key = sim.api_key if sim is not None else "fakekey"
        feed = KiteFeed(api_key, token, inbox.put, **options)
        made.append(feed)
        return feed

    yield factory
    for feed in made:
        assert feed.close(timeout=WAIT), "a feed did not close"


def wait_until(condition: Callable[[], bool], timeout: float = WAIT) -> bool:
    """Poll state that raises no event (a server's connection count) until it holds."""
    pause = threading.Event()
    for _ in range(int(timeout / 0.02)):
        if condition():
            return True
        pause.wait(0.02)
    return condition()
