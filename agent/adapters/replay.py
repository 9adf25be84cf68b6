"""Tick files for backtests: CSV with a header, optionally gzip-compressed.

Columns: ``timestamp,instrument_token,last_price`` and optional ``last_traded_quantity``,
``volume_traded`` (any order; other columns are ignored). ISO 8601 timestamps; no offset
means IST. A bad row (unparsable number, unknown token, bad timestamp) is recorded with
its line number and skipped; a missing file or column raises ``TickFileError``.
Single-threaded: iterate on one thread.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from agent.models import Tick
from agent.timeutil import IST

REQUIRED = ("timestamp", "instrument_token", "last_price")
OPTIONAL = ("last_traded_quantity", "volume_traded")


class TickFileError(ValueError):
    """The tick file cannot be read at all (missing, no header, missing column)."""


@dataclass(frozen=True, slots=True)
class BadRow:
    line: int
    message: str


class TickFile:
    """Iterates the ticks of one file; ``bad`` lists the rows skipped, ``rows`` counts all."""

    def __init__(self, path: Path, known_tokens: set[int] | None = None,
                 max_bad_kept: int = 1000) -> None:
        self.path = path
        self.known = known_tokens
        self.bad: list[BadRow] = []
        self.bad_count = 0
        self.rows = 0
        self._max_bad = max_bad_kept

    def _open(self) -> io.TextIOBase:
        if not self.path.is_file():
            raise TickFileError(f"tick file not found: {self.path}")
        if self.path.suffix == ".gz":
            return io.TextIOWrapper(gzip.open(self.path, "rb"), encoding="utf-8", newline="")
        return open(self.path, encoding="utf-8", newline="")

    def __iter__(self) -> Iterator[Tick]:
        with self._open() as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise TickFileError(f"{self.path}: empty file, expected a header line with "
                                    f"{', '.join(REQUIRED)}")
            names = [h.strip().lower() for h in header]
            missing = [c for c in REQUIRED if c not in names]
            if missing:
                raise TickFileError(f"{self.path}: missing column(s) {', '.join(missing)} "
                                    f"(header: {', '.join(names)})")
            yield from self._rows(reader, names)

    def _rows(self, reader: Iterator[list[str]], names: list[str]) -> Iterator[Tick]:
        i_ts, i_tok, i_px = (names.index(c) for c in REQUIRED)
        i_ltq = names.index("last_traded_quantity") if "last_traded_quantity" in names else -1
        i_vol = names.index("volume_traded") if "volume_traded" in names else -1
        width = max(i_ts, i_tok, i_px, i_ltq, i_vol) + 1
        known = self.known
        last_text, last_time = "", None
        line = 1
        for row in reader:
            line += 1
            self.rows += 1
            if len(row) < width:
                if not row or not any(cell.strip() for cell in row):
                    self.rows -= 1  # blank line
                    continue
                self._bad(line, f"expected {width} columns, got {len(row)}")
                continue
            text = row[i_ts]
            if text != last_text:
                stamp = _parse_time(text)
                if stamp is None:
                    self._bad(line, f"bad timestamp {text!r}")
                    continue
                last_text, last_time = text, stamp
            try:
                token = int(row[i_tok])
            except ValueError:
                self._bad(line, f"bad instrument_token {row[i_tok]!r}")
                continue
            if known is not None and token not in known:
                self._bad(line, f"unknown instrument_token {token}")
                continue
            try:
                price = Decimal(row[i_px])
                if not price.is_finite() or price <= 0:
                    raise InvalidOperation
            except InvalidOperation:
                self._bad(line, f"bad last_price {row[i_px]!r}")
                continue
            ltq = vol = None
            try:
                if i_ltq >= 0 and row[i_ltq].strip():
                    ltq = _quantity(row[i_ltq])
                if i_vol >= 0 and row[i_vol].strip():
                    vol = _quantity(row[i_vol])
            except ValueError as exc:
                self._bad(line, str(exc))
                continue
            yield Tick(token, price, last_time, None, ltq, vol)

    def _bad(self, line: int, message: str) -> None:
        self.bad_count += 1
        if len(self.bad) < self._max_bad:
            self.bad.append(BadRow(line, message))


def _parse_time(text: str) -> datetime | None:
    try:
        stamp = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if stamp.tzinfo is None:
        return stamp.replace(tzinfo=IST)
    return stamp.astimezone(IST)


def _quantity(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"bad quantity {text!r}") from None
    if value < 0:
        raise ValueError(f"bad quantity {text!r}: negative")
    return value
