"""The runner thread: commands get replies, a failing event does not stop the loop."""

from __future__ import annotations

from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime
from decimal import Decimal
from threading import Event

import pytest

from agent.backtest import make_engine
from agent.events import ClockTick, PauseEntries, Query, QueryKind, StartTrading
from agent.models import Instrument, Tick
from agent.runner import EngineRunner
from agent.settings import InstrumentConfig, Settings
from agent.timeutil import IST

INS = Instrument(7, "NSE", "AAA", Decimal("0.05"), 1)


def _engine():
    settings = Settings(instruments=(InstrumentConfig("NSE:AAA", 7, Decimal("0.05"), 1),))
    return make_engine(settings, [INS])


def test_command_reply_reflects_state_change() -> None:
    engine = _engine()
    runner = EngineRunner(engine, engine.clock, timer_seconds=None)
    runner.start()
    try:
        assert runner.call(PauseEntries()).ok
        status = runner.call(Query(QueryKind.STATUS))
        assert status.data["state"] == "paused"
        runner.call(StartTrading())
        assert runner.call(Query(QueryKind.STATUS)).data["state"] == "running"
    finally:
        runner.stop()
    assert not runner.alive


def test_a_failing_event_is_logged_and_the_loop_carries_on(caplog) -> None:
    engine = _engine()
    runner = EngineRunner(engine, engine.clock, timer_seconds=None)
    runner.start()
    try:
        runner.put("not an event")  # the engine raises TypeError for it
        reply = runner.call(Query(QueryKind.INSTRUMENTS))
        assert reply.ok and reply.data[0]["symbol"] == "NSE:AAA"
    finally:
        runner.stop()
    assert "event str failed" in caplog.text


def test_call_times_out_when_the_engine_is_busy() -> None:
    engine = _engine()
    release = Event()
    original = engine.handle

    def slow(event):
        if isinstance(event, ClockTick):
            release.wait(5)
        return original(event)

    engine.handle = slow  # type: ignore[method-assign]
    runner = EngineRunner(engine, engine.clock, timer_seconds=None)
    runner.start()
    try:
        runner.put(ClockTick(datetime(2026, 11, 23, 9, 20, tzinfo=IST)))
        with pytest.raises(FutureTimeout):
            runner.call(Query(QueryKind.STATUS), timeout=0.05)
    finally:
        release.set()
        runner.stop()


def test_clock_tick_completes_a_candle_without_a_new_tick() -> None:
    engine = _engine()
    completed = []
    engine.on_candle = lambda ins, candle: completed.append(candle)
    t0 = datetime(2026, 11, 23, 9, 15, 3, tzinfo=IST)
    engine.handle(Tick(7, Decimal("100"), t0, None, 10, 10))
    engine.handle(ClockTick(datetime(2026, 11, 23, 9, 20, 1, tzinfo=IST)))
    assert completed == []  # within the grace after the candle's end
    engine.handle(ClockTick(datetime(2026, 11, 23, 9, 20, 5, tzinfo=IST)))
    assert [c.start.time().isoformat() for c in completed] == ["09:15:00"]
    # Once only: a late tick of the completed bucket is ignored, no second completion.
    engine.handle(Tick(7, Decimal("101"), datetime(2026, 11, 23, 9, 19, 59, tzinfo=IST)))
    engine.handle(ClockTick(datetime(2026, 11, 23, 9, 30, 0, tzinfo=IST)))
    assert len(completed) == 1
    assert engine.runtimes[7].stale == 1


def _alert_candle() -> list[Tick]:
    """Two 5-minute candles, the second closing above the VWAP: a buy alert at 09:25."""
    at = datetime(2026, 11, 23, 9, 15, tzinfo=IST)
    return [Tick(7, Decimal(price), at.replace(minute=minute, second=second), None)
            for minute, second, price in ((15, 3, "100"), (16, 0, "102"), (17, 0, "98"),
                                          (18, 0, "100"), (20, 1, "100"), (21, 0, "110"),
                                          (25, 1, "110"))]


def test_armed_tokens_name_the_instruments_with_an_alert_or_a_position() -> None:
    engine = _engine()
    engine.handle(StartTrading())
    assert engine.armed_tokens() == frozenset()
    for tick in _alert_candle():
        engine.handle(tick)
    up = engine.runtimes[7].state.buy_upper  # just above the alert candle's high (110)
    assert engine.armed_tokens() == {7}  # the last price, 110, is within 1% of it
    engine.handle(Tick(7, up * Decimal("0.98"), datetime(2026, 11, 23, 9, 26, tzinfo=IST)))
    assert engine.armed_tokens() == frozenset()  # 2% away



def test_the_runner_tells_the_armed_instruments_when_they_change() -> None:
    engine = _engine()
    told: list[frozenset[int]] = []
    armed = Event()

    def on_armed(tokens: frozenset[int]) -> None:
        told.append(tokens)
        if tokens:
            armed.set()

    runner = EngineRunner(engine, engine.clock, timer_seconds=None, on_armed=on_armed,
                          armed_seconds=0.0)
    runner.start()
    try:
        runner.call(StartTrading())
        for tick in _alert_candle():
            runner.put(tick)
        assert armed.wait(5)
        runner.call(Query(QueryKind.STATUS))  # nothing changed: nothing told again
    finally:
        runner.stop()
    assert told[-1] == {7} and told.count(frozenset({7})) == 1
