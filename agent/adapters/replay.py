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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from agent.models import Tick
from agent.timeutil import IST

REQUIRED = ("timestamp", "instrument_token", "last_price")
_CACHE_LIMIT = 200_000  # distinct price strings kept parsed
_BAD = object()
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
            first = fh.readline()
            if not first:
                raise TickFileError(f"{self.path}: empty file, expected a header line with "
                                    f"{', '.join(REQUIRED)}")
            names = [h.strip().lower() for h in next(csv.reader([first]))]
            missing = [c for c in REQUIRED if c not in names]
            if missing:
                raise TickFileError(f"{self.path}: missing column(s) {', '.join(missing)} "
                                    f"(header: {', '.join(names)})")
            yield from self._rows(fh, names)

    def _rows(self, lines: Iterable[str], names: list[str]) -> Iterator[Tick]:
        """The hot loop of a backtest (millions of rows): a line without quotes is split
        on commas (the csv module only for quoted lines), and token and price strings,
        which repeat endlessly, are parsed once each."""
        i_ts, i_tok, i_px = (names.index(c) for c in REQUIRED)
        i_ltq = names.index("last_traded_quantity") if "last_traded_quantity" in names else -1
        i_vol = names.index("volume_traded") if "volume_traded" in names else -1
        width = max(i_ts, i_tok, i_px, i_ltq, i_vol) + 1
        tokens: dict[str, int] = {}
        prices: dict[str, Decimal] = {}
        last_text, last_time = "", None
        line = 1
        for raw in lines:
            line += 1
            self.rows += 1
            row = (raw.rstrip("\r\n").split(",") if '"' not in raw
                   else next(csv.reader([raw]), []))
            if len(row) < width:
                if not raw.strip(" ,\r\n\t"):
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
            token = tokens.get(row[i_tok])
            if token is None:
                error = self._token(row[i_tok], tokens)
                if error:
                    self._bad(line, error)
                    continue
                token = tokens[row[i_tok]]
            price = prices.get(row[i_px])
            if price is None:
                price = _price(row[i_px])
                if price is None:
                    self._bad(line, f"bad last_price {row[i_px]!r}")
                    continue
                if len(prices) > _CACHE_LIMIT:
                    prices.clear()
                prices[row[i_px]] = price
            ltq = vol = None
            if i_ltq >= 0:
                q = row[i_ltq]
                if q.isdigit():  # the common case, checked inline
                    ltq = int(q)
                elif q:
                    ltq = _quantity(q, line, self)
                    if ltq is _BAD:
                        continue
            if i_vol >= 0:
                q = row[i_vol]
                if q.isdigit():
                    vol = int(q)
                elif q:
                    vol = _quantity(q, line, self)
                    if vol is _BAD:
                        continue
            yield Tick(token, price, last_time, None, ltq, vol)

    def _token(self, text: str, tokens: dict[str, int]) -> str | None:
        """Parse and check a token string once; an error message, or None when cached."""
        try:
            token = int(text)
        except ValueError:
            return f"bad instrument_token {text!r}"
        if self.known is not None and token not in self.known:
            return f"unknown instrument_token {token}"
        tokens[text] = token
        return None

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


def _price(text: str) -> Decimal | None:
    try:
        price = Decimal(text)
    except InvalidOperation:
        return None
    return price if price.is_finite() and price > 0 else None


def _quantity(text: str, line: int, source: TickFile) -> Any:
    """A quantity cell that is not plain digits: None when blank, else a number >= 0, or
    ``_BAD`` after reporting the row."""
    try:
        value = int(text)
    except ValueError:
        if not text.strip():
            return None
        source._bad(line, f"bad quantity {text!r}")
        return _BAD
    if value < 0:
        source._bad(line, f"bad quantity {text!r}: negative")
        return _BAD
    return value
