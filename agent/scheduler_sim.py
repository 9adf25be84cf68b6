"""The day's jobs on an accelerated clock (``feed: sim`` and the demo).

APScheduler fires on wall time; with the simulator's ``ScaledClock`` the day passes many
times faster, so this driver walks the day's timetable instead: it waits (in wall time)
until the scaled clock reaches each job's time and fires it through the same
``DayScheduler.fire`` the cron jobs use (same gates, same once-only claims). Its own thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from agent.clock import ScaledClock
from agent.events import Job
from agent.scheduler import DayScheduler

log = logging.getLogger(__name__)


class ScaledJobDriver:
    def __init__(self, day: DayScheduler, clock: ScaledClock,
                 on_done: Callable[[], None] | None = None) -> None:
        """``on_done``: called after the day's last job (the demo then ends)."""
        self.day = day
        self.clock = clock
        self.on_done = on_done
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sim-jobs", daemon=True)
        self.fired: list[tuple[Job, object]] = []

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            now = self.clock.now()
            self.day.run_catch_up(now)
            for name, at in self.day.calendar.timetable(now.date()):
                if at < now:
                    continue  # past at the start: the catch-up rules decided
                while not self._stop.is_set() and self.clock.now() < at:
                    self._stop.wait(min(self.clock.wall_seconds_until(at), 0.25))
                if self._stop.is_set():
                    return
                if self.day.fire(Job(name), at):
                    self.fired.append((Job(name), at))
            log.info("the simulated day %s is over", now.date())
        except Exception:
            log.exception("the simulated job driver failed")
        if self.on_done is not None and not self._stop.is_set():
            self.on_done()
