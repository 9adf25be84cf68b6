"""The job driver for an accelerated clock fires the day's jobs in order, once."""

from __future__ import annotations

import threading
from datetime import datetime

from agent.calendar import TradingCalendar, load_schedule
from agent.clock import ScaledClock
from agent.events import Job, RunJob
from agent.scheduler import DayScheduler
from agent.scheduler_sim import ScaledJobDriver
from agent.timeutil import IST
from bot import DEFAULT_SCHEDULES


class Runner:
    def __init__(self) -> None:
        self.commands: list = []

    def submit(self, command):
        from concurrent.futures import Future

        self.commands.append(command)
        done: Future = Future()
        done.set_result(None)
        return done


def test_a_fast_clock_runs_the_rest_of_the_day_in_order() -> None:
    calendar = TradingCalendar(load_schedule(DEFAULT_SCHEDULES))
    # Monday 2026-11-23, 14:58 on a clock 3,000 times faster than the wall: the 42 minutes
    # to 15:40 pass in under a second.
    clock = ScaledClock(datetime(2026, 11, 23, 14, 58, tzinfo=IST), speed=3000)
    runner = Runner()
    day = DayScheduler(calendar, runner, clock=clock)
    finished = threading.Event()
    driver = ScaledJobDriver(day, clock, on_done=finished.set)
    driver.start()
    assert finished.wait(30)
    driver.stop()
    jobs = [c.job for c in runner.commands if isinstance(c, RunJob)]
    # session_start is caught up first (its time passed), then the rest in time order.
    assert jobs == [Job.SESSION_START, Job.ENTRY_CUTOFF, Job.SQUARE_OFF, Job.SESSION_END]
    assert [job for job, _ in driver.fired] == [
        Job.ENTRY_CUTOFF, Job.SQUARE_OFF, Job.SESSION_END, Job.DAY_REPORT]
