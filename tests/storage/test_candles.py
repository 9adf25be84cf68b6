"""CandleLog: layout, append, reading damaged files without dying."""

from __future__ import annotations

import json
import logging
import os
import stat
from datetime import date, datetime
from pathlib import Path

import pytest

from storage.candles import CandleLog
from storage.plainjson import dumps_line

DAY = date(2024, 1, 5)


def _record(minute: int) -> dict[str, object]:
    return {"start": f"2024-01-05T09:{minute:02d}:00+05:30", "open": "1520.05",
            "high": "1525.00", "low": "1519.10", "close": "1523.40", "volume": 1200 + minute}


def _lines(*minutes: int) -> list[str]:
    return [dumps_line(_record(m), "test") for m in minutes]


def test_layout_and_listing(tmp_path: Path) -> None:
    log = CandleLog(tmp_path / "candles")
    assert log.path(DAY, 408065, 5) == tmp_path / "candles" / "2024-01-05" / "408065_5m.jsonl"
    assert log.days() == []
    log.append_lines(log.path(DAY, 408065, 5), _lines(15))
    log.append_lines(log.path(DAY, 2953217, 1), _lines(15))
    log.append_lines(log.path(date(2024, 1, 4), 408065, 5), _lines(15))
    (tmp_path / "candles" / "notes").mkdir()
    (tmp_path / "candles" / "2024-01-05" / "README").write_text("x")
    assert log.days() == [date(2024, 1, 4), DAY]
    assert log.series(DAY) == [(408065, 5), (2953217, 1)]
    assert log.series(date(2023, 1, 1)) == []


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((datetime(2024, 1, 5, 9, 15), 1, 5), TypeError, "day must be a date"),
        ((DAY, -1, 5), ValueError, "instrument token"),
        ((DAY, "408065", 5), ValueError, "instrument token"),
        ((DAY, 1, 0), ValueError, "candle interval"),
    ],
)
def test_bad_path_arguments(tmp_path: Path, args, error, match: str) -> None:
    with pytest.raises(error, match=match):
        CandleLog(tmp_path).path(*args)


def test_append_and_read_back_in_order(tmp_path: Path) -> None:
    log = CandleLog(tmp_path)
    path = log.path(DAY, 408065, 5)
    log.append_lines(path, _lines(15, 20))
    log.append_lines(path, _lines(25))
    assert log.read_day(DAY, 408065, 5) == [_record(15), _record(20), _record(25)]
    assert log.read_day(DAY, 408065, 15) == []  # no such file


def test_truncated_last_line_skipped_and_logged(tmp_path: Path, caplog) -> None:
    log = CandleLog(tmp_path)
    path = log.path(DAY, 408065, 5)
    log.append_lines(path, _lines(15, 20))
    with path.open("ab") as handle:  # a crash mid-write left half a line
        handle.write(dumps_line(_record(25), "t").encode()[:30])
    with caplog.at_level(logging.WARNING, logger="storage.candles"):
        read = log.read_file(path)
    assert read.records == [_record(15), _record(20)]
    assert read.bad_lines == (3,)
    assert str(path) in caplog.text
    assert "line(s) 3 (the last line" in caplog.text

    # Appending after the cut line terminates it first: the new record stays readable.
    log.append_lines(path, _lines(30))
    read = log.read_file(path)
    assert read.records == [_record(15), _record(20), _record(30)]
    assert read.bad_lines == (3,)


def test_corrupt_middle_lines_skipped(tmp_path: Path) -> None:
    log = CandleLog(tmp_path)
    path = log.path(DAY, 1, 5)
    path.parent.mkdir(parents=True)
    path.write_bytes(b'{"a": 1}\n[1, 2]\n\xff\xfe\n\n{"a": 2}\n')
    read = log.read_file(path)
    assert read.records == [{"a": 1}, {"a": 2}]
    assert read.bad_lines == (2, 3)


def test_failed_append_cut_back_to_previous_length(tmp_path: Path, monkeypatch) -> None:
    log = CandleLog(tmp_path)
    path = log.path(DAY, 1, 5)
    log.append_lines(path, _lines(15))
    before = path.read_bytes()
    real_write = os.write

    def half_then_full(fd: int, data) -> int:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # another thread's pipe: not the disk
            return real_write(fd, data)
        real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(OSError, match="No space"):
        log.append_lines(path, _lines(20, 25))
    monkeypatch.undo()
    assert path.read_bytes() == before
    log.append_lines(path, _lines(20))
    assert [json.loads(line) for line in path.read_text().splitlines()] == [
        _record(15), _record(20)]
