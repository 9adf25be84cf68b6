"""The real BackgroundScheduler under time-machine: jobs fire in IST at their times, the
06:00 token drop, the start-up catch-up. Time moves only by travel; the test waits on
events set by the fakes (with timeouts), never sleeps."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date, datetime

import pytest
import time_machine
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED

from agent.clock import LiveClock
from agent.events import Job, RunJob
from agent.scheduler import DayScheduler

from .helpers import CALENDAR, FakeRunner, Recorder, at

MON = date(2026, 11, 23)
WAIT = 5.0  # seconds; only reached when something is broken


class Executed:
    """Job ids APScheduler finished (or failed), with an event per id."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.errors: list[str] = []
        self.missed: list[str] = []
        self._events: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def event(self, job_id: str) -> threading.Event:
        with self._lock:
            return self._events.setdefault(job_id, threading.Event())

    def __call__(self, event) -> None:
        self.ids.append(event.job_id)
        if event.code == EVENT_JOB_MISSED:
            self.missed.append(event.job_id)
        elif event.exception is not None:
            self.errors.append(f"{event.job_id}: {event.exception!r}")
        self.event(event.job_id).set()

    def wait(self, job_id: str) -> None:
        assert self.event(job_id).wait(WAIT), f"{job_id} did not run; ran: {self.ids}"
        self.event(job_id).clear()


ALL_EVENTS = EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED


def _started(token_at: datetime) -> tuple[DayScheduler, FakeRunner, Recorder, Executed]:
    """A started DayScheduler on the wall clock (time-machine's), with recording fakes."""
    clock = LiveClock()
    runner = FakeRunner()
    recorder = Recorder(clock, token_at=token_at)
    day = DayScheduler(CALENDAR, runner, services=recorder.services(), clock=clock)
    executed = Executed()
    day.scheduler.add_listener(executed, ALL_EVENTS)
    day.start()
    return day, runner, recorder, executed


@pytest.fixture
def live() -> Iterator[tuple[time_machine.Traveller, DayScheduler, FakeRunner, Recorder,
                             Executed]]:
    with time_machine.travel(at(MON, 5, 59), tick=False) as traveller:
        day, runner, recorder, executed = _started(token_at=at(MON, 5, 30))  # alive till 06:00
        try:
            yield traveller, day, runner, recorder, executed
        finally:
            day.stop()
        assert executed.errors == []


def _step(traveller: time_machine.Traveller, day: DayScheduler, executed: Executed,
          when: datetime, job_id: str) -> None:
    traveller.move_to(when)
    day.scheduler.wakeup()
    executed.wait(job_id)


def test_the_scheduler_fires_the_06_00_token_drop_and_session_start_in_ist(live) -> None:
    traveller, day, runner, recorder, executed = live
    executed.wait("catch_up")  # at 05:59 nothing was missed: the token is still alive
    assert recorder.calls == [] and runner.commands == []
    assert {job.id: str(job.trigger) for job in day.scheduler.get_jobs()}["token_expiry"] == (
        "cron[day_of_week='mon-fri', hour='6', minute='0', second='0']")

    _step(traveller, day, executed, at(MON, 6, 0), "token_expiry")
    assert recorder.calls == [("drop_token", None, at(MON, 6, 0))]

    _step(traveller, day, executed, at(MON, 8, 30), "login_check")
    _step(traveller, day, executed, at(MON, 8, 45), "instruments_refresh")
    _step(traveller, day, executed, at(MON, 9, 14), "session_start")
    assert runner.commands == [RunJob(Job.SESSION_START, at(MON, 9, 14))]
    assert [name for name, _, _ in recorder.calls] == [
        "drop_token", "login_check", "instruments_refresh", "session_started"]

    # late by 2 minutes (the machine slept): within the 300 s misfire grace, it still runs
    _step(traveller, day, executed, at(MON, 15, 2), "entry_cutoff")
    assert runner.commands[-1] == RunJob(Job.ENTRY_CUTOFF, at(MON, 15, 2))
    # late by 5 min 1 s: beyond the grace, APScheduler reports it missed and skips it ...
    _step(traveller, day, executed, at(MON, 15, 20, 1), "square_off")
    assert executed.missed == ["square_off"]
    # ... and the catch-up rules run it anyway: square-off is due until session_end
    executed.wait("catch_up_missed")
    assert runner.commands == [RunJob(Job.SESSION_START, at(MON, 9, 14)),
                               RunJob(Job.ENTRY_CUTOFF, at(MON, 15, 2)),
                               RunJob(Job.SQUARE_OFF, at(MON, 15, 20, 1))]
    assert len(recorder.calls) == 4  # login_check (due by the rules) already ran at 08:30


def test_a_start_after_six_drops_an_old_token_once() -> None:
    with time_machine.travel(at(MON, 6, 0), tick=False):
        # the 06:00 cron firing and the catch-up meet: the token is dropped once
        day, runner, recorder, executed = _started(token_at=at(date(2026, 11, 20), 8, 45))
        try:
            executed.wait("catch_up")
            executed.wait("token_expiry")
        finally:
            day.stop()
    assert [name for name, _, _ in recorder.calls] == ["drop_token"]
    assert runner.commands == [] and executed.errors == []
