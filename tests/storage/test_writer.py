"""StorageWriter: coalescing, batching, flush, errors reported and nothing lost. No sleeps."""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from storage.candles import CandleLog
from storage.plainjson import NotPlainJSON
from storage.state import StateStore
from storage.writer import StorageWriter
from tests.storage.snapshots import make_snapshot

DAY = date(2024, 1, 5)
WAIT = 5.0  # seconds; only reached if the code under test is broken


class Gate:
    """A ``before_cycle`` hook that holds the writer at its first wake-up until released."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.released = threading.Event()
        self._armed = True

    def __call__(self) -> None:
        if self._armed:
            self._armed = False
            self.entered.set()
            self.released.wait(WAIT)


class Harness:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.errors: list[str] = []
        self.gate = Gate()
        self.state = StateStore(root / "data" / "state.json")
        self.candles = CandleLog(root / "data" / "candles")
        self.writer: StorageWriter | None = None

    def start(self, gated: bool = False, on_error: Any = None) -> StorageWriter:
        self.writer = StorageWriter(self.state, self.candles, on_error or self.errors.append,
                                    before_cycle=self.gate if gated else None)
        return self.writer

    def break_dir(self, directory: Path) -> None:
        """Make ``directory`` unusable for any user, root included: a file in its place."""
        shutil.move(directory, directory.with_name(directory.name + ".away"))
        directory.write_text("not a directory")

    def mend_dir(self, directory: Path) -> None:
        directory.unlink()
        shutil.move(directory.with_name(directory.name + ".away"), directory)


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path)
    yield harness
    harness.gate.released.set()
    if harness.writer is not None:
        harness.writer.close(timeout=WAIT)
        assert not harness.writer._thread.is_alive()


def _candle(minute: int) -> dict[str, Any]:
    return {"start": f"2024-01-05T09:{minute:02d}:00+05:30", "close": f"1520.{minute:02d}"}


def test_snapshots_coalesce_last_one_wins(h: Harness) -> None:
    writer = h.start(gated=True)
    snaps = [make_snapshot(orders=i + 1, tag=f"s{i}") for i in range(10)]
    writer.submit_state(snaps[0])
    assert h.gate.entered.wait(WAIT)  # the writer woke and is held before taking work
    for snap in snaps[1:]:
        writer.submit_state(snap)
    h.gate.released.set()
    assert writer.flush(WAIT)
    stats = writer.stats()
    assert stats.state_submits == 10
    assert stats.state_writes == 1  # all ten coalesced into the newest
    assert h.state.storage.file_writes == 1
    assert StateStore(h.state.path).load() == snaps[-1]


def test_callers_never_do_io(h: Harness) -> None:
    writer = h.start(gated=True)
    writer.submit_state(make_snapshot())
    assert h.gate.entered.wait(WAIT)
    writer.append_candle(DAY, 408065, 5, _candle(15))
    assert not h.state.path.exists()
    assert not h.candles.root.exists()
    h.gate.released.set()
    assert writer.flush(WAIT)
    assert h.state.path.exists()
    assert h.candles.read_day(DAY, 408065, 5) == [_candle(15)]


def test_candles_batched_per_file_in_order(h: Harness) -> None:
    writer = h.start(gated=True)
    writer.append_candle(DAY, 408065, 5, _candle(0))
    assert h.gate.entered.wait(WAIT)
    for minute in range(1, 20):
        writer.append_candle(DAY, 408065 if minute % 2 == 0 else 2953217, 5, _candle(minute))
    h.gate.released.set()
    assert writer.flush(WAIT)
    assert writer.stats().candle_appends == 20
    assert writer.stats().candle_batches == 2  # one append per file
    assert h.candles.read_day(DAY, 408065, 5) == [_candle(m) for m in range(0, 20, 2)]
    assert h.candles.read_day(DAY, 2953217, 5) == [_candle(m) for m in range(1, 20, 2)]


def test_flush_blocks_until_written(h: Harness) -> None:
    writer = h.start(gated=True)
    assert writer.flush(WAIT)  # nothing submitted: already done
    writer.submit_state({"meta": {"n": 1}})
    assert h.gate.entered.wait(WAIT)
    assert writer.flush(timeout=0.01) is False  # the writer is held: cannot be on disk yet
    assert h.state.load() is None
    h.gate.released.set()
    assert writer.flush(WAIT) is True
    assert h.state.load() == {"meta": {"n": 1}}


def test_bad_candle_value_raises_on_callers_thread(h: Harness) -> None:
    writer = h.start()
    with pytest.raises(NotPlainJSON, match=r"408065_5m\.jsonl: close: Decimal value"):
        writer.append_candle(DAY, 408065, 5, {"close": Decimal("1.5")})
    assert writer.flush(WAIT)
    assert writer.stats().candle_appends == 0


def test_failed_state_write_reported_kept_and_retried(h: Harness) -> None:
    writer = h.start()
    data_dir = h.state.path.parent
    h.break_dir(data_dir)
    snap = make_snapshot(tag="kept")
    writer.submit_state(snap)
    assert writer.flush(WAIT) is False
    assert len(h.errors) == 1
    assert str(h.state.path) in h.errors[0] and "state write" in h.errors[0]
    assert writer.flush(WAIT) is False  # retried on flush, still failing...
    assert len(h.errors) == 1  # ...but reported once, not on every retry
    h.mend_dir(data_dir)
    assert writer.flush(WAIT) is True  # the kept snapshot is written on the next flush
    assert StateStore(h.state.path).load() == snap
    assert writer.stats().failures == 2


def test_newer_snapshot_replaces_failed_one(h: Harness) -> None:
    writer = h.start()
    data_dir = h.state.path.parent
    h.break_dir(data_dir)
    writer.submit_state({"meta": {"n": 1}})
    assert writer.flush(WAIT) is False
    h.mend_dir(data_dir)
    writer.submit_state({"meta": {"n": 2}})
    assert writer.flush(WAIT)
    assert h.state.load() == {"meta": {"n": 2}}


def test_failed_candle_lines_kept_in_order_and_retried(h: Harness, caplog) -> None:
    caplog.set_level(logging.INFO, logger="storage.writer")
    writer = h.start()
    h.candles.root.parent.mkdir(parents=True, exist_ok=True)
    h.candles.root.write_text("a file where the candles directory should be")
    writer.append_candle(DAY, 408065, 5, _candle(15))
    writer.append_candle(DAY, 408065, 5, _candle(20))
    assert writer.flush(WAIT) is False
    assert len(h.errors) == 1 and "408065_5m.jsonl" in h.errors[0]
    writer.append_candle(DAY, 408065, 5, _candle(25))  # retried with the new line, fails again
    assert writer.flush(WAIT) is False
    assert len(h.errors) == 1
    h.candles.root.unlink()
    assert writer.flush(WAIT) is True
    assert h.candles.read_day(DAY, 408065, 5) == [_candle(15), _candle(20), _candle(25)]
    assert "works again" in caplog.text


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="root ignores directory permissions; the file-as-directory tests "
                           "cover write errors")
def test_permission_denied_reported(h: Harness) -> None:
    writer = h.start()
    day_dir = h.candles.day_dir(DAY)
    day_dir.mkdir(parents=True)
    day_dir.chmod(0o500)
    try:
        writer.append_candle(DAY, 1, 5, _candle(15))
        assert writer.flush(WAIT) is False
        assert len(h.errors) == 1 and "PermissionError" in h.errors[0]
    finally:
        day_dir.chmod(0o700)
    assert writer.flush(WAIT) is True
    assert h.candles.read_day(DAY, 1, 5) == [_candle(15)]


def test_on_error_that_raises_does_not_stop_the_writer(h: Harness) -> None:
    def angry(message: str) -> None:
        raise RuntimeError("alert channel down")

    writer = h.start(on_error=angry)
    data_dir = h.state.path.parent
    h.break_dir(data_dir)
    writer.submit_state({"meta": {"n": 1}})
    assert writer.flush(WAIT) is False
    h.mend_dir(data_dir)
    assert writer.flush(WAIT) is True
    assert writer._thread.is_alive()


def test_close_writes_everything_and_is_idempotent(h: Harness) -> None:
    writer = h.start()
    assert writer._thread.daemon is False
    writer.submit_state({"meta": {"n": 1}})
    writer.append_candle(DAY, 1, 5, _candle(15))
    assert writer.close(WAIT) is True
    assert not writer._thread.is_alive()
    assert writer.close(WAIT) is True
    assert h.state.load() == {"meta": {"n": 1}}
    assert h.candles.read_day(DAY, 1, 5) == [_candle(15)]
    with pytest.raises(RuntimeError, match="closed"):
        writer.submit_state({"meta": {}})
    with pytest.raises(RuntimeError, match="closed"):
        writer.append_candle(DAY, 1, 5, _candle(20))


def test_close_with_failing_writes_reports_what_was_lost(h: Harness) -> None:
    writer = h.start()
    data_dir = h.state.path.parent
    h.break_dir(data_dir)
    writer.submit_state({"meta": {"n": 1}})
    writer.append_candle(DAY, 1, 5, _candle(15))
    assert writer.close(WAIT) is False
    assert any("state write" in e for e in h.errors)
    assert h.errors[-1] == ("storage writer closed with the latest state snapshot and "
                            "1 candle line(s) not written")
    assert writer.flush(WAIT) is False


def test_writer_thread_crash_makes_flush_and_close_fail_not_hang(h: Harness) -> None:
    def crash() -> None:
        raise RuntimeError("bug in the writer")

    writer = StorageWriter(h.state, h.candles, h.errors.append, before_cycle=crash)
    writer.submit_state({"meta": {"n": 1}})
    assert writer.flush(WAIT) is False
    assert h.errors == ["the storage writer thread failed: nothing more will be written"]
    assert writer.close(WAIT) is False
