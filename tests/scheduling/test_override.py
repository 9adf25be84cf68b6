"""/start and /stop override the schedule for their day; the next trading day runs by the
schedule again; the override survives a restart."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from agent.backtest import make_engine
from agent.clock import SimClock
from agent.daycontrol import DayOverride, OverrideSubmitter
from agent.events import Job, PauseEntries, Query, QueryKind, RunJob, StartTrading, StopTrading
from agent.runner import EngineRunner
from agent.settings import Settings

from .helpers import FakeRunner, at, build, drive

MON, TUE, WED, THU = (date(2026, 11, 23 + i) for i in range(4))  # Tuesday is a holiday


class Store:
    """A stand-in for prefs.json: what save() wrote, read back by load()."""

    def __init__(self, value: Any = None) -> None:
        self.value = value
        self.saves = 0

    def load(self) -> Any:
        return self.value

    def save(self, value: Any) -> None:
        self.value = dict(value)
        self.saves += 1


def test_stop_at_11_is_not_undone_by_a_restart_and_monday_runs_by_the_schedule_again() -> None:
    store = Store()
    clock = SimClock(at(MON, 11, 0))
    override = DayOverride(store.load, store.save)
    engine_side = FakeRunner()
    OverrideSubmitter(engine_side, override, clock).submit(StopTrading())
    assert engine_side.commands == [StopTrading()]
    assert store.value == {"day": "2026-11-23", "running": False}

    # the process restarts at 12:00: the override is read back; the catch-up starts the day
    # (the engine needs it) without entries
    day, runner, _, sim = build(start=at(MON, 12, 0), override=DayOverride(store.load))
    day.run_catch_up()
    assert runner.commands == [RunJob(Job.SESSION_START, at(MON, 12, 0), trading=False)]

    # the rest of Monday and the next trading day (Wednesday: Tuesday is a holiday)
    runner.commands.clear()
    drive(day, sim, at(MON, 12, 0), at(THU, 0, 0))
    assert runner.commands == [
        RunJob(Job.ENTRY_CUTOFF, at(MON, 15, 0)), RunJob(Job.SQUARE_OFF, at(MON, 15, 15)),
        RunJob(Job.SESSION_END, at(MON, 15, 31)),
        RunJob(Job.SESSION_START, at(WED, 9, 14)),  # trading again: by the schedule
        RunJob(Job.ENTRY_CUTOFF, at(WED, 15, 0)), RunJob(Job.SQUARE_OFF, at(WED, 15, 15)),
        RunJob(Job.SESSION_END, at(WED, 15, 31))]


def test_stop_before_session_start_keeps_the_day_stopped(caplog) -> None:
    day, runner, _, clock = build(start=at(MON, 8, 0))
    OverrideSubmitter(FakeRunner(), day.override, clock).submit(StopTrading(square_off=True))
    with caplog.at_level(logging.INFO, logger="agent.scheduler"):
        drive(day, clock, at(MON, 8, 0), at(MON, 12, 0))
    assert runner.commands == [RunJob(Job.SESSION_START, at(MON, 9, 14), trading=False)]
    assert "the owner stopped 2026-11-23 (/stop)" in caplog.text


def test_start_overrides_an_earlier_stop_of_the_same_day() -> None:
    day, runner, _, clock = build(start=at(MON, 7, 0))
    submitter = OverrideSubmitter(FakeRunner(), day.override, clock)
    submitter.submit(StopTrading())
    clock.advance_to(at(MON, 8, 0))
    submitter.submit(StartTrading())
    assert day.override.get(MON) is True
    drive(day, clock, at(MON, 8, 0), at(MON, 10, 0))
    assert runner.commands == [RunJob(Job.SESSION_START, at(MON, 9, 14))]


def test_only_start_and_stop_record_an_override() -> None:
    override = DayOverride()
    runner = FakeRunner()
    OverrideSubmitter(runner, override, SimClock(at(MON, 10, 0))).submit(PauseEntries())
    assert override.get(MON) is None and runner.commands == [PauseEntries()]


def test_a_bad_stored_override_is_ignored_with_a_warning(caplog) -> None:
    store = Store({"day": "23/11/2026", "running": "no"})
    override = DayOverride(store.load, store.save)
    assert override.get(MON) is None
    assert "ignoring the stored value" in caplog.text
    assert store.value == {"day": "23/11/2026", "running": "no"}  # left as it was


def test_a_failing_save_keeps_the_override_in_memory(caplog) -> None:
    def broken(value: Any) -> None:
        raise OSError("disk full")

    override = DayOverride(save=broken)
    override.set(MON, False)
    assert override.get(MON) is False
    assert "could not be saved" in caplog.text


def _engine_runner() -> EngineRunner:
    engine = make_engine(Settings(), [])
    runner = EngineRunner(engine, engine.clock, timer_seconds=None)
    runner.start()
    return runner


def test_the_engine_ends_up_stopped_after_session_start_on_a_stopped_day() -> None:
    runner = _engine_runner()
    try:
        clock = SimClock(at(MON, 8, 0))
        override = DayOverride()
        OverrideSubmitter(runner, override, clock).submit(StopTrading()).result(5)
        day, _, _, _ = build(start=at(MON, 9, 14), override=override)
        day.runner = runner
        day.clock.advance_to(at(MON, 9, 14))
        assert day.fire(Job.SESSION_START, at(MON, 9, 14))
        status = runner.call(Query(QueryKind.STATUS)).data
        assert status["state"] == "stopped"
        assert runner.engine.day == MON

        # Wednesday (the next trading day) runs by the schedule: the engine trades
        day.clock.advance_to(at(WED, 9, 14))
        assert day.fire(Job.SESSION_START, at(WED, 9, 14))
        assert runner.call(Query(QueryKind.STATUS)).data["state"] == "running"
        assert runner.engine.day == WED
    finally:
        runner.stop()
