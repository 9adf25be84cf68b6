"""The morning's parts (issue 14): the day's instrument list and the configured symbols that
wait for it (``handlers.instruments.DayInstruments``), what a login and the 08:45 refresh do
(``handlers.morning.Morning``, with a real engine taking the resolved symbols), the LOGIN
alert's words, and the engine's side of a login. Kite's dump comes from a fake client;
time from a ``SimClock``."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agent.backtest import make_engine
from agent.calendar import TradingCalendar, load_schedule
from agent.clock import SimClock
from agent.commands import handle_command
from agent.config import load_settings_from_dict
from agent.events import AddInstrument, AlertKind, LoggedIn, LoginNeeded, Notification
from agent.instruments import InstrumentsError
from agent.models import Instrument
from agent.runner import EngineRunner
from agent.session import KiteSession, login_text, next_expiry
from agent.timeutil import IST
from handlers.instruments import DayInstruments
from handlers.morning import Morning, MorningHooks
from handlers.readiness import Readiness, entries_line, pending_lines
from handlers.runtime import MemorySessionStore

ROOT = Path(__file__).resolve().parents[2]
SCHEDULE = load_schedule(ROOT / "schedules.yaml")
MONDAY = date(2026, 12, 7)
ADANI = {"instrument_token": 3861249, "exchange": "NSE", "tradingsymbol": "ADANIPORTS",
         "tick_size": 0.05, "lot_size": 1, "segment": "NSE", "instrument_type": "EQ"}
INFY = {**ADANI, "instrument_token": 408065, "tradingsymbol": "INFY"}
TCS = {**ADANI, "instrument_token": 2953217, "tradingsymbol": "TCS"}


def at(hh: int, mm: int, d: date = MONDAY) -> datetime:
    return datetime.combine(d, time(hh, mm), tzinfo=IST)


class FakeKite:
    """``kite_client`` for the dump: counts downloads; ``rows`` or an exception."""

    def __init__(self, rows: list[dict[str, Any]] | Exception) -> None:
        self.rows, self.downloads = rows, 0

    def __call__(self, api_key: str, root: str, **kwargs: Any) -> FakeKite:
        assert kwargs.get("access_token") == "tok"
        return self

    def instruments(self) -> list[dict[str, Any]]:
        self.downloads += 1
        if isinstance(self.rows, Exception):
            raise self.rows
        return self.rows


class FakeLoginKite:
    def __init__(self, api_key: str, root: str) -> None:
        pass

    def generate_session(self, request_token: str, api_secret: str) -> dict[str, str]:
        return {"access_token": "tok", "user_id": "AB1234"}


class World:
    """A Kite session, the day's list, a real engine, and the morning between them."""

    def __init__(self, now: datetime, rows: list[dict[str, Any]] | Exception, *,
                 symbols: tuple[str, ...] = ("NSE:ADANIPORTS", "NSE:INFY"),
                 instruments_file: str = "") -> None:
        kite: dict[str, Any] = {"instruments_file": instruments_file} if instruments_file \
            else {}
        self.settings = load_settings_from_dict({"mode": "live", "instruments": list(symbols),
                                                 "kite": kite}, SCHEDULE,
                                                {"KITE_API_KEY": "key", "KITE_API_SECRET": "s"})
        self.clock = SimClock(now)
        self.session = KiteSession("key", "secret", MemorySessionStore(), root="http://x",
                                   login_base="http://x/login", clock=self.clock,
                                   kite_factory=FakeLoginKite)
        self.kite = FakeKite(rows)
        self.day = DayInstruments(self.settings, self.session, clock=self.clock,
                                  kite_factory=self.kite)
        self.events: list[object] = []
        self.notes: list[Notification] = []
        self.added: list[Instrument] = []
        self.feed_ups = 0

    def open(self, saved: tuple[Instrument, ...] = ()) -> list[Instrument]:
        found = self.day.open(saved)
        self.engine = make_engine(self.settings, found)
        self.morning = Morning(self.day, self.session, clock=self.clock,
                               calendar=TradingCalendar(SCHEDULE), needs_login=True,
                               hooks=MorningHooks(self.submit, self.events.append,
                                                  self.notes.append, self.added.append,
                                                  self.feed_up))
        return found

    def call(self, command: Any) -> Any:
        return handle_command(self.engine, command)

    def submit(self, command: Any) -> Future[Any]:
        done: Future[Any] = Future()
        done.set_result(self.call(command))
        return done

    def feed_up(self) -> None:
        self.feed_ups += 1

    def login(self) -> None:
        """What a pasted redirect does: the session completes, then the morning's work."""
        self.session.complete("request_token=abcdefgh12")
        self.morning.logged_in()


def test_without_a_login_an_unknown_symbol_waits_and_the_sample_serves_the_rest() -> None:
    w = World(at(7, 40), [ADANI, INFY])
    assert [i.symbol for i in w.open()] == ["NSE:ADANIPORTS"]
    assert w.day.pending() == [("NSE:INFY", "waiting for login")]
    assert w.kite.downloads == 0  # no token: nothing to download with
    assert w.day.not_listed("NSE:TCS") == ("NSE:TCS: not in the bundled sample list (no "
                                           "login yet); /login loads today's")
    w.morning.at_start()
    assert w.events == [LoginNeeded("no valid access token; NSE:INFY waits for it")]
    ready = w.morning.readiness()
    assert not ready.logged_in and ready.pending == (("NSE:INFY", "waiting for login"),)


def test_a_list_no_login_can_change_still_refuses_an_unknown_symbol(tmp_path) -> None:
    dump = tmp_path / "instruments.csv"
    dump.write_text("instrument_token,tradingsymbol,tick_size,lot_size,exchange\n"
                    "3861249,ADANIPORTS,0.05,1,NSE\n", encoding="utf-8")
    w = World(at(9, 20), [], instruments_file=str(dump))
    with pytest.raises(InstrumentsError, match=r"'NSE:INFY' is not in the instruments dump"):
        w.open()


def test_a_login_after_the_refresh_downloads_the_list_once_and_trades_the_symbol() -> None:
    w = World(at(9, 20), [ADANI, INFY, TCS])
    w.open()
    w.login()
    assert w.kite.downloads == 1
    (note,) = w.notes
    assert note.kind is AlertKind.LOGIN
    assert note.text.split("\n") == ["Kite login as AB1234: valid until 06:00",
                                     "instruments: today's instrument list (loaded 09:20)",
                                     "now trading NSE:INFY"]
    assert [i.symbol for i in w.added] == ["NSE:INFY"] and w.feed_ups == 1
    assert "NSE:INFY" in w.engine.by_symbol and w.day.pending() == []
    assert "NSE:INFY" not in w.engine.overrides.get("added", {})  # config's, not /add's
    assert w.day.index.by_symbol("NSE:TCS") is not None  # /add finds the day's symbols
    assert w.morning.readiness().reload_hint == ""
    # a second login the same day (a master logout) does not download again
    w.clock.advance(timedelta(hours=2))
    w.login()
    assert w.kite.downloads == 1
    assert w.notes[-1].text == "Kite login as AB1234: valid until 06:00"


def test_a_login_before_the_refresh_loads_a_list_the_refresh_replaces() -> None:
    w = World(at(7, 30), [ADANI, INFY])
    w.open()
    w.login()
    assert w.kite.downloads == 1 and w.day.pending() == []
    assert w.day.origin() == "the instrument list loaded 07:30"
    assert w.day.not_listed("NSE:TCS") == ("NSE:TCS: not in the instrument list loaded "
                                           "07:30; today's is loaded at 08:45")
    w.clock.advance_to(at(8, 45))
    w.morning.refresh()
    assert w.kite.downloads == 2 and w.day.current()
    assert w.day.not_listed("NSE:TCS") == ("NSE:TCS: not in today's instrument list "
                                           "(loaded 08:45)")


def test_a_symbol_missing_from_todays_list_is_named_with_why() -> None:
    w = World(at(9, 20), [ADANI])
    w.open()
    w.login()
    assert w.notes[-1].text.split("\n")[-1] == (
        "not traded: NSE:INFY: not in today's instrument list (loaded 09:20)")
    assert w.day.pending() == [("NSE:INFY", "not in today's instrument list (loaded 09:20)")]
    assert pending_lines(w.day.pending()) == [
        "⏳ not in today's instrument list (loaded 09:20): NSE:INFY"]


def test_a_failed_download_keeps_the_symbol_waiting_for_the_list() -> None:
    w = World(at(9, 20), ConnectionError("kite down"))
    w.open()
    w.login()
    assert w.kite.downloads == 1
    assert w.notes[-1].text.split("\n")[1:] == [
        "not traded: NSE:INFY: waiting for today's instrument list"]
    assert w.morning.readiness().reload_hint == "/login loads today's"


def test_the_refresh_without_a_login_downloads_nothing_and_says_nothing() -> None:
    w = World(at(8, 45), [ADANI, INFY])
    w.open()
    w.morning.refresh()
    assert w.kite.downloads == 0 and w.notes == []
    assert w.day.pending() == [("NSE:INFY", "waiting for login")]


def test_the_refresh_names_what_todays_list_lacks() -> None:
    w = World(at(7, 30), [ADANI])
    w.open()
    w.login()  # yesterday's list at 07:30: INFY waits for today's
    assert w.day.pending() == [("NSE:INFY", "waiting for today's instrument list")]
    w.clock.advance_to(at(8, 45))
    w.morning.refresh()
    assert w.notes[-1].kind is AlertKind.ERROR
    assert w.notes[-1].text == ("not traded: NSE:INFY: not in today's instrument list "
                                "(loaded 08:45)")


@pytest.mark.parametrize("now", [at(10, 0, date(2026, 12, 5)), at(15, 31)])
def test_no_login_is_asked_for_at_start_when_the_day_does_not_trade(now) -> None:
    w = World(now, [ADANI])
    w.open()
    w.morning.at_start()
    assert w.events == []


def test_a_symbol_the_owner_removed_is_not_brought_back_by_a_login() -> None:
    w = World(at(9, 20), [ADANI, INFY])
    w.open()
    w.engine.overrides["removed"] = {"NSE:INFY"}
    w.login()
    assert "NSE:INFY" not in w.engine.by_symbol and w.added == []
    assert "now trading" not in w.notes[-1].text


def test_the_engine_announces_a_login_once() -> None:
    w = World(at(9, 20), [ADANI])
    w.open()
    engine, notes = w.engine, []
    engine.notify = notes.append
    engine.handle(LoginNeeded("no valid access token"))
    engine.handle(LoginNeeded("the ticker refused the access token"))
    (needed,) = notes
    assert needed.kind is AlertKind.LOGIN_NEEDED
    assert needed.text.startswith("Kite login needed (no valid access token): no new entries "
                                  "until /login")
    engine.handle(LoggedIn("AB1234", until=at(6, 0, date(2026, 12, 8))))
    assert not engine.login_needed and len(notes) == 1  # the login's own alert says it
    engine.handle(LoginNeeded())
    engine.handle(LoggedIn("AB1234"))  # a check found the token valid again
    assert notes[-1].kind is AlertKind.LOGIN
    assert notes[-1].text == "Kite login as AB1234: valid again, entries allowed"


def test_a_configured_symbol_added_late_is_not_the_owners_addition() -> None:
    w = World(at(9, 20), [ADANI])
    w.open()
    infy = Instrument(408065, "NSE", "INFY", Decimal("0.05"), 1, segment="NSE")
    assert w.call(AddInstrument(infy, configured=True)).text == \
        "NSE:INFY: trading from its next tick"
    assert not w.call(AddInstrument(infy, configured=True)).ok
    assert "NSE:INFY" not in w.engine.overrides.get("added", {})


def test_login_words_and_the_tokens_expiry() -> None:
    assert next_expiry(at(23, 0)) == at(6, 0, date(2026, 12, 8))
    assert next_expiry(at(5, 30)) == at(6, 0)  # half an hour: say it
    assert next_expiry(at(6, 0)) == at(6, 0, date(2026, 12, 8))
    assert login_text("AB1234", at(6, 0)) == "Kite login as AB1234: valid until 06:00"
    assert Readiness(instrument_list="x").not_listed("NSE:Y") == "NSE:Y: not in x"
    assert Readiness().not_listed("NSE:Y") is None


def test_the_entries_line_defers_to_a_stop_and_a_pause() -> None:
    now = at(10, 0)
    assert entries_line(SCHEDULE, now, None) == "entries allowed now"
    assert entries_line(SCHEDULE, now, Readiness(logged_in=False)) == \
        "entries once logged in: /login"
    assert entries_line(SCHEDULE, now, None, {"running": False}) == ""
    assert entries_line(SCHEDULE, now, None, {"running": True, "paused": True}) == \
        "paused: /resume allows entries"


INFY_DEF = Instrument(408065, "NSE", "INFY", Decimal("0.05"), 1, segment="NSE", name="INFOSYS")


def test_a_restart_takes_the_definitions_todays_state_kept_before_a_login() -> None:
    """Issue 14: today's saved state traded NSE:INFY (from the day's list); the restart has
    only the sample list: the symbol trades at once, nothing waits for the login."""
    w = World(at(9, 40), [ADANI, INFY])
    assert [i.symbol for i in w.open((INFY_DEF,))] == ["NSE:ADANIPORTS", "NSE:INFY"]
    assert w.day.pending() == [] and "NSE:INFY" in w.engine.by_symbol
    w.morning.at_start()
    assert w.events == [LoginNeeded("no valid access token")]
    w.login()  # the day's list loads; nothing is added twice
    assert w.added == [] and "now trading" not in w.notes[-1].text


def test_a_saved_definition_a_configured_token_contradicts_is_not_used() -> None:
    w = World(at(9, 40), [ADANI, INFY])
    w.settings = load_settings_from_dict(
        {"mode": "live", "instruments": ["NSE:ADANIPORTS",
                                         {"symbol": "NSE:INFY", "token": 999}]},
        SCHEDULE, {"KITE_API_KEY": "key", "KITE_API_SECRET": "s"})
    w.day = DayInstruments(w.settings, w.session, clock=w.clock, kite_factory=w.kite)
    assert [i.symbol for i in w.open((INFY_DEF,))] == ["NSE:ADANIPORTS"]
    assert w.day.pending() == [("NSE:INFY", "waiting for login")]


def test_the_missed_candles_are_queued_before_the_new_symbols_stream() -> None:
    w = World(at(9, 40), [ADANI, INFY])
    w.open()
    order: list[str] = []

    def submit(command: Any) -> Future[Any]:
        order.append(f"add {command.instrument.symbol}")
        return w.submit(command)

    w.morning.hooks = MorningHooks(submit, w.events.append, w.notes.append,
                                   lambda ins: order.append(f"stream {ins.symbol}"),
                                   lambda: order.append("feed up"),
                                   recover=lambda: order.append("recover"))
    w.login()
    assert order == ["add NSE:INFY", "recover", "stream NSE:INFY", "feed up"]


def test_a_symbol_the_busy_engine_takes_late_is_still_streamed() -> None:
    """The login stops waiting for a busy engine; the add stays queued, and the symbol is
    streamed when the engine confirms it (never added but unsubscribed)."""
    w = World(at(9, 20), [ADANI, INFY])
    w.open()
    free, streamed = threading.Event(), threading.Event()
    handle = w.engine.handle

    def busy(event: Any) -> Any:  # the engine is on something long
        assert free.wait(10)
        return handle(event)

    w.engine.handle = busy  # type: ignore[method-assign]
    runner = EngineRunner(w.engine, w.clock, timer_seconds=None)
    runner.start()
    try:
        def added(ins: Instrument) -> None:
            w.added.append(ins)
            streamed.set()

        w.morning.hooks = MorningHooks(runner.submit, w.events.append, w.notes.append, added,
                                       w.feed_up)
        w.morning.add_timeout = 0.05
        w.login()
        assert w.notes[-1].text.split("\n")[1:] == [
            "instruments: today's instrument list (loaded 09:20)",
            "adding NSE:INFY: the engine is busy, it trades once the engine takes it"]
        assert w.added == []
        free.set()
        assert streamed.wait(10), "the symbol the engine took was never streamed"
        assert [i.symbol for i in w.added] == ["NSE:INFY"]
        assert "NSE:INFY" in w.engine.by_symbol
    finally:
        free.set()
        runner.stop()
