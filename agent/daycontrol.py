"""The owner's say over one trading day, and what a start-up owes the day.

``DayOverride``: ``/start`` or ``/stop`` from Telegram decides whether *that* day trades; the
scheduled ``session_start`` honours it, and the next day runs by the schedule again (the
override is keyed by its date, so an old one is simply never consulted).
``OverrideSubmitter`` records the override on its way to the engine.
``catch_up``: which of today's jobs a process started now must still run (pure function).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from agent.calendar import TradingCalendar
from agent.clock import Clock
from agent.events import Command, Job, StartTrading, StopTrading
from agent.timeutil import ist, to_ist

log = logging.getLogger(__name__)


class CommandSink(Protocol):
    """What the day control needs of ``agent.runner.EngineRunner``."""

    def submit(self, command: Command) -> Future[Any]: ...


class DayOverride:
    """Whether the owner said the day trades (True, /start) or not (False, /stop).

    Persisted through ``save({"day": "YYYY-MM-DD", "running": bool})`` and read back once by
    ``load()`` (None or {} when nothing was stored). Any thread may call ``get``/``set``;
    ``locked()`` lets a caller read the override and submit its command as one step (an
    RLock: ``set``/``get`` may be called inside it). ``save`` is called on the thread that
    calls ``set`` (the Telegram loop, via ``OverrideSubmitter``).
    """

    def __init__(self, load: Callable[[], Mapping[str, Any] | None] | None = None,
                 save: Callable[[Mapping[str, Any]], object] | None = None) -> None:
        self._lock = threading.RLock()
        self._save = save
        self._day: date | None = None
        self._running: bool | None = None
        if load is not None:
            self._restore(load)

    def _restore(self, load: Callable[[], Mapping[str, Any] | None]) -> None:
        try:
            stored = load()
        except Exception:
            log.exception("day override: could not be read; running by the schedule")
            return
        if not stored:
            return
        day, running = (stored.get("day"), stored.get("running")) if isinstance(
            stored, Mapping) else (None, None)
        try:
            parsed = date.fromisoformat(day) if isinstance(day, str) else None
        except ValueError:
            parsed = None
        if parsed is None or not isinstance(running, bool):
            log.warning("day override: ignoring the stored value %r: expected "
                        "{'day': 'YYYY-MM-DD', 'running': true|false}", stored)
            return
        self._day, self._running = parsed, running

    @contextmanager
    def locked(self) -> Iterator[None]:
        with self._lock:
            yield

    def get(self, day: date) -> bool | None:
        """True (/start) or False (/stop) when the owner overrode ``day``, else None."""
        with self._lock:
            return self._running if self._day == day else None

    def set(self, day: date, running: bool) -> None:
        """Record the owner's word for ``day`` (replacing any other day's) and save it; a
        failing save is logged and the override still holds in memory."""
        with self._lock:
            self._day, self._running = day, running
            if self._save is not None:
                try:
                    self._save({"day": day.isoformat(), "running": running})
                except Exception:
                    log.exception("day override for %s could not be saved (it holds until "
                                  "the process stops)", day)
        log.info("day override: %s %s", day, "trades (/start)" if running else
                 "does not trade (/stop)")


class OverrideSubmitter:
    """A ``CommandSink`` for the command layer (``handlers.services.Services.runner``): a
    ``StartTrading``/``StopTrading`` records the day override for the clock's date, then
    every command goes to the runner. Any thread."""

    def __init__(self, runner: CommandSink, override: DayOverride, clock: Clock) -> None:
        self.runner = runner
        self.override = override
        self.clock = clock

    def submit(self, command: Command) -> Future[Any]:
        if isinstance(command, StartTrading | StopTrading):
            with self.override.locked():  # no scheduled session_start slips in between
                self.override.set(self.clock.now().date(), isinstance(command, StartTrading))
                return self.runner.submit(command)
        return self.runner.submit(command)


# ---------------------------------------------------------------- missed jobs at start-up

# Until which job's time a missed job is still worth running (None: never caught up).
_CATCH_UP_UNTIL: Mapping[Job, Job | None] = {
    Job.LOGIN_CHECK: Job.SESSION_END,
    Job.INSTRUMENTS_REFRESH: Job.SQUARE_OFF,
    Job.SESSION_START: Job.SQUARE_OFF,
    Job.ENTRY_CUTOFF: Job.SQUARE_OFF,
    Job.SQUARE_OFF: Job.SESSION_END,
    Job.SESSION_END: None,
    Job.DAY_REPORT: None,
}


def last_token_expiry(now: datetime, calendar: TradingCalendar) -> datetime:
    """The latest token_expiry time (e.g. 06:00) at or before ``now``, any day of the week:
    Kite kills the token daily, trading day or not."""
    now = to_ist(now)
    expiry = ist(now.date(), calendar.schedule.jobs[Job.TOKEN_EXPIRY.value])
    return expiry if expiry <= now else expiry - timedelta(days=1)


def catch_up(now: datetime, calendar: TradingCalendar, *,
             token_issued_at: datetime | None = None) -> list[Job]:
    """The jobs a process started at ``now`` runs at once, in timetable order.

    - token_expiry: when a token is held (``token_issued_at``) that was issued before the
      last token_expiry time (``last_token_expiry``), on any day.
    - nothing else on a closed day (weekend, holiday, unconfirmed special session).
    - on a trading day, a job whose time (the day's timetable, special sessions included)
      has passed runs while its window is open: login_check until session_end;
      instruments_refresh, session_start and entry_cutoff until square_off (the day starts
      late and its open positions are managed); square_off until session_end (it only closes
      what is open). session_end and day_report are never caught up: after session_end the
      day is over, and a second day report is worse than a missing one.
    """
    now = to_ist(now)
    due: list[Job] = []
    if token_issued_at is not None and to_ist(token_issued_at) < last_token_expiry(
            now, calendar):
        due.append(Job.TOKEN_EXPIRY)
    times = {Job(name): at for name, at in calendar.timetable(now.date())}
    for job, at in times.items():  # the timetable's order
        until = _CATCH_UP_UNTIL.get(job)
        if until is not None and at <= now < times[until]:
            due.append(job)
    return due
