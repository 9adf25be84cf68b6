"""``SimExchange``: a local Kite-compatible exchange for the real kiteconnect clients.

    sim = SimExchange(speed=60, start=date(2024, 1, 15))
    sim.start()                      # own thread, own asyncio loop, 127.0.0.1, free port
    kite = KiteConnect(sim.api_key, root=sim.rest_root)
    kite.generate_session(sim.issue_request_token(), sim.api_secret)
    ticker = KiteTicker(sim.api_key, kite.access_token, root=sim.ws_root)
    ...
    sim.stop()

REST and the ticker WebSocket are served by aiohttp in the simulator's own thread (never on
Twisted's reactor). The market runs on ``sim.clock`` (a ``ScaledClock`` started by
``start()``). Public methods may be called from any thread except the simulator's own;
``sim.faults`` switches faults at runtime.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from aiohttp import web

from agent.clock import LiveClock, ScaledClock
from agent.instruments import InstrumentIndex
from agent.models import Instrument
from agent.sim import control, rest
from agent.sim.access import Access
from agent.sim.auth import Sessions, checksum
from agent.sim.book import Book
from agent.sim.core import SimCore, load_instruments, run_market, token_of
from agent.sim.faults import Faults, RateLimiter
from agent.sim.market import Market, Quote, at_open
from agent.sim.paths import DEFAULT_STYLE, PathStyle
from agent.sim.rates import Rates
from agent.sim.realism import Realism
from agent.sim.shapes import Account
from agent.sim.ticker_ws import TickerHub
from agent.timeutil import to_ist

logger = logging.getLogger(__name__)
T = TypeVar("T")
DEFAULT_ACCOUNT = Account()
KITE_ORDER_LIMITS = ((10, 1.0), (400, 60.0), (5_000, 86_400.0))  # agent.sim.rates
RATE_CLOCKS = ("wall", "exchange")


class SimExchange:
    """The simulated exchange: market, order book, REST, ticker, faults.

    ``instruments``: a Kite instruments CSV path (default: the bundled NSE sample) or
    Instruments. ``start``: an IST datetime, or a date (its 09:15). ``speed``: the clock's
    factor. ``tick_interval``: simulated seconds between ticks of an instrument.
    ``base_prices``/``freeze_quantities``: by token or "EXCHANGE:SYMBOL".
    ``spread_ticks``: the touch's width. ``order_rate_limits``: (count, seconds) windows
    on wall time (``agent.sim.rates``; realism rule ``rate_limits``). ``rate_clock``:
    ``"wall"`` (Kite's servers count real seconds) or ``"exchange"``: every rate window
    counts the exchange's own seconds, so a day run at speed N sees the request rates of
    the day itself, not N times them (the crash test; ``/sim/clock`` says which).
    ``max_stream_rate``: tick steps per wall second above which steps are thinned.
    ``market_data``: the Connect plan (False: the Personal plan, no quotes, candles or
    ticker); ``static_ips``: where order calls may come from (None: anywhere); both can be
    switched later through ``sim.access``. ``realism``: the realism rules in force
    (default: all of them, ``agent.sim.realism``); ``sim.realism`` switches them later.
    """

    def __init__(self, instruments: str | Path | Iterable[Instrument] | None = None, *,
                 start: datetime | date | None = None, speed: float = 1.0, seed: int = 7,
                 tick_interval: float = 1.0, api_key: str = "simkey",
                 api_secret: str = "simsecret", redirect_url: str | None = None,
                 freeze_quantities: Mapping[int | str, int] | None = None,
                 base_prices: Mapping[int | str, Decimal | float] | None = None,
                 spread_ticks: int = 1,
                 order_rate_limits: tuple[tuple[int, float], ...] = KITE_ORDER_LIMITS,
                 max_connections: int = 3, max_subscriptions: int = 3_000,
                 heartbeat_interval: float = 1.0, reject_outside_session: bool = True,
                 max_stream_rate: float = 200.0,
                 style: PathStyle = DEFAULT_STYLE, account: Account = DEFAULT_ACCOUNT,
                 market_data: bool = True, static_ips: Iterable[str] | None = None,
                 realism: Realism | None = None, rate_clock: str = "wall",
                 host: str = "127.0.0.1", port: int = 0) -> None:
        if rate_clock not in RATE_CLOCKS:
            raise ValueError(f"rate_clock: expected wall or exchange, got {rate_clock!r}")
        self.rate_clock = rate_clock
        if speed <= 0 or tick_interval <= 0:
            raise ValueError(f"speed and tick_interval must be > 0, got {speed}, {tick_interval}")
        items, self._csv = load_instruments(instruments)
        if isinstance(start, datetime):
            self._start_at = to_ist(start)
        else:
            self._start_at = at_open(start or LiveClock().now().date())
        self._speed = speed
        self._tick_interval = tick_interval
        # tick steps per wall second above this are thinned: every n-th step is streamed
        self._stride = max(1, math.ceil(speed / tick_interval / max_stream_rate))
        index = InstrumentIndex(items)
        prices = {token_of(index, k): Decimal(str(v)) for k, v in (base_prices or {}).items()}
        self.market = Market(items, self._start_at.date(), seed=seed, style=style,
                             spread_ticks=spread_ticks, base_prices=prices)
        freeze = {token_of(index, k): v for k, v in (freeze_quantities or {}).items()}
        self.realism = realism if realism is not None else Realism()
        self.book = Book(self.market, freeze_quantities=freeze,
                         reject_outside_session=reject_outside_session, realism=self.realism)
        self.sessions = Sessions(api_key, api_secret)
        self.faults = Faults()
        self.access = Access(market_data, static_ips)
        self._redirect_url = redirect_url
        self._limits = order_rate_limits
        self._hub_options = (max_connections, max_subscriptions, heartbeat_interval)
        self._account = account
        self._host, self._port = host, port
        self._core: SimCore | None = None
        self._hub: TickerHub | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._error: BaseException | None = None

    # ----- identity and addresses -----
    @property
    def api_key(self) -> str:
        return self.sessions.api_key

    @property
    def api_secret(self) -> str:
        return self.sessions.api_secret

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def instruments(self) -> list[Instrument]:
        return list(self.market.index)

    @property
    def clock(self) -> ScaledClock:
        return self._running_core().clock

    @property
    def rest_root(self) -> str:
        return f"http://{self._host}:{self._bound_port()}"

    @property
    def ws_root(self) -> str:
        return f"ws://{self._host}:{self._bound_port()}/ws"

    @property
    def login_url(self) -> str:
        """The login page (as ``KiteConfig.login_url``; add ``?api_key=...&v=3``): it
        redirects to ``redirect_url`` with a fresh request token, as Kite's does."""
        return f"{self.rest_root}/connect/login"

    @property
    def redirect_url(self) -> str | None:
        return self._redirect_url

    @redirect_url.setter
    def redirect_url(self, url: str | None) -> None:
        self._redirect_url = url
        if self._core is not None:
            self._core.redirect_url = url

    # ----- lifecycle -----
    def start(self) -> SimExchange:
        """Serve on a free port in a new thread; returns once it accepts connections."""
        if self._thread is not None:
            raise RuntimeError("the simulated exchange is already started")
        clock = ScaledClock(self._start_at, self._speed)
        rate_now = time.time if self.rate_clock == "wall" else lambda: clock.now().timestamp()
        self._core = SimCore(market=self.market, book=self.book, sessions=self.sessions,
                             faults=self.faults, clock=clock, account=self._account,
                             instruments_csv=self._csv,
                             order_limiter=RateLimiter(self._limits, rate_now),
                             rates=Rates(rate_now), rate_clock=self.rate_clock,
                             tick_interval=self._tick_interval, stream_stride=self._stride,
                             redirect_url=self._redirect_url, access=self.access,
                             realism=self.realism)
        self._hub = TickerHub(self._core, *self._hub_options)
        self.faults.bind(self._drop_sockets, self.sessions.expire_all)
        self._thread = threading.Thread(target=self._run, name="sim-exchange", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self._error is not None:
            raise RuntimeError(f"the simulated exchange did not start: {self._error!r}")
        logger.info("sim exchange on %s (speed %sx from %s)", self.rest_root, self._speed,
                    self._start_at.isoformat())
        return self

    def stop(self) -> None:
        """Close sockets, stop serving and join the thread. Idempotent."""
        loop, stopping, thread = self._loop, self._stopping, self._thread
        if loop is None or stopping is None or thread is None:
            return
        if not loop.is_closed():
            loop.call_soon_threadsafe(stopping.set)
        thread.join(10)
        self._loop = None

    def __enter__(self) -> SimExchange:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to start()
            self._error = exc
            logger.exception("sim exchange thread failed")
        finally:
            self._ready.set()
            pending = asyncio.all_tasks(loop)  # e.g. answers held back by a fault
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> None:
        core, hub = self._running_core(), self._hub
        assert hub is not None
        self._stopping = asyncio.Event()
        app = web.Application(middlewares=[rest.kite_middleware])
        app[rest.CORE] = core
        rest.add_routes(app)
        control.add_routes(app)
        app.router.add_get("/ws", hub.handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        await site.start()
        self._port = runner.addresses[0][1]
        market = asyncio.create_task(run_market(core))
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            market.cancel()
            await hub.close_all()
            await runner.cleanup()

    # ----- control (any thread but the simulator's) -----
    def call(self, fn: Callable[[SimCore], T], timeout: float = 5.0) -> T:
        """Run ``fn(core)`` in the simulator's thread and return its result."""
        loop, core = self._loop, self._running_core()
        if loop is None:
            raise RuntimeError("the simulated exchange is not running")

        async def invoke() -> T:
            return fn(core)

        return asyncio.run_coroutine_threadsafe(invoke(), loop).result(timeout)

    def issue_request_token(self) -> str:
        """A one-time request token, as Kite's login redirect would carry."""
        return self.sessions.issue_request_token()

    def new_access_token(self) -> str:
        """Log in without the HTTP dance: a valid access token for this API key."""
        token = self.issue_request_token()
        access, _ = self.sessions.exchange(self.api_key, token,
                                           checksum(self.api_key, token, self.api_secret))
        return access

    def quote(self, symbol: str | int) -> Quote:
        token = self._token(symbol)
        return self.call(lambda core: core.market.quote(token, core.second_now()))

    def ltp(self, symbol: str | int) -> Decimal:
        return self.quote(symbol).last_price

    def set_freeze_quantity(self, symbol: str | int, quantity: int) -> None:
        token = self._token(symbol)
        if self._core is None:
            self.book.set_freeze_quantity(token, quantity)
        else:
            self.call(lambda core: core.book.set_freeze_quantity(token, quantity))

    def connection_count(self) -> int:
        return self.call(lambda core: len(core.hub.connections) if core.hub else 0)

    # ----- helpers -----
    def _token(self, key: int | str) -> int:
        return token_of(self.market.index, key)

    def _running_core(self) -> SimCore:
        if self._core is None:
            raise RuntimeError("the simulated exchange is not started: call start() first")
        return self._core

    def _bound_port(self) -> int:
        if not self._ready.is_set():
            raise RuntimeError("the simulated exchange is not started: call start() first")
        return self._port

    def _drop_sockets(self) -> None:
        loop, hub = self._loop, self._hub
        if loop is not None and hub is not None:
            loop.call_soon_threadsafe(hub.drop_all)
