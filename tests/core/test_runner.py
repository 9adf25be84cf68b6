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
