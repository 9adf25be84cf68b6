"""Completed candles as JSON lines: ``<root>/YYYY-MM-DD/<token>_<interval>m.jsonl``, and
beside them the strategy's marks of the day (``<token>_marks.jsonl``: alert bands, stop
and target levels, one line per change; agent/marks.py) for the charts.

``root`` is the candles directory itself (``data_dir / "candles"``). One JSON object per
line, appended. Reading tolerates damage: a line cut short by a crash mid-write (or any
other line that is not a JSON object) is skipped, counted and logged with the file and line
number, so a restart never dies on it. Appending first terminates such a cut line, so new
records never run into it.

Threads: :meth:`CandleLog.append_lines` is for the storage writer thread only; the path
helpers are pure; the readers may run on any thread (at start-up, in reports).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from storage.atomic import fsync_directory
from storage.errors import os_problem

logger = logging.getLogger(__name__)

_FILE_NAME = re.compile(r"^(\d+)_(\d+)m\.jsonl$")
_DAY_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_json_lines(raw: bytes) -> tuple[list[dict[str, Any]], list[int], list[int], int]:
    """A JSON-lines file's objects, their line numbers (1-based), the numbers of the lines
    that are not JSON objects, and the count of lines (a final newline ends the last one;
    blank lines are passed over). Pure; the candle files' and the journal's reader."""
    lines = raw.split(b"\n")
    if lines[-1] == b"":
        lines.pop()  # the file ends with a newline, as it should
    records: list[dict[str, Any]] = []
    numbers: list[int] = []
    bad: list[int] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:  # JSONDecodeError and UnicodeDecodeError
            record = None
        if isinstance(record, dict):
            records.append(record)
            numbers.append(number)
        else:
            bad.append(number)
    return records, numbers, bad, len(lines)


@dataclass(frozen=True)
class CandleFileRead:
    """What one candle file held: the good records in order and the skipped line numbers."""

    path: Path
    records: list[dict[str, Any]]
    bad_lines: tuple[int, ...]  # 1-based
    numbers: tuple[int, ...] = ()  # the line number of each record (1-based)
    problem: str = ""  # why the file could not be read at all (a directory in its place)


class CandleLog:
    """The candle files under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def day_dir(self, day: date) -> Path:
        if isinstance(day, datetime) or not isinstance(day, date):
            raise TypeError(f"day must be a date, got {type(day).__name__} {day!r}")
        return self.root / day.isoformat()

    def path(self, day: date, token: int, interval: int) -> Path:
        """The file of one instrument's candles of ``interval`` minutes on ``day``."""
        if isinstance(token, bool) or not isinstance(token, int) or token < 0:
            raise ValueError(f"instrument token must be an int >= 0, got {token!r}")
        if isinstance(interval, bool) or not isinstance(interval, int) or interval <= 0:
            raise ValueError(f"candle interval must be an int of minutes > 0, got {interval!r}")
        return self.day_dir(day) / f"{token}_{interval}m.jsonl"

    def marks_path(self, day: date, token: int) -> Path:
        """The file of one instrument's marks on ``day`` (agent/marks.py)."""
        if isinstance(token, bool) or not isinstance(token, int) or token < 0:
            raise ValueError(f"instrument token must be an int >= 0, got {token!r}")
        return self.day_dir(day) / f"{token}_marks.jsonl"

    def read_marks(self, day: date, token: int) -> CandleFileRead:
        """One instrument's marks of ``day`` as records, read as a candle file is."""
        return self.read_file(self.marks_path(day, token))

    def days(self) -> list[date]:
        """The days that have a candle directory, oldest first."""
        if not self.root.is_dir():
            return []
        found = []
        for child in self.root.iterdir():
            if child.is_dir() and _DAY_NAME.match(child.name):
                try:
                    found.append(date.fromisoformat(child.name))
                except ValueError:
                    logger.warning("ignoring %s: not a date directory", child)
        return sorted(found)

    def series(self, day: date) -> list[tuple[int, int]]:
        """(token, interval) of every candle file of ``day``, sorted."""
        directory = self.day_dir(day)
        if not directory.is_dir():
            return []
        found = []
        for child in directory.iterdir():
            match = _FILE_NAME.match(child.name)
            if match and child.is_file():
                found.append((int(match.group(1)), int(match.group(2))))
        return sorted(found)

    def read_day(self, day: date, token: int, interval: int) -> list[dict[str, Any]]:
        """The records of one file in append order; [] when there is none (or it cannot be
        read: logged)."""
        return self.read(day, token, interval).records

    def read(self, day: date, token: int, interval: int) -> CandleFileRead:
        """One file's records with what was skipped (``bad_lines``, ``problem``)."""
        return self.read_file(self.path(day, token, interval))

    def read_file(self, path: Path) -> CandleFileRead:
        """Parse a candle file, skipping (and logging) lines that are not JSON objects. A
        file that cannot be read at all gives no records and its ``problem``: one bad file
        never stops a report or a start."""
        try:
            raw = self.read_bytes(path)
        except FileNotFoundError:
            return CandleFileRead(path, [], ())
        except OSError as exc:
            problem = f"cannot be read: {os_problem(exc)}"
            logger.warning("candle file %s %s", path, problem)
            return CandleFileRead(path, [], (), (), problem)
        records, numbers, bad, count = parse_json_lines(raw)
        if bad:
            last = " (the last line: probably cut short by a crash mid-write)" if (
                bad[-1] == count
            ) else ""
            logger.warning("data file %s: skipped %d unreadable line(s) at line(s) %s%s",
                           path, len(bad), ", ".join(map(str, bad)), last)
        return CandleFileRead(path, records, tuple(bad), tuple(numbers))

    def read_bytes(self, path: Path) -> bytes:
        """The stored lines of ``path``, newline-terminated (FileNotFoundError: none). Any
        thread; ``storage/redis_lines.py`` reads them from Redis instead."""
        return path.read_bytes()

    def append_lines(self, path: Path, lines: Sequence[str]) -> None:
        """Append encoded lines (each ending in a newline), then fsync. Writer thread only.

        On an error the file is cut back to its previous length (when possible) and the
        error is raised: the caller keeps the lines and retries.
        """
        if not lines:
            return
        data = "".join(lines).encode("utf-8")
        directory = path.parent
        if not directory.is_dir():
            directory.mkdir(parents=True, exist_ok=True)
            fsync_directory(directory.parent)
        created = not path.exists()
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0)
        fd = os.open(path, flags, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size:
                os.lseek(fd, size - 1, os.SEEK_SET)
                if os.read(fd, 1) != b"\n":  # a line cut short: end it before appending
                    data = b"\n" + data
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            except OSError:
                try:
                    os.ftruncate(fd, size)
                except OSError as exc:
                    logger.error("could not cut %s back to %d bytes: %s", path, size, exc)
                raise
        finally:
            os.close(fd)
        if created:
            fsync_directory(directory)
