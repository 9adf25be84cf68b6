"""The trading day on APScheduler: the jobs of schedules.yaml, fired in IST, gated by the
trading calendar.

Design. Every job has one ``CronTrigger`` (``day_of_week='mon-fri'``, the job's time).
Special sessions that fall on a weekend, or that move a job to another time, get one-off
``DateTrigger`` jobs at the shifted times, planned at start for every confirmed special
session ahead (the calendar is immutable). Every firing, cron or one-off, passes one gate:
the job runs only when ``(job, time)`` is in ``TradingCalendar.timetable(day)``. So a
holiday or weekend runs nothing (logged once a day, naming the holiday), a shifted job's
regular firing is skipped and its one-off runs, and a job never runs twice for the same
time (catch-up and cron fire may meet at start-up: the second is dropped).

A firing only puts a ``RunJob`` on the engine's inbox (session_start, entry_cutoff,
square_off, session_end) or calls a ``DayServices`` callable. The owner's /start or /stop
for the day (``DayOverride``) is honoured by session_start. At start, ``catch_up`` says
which missed jobs run at once (see ``agent.daycontrol.catch_up``).

Threads: ``start``/``stop`` from the composition root; firings run on APScheduler's worker
threads (one at a time per job); ``fire`` and ``run_catch_up`` may be called from any thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

from agent.calendar import TradingCalendar
from agent.clock import Clock, LiveClock
from agent.daycontrol import CommandSink, DayOverride, catch_up, last_token_expiry
from agent.events import Command, Job, RunJob
from agent.timeutil import IST_NAME, ist

log = logging.getLogger(__name__)

ENGINE_JOBS = frozenset({Job.SESSION_START, Job.ENTRY_CUTOFF, Job.SQUARE_OFF, Job.SESSION_END})


@dataclass(frozen=True)
class DayServices:
    """The composition root's side of the non-engine jobs; each is optional (a missing one
    is logged and skipped). Called on an APScheduler worker thread: they may block briefly
    (HTTP), never touch engine state, and their exceptions are logged."""

    drop_token: Callable[[], object] | None = None  # token_expiry: forget the day's token
    login_check: Callable[[], object] | None = None  # is the token valid? else /login reminder
    instruments_refresh: Callable[[], object] | None = None  # the day's instruments dump
    day_report: Callable[[date], object] | None = None  # send the report of that day
    token_issued_at: Callable[[], datetime | None] | None = None  # None when no token is held
    session_started: Callable[[date], object] | None = None  # after session_start: feed up
    session_ended: Callable[[date], object] | None = None  # after session_end: feed down


@dataclass(frozen=True)
class JobSpec:
    """One APScheduler job: ``func(*args)`` at ``trigger``'s fire times."""

    id: str
    job: Job
    trigger: BaseTrigger
    func: Callable[..., object]
    args: tuple[Any, ...]


class DayScheduler:
    """The day's jobs on a BackgroundScheduler (see the module docstring)."""

    def __init__(self, calendar: TradingCalendar, runner: CommandSink, *,
                 services: DayServices | None = None, override: DayOverride | None = None,
                 clock: Clock | None = None, scheduler: BaseScheduler | None = None) -> None:
        """``runner``: the engine's ``EngineRunner`` (only ``submit`` is used); ``override``
        shared with the ``OverrideSubmitter`` of the Telegram side; ``clock``: wall time
        (APScheduler runs on it); ``scheduler``: a not yet started one (tests)."""
        self.calendar = calendar
        self.runner = runner
        self.services = services or DayServices()
        self.override = override or DayOverride()
        self.clock = clock or LiveClock()
        self.zone = ZoneInfo(IST_NAME)
        self.scheduler = scheduler or BackgroundScheduler(timezone=self.zone)
        self._lock = threading.Lock()
        self._done: set[tuple[Job, datetime]] = set()
        self._closed_logged: date | None = None

    # ------------------------------------------------------------ composition root

    def job_specs(self, now: datetime) -> list[JobSpec]:
        """The cron job of every job, and the one-offs of the confirmed special sessions
        from ``now`` on whose times the cron jobs would miss."""
        schedule = self.calendar.schedule
        crons = {job: CronTrigger(day_of_week="mon-fri", hour=t.hour, minute=t.minute,
                                  second=t.second, timezone=self.zone)
                 for job, t in ((Job(name), t) for name, t in schedule.jobs.items())}
        specs = [JobSpec(job.value, job, trigger, self._on_cron, (job,))
                 for job, trigger in crons.items()]
        for day in sorted({s.day for s in schedule.special_sessions if s.day >= now.date()}):
            for name, at in self.calendar.timetable(day):
                job = Job(name)
                if at > now and crons[job].get_next_fire_time(None, at) != at:
                    specs.append(JobSpec(f"{name}@{at:%Y-%m-%dT%H:%M}", job,
                                         DateTrigger(run_date=at, timezone=self.zone),
                                         self._on_date, (job, at)))
        return specs

    def start(self) -> None:
        """Add the jobs, start APScheduler, and run the catch-up at once on a worker."""
        grace = self.calendar.schedule.misfire_grace_seconds
        for spec in self.job_specs(self.clock.now()):
            self.scheduler.add_job(spec.func, spec.trigger, args=spec.args, id=spec.id,
                                   name=spec.id, misfire_grace_time=grace, coalesce=True,
                                   max_instances=1, replace_existing=True)
        self.scheduler.add_job(self.run_catch_up, id="catch_up", name="catch_up",
                               misfire_grace_time=None, max_instances=1)
        self.scheduler.add_listener(self._on_missed, EVENT_JOB_MISSED)
        self.scheduler.start()
        log.info("scheduler started: %d jobs (IST)", len(self.scheduler.get_jobs()))

    def stop(self, wait: bool = True) -> None:
        """Stop firing; ``wait``: let running firings finish first."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)

    # ------------------------------------------------------------ firings (any thread)

    def _on_missed(self, event: JobExecutionEvent) -> None:
        """A firing came later than the misfire grace (the machine slept, the process was
        stalled): the catch-up rules decide, on a worker, what still runs."""
        log.warning("job %s missed its time %s (later than the misfire grace): catching up",
                    event.job_id, event.scheduled_run_time)
        self.scheduler.add_job(self.run_catch_up, kwargs={"cause": f"missed {event.job_id}"},
                               id="catch_up_missed", name="catch_up_missed",
                               misfire_grace_time=None, replace_existing=True)

    def run_catch_up(self, now: datetime | None = None, cause: str = "start-up") -> list[Job]:
        """Run what the day owes at ``now`` (default: the clock) by the ``catch_up`` rules,
        except what already ran for its time; returns the jobs due by the rules."""
        now = now or self.clock.now()
        issued = self._token_issued_at()
        jobs = catch_up(now, self.calendar, token_issued_at=issued)
        reason = self.calendar.why_closed(now.date())
        if reason is not None:
            following = self.calendar.next_trading_day(now.date())
            log.info("%s on %s: not a trading day (%s); idle until %s %s", cause,
                     now.date(), reason, f"{following:%A}", following)
        times = dict(self.calendar.timetable(now.date()))
        log.info("%s at %s: %s", cause, f"{now:%Y-%m-%d %H:%M}",
                 "catching up " + ", ".join(jobs) if jobs else "no missed job to run")
        for job in jobs:
            if job is Job.TOKEN_EXPIRY:  # the token's own deadline, on any day
                expiry = last_token_expiry(now, self.calendar)
                log.info("token_expiry: the token issued at %s died at %s", issued, expiry)
                if self._claim(job, expiry):
                    self._execute(job, expiry, now)
            elif self._claim(job, times[job.value]):
                self._execute(job, times[job.value], now)
        return jobs

    def fire(self, job: Job, at: datetime) -> bool:
        """Run ``job`` scheduled for ``at`` if the day's timetable has it at that time and it
        has not run for that time yet; True when it ran."""
        day = at.date()
        times = dict(self.calendar.timetable(day))
        if not times:
            if self._closed_logged != day:
                self._closed_logged = day
                following = self.calendar.next_trading_day(day)
                log.info("%s %s is not a trading day (%s): no jobs run; next trading day "
                         "%s %s", f"{day:%A}", day, self.calendar.why_closed(day),
                         f"{following:%A}", following)
            return False
        planned = times.get(job.value)
        if planned != at:
            log.info("%s at %s skipped: on %s (special session) it runs at %s", job,
                     f"{at:%H:%M}", day, f"{planned:%H:%M}" if planned else "no time")
            return False
        if not self._claim(job, at):
            log.debug("%s at %s already ran", job, at)
            return False
        self._execute(job, at, self.clock.now())
        return True

    def _on_cron(self, job: Job) -> None:
        now = self.clock.now()
        self.fire(job, ist(now.date(), self.calendar.schedule.jobs[job.value]))

    def _on_date(self, job: Job, at: datetime) -> None:
        self.fire(job, at)

    def _claim(self, job: Job, at: datetime) -> bool:
        with self._lock:
            if (job, at) in self._done:
                return False
            horizon = at - timedelta(days=2)
            self._done = {(j, t) for j, t in self._done if t > horizon}
            self._done.add((job, at))
            return True

    def _execute(self, job: Job, at: datetime, now: datetime) -> None:
        day = at.date()
        log.info("job %s (%s %s)", job, day, f"{at:%H:%M}")
        if job is Job.SESSION_START:
            with self.override.locked():  # a /stop cannot slip in before the command
                trading = self.override.get(day) is not False
                if not trading:
                    log.info("session_start: the owner stopped %s (/stop): the day starts "
                             "without entries", day)
                self._submit(RunJob(job, now, trading=trading))
            self._call("session_started", self.services.session_started, day)
        elif job in ENGINE_JOBS:
            self._submit(RunJob(job, now))
            if job is Job.SESSION_END:
                self._call("session_ended", self.services.session_ended, day)
        elif job is Job.DAY_REPORT:
            self._call(job.value, self.services.day_report, day)
        else:
            service = {Job.TOKEN_EXPIRY: self.services.drop_token,
                       Job.LOGIN_CHECK: self.services.login_check,
                       Job.INSTRUMENTS_REFRESH: self.services.instruments_refresh}[job]
            self._call(job.value, service)

    def _submit(self, command: Command) -> None:
        future = self.runner.submit(command)
        future.add_done_callback(lambda f: _log_reply(command, f))

    @staticmethod
    def _call(name: str, service: Callable[..., object] | None, *args: Any) -> None:
        if service is None:
            log.info("%s: no service configured; skipped", name)
            return
        try:
            service(*args)
        except Exception:
            log.exception("%s failed", name)

    def _token_issued_at(self) -> datetime | None:
        source = self.services.token_issued_at
        if source is None:
            return None
        try:
            return source()
        except Exception:
            log.exception("token_issued_at failed; taking it as no token held")
            return None


def _log_reply(command: Command, future: Future[Any]) -> None:
    """Runs on the engine thread: only logs."""
    if future.cancelled():
        log.warning("%s was cancelled", command)
    elif future.exception() is not None:
        log.error("%s failed in the engine: %s", command, future.exception())
    elif getattr(future.result(), "ok", True) is False:
        log.warning("%s: %s", command, getattr(future.result(), "text", ""))
