"""The storage writer: the one thread that writes ``state.json``, the candle files and the
marks beside them (``append_mark``, written as candle lines are) and the trade journal.

Callers (the engine thread) only enqueue: :meth:`StorageWriter.submit_state`,
:meth:`StorageWriter.append_candle` and :meth:`StorageWriter.append_line` (a journal line)
take a lock for a moment and return; all file I/O runs on the writer thread.

- State snapshots are whole, so they coalesce: if several arrive before the writer gets to
  them, only the newest is written.
- Candle and journal records are encoded on the caller's thread (a non-JSON value raises
  there, naming the key path) and appended in batches, one open/append/fsync per file per
  batch.
- A failed write loses nothing: a failed snapshot is kept (unless a newer one arrived) and
  failed candle lines stay queued, in order, ahead of newer ones. Both are retried when
  more work arrives or on :meth:`flush`, never in a busy loop. A ``WriterPolicy``
  (``storage/writer_policy.py``; Redis's) retries on a timer with a backoff instead,
  treats its store as one target (told once lost, once back) and bounds the queue. Each
  failure is logged with the file path; ``on_error`` hears about a file when it starts
  failing (once, not on every retry) and the log notes when it works again.

Snapshots and records handed over must not be changed afterwards: build a fresh one each
time (the engine serialises into new dicts anyway).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from storage.candles import CandleLog
from storage.plainjson import dumps_line
from storage.state import StateStore
from storage.writer_policy import WriterPolicy, drop_oldest

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WriterStats:
    state_submits: int
    state_writes: int  # snapshots written to disk (coalesced submits are not written)
    candle_appends: int
    candle_batches: int  # successful file appends (candles and marks)
    failures: int  # failed write attempts, retries included
    mark_appends: int = 0  # the strategy's marks for the charts
    journal_appends: int = 0  # trade and day lines (storage/journal.py)
    dropped_lines: int = 0  # candle and mark lines dropped over ``WriterPolicy.max_lines``


class StorageWriter:
    """Owns the writer thread (non-daemon: call :meth:`close`). Starts on construction.

    ``before_cycle`` is a test hook called on the writer thread each time it wakes with
    work, before it takes the work.
    """

    def __init__(
        self,
        state: StateStore,
        candles: CandleLog,
        on_error: Callable[[str], None],
        *,
        name: str = "storage-writer",
        before_cycle: Callable[[], None] | None = None,
        policy: WriterPolicy | None = None,
    ) -> None:
        self._state = state
        self._candles = candles
        self._on_error = on_error
        self._before_cycle = before_cycle
        self._policy = policy or WriterPolicy()
        self._retry_at = 0.0  # with a backoff: no attempt before this (time.monotonic)
        self._failed_cycles = 0  # cycles failed in a row
        self._urgent = False  # flush() or close(): attempt now, whatever the backoff
        self._overflowing = False  # lines dropped since the last write that worked
        self._notes: list[str] = []  # for on_error, told by the writer thread
        self._cond = threading.Condition()
        # Guarded by _cond:
        self._pending_state: Mapping[str, Any] | None = None
        self._pending_lines: dict[Path, list[str]] = {}
        self._submitted = 0  # sequence number of the latest submit or append
        self._done = 0  # everything up to this sequence number is on disk
        self._cycles_started = 0
        self._last_finished = 0  # number of the latest finished cycle
        self._last_ok = True
        self._wake = False
        self._closing = False
        self._stopped = False  # the thread has left its loop
        self._counts = {"state_submits": 0, "state_writes": 0, "candle_appends": 0,
                        "candle_batches": 0, "failures": 0, "mark_appends": 0,
                        "journal_appends": 0, "dropped_lines": 0}
        self._journal_files: set[Path] = set()  # paths appended by ``append_line``
        # Writer thread only:
        self._failing: set[Path] = set()
        self._thread = threading.Thread(target=self._run, name=name, daemon=False)
        self._thread.start()

    # ---- caller side (any thread) -------------------------------------------------------

    def submit_state(self, snapshot: Mapping[str, Any]) -> None:
        """Queue a whole-state snapshot; replaces any snapshot not yet written."""
        with self._cond:
            self._accepting()
            self._pending_state = snapshot
            self._counts["state_submits"] += 1
            self._enqueued()

    def append_candle(self, day: date, token: int, interval: int, record: Mapping[str, Any]
                      ) -> None:
        """Queue one completed candle for its day's file. Raises NotPlainJSON on bad values."""
        self._append(self._candles.path(day, token, interval), record, "candle_appends")

    def append_mark(self, day: date, token: int, record: Mapping[str, Any]) -> None:
        """Queue one of the strategy's marks (agent/marks.py) for its day's marks file,
        appended as candles are. Raises NotPlainJSON on bad values."""
        self._append(self._candles.marks_path(day, token), record, "mark_appends")

    def _append(self, path: Path, record: Mapping[str, Any], count: str) -> None:
        line = dumps_line(dict(record), str(path))
        with self._cond:
            self._accepting()
            self._pending_lines.setdefault(path, []).append(line)
            self._counts[count] += 1
            self._bound()
            self._enqueued()

    def _bound(self) -> None:
        """Caller holds ``_cond``: over ``max_lines`` queued (the store unreachable for
        long), drop the oldest candle and mark lines (never journal lines), and say so
        once until a write works again."""
        limit = self._policy.max_lines
        if limit is None:
            return
        dropped = drop_oldest(self._pending_lines, limit, self._journal_files)
        if dropped:
            self._counts["dropped_lines"] += dropped
            if not self._overflowing:
                self._overflowing = True
                where = self._policy.target or "the store"
                message = (f"storage queue over {limit} lines while {where} cannot be "
                           "written: the oldest candle lines are dropped")
                logger.error("%s", message)
                self._notes.append(message)  # told from the writer thread
                self._cond.notify_all()

    def append_line(self, path: Path, record: Mapping[str, Any]) -> None:
        """Queue one journal line (``storage/journal.py``) for ``path``, appended like the
        candle lines (batched, fsynced, kept and retried on failure). Raises NotPlainJSON
        on bad values. Any thread."""
        line = dumps_line(dict(record), str(path))
        with self._cond:
            self._accepting()
            self._journal_files.add(path)
            self._pending_lines.setdefault(path, []).append(line)
            self._counts["journal_appends"] += 1
            self._enqueued()

    def flush(self, timeout: float | None = None) -> bool:
        """Block until everything submitted so far is on disk; retries failed writes once.

        False when that did not happen within ``timeout`` seconds or a write failed.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            target = self._submitted
            asked_at = self._cycles_started
            if self._done < target and not self._closing:
                self._wake = self._urgent = True
                self._cond.notify_all()
            while self._done < target:
                if self._last_finished > asked_at and not self._last_ok:
                    return False  # a cycle that took all our work has failed
                if self._stopped:
                    return False
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def close(self, timeout: float | None = None) -> bool:
        """Write what is queued, stop the thread; True if everything reached disk. Idempotent."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("StorageWriter.close() called from the writer thread")
        with self._cond:
            self._closing = self._urgent = True
            self._cond.notify_all()
        self._thread.join(timeout)
        with self._cond:
            return self._stopped and self._done >= self._submitted

    def stats(self) -> WriterStats:
        with self._cond:
            return WriterStats(**self._counts)

    def __enter__(self) -> StorageWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _accepting(self) -> None:
        if self._closing:
            raise RuntimeError("the storage writer is closed: nothing more can be written")

    def _enqueued(self) -> None:
        self._submitted += 1
        self._wake = True
        self._cond.notify_all()

    # ---- writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop()
        except Exception:  # a bug: say so loudly; flush and close then return False
            logger.exception("the storage writer thread failed")
            self._tell("the storage writer thread failed: nothing more will be written")
        finally:
            with self._cond:
                self._stopped = True
                self._cond.notify_all()

    def _loop(self) -> None:
        closing = False
        while not closing:
            with self._cond:
                ready = self._wait_for_work()
                notes, self._notes = self._notes, []
            for note in notes:
                self._tell(note)
            if not ready:
                continue
            if self._before_cycle is not None:
                self._before_cycle()
            with self._cond:
                self._wake = False
                closing = self._closing
                state, self._pending_state = self._pending_state, None
                lines, self._pending_lines = self._pending_lines, {}
                taken = self._submitted
                self._cycles_started += 1
                cycle = self._cycles_started
            failed_state, failed_lines = self._write(state, lines)
            with self._cond:
                if failed_state is not None and self._pending_state is None:
                    self._pending_state = failed_state
                for path, old in failed_lines.items():
                    self._pending_lines[path] = old + self._pending_lines.get(path, [])
                self._bound()
                ok = failed_state is None and not failed_lines
                if ok:
                    self._done = max(self._done, taken)
                self._after_cycle(ok)
                self._last_finished, self._last_ok = cycle, ok
                self._cond.notify_all()
        if not ok:
            self._report_lost(failed_state is not None, failed_lines)

    def _wait_for_work(self) -> bool:
        """Caller holds ``_cond``: until there is work to attempt (True) or a note to tell
        (False). With a backoff, work that failed is attempted again when its time comes,
        and new work waits for it too (unless ``flush`` or ``close`` asks)."""
        while not self._closing and not self._urgent:
            if self._notes:
                return False
            now = time.monotonic()
            if self._wake and now >= self._retry_at:
                break
            self._cond.wait(self._retry_at - now if self._wake else None)
        self._urgent = False
        return True

    def _after_cycle(self, ok: bool) -> None:
        """Caller holds ``_cond``: the backoff after a failed cycle (with a policy)."""
        if ok:
            self._failed_cycles, self._retry_at = 0, 0.0
            self._overflowing = False  # the next outage's overflow is told again
            return
        self._failed_cycles += 1
        delay = self._policy.delay(self._failed_cycles)
        if delay is not None:  # retried on a timer, not only when more work comes
            self._retry_at = time.monotonic() + delay
            self._wake = True

    def _write(self, state: Mapping[str, Any] | None, lines: dict[Path, list[str]]
               ) -> tuple[Mapping[str, Any] | None, dict[Path, list[str]]]:
        """Write what was taken; return what failed."""
        failed_state = None
        if state is not None:
            if self._attempt(self._state.path, "state write", self._state.save, state):
                self._count("state_writes")
            else:
                failed_state = state
        failed_lines = {}
        for path, batch in lines.items():
            journal = self._is_journal(path)
            what = "journal append" if journal else "candle append"
            if self._attempt(path, what, self._candles.append_lines, path, batch):
                if not journal:
                    self._count("candle_batches")
            else:
                failed_lines[path] = batch
        return failed_state, failed_lines

    def _attempt(self, path: Path, what: str, write: Callable[..., None], *args: Any) -> bool:
        """One write; a target (a file, or the policy's one store) that starts failing is
        told once, and once when it works again."""
        target = self._policy.target or path
        try:
            write(*args)
        except Exception as exc:  # OSError, or a snapshot with bad values: report, keep, retry
            self._count("failures")
            message = f"{what} to {path} failed: {type(exc).__name__}: {exc}"
            if self._policy.target:
                message = (f"{target}: {what} failed ({type(exc).__name__}: {exc}); writes "
                           "are kept and retried")
            if target in self._failing:
                logger.debug("%s (still failing)", message)
                return False
            self._failing.add(target)
            logger.error("%s", message, exc_info=not isinstance(exc, OSError | ConnectionError)
                         and not self._policy.target)
            self._tell(message)
            return False
        if target in self._failing:
            self._failing.discard(target)
            logger.info("%s to %s works again", what, target)
            if self._policy.target and self._policy.on_recovered is not None:
                try:
                    self._policy.on_recovered(f"{target} works again: the writes kept "
                                              "while it failed are being written")
                except Exception:
                    logger.exception("the storage writer's on_recovered callback failed")
        return True

    def _is_journal(self, path: Path) -> bool:
        with self._cond:
            return path in self._journal_files

    def _report_lost(self, state_lost: bool, lines: dict[Path, list[str]]) -> None:
        journal = sum(len(batch) for path, batch in lines.items() if self._is_journal(path))
        candles = sum(map(len, lines.values())) - journal
        parts = (["the latest state snapshot"] if state_lost else []) + (
            [f"{candles} candle line(s)"] if candles else []) + (
            [f"{journal} journal line(s)"] if journal else [])
        message = f"storage writer closed with {' and '.join(parts)} not written"
        logger.error("%s", message)
        self._tell(message)

    def _tell(self, message: str) -> None:
        try:
            self._on_error(message)
        except Exception:
            logger.exception("the storage writer's on_error callback failed")

    def _count(self, name: str) -> None:
        with self._cond:
            self._counts[name] += 1
