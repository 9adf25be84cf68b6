"""The live agent's composition root: everything ``bot.py run`` and ``bot.py demo`` start.

Threads: the main thread runs the asyncio loop of the chat (Telegram or console); the
engine thread (``EngineRunner``) owns all trading state; the storage writer, the broker
worker (live orders), Twisted's reactor (the feed) and APScheduler (or, on a scaled clock:
the in-process simulator's, or a standalone exchange's with ``clock: exchange``,
``ScaledJobDriver``) each have their own. ``AgentProcess.open`` wires it all on the
main thread before anything runs; ``run`` drives it until the stop event; ``close`` takes
it down in reverse order.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any, TextIO

from agent.adapters.kite_broker import KiteBroker
from agent.adapters.kite_client import kite_client
from agent.adapters.kite_feed import KiteFeed
from agent.adapters.paper import PaperBroker
from agent.calendar import TradingCalendar
from agent.clock import Clock, LiveClock, ScaledClock, exchange_clock
from agent.contract_note import refresh_charges
from agent.daycontrol import DayOverride, OverrideSubmitter
from agent.engine import Engine
from agent.events import (
    AlertKind,
    FeedStatus,
    LoggedIn,
    LoginNeeded,
    Notification,
    Query,
    QueryKind,
    TickBatch,
)
from agent.lifecycle.tags import wall_epoch
from agent.margin_watch import MarginWatch
from agent.margins import Funds
from agent.models import Instrument
from agent.recovery import MinuteBar, bars_from_kite, fill_gaps, recover_late
from agent.reports import report_from_views, write_report
from agent.runner import THREAD_SWITCH_SECONDS, EngineRunner
from agent.scheduler import DayScheduler, DayServices
from agent.scheduler_sim import ScaledJobDriver
from agent.serialize import trade_from_dict
from agent.session import KiteSession
from agent.settings import ClockKind, Mode, Settings
from agent.tick_recorder import TickRecorder
from handlers.access_watch import AccessWatch
from handlers.build import ChatOptions, ChatServices, build_console, build_telegram
from handlers.instruments import DayInstruments
from handlers.morning import Morning, MorningHooks
from handlers.services import FeedInfo
from handlers.session_watch import INTERVAL as SESSION_POLL
from handlers.session_watch import SessionWatch
from storage.backends import open_stores
from storage.datadir import prepare_data_dir
from storage.errors import os_problem
from storage.hookup import EnginePersistence
from storage.lock import DataDirLock
from storage.prefs import Prefs
from storage.session_file import SessionFile

log = logging.getLogger(__name__)

FUNDS_INTERVAL = 30.0  # seconds between the live broker's reads of Kite's margins
CONTRACT_NOTE_WAIT = 8.0  # seconds the charges refresh waits for Kite's contract note


class MemorySessionStore:
    """The simulator's sessions are not worth a file."""

    def __init__(self) -> None:
        self._data: dict[str, Any] | None = None

    def load(self) -> dict[str, Any] | None:
        return self._data

    def save(self, data: dict[str, Any]) -> None:
        self._data = dict(data)

    def clear(self) -> None:
        self._data = None


@dataclass
class RuntimeOptions:
    stdin: TextIO | None = None  # the console chat's input (None: sys.stdin)
    stdout: TextIO | None = None
    on_day_over: Callable[[], None] | None = None  # the demo ends after the day report
    session_poll: float = SESSION_POLL  # wall seconds between looks at session.json


class AgentProcess:
    def __init__(self, settings: Settings, *, sim: Any = None, clock: Clock | None = None,
                 options: RuntimeOptions | None = None) -> None:
        """``sim``: a started ``agent.sim.SimExchange`` for ``feed: sim`` (its clock is the
        agent's clock, its REST and ticker roots replace Kite's). ``clock``: the agent's
        clock when given; else with ``clock: exchange`` ``open`` reads the standalone
        exchange's (``GET {kite.root}/sim/clock``), else wall time."""
        self.settings = settings
        self.sim = sim
        self.options = options or RuntimeOptions()
        self._follow_exchange = (clock is None and sim is None
                                 and settings.clock is ClockKind.EXCHANGE)
        self.clock: Clock = sim.clock if sim is not None else clock or LiveClock()
        self.calendar = TradingCalendar(settings.schedule)
        self.feed: KiteFeed | None = None
        self.broker: Any = None
        self.stop_event: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closers: list[Callable[[], object]] = []
        self._stop_jobs: Callable[[], object] = lambda: None
        self._armed: frozenset[int] = frozenset()
        self._in_session = False  # between session_start and session_end
        self._storage_failure = ""  # the storage writer's latest complaint
        self.close_problem = ""  # set by close: what did not reach the disk
        self.recorder: TickRecorder | None = None  # ``record_ticks``: the feed's ticks

    # ------------------------------------------------------------ wiring (main thread)

    def open(self) -> None:
        """Wire everything; nothing runs yet (``run`` starts the engine and the jobs).

        Raises ``ExchangeClockError`` (before anything is taken) when ``clock: exchange``
        cannot read the exchange's clock; ``DataFileError`` (``StateFileCorrupt`` among
        them) naming the file and the field when the data directory or a saved file cannot
        be used; ``DataDirLocked``, ``InstrumentsError``. On any exception whatever was
        taken is given back first (``close``: the storage writer and the broker's threads
        stopped, the lock released, nothing saved), so a failed start never hangs on a
        thread or keeps the data directory locked."""
        try:
            self._compose()
        except BaseException:
            self.close()
            raise

    def _compose(self) -> None:
        s = self.settings
        if self._follow_exchange:
            followed = exchange_clock(s.kite.root)
            self.clock, self._follow_exchange = followed, False
            log.info("clock: exchange: following %s, now %s at %gx", s.kite.root,
                     f"{followed.now():%Y-%m-%d %H:%M:%S}", followed.speed)
        sys.setswitchinterval(THREAD_SWITCH_SECONDS)
        data_dir = prepare_data_dir(s.data_dir)
        self.lock = DataDirLock(data_dir)
        self.lock.acquire()
        self._closers.append(self.lock.release)
        if s.record_ticks is not None:
            self.recorder = TickRecorder(s.record_ticks)
            self._closers.append(self.recorder.close)
            log.info("recording the feed's ticks in %s", s.record_ticks)
        self.prefs = Prefs.in_dir(data_dir)
        stores = open_stores(s, clock=self.clock, presence=True,
                             on_recovered=self._storage_back)
        try:
            self.persistence = EnginePersistence(data_dir, self._storage_error, stores=stores)
        except BaseException:
            stores.close()
            raise
        self._closers.append(self._close_storage)
        self.session = self._session()
        self.day_list = DayInstruments(s, self.session, self.sim, clock=self.clock)
        today = self.clock.now().date()
        # unknown symbols wait for a login (Kite's list), but those today's state traded
        instruments = self.day_list.open(self.persistence.day_instruments(today))
        self.index = self.day_list.index
        self.configured = {ins.token: ins for ins in instruments}  # freeze quantities kept
        self.access = AccessWatch(self.session, self._kite, self._put, self._notify,
                                  self.clock, orders=s.mode is Mode.LIVE,
                                  quote_key=instruments[0].symbol if instruments
                                  else "NSE:NIFTY 50")
        self.engine = Engine(s, instruments, clock=self.clock, on_candle=self.persistence.candle,
                             on_mark=self.persistence.mark, carry_positions=True,
                             tag_epoch=wall_epoch())
        self.engine.notify = self._notify
        self.engine.on_trade_closed = self.persistence.trade  # the journal
        MarginWatch.attach(self.engine, paper_capital=s.paper.capital
                           if s.mode is Mode.PAPER else None)
        self.persistence.restore_into(self.engine, today)
        self.runner = EngineRunner(self.engine, self.clock, snapshot=self.persistence.snapshot,
                                   on_armed=self._prioritize)
        self.morning = Morning(self.day_list, self.session, clock=self.clock,
                               calendar=self.calendar, needs_login=self.sim is None,
                               hooks=MorningHooks(self.runner.submit, self.runner.put,
                                                  self._notify, self._configured_late,
                                                  self._feed_after_login,
                                                  recover=self._recover_late))
        self.morning.at_start()  # before the broker's first poll finds no token
        self.broker = self._broker()
        self.engine.attach_broker(self.broker)
        self._recover_candles()
        self.override = DayOverride(load=lambda: self.prefs.section("day_override"),
                                    save=lambda v: self.prefs.update("day_override", dict(v)))
        self.submitter = OverrideSubmitter(self.runner, self.override, self.clock)
        self.chat = self._chat()
        if self.prefs.problem:  # the owner's alert modes and /start or /stop were reset
            self._notify(Notification(AlertKind.ERROR, self.prefs.problem, self.clock.now()))
        self.day = DayScheduler(self.calendar, self.submitter, services=self._day_services(),
                                override=self.override, clock=self.clock)
        self.session.on_login = self._logged_in
        # a login made by ``bot.py login`` in another terminal is taken as /login's is
        self.session_watch = None if self.sim is not None else SessionWatch(
            self.session, self._login_wanted, interval=self.options.session_poll)

    def _session(self) -> KiteSession:
        s, sim = self.settings, self.sim
        if sim is not None:
            session = KiteSession(sim.api_key, sim.api_secret, MemorySessionStore(),
                                  root=sim.rest_root, login_base=sim.login_url,
                                  clock=self.clock)
            session.complete(sim.issue_request_token())
            return session
        return KiteSession(s.secrets.kite_api_key or s.kite.api_key, s.secrets.kite_api_secret,
                           SessionFile.in_dir(s.data_dir), root=s.kite.root,
                           login_base=s.kite.login_url, clock=self.clock,
                           env_token=s.secrets.kite_access_token,
                           kite_factory=partial(kite_client, proxy=s.kite_proxy))

    def _kite(self) -> Any:
        """A REST client with the current token (through ``kite.proxy`` when set)."""
        proxy = "" if self.sim is not None else self.settings.kite_proxy
        return kite_client(self.session.api_key, self.session_root(), proxy=proxy,
                           access_token=self.session.access_token())

    def _put(self, event: object) -> None:
        """An event for the engine; a login needed also looks for one made elsewhere."""
        runner = getattr(self, "runner", None)
        if runner is not None:
            runner.put(event)
        watch = getattr(self, "session_watch", None)
        if watch is not None and isinstance(event, LoginNeeded):
            watch.poke()

    def _login_wanted(self) -> bool:
        """The session watch's question (its thread): no valid token, or Kite refused it."""
        return self.session.access_token() is None or self.engine.login_needed

    def session_root(self) -> str:
        return self.sim.rest_root if self.sim is not None else self.settings.kite.root

    def _broker(self) -> Any:
        engine = self.engine
        if self.settings.mode is Mode.LIVE:
            broker = KiteBroker(self._kite(), self._instrument, self.runner.put,
                                market_protection=self.settings.kite.market_protection,
                                clock=self.clock, on_token_error=self._token_refused,
                                on_access_refused=lambda r: self.access.refused(r, repeat=True),
                                funds_interval=FUNDS_INTERVAL)
            self._closers.append(broker.close)
            self.engine.broker_synced = False  # entries wait for the broker's books
            if self.session.access_token():
                self._reconcile(broker)
            return broker

        def price_of(token: int) -> Decimal | None:
            rt = engine.runtimes.get(token)
            return None if rt is None else rt.last_price

        return PaperBroker(price_of, lambda t: engine.runtimes[t].instrument.tick_size,
                           engine.now, self.settings.defaults.slippage_ticks)

    def _read_funds(self) -> Future[Funds]:
        """/funds (loop thread): Kite's margins now; the answer also refreshes the
        engine's (the margin alert's) view."""
        future = self.broker.read_funds()

        def forward(done: Future[Funds]) -> None:
            if not done.cancelled() and done.exception() is None:
                self.runner.put(done.result())

        future.add_done_callback(forward)
        return future

    def refresh_charges(self) -> str:
        """Kite's contract note for the day's executed orders into the trades' charges (any
        thread but the engine's and the loop's: it waits); the table's charges stay where
        Kite does not answer. Paper mode: nothing to ask."""
        if not isinstance(self.broker, KiteBroker):
            return "paper: the table's charges"
        return refresh_charges(self.runner.call, self.broker.read_contract_note,
                               timeout=CONTRACT_NOTE_WAIT)

    def _instrument(self, token: int) -> Instrument | None:
        """The broker's lookup (its worker thread): the configured instrument, which keeps
        the config's freeze quantity, else the dump's (an instrument added by /add)."""
        return self.configured.get(token) or self.index.by_token(token)

    def _reconcile(self, broker: KiteBroker) -> None:
        """Start-up: the broker tracks our orders open at Kite (cancels and changes of them
        work by tag); its first poll posts a ``BrokerSnapshot``, which the engine handles
        before anything else and which settles, adopts and books what the saved state
        missed (agent/lifecycle/reconciler.py)."""
        try:
            found = broker.reconcile()
        except Exception as exc:  # the broker may be down: the snapshots will catch up
            log.error("start-up read of the broker failed (%s): the saved state is used "
                      "until the broker answers", exc)
            return
        log.info("start-up: %d open order(s) of ours at the broker, %d position(s)",
                 len(found.open_orders), len(found.positions))

    def _recover_candles(self) -> None:
        """The candles missed while the agent was down (or started late), from Kite's
        historical minute candles (agent/recovery.py)."""
        now = self.clock.now()
        if not self.calendar.is_trading_day(now.date()):
            return
        if self.session.access_token() is None:
            log.warning("no access token: the candles missed before this start cannot be "
                        "fetched; the day continues from the saved state")
            return
        engine = self.engine
        fill_gaps(engine, self._minute_bars(), lambda token: engine.runtimes[token]
                  .last_candle_end, now)

    def _recover_late(self) -> None:
        """After a login (its thread): the candles missed since the open without a token,
        the same way, queued on the engine before the feed resumes (agent/recovery.py)."""
        now = self.clock.now()
        if self.calendar.is_trading_day(now.date()) and self.session.access_token():
            recover_late(self.runner.call, self.runner.submit, self._minute_bars(), now)

    def _minute_bars(self) -> Callable[[int, datetime, datetime], list[MinuteBar]]:
        """Kite's historical minute candles with the current token (HTTP when called)."""
        kite = self._kite()

        def fetch(token: int, start: datetime, end: datetime) -> list[MinuteBar]:
            return bars_from_kite(kite.historical_data(token, start, end, "minute"))

        return fetch

    def _chat(self) -> Any:
        s = self.settings
        services = ChatServices(login=self.session if self.sim is None else None,
                                feed_status=self.feed_info,
                                login_state=self.session.login_state, instruments=self.index,
                                on_added=self._instrument_added,
                                on_removed=self._instrument_removed, prefs=self.prefs,
                                candles=self.persistence.candles,
                                funds=self._read_funds if isinstance(self.broker, KiteBroker)
                                else None, readiness=self.morning.readiness,
                                journal=self.persistence.journal,
                                charges=self.refresh_charges if isinstance(
                                    self.broker, KiteBroker) else None)
        # People's waits (buttons, /login) run on wall time when trading time is scaled.
        options = ChatOptions(human_clock=LiveClock() if isinstance(self.clock, ScaledClock)
                              else None)
        if s.secrets.telegram_bot_token:
            return build_telegram(s, self.submitter, clock=self.clock, services=services,
                                  options=options, on_conflict=lambda: log.critical(
                                      "Telegram commands are off (another instance polls "
                                      "with this token); trading continues"))
        return build_console(s, self.submitter, clock=self.clock, services=services,
                             options=options, stdin=self.options.stdin,
                             stdout=self.options.stdout)

    def _day_services(self) -> DayServices:
        return DayServices(
            drop_token=self.session.drop_token,
            login_check=self._login_check,
            instruments_refresh=self._refresh_instruments,
            day_report=self.report,
            token_issued_at=self.session.issued_at,
            session_started=lambda _day: self._session_on(True),
            session_ended=self._session_ended,
        )

    # ------------------------------------------------------------ running

    async def run(self) -> None:
        """Until the stop event: the engine, the day's schedule, the chat (main loop)."""
        self.stop_event = asyncio.Event()
        self._loop = loop = asyncio.get_running_loop()
        self.runner.start()
        if self.session_watch is not None:
            self.session_watch.start()
        if isinstance(self.clock, ScaledClock):
            driver = ScaledJobDriver(self.day, self.clock,
                                     on_done=lambda: loop.call_soon_threadsafe(self._day_over))
            driver.start()
            self._stop_jobs = driver.stop
        else:
            self.day.start()
            self._stop_jobs = lambda: self.day.stop(wait=True)
        log.info("agent running: mode %s, feed %s, %d instruments, data in %s",
                 self.settings.mode.value, self.settings.feed.value, len(self.engine.runtimes),
                 self.settings.data_dir)
        await self.chat.run_until(self.stop_event)

    def _day_over(self) -> None:
        if self.options.on_day_over is not None:
            self.options.on_day_over()

    def request_stop(self) -> None:
        """Any thread: end ``run``."""
        if self.stop_event is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self.stop_event.set)

    def close(self) -> None:
        """Take everything down: no more jobs, no more ticks, the engine's last state saved
        (only when the runner ran: a start that failed saves nothing), then the rest in
        reverse order of opening. Idempotent; main thread. ``close_problem`` then says
        what did not reach the disk, naming the file ("" when everything did)."""
        try:
            self._stop_jobs()
        except Exception:
            log.exception("while stopping the day's jobs")
        self._stop_jobs = lambda: None
        watch = getattr(self, "session_watch", None)
        if watch is not None:
            watch.stop()
        try:
            self.stop_feed()
        except Exception:
            log.exception("while closing the feed")
        if hasattr(self, "runner"):
            self.runner.stop()
        for closer in reversed(self._closers):
            try:
                closer()
            except Exception:
                log.exception("while shutting down")
        self._closers.clear()

    def _close_storage(self) -> None:
        """Stop the storage writer (its queued writes first): the last closer but the lock."""
        if not self.persistence.close():
            self.close_problem = (f"{self.persistence.store.path}: the last state was not "
                                  f"saved ({self._storage_failure or 'the writer did not finish'})")
            log.error("%s", self.close_problem)

    # ------------------------------------------------------------ services

    def start_feed(self) -> None:
        """session_start: connect the feed (once per session)."""
        if self.feed is not None:
            return
        ws_root = self.sim.ws_root if self.sim is not None else self.settings.kite.ws_root
        on_order = self.broker.on_order_message if isinstance(self.broker, KiteBroker) else None
        self.feed = KiteFeed(self.session.api_key, self.session.access_token, self._from_feed,
                             clock=self.clock, tokens=list(self.engine.runtimes),
                             root=ws_root, on_order_message=on_order,
                             on_login_needed=self.access.ticker_refused)
        self.feed.prioritize(self._armed)
        self.feed.start()

    def _from_feed(self, event: object) -> None:
        """The feed's events (reactor thread, never blocks). After a (re)connect the broker
        reads its books at once: order messages may have been missed while it was down."""
        if isinstance(event, FeedStatus) and event.up and isinstance(self.broker, KiteBroker):
            self.broker.refresh()
        elif self.recorder is not None and isinstance(event, TickBatch):
            self.recorder.record(event.ticks)
        self.runner.put(event)

    def _prioritize(self, tokens: frozenset[int]) -> None:
        """The engine's armed instruments changed (engine thread): their ticks go first."""
        self._armed = tokens
        feed = self.feed
        if feed is not None:
            feed.prioritize(tokens)

    def _session_on(self, on: bool) -> None:
        """session_start (on) and session_end (off): the feed follows the session."""
        self._in_session = on
        if on:
            self.start_feed()
        else:
            self.stop_feed()

    def _session_ended(self, day: date) -> None:
        """session_end (a scheduler thread): the feed stops; the day's journal summary."""
        self._session_on(False)
        try:
            rows = self.runner.call(Query(QueryKind.TRADES)).data
            self.persistence.close_day(day, [trade_from_dict(r) for r in rows],
                                       self.clock.now())
        except Exception:
            log.exception("journal: the summary of %s could not be written", day)

    def stop_feed(self) -> None:
        feed, self.feed = self.feed, None
        if feed is not None:
            feed.close()

    def feed_info(self) -> FeedInfo:
        feed = self.feed
        return feed.feed_info() if feed is not None else FeedInfo(False, None, "not connected "
                                                                  "(outside the session)")

    def _instrument_added(self, ins: Instrument) -> None:
        if self.feed is not None:
            self.feed.subscribe([ins.token])

    def _instrument_removed(self, ins: Instrument) -> None:
        """/remove (loop thread): no more ticks of it. The next session's feed starts with
        the engine's instruments, which no longer hold it."""
        if self.feed is not None:
            self.feed.unsubscribe([ins.token])
    def _configured_late(self, ins: Instrument) -> None:
        """A configured symbol resolved after a login (its thread): the broker's lookup
        keeps its freeze quantity, the feed streams it."""
        self.configured[ins.token] = ins
        self._instrument_added(ins)

    def _feed_after_login(self) -> None:
        """After a login: the feed reconnects with the new token; in the session, a feed
        that is not running starts."""
        if self.feed is not None:
            self.feed.reconnect()
        elif self._in_session:
            self.start_feed()

    def _token_refused(self) -> None:
        self.session.drop_token()
        self._put(LoginNeeded("Kite refused the access token for an order"))

    def _login_check(self) -> None:
        """The morning job: the token, the market-data plan, the static IP (AccessWatch)."""
        self.access.login_check()

    def _logged_in(self, token: str) -> None:
        """A login completed (on the thread that ran it: /login's worker): the broker and
        the engine take the token, then the morning's work (``Morning.logged_in``)."""
        if isinstance(self.broker, KiteBroker):
            self.broker.kite.set_access_token(token)
        self.runner.put(LoggedIn(self.session.user_id, until=self.session.valid_until()))
        self.morning.logged_in()

    def _refresh_instruments(self) -> None:
        """The 08:45 job: the day's instrument list (``Morning.refresh``)."""
        self.morning.refresh()

    def report(self, day: date) -> Path | None:
        """The day report: its text as an alert with the charts as photos (each captioned
        with what it shows), the charts also saved under data/reports/DAY (any thread but
        the engine's: it asks the engine through its inbox). A candle file or record that
        cannot be used, or charts that cannot be saved, are named in the text by what they
        are (the log has the paths); the report is made from the rest. Live, Kite's contract
        note prices the day's trades first (the table's charges when it does not answer)."""
        try:
            log.info("day report: charges: %s", self.refresh_charges())
        except Exception:  # the report goes out with the table's charges
            log.exception("day report: Kite's contract note could not be applied")
        trades = self.runner.call(Query(QueryKind.TRADES)).data
        rows = self.runner.call(Query(QueryKind.STATUS)).data["instruments"]
        candles = self.persistence.candles
        report = report_from_views(day, trades, rows, candles.read, candles.read_marks)
        out = self.settings.data_dir / "reports" / day.isoformat()
        n = len(report.charts)
        where = f"{n} chart{'' if n == 1 else 's'} below" if n else "no charts"
        try:
            write_report(report, out)
        except OSError as exc:
            log.error("day report: the charts could not be saved in %s: %s", out, exc)
            where += f" (not saved on the server: {os_problem(exc)})"
        self._notify(Notification(AlertKind.DAY_REPORT, f"{report.text}\n{where}",
                                  self.clock.now(), data={"charts": report.charts}))
        return out

    def _notify(self, note: Notification) -> None:
        chat = getattr(self, "chat", None)
        if chat is not None:
            chat.notify(note)

    def _storage_back(self, message: str) -> None:
        """The storage writer's thread: Redis answers again after failing."""
        self._storage_failure = ""
        log.info("storage: %s", message)
        self._notify(Notification(AlertKind.STORAGE_UP, f"storage: {message}",
                                  self.clock.now()))

    def _storage_error(self, message: str) -> None:
        """The storage writer's thread: a write failed (the writer keeps it and retries)."""
        if "state write" in message or not self._storage_failure:
            self._storage_failure = message  # the state file's own failure says most
        log.error("storage: %s", message)
        self._notify(Notification(AlertKind.ERROR, f"storage: {message}", self.clock.now()))
