"""Fakes and drivers for the scheduling tests: a recording runner and services, and a
driver that fires a DayScheduler's real APScheduler triggers in time order."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from agent.calendar import TradingCalendar, load_schedule
from agent.clock import SimClock
from agent.events import Command
from agent.scheduler import DayScheduler, DayServices
from agent.timeutil import IST

ROOT = Path(__file__).resolve().parents[2]
CALENDAR = TradingCalendar(load_schedule(ROOT / "schedules.yaml"))


def at(d: date, hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(d.year, d.month, d.day, hh, mm, ss, tzinfo=IST)


@dataclass
class Ok:
    ok: bool = True
    text: str = "ok"


class FakeRunner:
    """Records submitted commands; every future is answered at once. Any thread."""

    def __init__(self) -> None:
        self.commands: list[Command] = []
        self.arrived = threading.Event()

    def submit(self, command: Command) -> Future[Any]:
        self.commands.append(command)
        self.arrived.set()
        future: Future[Any] = Future()
        future.set_result(Ok())
        return future


@dataclass
class Recorder:
    """DayServices whose callables record (name, argument, clock time) in ``calls``."""

    clock: Any
    token_at: datetime | None = None
    calls: list[tuple[str, Any, datetime]] = field(default_factory=list)
    called: threading.Event = field(default_factory=threading.Event)

    def _record(self, name: str, arg: Any = None) -> None:
        self.calls.append((name, arg, self.clock.now()))
        self.called.set()

    def services(self) -> DayServices:
        return DayServices(
            drop_token=lambda: self._record("drop_token"),
            login_check=lambda: self._record("login_check"),
            instruments_refresh=lambda: self._record("instruments_refresh"),
            day_report=lambda day: self._record("day_report", day),
            token_issued_at=lambda: self.token_at,
            session_started=lambda day: self._record("session_started", day),
            session_ended=lambda day: self._record("session_ended", day),
        )


def build(calendar: TradingCalendar = CALENDAR, start: datetime | None = None,
          **kwargs: Any) -> tuple[DayScheduler, FakeRunner, Recorder, SimClock]:
    clock = SimClock(start or at(date(2026, 11, 23), 0, 0))
    runner = FakeRunner()
    recorder = Recorder(clock)
    day = DayScheduler(calendar, runner, services=recorder.services(), clock=clock, **kwargs)
    return day, runner, recorder, clock


def drive(day: DayScheduler, clock: SimClock, start: datetime, end: datetime) -> list[tuple[
        datetime, str]]:
    """Fire the scheduler's job specs (planned at ``start``) at their triggers' fire times in
    [start, end), in time order, with the clock at each fire time; returns (time, job id)."""
    fires: list[tuple[datetime, int, Any]] = []
    for i, spec in enumerate(day.job_specs(start)):
        previous = None
        when = spec.trigger.get_next_fire_time(None, start)
        while when is not None and when < end:
            fires.append((when, i, spec))
            previous = when
            when = spec.trigger.get_next_fire_time(previous, when)
    fires.sort(key=lambda item: (item[0], item[1]))
    for when, _, spec in fires:
        clock.advance_to(when)
        spec.func(*spec.args)
    return [(when.astimezone(IST), spec.id) for when, _, spec in fires]
