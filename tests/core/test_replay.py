"""Tick files: bad rows reported with line numbers and skipped; missing file or column."""

from __future__ import annotations

import gzip
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from agent.adapters.replay import TickFile, TickFileError
from agent.timeutil import IST

GOOD = """timestamp,instrument_token,last_price,last_traded_quantity,volume_traded
2026-11-23T09:15:00,7,100.05,5,5
2026-11-23T09:15:01+05:30,7,100.10,,12
2026-11-23T03:45:02+00:00,7,100.15,3,
"""


def _write(tmp_path: Path, text: str, name: str = "ticks.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_times_without_offset_are_ist_and_offsets_are_converted(tmp_path) -> None:
    ticks = list(TickFile(_write(tmp_path, GOOD)))
    assert [t.timestamp for t in ticks] == [
        datetime(2026, 11, 23, 9, 15, s, tzinfo=IST) for s in (0, 1, 2)]
    assert all(t.timestamp.utcoffset() == timedelta(hours=5, minutes=30) for t in ticks)
    assert ticks[1].last_price == Decimal("100.10")
    assert (ticks[1].last_traded_quantity, ticks[1].volume_traded) == (None, 12)
    assert (ticks[2].last_traded_quantity, ticks[2].volume_traded) == (3, None)
    assert all(t.timestamp.tzinfo is IST for t in ticks)


def test_bad_rows_are_reported_with_line_numbers_and_skipped(tmp_path) -> None:
    text = """timestamp,instrument_token,last_price
2026-11-23T09:15:00,7,100
2026-11-23T09:15:01,7,abc
not-a-time,7,100
2026-11-23T09:15:02,99,100
2026-11-23T09:15:03,x7,100
2026-11-23T09:15:04,7,-5
2026-11-23T09:15:05,7

2026-11-23T09:15:06,7,101
"""
    source = TickFile(_write(tmp_path, text), known_tokens={7})
    ticks = list(source)
    assert [t.last_price for t in ticks] == [Decimal(100), Decimal(101)]
    assert [(b.line, b.message) for b in source.bad] == [
        (3, "bad last_price 'abc'"),
        (4, "bad timestamp 'not-a-time'"),
        (5, "unknown instrument_token 99"),
        (6, "bad instrument_token 'x7'"),
        (7, "bad last_price '-5'"),
        (8, "expected 3 columns, got 2"),
    ]
    assert source.bad_count == 6
    assert source.rows == 8  # the blank line is not a row


def test_missing_file_and_missing_column_are_clear_errors(tmp_path) -> None:
    with pytest.raises(TickFileError, match=r"tick file not found: .*nope\.csv"):
        list(TickFile(tmp_path / "nope.csv"))
    path = _write(tmp_path, "timestamp,token,last_price\n2026-11-23T09:15:00,7,1\n")
    with pytest.raises(TickFileError, match=r"missing column\(s\) instrument_token"):
        list(TickFile(path))
    with pytest.raises(TickFileError, match="empty file"):
        list(TickFile(_write(tmp_path, "", "empty.csv")))


def test_gzip_files_are_read(tmp_path) -> None:
    path = tmp_path / "ticks.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(GOOD)
    assert len(list(TickFile(path))) == 3


def test_the_child_process_parse_gives_the_same_ticks_and_bad_rows(tmp_path) -> None:
    lines = ["timestamp,instrument_token,last_price,last_traded_quantity,volume_traded"]
    for i in range(50_000):  # three chunks and a half
        lines.append(f"2026-11-23T09:{15 + i // 3600:02d}:{i // 60 % 60:02d},{7 + i % 3},"
                     f"{100 + (i % 97) * 0.05:.2f},{i % 9},{i}")
    lines[1234] = "2026-11-23T09:15:00,7,abc,1,1"
    lines[45678] = "2026-11-23T09:15:00,8,100,-3,1"
    path = _write(tmp_path, "\n".join(lines) + "\n")
    here = TickFile(path, known_tokens={7, 8, 9})
    child = TickFile(path, known_tokens={7, 8, 9}, parallel_bytes=1)
    assert list(child) == list(here)
    assert (child.rows, child.bad_count, child.bad) == (here.rows, here.bad_count, here.bad)
    assert [b.line for b in here.bad] == [1235, 45679] and here.rows == 50_000


def test_a_child_process_error_is_raised_in_the_parent(tmp_path) -> None:
    path = _write(tmp_path, "timestamp,instrument_token,last_price\n2026-11-23T09:15:00,7,1\n")
    with pytest.raises(TickFileError, match="missing column"):
        list(TickFile(_write(tmp_path, "a,b\n1,2\n", "bad.csv"), parallel_bytes=1))
    assert len(list(TickFile(path, parallel_bytes=1))) == 1
