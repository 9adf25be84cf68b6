"""Shared fixtures of the simulator tests.

Twisted's reactor runs once per process and can never restart: every KiteTicker here
connects with ``threaded=True`` and is closed with ``close()``, never ``stop()``; the
session-scoped ``ticker`` fixture is the one connection the ticker tests share.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from kiteconnect import KiteConnect, KiteTicker

from agent.sim.realism import Realism
from agent.sim.server import SimExchange

DATA = Path(__file__).resolve().parents[2] / "agent" / "sim" / "data"


TRADING_DAY = date(2024, 1, 15)  # a Monday
ADANIPORTS = 3861249  # NSE equity, tick 0.05, lot 1
CDSL = 5420545
BANKBEES = 2928385  # NSE ETF, tick 0.01
BANKNIFTY_CE = 12073986  # NFO option, lot 40
NIFTY = 256265  # an index (segment 9)
INDEX_ROW = "256265,1001,NIFTY 50,NIFTY 50,0.0,,0.0,0.05,0,EQ,INDICES,NSE\n"
FAST_LIMITS = ((1_000, 1.0),)  # shared sims: Kite's order rate limit is tested on its own
WAIT = 10.0  # seconds: the longest any test waits for an event


@pytest.fixture(scope="session")
def instruments_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Zerodha's sample dump (NSE, NFO options, BSE) plus one index row."""
    text = (DATA / "instruments_all.csv").read_text(encoding="utf-8")
    path = tmp_path_factory.mktemp("sim") / "instruments.csv"
    path.write_text(text.rstrip("\n") + "\n" + INDEX_ROW, encoding="utf-8")
    return path


def make_sim(csv: Path, **options: Any) -> SimExchange:
    options.setdefault("speed", 60.0)
    options.setdefault("start", TRADING_DAY)
    options.setdefault("order_rate_limits", FAST_LIMITS)
    options.setdefault("base_prices", {ADANIPORTS: Decimal(1000), BANKNIFTY_CE: Decimal(250)})
    return SimExchange(csv, **options)


@pytest.fixture(scope="session")
def sim(instruments_csv: Path) -> Iterator[SimExchange]:
    """One simulator for the tests that do not break it (no token expiry, no lasting faults)."""
    exchange = make_sim(instruments_csv, heartbeat_interval=0.25,
                        freeze_quantities={BANKNIFTY_CE: 900},
                        # many tests call it back to back: Kite's rates are test_rules.py's
                        realism=Realism.all_but("rate_limits"))
    exchange.start()
    yield exchange
    exchange.stop()


@pytest.fixture()
def fresh_sim(instruments_csv: Path) -> Iterator[Callable[..., SimExchange]]:
    """A factory of started simulators that a test may break; all stopped afterwards."""
    made: list[SimExchange] = []

    def factory(**options: Any) -> SimExchange:
        exchange = make_sim(instruments_csv, **options)
        made.append(exchange.start())
        return exchange

    yield factory
    for exchange in made:
        exchange.stop()


def kite_for(sim: SimExchange, timeout: float | None = None) -> KiteConnect:
    kite = KiteConnect(sim.api_key, root=sim.rest_root, timeout=timeout)
    kite.generate_session(sim.issue_request_token(), sim.api_secret)
    return kite


@pytest.fixture(scope="session")
def kite(sim: SimExchange) -> KiteConnect:
    return kite_for(sim)


class Recorder:
    """Collects what a KiteTicker reports, with events to wait on (reactor thread writes)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.binary: list[bytes] = []
        self.texts: list[str] = []
        self.orders: list[dict[str, Any]] = []
        self.errors: list[tuple[int, Any]] = []
        self.closes: list[tuple[int, Any]] = []
        self.connects = 0
        self.watchers: list[tuple[Callable[[], bool], threading.Event]] = []

    def wait_for(self, condition: Callable[[], bool], timeout: float = WAIT) -> bool:
        event = threading.Event()
        with self.lock:
            if condition():
                return True
            self.watchers.append((condition, event))
        return event.wait(timeout)

    def _changed(self) -> None:
        with self.lock:
            for condition, event in list(self.watchers):
                if condition():
                    event.set()
                    self.watchers.remove((condition, event))

    def attach(self, ticker: KiteTicker, on_connect: Callable[[Any], None] | None = None) -> None:
        def connected(ws: Any, response: Any) -> None:
            self.connects += 1
            if on_connect is not None:
                on_connect(ws)
            self._changed()

        def message(ws: Any, payload: bytes, is_binary: bool) -> None:
            if is_binary:
                self.binary.append(payload)
            else:
                self.texts.append(payload.decode() if isinstance(payload, bytes) else payload)
            self._changed()

        def order(ws: Any, data: dict[str, Any]) -> None:
            self.orders.append(data)
            self._changed()

        def error(ws: Any, code: int, reason: Any) -> None:
            self.errors.append((code, reason))
            self._changed()

        def close(ws: Any, code: int, reason: Any) -> None:
            self.closes.append((code, reason))
            self._changed()

        ticker.on_connect = connected
        ticker.on_message = message
        ticker.on_order_update = order
        ticker.on_error = error
        ticker.on_close = close


@pytest.fixture(scope="session")
def ticker(sim: SimExchange, kite: KiteConnect) -> Iterator[tuple[KiteTicker, Recorder]]:
    """The shared KiteTicker (starts Twisted's reactor in its thread, once per process)."""
    tick = KiteTicker(sim.api_key, kite.access_token, root=sim.ws_root)
    rec = Recorder()
    rec.attach(tick)
    connect_ticker(tick)
    assert rec.wait_for(lambda: rec.connects >= 1), "the shared ticker did not connect"
    yield tick, rec
    close_ticker(tick, rec)


def connect_ticker(tick: KiteTicker) -> None:
    """Connect in the reactor's thread (starting the reactor once if nothing has): a
    connect from another thread while the reactor idles is never picked up."""
    from agent.adapters.kite_reactor import ensure_reactor_running

    ensure_reactor_running()
    in_reactor(tick.connect, True)


def in_reactor(fn: Callable[..., Any], *args: Any) -> None:
    """Run a KiteTicker call in the reactor's thread: Twisted is not thread-safe."""
    from twisted.internet import reactor

    reactor.callFromThread(fn, *args)


def close_ticker(tick: KiteTicker, rec: Recorder) -> None:
    """Close a ticker for good (no reconnect) and wait until it reports the close."""
    closes = len(rec.closes)
    connected = tick.is_connected()
    in_reactor(tick.close)
    if connected:
        rec.wait_for(lambda: len(rec.closes) > closes)


INTERIM = ("PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "OPEN PENDING",
           "MODIFY VALIDATION PENDING", "MODIFY PENDING", "MODIFIED", "CANCEL PENDING")


def settled(kite: KiteConnect, order_id: str,
            done: Callable[[dict[str, Any]], bool] | None = None,
            timeout: float = WAIT) -> dict[str, Any]:
    """The order's latest row once the exchange is done with it: out of Kite's interim
    statuses (or once ``done`` says so). Polls the order history until ``timeout``: each
    interim status lasts tens to hundreds of ms of the exchange's clock
    (``agent.sim.lifecycle``)."""
    finished = done or (lambda row: row["status"] not in INTERIM)
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        row = kite.order_history(order_id)[-1]
        if finished(row):
            return row
        if time.monotonic() > deadline:
            raise AssertionError(f"order {order_id} never settled; last {row}")
        pause.wait(0.01)
