"""Recording the day's ticks as the agent received them, in the backtest's tick format
(``record_ticks: DIR`` in the config): Kite gives no tick history, so a day recorded is a
day a trader can backtest, optimize on, or replay to see what the agent saw.

``DIR/ticks-YYYY-MM-DD.csv`` per IST day of the ticks' time (exchange timestamp, else the
time received), appended across restarts, columns ``timestamp, instrument_token,
last_price, last_traded_quantity, volume_traded``. The feed's thread only hands a batch
over (``record`` never blocks and never raises); a writer thread writes and flushes. If
the disk cannot keep up, at most ``limit`` ticks wait; beyond, new ticks are dropped and
counted (one WARNING per outage), so memory stays bounded. Any thread may call ``record``;
``close`` from the thread that owns the recorder.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import threading
from collections import deque
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from agent.models import Tick
from agent.timeutil import to_ist

log = logging.getLogger(__name__)

HEADER = ("timestamp", "instrument_token", "last_price", "last_traded_quantity",
          "volume_traded")


class TickRecorder:
    def __init__(self, directory: Path, limit: int = 2_000_000) -> None:
        self.directory = directory
        self.limit = limit
        self.written = 0
        self.dropped = 0
        self._pending: deque[Iterable[Tick]] = deque()
        self._waiting = 0  # ticks in _pending
        self._cond = threading.Condition()
        self._closing = False
        self._telling = True  # a drop is told once until the queue drains
        self._day: date | None = None
        self._fh: IO[str] | None = None
        self._writer: Any = None
        self._thread = threading.Thread(target=self._run, name="tick-recorder", daemon=True)
        self._thread.start()

    def path_for(self, day: date) -> Path:
        return self.directory / f"ticks-{day.isoformat()}.csv"

    def record(self, ticks: Iterable[Tick]) -> None:
        """Hand over one batch (any thread; never blocks on the disk)."""
        batch = list(ticks)
        with self._cond:
            if self._waiting + len(batch) > self.limit:
                self.dropped += len(batch)
                if self._telling:
                    self._telling = False
                    log.warning("tick recording: the disk is not keeping up; ticks dropped "
                                "from the recording until it does (%d so far)", self.dropped)
                return
            self._pending.append(batch)
            self._waiting += len(batch)
            self._cond.notify()

    def close(self) -> None:
        """Write what is waiting, then stop the writer."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(30)
        log.info("tick recording: %d ticks written to %s%s", self.written, self.directory,
                 f", {self.dropped} dropped" if self.dropped else "")

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    self._cond.wait()
                batches = list(self._pending)
                self._pending.clear()
                self._waiting = 0
                self._telling = True
                closing = self._closing
            try:
                for batch in batches:
                    self._write(batch)
                if self._fh is not None:
                    self._fh.flush()
            except OSError as exc:
                log.error("tick recording: cannot write to %s (%s); these ticks are not "
                          "recorded", self.directory, exc.strerror or exc)
                self._close_file()
            except Exception:  # the writer must outlive any one batch
                log.exception("tick recording: a batch could not be written")
                self._close_file()
            if closing:
                self._close_file()
                return

    def _write(self, ticks: Iterable[Tick]) -> None:
        """Writer thread. A frame's ticks mostly share one exchange second: its text is
        made once (the GIL this thread holds is the engine's too)."""
        last: datetime | None = None
        stamp = ""
        for tick in ticks:
            t = tick.timestamp or tick.received_at
            if t is None:
                continue
            if t != last:
                last, local = t, to_ist(t)
                stamp = local.isoformat()
                if local.date() != self._day:
                    self._open(local.date())
            self._writer.writerow((stamp, tick.instrument_token, tick.last_price,
                                   _blank(tick.last_traded_quantity),
                                   _blank(tick.volume_traded)))
            self.written += 1

    def _open(self, day: date) -> None:
        self._close_file()
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path_for(day)
        new = not path.exists() or path.stat().st_size == 0
        self._fh = path.open("a", newline="", encoding="utf-8")
        self._writer = csv.writer(self._fh, lineterminator="\n")
        if new:
            self._writer.writerow(HEADER)
        self._day = day

    def _close_file(self) -> None:
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.close()
        self._fh, self._writer, self._day = None, None, None


def _blank(value: int | None) -> Any:
    return "" if value is None else value
