"""Tick files for backtests: CSV with a header, optionally gzip-compressed.

Columns: ``timestamp,instrument_token,last_price`` and optional ``last_traded_quantity``,
``volume_traded`` (any order; other columns are ignored). ISO 8601 timestamps; no offset
means IST. A bad row (unparsable number, unknown token, bad timestamp) is recorded with
its line number and skipped; a missing file or column raises ``TickFileError``.

Speed (a whole session of 100 instruments is 2.25 million rows): the parse loop checks each
row and emits *columnar chunks* (arrays of numbers plus each chunk's distinct timestamp and
price texts); the ticks are built from chunks with each distinct text converted once. A
large file is parsed in a child process while this one runs the engine, using the
machine's second core; a small one in this process. The ticks, the bad rows and their
order are the same either way. Iterate on one thread; ``rows``, ``bad`` and
``bad_count`` are complete once the iteration ends.
"""

from __future__ import annotations

import csv
import gzip
import io
import multiprocessing
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from agent.models import Tick
from agent.timeutil import IST

REQUIRED = ("timestamp", "instrument_token", "last_price")
OPTIONAL = ("last_traded_quantity", "volume_traded")
CHUNK_ROWS = 20_000
PARALLEL_BYTES = 4_000_000  # files at least this large are parsed in a child process
_ABSENT = -1  # an empty quantity cell in a chunk's arrays


class TickFileError(ValueError):
    """The tick file cannot be read at all (missing, no header, missing column)."""


@dataclass(frozen=True, slots=True)
class BadRow:
    line: int
    message: str


@dataclass(slots=True)
class Chunk:
    """Good rows, column by column; texts stand once in ``times`` / ``prices``."""

    tokens: array
    time_index: array
    times: list[str]
    price_index: array
    prices: list[str]
    ltq: array
    volume: array


class TickFile:
    """Iterates the ticks of one file; ``bad`` lists the rows skipped, ``rows`` counts all."""

    def __init__(self, path: Path, known_tokens: set[int] | None = None,
                 max_bad_kept: int = 1000, parallel_bytes: int = PARALLEL_BYTES) -> None:
        self.path = path
        self.known = known_tokens
        self.bad: list[BadRow] = []
        self.bad_count = 0
        self.rows = 0
        self._max_bad = max_bad_kept
        self._parallel_bytes = parallel_bytes

    def _open(self) -> io.TextIOBase:
        if not self.path.is_file():
            raise TickFileError(f"tick file not found: {self.path}")
        if self.path.suffix == ".gz":
            return io.TextIOWrapper(gzip.open(self.path, "rb"), encoding="utf-8", newline="")
        return open(self.path, encoding="utf-8", newline="")

    def _header(self, fh: io.TextIOBase) -> list[str]:
        first = fh.readline()
        if not first:
            raise TickFileError(f"{self.path}: empty file, expected a header line with "
                                f"{', '.join(REQUIRED)}")
        names = [h.strip().lower() for h in next(csv.reader([first]))]
        missing = [c for c in REQUIRED if c not in names]
        if missing:
            raise TickFileError(f"{self.path}: missing column(s) {', '.join(missing)} "
                                f"(header: {', '.join(names)})")
        return names

    def __iter__(self) -> Iterator[Tick]:
        with self._open() as fh:
            names = self._header(fh)
            if self.path.stat().st_size >= self._parallel_bytes:
                chunks = self._chunks_from_child()
            else:
                chunks = self.chunks(fh, names)
            yield from _ticks(chunks)

    # ------------------------------------------------------------ parsing

    def chunks(self, lines: Iterable[str], names: list[str]) -> Iterator[Chunk]:
        """The parse loop: checks every row, records bad ones, emits good ones in chunks."""
        i_ts, i_tok, i_px = (names.index(c) for c in REQUIRED)
        i_ltq = names.index("last_traded_quantity") if "last_traded_quantity" in names else -1
        i_vol = names.index("volume_traded") if "volume_traded" in names else -1
        width = max(i_ts, i_tok, i_px, i_ltq, i_vol) + 1
        tokens: dict[str, int] = {}
        good_prices: set[str] = set()
        good_times: set[str] = set()
        chunk = _new_chunk()
        time_at: dict[str, int] = {}
        price_at: dict[str, int] = {}
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
            if text not in good_times:
                if _parse_time(text) is None:
                    self._bad(line, f"bad timestamp {text!r}")
                    continue
                good_times.add(text)
            token = tokens.get(row[i_tok])
            if token is None:
                error = self._token(row[i_tok], tokens)
                if error:
                    self._bad(line, error)
                    continue
                token = tokens[row[i_tok]]
            price = row[i_px]
            if price not in good_prices:
                if _price(price) is None:
                    self._bad(line, f"bad last_price {price!r}")
                    continue
                good_prices.add(price)
            ltq = vol = _ABSENT
            if i_ltq >= 0:
                q = row[i_ltq]
                ltq = int(q) if q.isdigit() else self._quantity(q, line)
                if ltq is None:
                    continue
            if i_vol >= 0:
                q = row[i_vol]
                vol = int(q) if q.isdigit() else self._quantity(q, line)
                if vol is None:
                    continue
            at = time_at.get(text)
            if at is None:
                at = time_at[text] = len(chunk.times)
                chunk.times.append(text)
            pi = price_at.get(price)
            if pi is None:
                pi = price_at[price] = len(chunk.prices)
                chunk.prices.append(price)
            chunk.tokens.append(token)
            chunk.time_index.append(at)
            chunk.price_index.append(pi)
            chunk.ltq.append(ltq)
            chunk.volume.append(vol)
            if len(chunk.tokens) >= CHUNK_ROWS:
                yield chunk
                chunk, time_at, price_at = _new_chunk(), {}, {}
        if len(chunk.tokens):
            yield chunk

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

    def _quantity(self, text: str, line: int) -> int | None:
        """A quantity cell that is not plain digits: _ABSENT when blank, else a number >= 0,
        or None after reporting the row as bad."""
        if not text.strip():
            return _ABSENT
        try:
            value = int(text)
        except ValueError:
            self._bad(line, f"bad quantity {text!r}")
            return None
        if value < 0:
            self._bad(line, f"bad quantity {text!r}: negative")
            return None
        return value

    def _bad(self, line: int, message: str) -> None:
        self.bad_count += 1
        if len(self.bad) < self._max_bad:
            self.bad.append(BadRow(line, message))

    # ------------------------------------------------------------ the child process

    def _chunks_from_child(self) -> Iterator[Chunk]:
        context = multiprocessing.get_context("fork" if "fork" in
                                              multiprocessing.get_all_start_methods()
                                              else "spawn")
        receive, send = context.Pipe(duplex=False)
        child = context.Process(target=_parse_in_child, name="tick-file-parser", daemon=True,
                                args=(str(self.path), self.known, self._max_bad, send))
        child.start()
        send.close()
        try:
            while True:
                kind, payload = receive.recv()
                if kind == "chunk":
                    yield Chunk(*payload)
                elif kind == "end":
                    self.rows, self.bad_count, bad = payload
                    self.bad = [BadRow(line, message) for line, message in bad]
                    return
                else:
                    raise TickFileError(f"{self.path}: {payload}")
        finally:
            receive.close()
            child.join(5)
            if child.is_alive():
                child.terminate()


def _parse_in_child(path: str, known: set[int] | None, max_bad: int, send: Any) -> None:
    """The child's side: parse the whole file, send its chunks, then the counts."""
    source = TickFile(Path(path), known, max_bad, parallel_bytes=1 << 62)
    try:
        with source._open() as fh:
            names = source._header(fh)
            for chunk in source.chunks(fh, names):
                send.send(("chunk", (chunk.tokens, chunk.time_index, chunk.times,
                                     chunk.price_index, chunk.prices, chunk.ltq,
                                     chunk.volume)))
        send.send(("end", (source.rows, source.bad_count,
                           [(b.line, b.message) for b in source.bad])))
    except Exception as exc:  # reported to the parent, which raises it
        send.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        send.close()


# ------------------------------------------------------------ chunks to ticks


def _new_chunk() -> Chunk:
    return Chunk(array("q"), array("I"), [], array("I"), [], array("q"), array("q"))


def _ticks(chunks: Iterable[Chunk]) -> Iterator[Tick]:
    """Ticks from chunks, each distinct timestamp and price text converted once."""
    times: dict[str, datetime] = {}
    prices: dict[str, Decimal] = {}
    for chunk in chunks:
        stamps = [times.get(t) or times.setdefault(t, _parse_time(t)) for t in chunk.times]
        values = [prices.get(p) or prices.setdefault(p, Decimal(p)) for p in chunk.prices]
        if len(prices) > 200_000:
            prices.clear()
        for token, ti, pi, ltq, vol in zip(chunk.tokens, chunk.time_index, chunk.price_index,
                                           chunk.ltq, chunk.volume, strict=True):
            yield Tick(token, values[pi], stamps[ti], None, None if ltq < 0 else ltq,
                       None if vol < 0 else vol)


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
