"""Tick files for backtests: CSV with a header, optionally gzip-compressed.

Columns: ``timestamp,instrument_token,last_price`` and optional ``last_traded_quantity``,
``volume_traded`` (any order; other columns are ignored). UTF-8 (a UTF-8 byte order mark is
skipped); gzip when the name ends in ``.gz`` or the data starts with gzip's magic bytes.
ISO 8601 timestamps; no offset means IST.

Bad input never stops a run with a traceback. A bad row (undecodable bytes, a line over
``MAX_LINE_BYTES``, an unparsable or out-of-range number, an unknown token, a bad
timestamp, missing cells) is recorded with its line number and skipped. A file that cannot
be read at all raises ``TickFileError`` with one line naming the file and what is wrong:
missing, a directory, unreadable, empty, no header or a missing column, UTF-16 or UTF-32,
truncated or corrupt gzip (with the last line read). The limits are the constants below.

Speed (a whole session of 100 instruments is 2.25 million rows): the parse loop checks each
row and emits *columnar chunks* (arrays of numbers plus each chunk's distinct timestamp and
price texts); the ticks are built from chunks with each distinct text converted once. A
large file is parsed in a child process while this one runs the engine, using the
machine's second core; a small one in this process. The ticks, the bad rows, their line
numbers and any error are the same either way. Memory does not grow with the length of
the file: the caches of checked and converted texts are bounded (``TIME_CACHE``,
``PRICE_CACHE``). Iterate on one thread; ``rows``, ``bad`` and ``bad_count`` are complete
once the iteration ends.
"""

from __future__ import annotations

import csv
import gzip
import stat
import zlib
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any

from agent.adapters.child_stream import messages, send_quietly, start_child
from agent.models import Tick
from agent.timeutil import IST

REQUIRED = ("timestamp", "instrument_token", "last_price")
OPTIONAL = ("last_traded_quantity", "volume_traded")
CHUNK_ROWS = 20_000
PARALLEL_BYTES = 4_000_000  # files at least this large are parsed in a child process
_ABSENT = -1  # an empty quantity cell in a chunk's arrays

# Limits (README "Backtests").
MAX_LINE_BYTES = 128 * 1024  # a longer line (its line ending included) is a bad row
MAX_PRICE = Decimal(100_000_000)  # Rs 10 crore
MAX_PRICE_CHARS = 24  # a price's text, spaces aside
MAX_QUANTITY = 2**63 - 1
MAX_TOKEN = 2**63 - 1
YEARS = (1970, 2199)  # timestamps (after conversion to IST) must fall in these years
# Bounded caches of checked or converted texts: timestamps are forgotten past TIME_CACHE (one
# is rarely seen again after its chunk); prices move to an older generation past PRICE_CACHE
# and the one before it is forgotten (a price often comes back).
TIME_CACHE = 10_000
PRICE_CACHE = 50_000
_SHOWN_CHARS = 40  # a bad cell is quoted up to this many characters

_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
         (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16"))
_UTF8_BOM = b"\xef\xbb\xbf"
_GZIP_MAGIC = b"\x1f\x8b"


class TickFileError(ValueError):
    """The tick file cannot be read at all; the message is one line naming the file."""


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
    lines: array  # each row's line number in the file


class TickFile:
    """Iterates the ticks of one file; ``bad`` lists the rows skipped, ``rows`` counts all.
    ``numbered()`` iterates (line number, tick) pairs instead."""

    def __init__(self, path: Path, known_tokens: set[int] | None = None,
                 max_bad_kept: int = 1000, parallel_bytes: int = PARALLEL_BYTES) -> None:
        self.path = path
        self.known = known_tokens
        self.bad: list[BadRow] = []
        self.bad_count = 0
        self.rows = 0
        self._max_bad = max_bad_kept
        self._parallel_bytes = parallel_bytes
        self._size = 0

    def __iter__(self) -> Iterator[Tick]:
        return _ticks(self._all_chunks())

    def numbered(self) -> Iterator[tuple[int, Tick]]:
        """(line number, tick) pairs, for reports that name the line of a tick."""
        return _numbered_ticks(self._all_chunks())

    def _all_chunks(self) -> Iterator[Chunk]:
        with self._open() as fh:
            names = self._header(fh)
            if self._size >= self._parallel_bytes:
                yield from self._chunks_from_child()
            else:
                yield from self.chunks(fh, names)

    # ------------------------------------------------------------ opening

    def _open(self) -> IO[bytes]:
        """The file's bytes (decompressed when gzip); a clear TickFileError if it cannot be
        opened."""
        path = self.path
        try:
            info = path.stat()
        except FileNotFoundError:
            raise TickFileError(f"tick file not found: {path}") from None
        except OSError as exc:
            raise TickFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
        if stat.S_ISDIR(info.st_mode):
            raise TickFileError(f"{path}: is a directory, not a tick file")
        if not stat.S_ISREG(info.st_mode):
            raise TickFileError(f"{path}: not a regular file")
        self._size = info.st_size
        try:
            raw = open(path, "rb")  # noqa: SIM115 (closed by the caller's with, or here)
        except OSError as exc:
            raise TickFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
        try:
            gz = path.suffix == ".gz" or raw.peek(2)[:2] == _GZIP_MAGIC
        except OSError as exc:
            raw.close()
            raise TickFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
        if not gz:
            return raw
        raw.close()
        try:
            return gzip.open(path, "rb")
        except OSError as exc:
            raise TickFileError(f"{path}: cannot read: {exc.strerror or exc}") from None

    def _header(self, fh: IO[bytes]) -> list[str]:
        try:
            first = fh.readline(MAX_LINE_BYTES + 1)
        except (OSError, EOFError, zlib.error) as exc:
            raise TickFileError(self._read_error(exc, 0)) from None
        if not first:
            raise TickFileError(f"{self.path}: empty file, expected a header line with "
                                f"{', '.join(REQUIRED)}")
        if not first.strip():
            raise TickFileError(f"{self.path}: the first line is blank, expected a header "
                                f"line with {', '.join(REQUIRED)}")
        for bom, name in _BOMS:
            if first.startswith(bom):
                raise TickFileError(f"{self.path}: byte order mark: {name} is not supported, "
                                    "save as UTF-8")
        if first.startswith(_UTF8_BOM):
            first = first[len(_UTF8_BOM):]
        if b"\x00" in first:
            raise TickFileError(f"{self.path}: NUL bytes in the header (UTF-16 without a byte "
                                "order mark, or not a text file?): save as UTF-8 CSV")
        if len(first) > MAX_LINE_BYTES:
            raise TickFileError(f"{self.path}: the header line is longer than "
                                f"{MAX_LINE_BYTES // 1024} KiB (not a tick file?)")
        try:
            text = first.decode()
        except UnicodeDecodeError as exc:
            raise TickFileError(f"{self.path}: the header is not UTF-8 "
                                f"({_not_utf8(first, exc)})") from None
        try:
            cells = next(csv.reader([text]), [])
        except csv.Error as exc:
            raise TickFileError(f"{self.path}: bad header line: {exc}") from None
        names = [h.strip().lower() for h in cells]
        missing = [c for c in REQUIRED if c not in names]
        if missing:
            shown = ", ".join(names)
            if len(shown) > 200:
                shown = shown[:200] + "..."
            raise TickFileError(f"{self.path}: missing column(s) {', '.join(missing)} "
                                f"(header: {shown})")
        return names

    def _read_error(self, exc: BaseException, line: int) -> str:
        """One line for a read that failed part way: truncated or corrupt gzip, I/O."""
        where = f"after line {line}" if line else "in the header"
        if isinstance(exc, EOFError):
            what = "truncated gzip: the compressed data ends early"
        elif isinstance(exc, gzip.BadGzipFile | zlib.error):
            what = f"corrupt gzip: {exc}"
        else:
            what = f"cannot read: {getattr(exc, 'strerror', None) or exc}"
        return f"{self.path}: {what} ({where})"

    # ------------------------------------------------------------ parsing

    def chunks(self, fh: IO[bytes], names: list[str]) -> Iterator[Chunk]:
        """The parse loop: checks every line after the header, records bad ones, emits good
        ones in chunks. A read that fails part way raises TickFileError."""
        i_ts, i_tok, i_px = (names.index(c) for c in REQUIRED)
        i_ltq = names.index("last_traded_quantity") if "last_traded_quantity" in names else -1
        i_vol = names.index("volume_traded") if "volume_traded" in names else -1
        width = max(i_ts, i_tok, i_px, i_ltq, i_vol) + 1
        tokens: dict[str, int] = {}
        good_prices: set[str] = set()
        older_prices: set[str] = set()  # the previous generation of good_prices
        good_times: set[str] = set()
        chunk = _new_chunk()
        time_at: dict[str, int] = {}
        price_at: dict[str, int] = {}
        readline = fh.readline
        limit = MAX_LINE_BYTES + 1
        bad = self._bad
        line = 1
        while True:
            try:
                raw = readline(limit)
            except (OSError, EOFError, zlib.error) as exc:
                raise TickFileError(self._read_error(exc, line)) from None
            if not raw:
                break
            line += 1
            self.rows += 1
            if raw[-1] != 10 and len(raw) >= limit:
                self._skip_line(readline, line - 1)
                bad(line, f"line longer than {MAX_LINE_BYTES // 1024} KiB "
                          f"({MAX_LINE_BYTES:,} bytes)")
                continue
            try:
                text = raw.decode()
            except UnicodeDecodeError as exc:
                bad(line, f"not UTF-8: {_not_utf8(raw, exc)}")
                continue
            plain = text.isascii()  # then str.isdigit means the ASCII digits only
            if '"' not in text:
                row = text.rstrip("\r\n").split(",")
            else:
                try:
                    row = next(csv.reader([text]), [])
                except csv.Error as exc:
                    bad(line, f"bad CSV: {exc}")
                    continue
            if len(row) < width:
                if not text.strip(" ,\r\n\t"):
                    self.rows -= 1  # blank line
                    continue
                bad(line, f"expected {width} columns, got {len(row)}")
                continue
            stamp = row[i_ts]
            if stamp not in good_times:
                error = _time_error(stamp)
                if error is not None:
                    bad(line, error)
                    continue
                good_times.add(stamp)
            token = tokens.get(row[i_tok])
            if token is None:
                error = self._token(row[i_tok], tokens)
                if error:
                    bad(line, error)
                    continue
                token = tokens[row[i_tok]]
            price = row[i_px]
            if price not in good_prices:
                if price not in older_prices:
                    error = _price_error(price)
                    if error is not None:
                        bad(line, error, token)
                        continue
                good_prices.add(price)
            ltq = vol = _ABSENT
            if i_ltq >= 0:
                q = row[i_ltq]
                ltq = int(q) if plain and q.isdigit() else self._quantity(q, line, token)
                if ltq is None:
                    continue
            if i_vol >= 0:
                q = row[i_vol]
                vol = int(q) if plain and q.isdigit() else self._quantity(q, line, token)
                if vol is None:
                    continue
            try:  # the arrays refuse 2^63 and more
                chunk.ltq.append(ltq)
            except OverflowError:
                bad(line, f"bad quantity {_show(row[i_ltq])}: over 2^63 - 1", token)
                continue
            try:
                chunk.volume.append(vol)
            except OverflowError:
                chunk.ltq.pop()
                bad(line, f"bad quantity {_show(row[i_vol])}: over 2^63 - 1", token)
                continue
            at = time_at.get(stamp)
            if at is None:
                at = time_at[stamp] = len(chunk.times)
                chunk.times.append(stamp)
            pi = price_at.get(price)
            if pi is None:
                pi = price_at[price] = len(chunk.prices)
                chunk.prices.append(price)
            chunk.tokens.append(token)
            chunk.time_index.append(at)
            chunk.price_index.append(pi)
            chunk.lines.append(line)
            if len(chunk.tokens) >= CHUNK_ROWS:
                yield chunk
                chunk, time_at, price_at = _new_chunk(), {}, {}
                # Bounded memory: a long file has millions of distinct timestamps.
                if len(good_times) > TIME_CACHE:
                    good_times.clear()
                if len(good_prices) > PRICE_CACHE:
                    older_prices, good_prices = good_prices, set()
                if len(tokens) > PRICE_CACHE:  # many tokens only without known_tokens
                    tokens.clear()
        if len(chunk.tokens):
            yield chunk

    def _skip_line(self, readline: Any, line: int) -> None:
        """Read past the rest of an over-long line, a bounded piece at a time; ``line`` is
        the last whole line read (for an error)."""
        while True:
            try:
                piece = readline(65536)
            except (OSError, EOFError, zlib.error) as exc:
                raise TickFileError(self._read_error(exc, line)) from None
            if not piece or piece[-1] == 10:
                return

    def _token(self, text: str, tokens: dict[str, int]) -> str | None:
        """Parse and check a token string once; an error message, or None when cached."""
        try:
            token = int(text)
        except ValueError:
            return f"bad instrument_token {_show(text)}"
        if not 0 <= token <= MAX_TOKEN:
            return f"bad instrument_token {_show(text)}: outside 0 to 2^63 - 1"
        if self.known is not None and token not in self.known:
            return f"unknown instrument_token {token}"
        tokens[text] = token
        return None

    def _quantity(self, text: str, line: int, token: int) -> int | None:
        """A quantity cell that is not short plain digits: _ABSENT when blank, else a whole
        number from 0 to 2^63 - 1, or None after reporting the row as bad."""
        digits = text.strip()
        if not digits:
            return _ABSENT
        negative = digits.startswith("-")
        if negative:
            digits = digits[1:]
        if not (digits.isascii() and digits.isdigit()):
            self._bad(line, f"bad quantity {_show(text)}", token)
            return None
        if negative and digits.strip("0"):
            self._bad(line, f"bad quantity {_show(text)}: negative", token)
            return None
        if len(digits) > 19 or int(digits) > MAX_QUANTITY:
            self._bad(line, f"bad quantity {_show(text)}: over 2^63 - 1", token)
            return None
        return int(digits)

    def _bad(self, line: int, message: str, token: int = -1) -> None:
        """Record a bad row; ``token`` is its instrument_token when the row failed a check
        after that one (agent/tick_cache.py needs it), else -1."""
        self.bad_count += 1
        if len(self.bad) < self._max_bad:
            self.bad.append(BadRow(line, message))

    # ------------------------------------------------------------ the child process

    def _chunks_from_child(self) -> Iterator[Chunk]:
        started = start_child(_parse_in_child, (str(self.path), self.known, self._max_bad),
                              "tick-file-parser")
        if started is None:  # no process to spare: parse here
            with self._open() as fh:
                yield from self.chunks(fh, self._header(fh))
            return
        for kind, payload in messages(self.path, *started, TickFileError):
            if kind == "chunk":
                yield Chunk(*payload)
            else:  # the end
                self.rows, self.bad_count, bad = payload
                self.bad = [BadRow(line, message) for line, message in bad]


def _parse_in_child(path: str, known: set[int] | None, max_bad: int, send: Any) -> None:
    """The child's side: parse the whole file, send its chunks, then the counts. Every
    failure is sent as one line for the parent to raise."""
    source = TickFile(Path(path), known, max_bad, parallel_bytes=1 << 62)
    try:
        with source._open() as fh:
            names = source._header(fh)
            for chunk in source.chunks(fh, names):
                send.send(("chunk", (chunk.tokens, chunk.time_index, chunk.times,
                                     chunk.price_index, chunk.prices, chunk.ltq,
                                     chunk.volume, chunk.lines)))
        send.send(("end", (source.rows, source.bad_count,
                           [(b.line, b.message) for b in source.bad])))
    except TickFileError as exc:
        send_quietly(send, ("error", str(exc)))
    except (BrokenPipeError, ConnectionResetError):
        pass  # the parent stopped reading
    except Exception as exc:  # a bug: still one line in the parent
        send_quietly(send, ("error", f"{path}: the parser failed on data row "
                                     f"{source.rows:,}: {type(exc).__name__}: {exc}"))
    finally:
        send.close()


# ------------------------------------------------------------ checks


def _show(text: str) -> str:
    """A cell for a message: quoted, cut to a readable length."""
    if len(text) <= _SHOWN_CHARS:
        return repr(text)
    return f"{text[:_SHOWN_CHARS]!r}... ({len(text):,} characters)"


def _not_utf8(raw: bytes, exc: UnicodeDecodeError) -> str:
    column = len(raw[:exc.start].decode(errors="replace")) + 1
    return f"byte 0x{raw[exc.start]:02x} at column {column}"


def _time_error(text: str) -> str | None:
    """Why a timestamp cell is refused, or None when it is good."""
    stamp = _parse_time(text)
    if stamp is None:
        return f"bad timestamp {_show(text)}"
    if isinstance(stamp, str):
        return f"bad timestamp {_show(text)}: {stamp}"
    return None


def _parse_time(text: str) -> datetime | str | None:
    """The IST time of a cell; None when not ISO 8601, a reason when out of range."""
    try:
        stamp = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=IST)
    else:
        try:
            stamp = stamp.astimezone(IST)
        except OverflowError:
            return f"outside the years {YEARS[0]} to {YEARS[1]}"
    if not YEARS[0] <= stamp.year <= YEARS[1]:
        return f"year {stamp.year}, outside {YEARS[0]} to {YEARS[1]}"
    return stamp


def _price_error(text: str) -> str | None:
    """Why a last_price cell is refused, or None when it is good."""
    digits = text.strip()
    if len(digits) > MAX_PRICE_CHARS:
        return (f"bad last_price {_show(text)}: {len(digits):,} characters, at most "
                f"{MAX_PRICE_CHARS}")
    try:
        price = Decimal(digits)
    except InvalidOperation:
        return f"bad last_price {_show(text)}"
    if not price.is_finite() or price <= 0:
        return f"bad last_price {_show(text)}"
    if price > MAX_PRICE:
        return f"bad last_price {_show(text)}: above {MAX_PRICE} (Rs 10 crore)"
    return None


# ------------------------------------------------------------ chunks to ticks


def _new_chunk() -> Chunk:
    return Chunk(array("q"), array("I"), [], array("I"), [], array("q"), array("q"),
                 array("Q"))


class _Converter:
    """Chunks' distinct time and price texts as objects, each converted once while it is in
    a bounded cache: times are forgotten past ``TIME_CACHE``; prices are kept in two
    generations of ``PRICE_CACHE`` (the recent ones survive a turnover)."""

    __slots__ = ("older", "prices", "times")

    def __init__(self) -> None:
        self.times: dict[str, datetime] = {}
        self.prices: dict[str, Decimal] = {}
        self.older: dict[str, Decimal] = {}

    def __call__(self, chunk: Chunk) -> tuple[list[datetime], list[Decimal]]:
        times, prices = self.times, self.prices
        if len(times) > TIME_CACHE:
            times.clear()
        if len(prices) > PRICE_CACHE:
            self.older, self.prices = prices, {}
            prices = self.prices
        stamps = [times.get(t) or times.setdefault(t, _time_of(t)) for t in chunk.times]
        values = [prices.get(p) or self._price(p) for p in chunk.prices]
        return stamps, values

    def _price(self, text: str) -> Decimal:
        value = self.older.get(text)
        if value is None:
            value = Decimal(text)
        self.prices[text] = value
        return value


def _ticks(chunks: Iterable[Chunk]) -> Iterator[Tick]:
    """Ticks from chunks, each distinct timestamp and price text converted once."""
    convert = _Converter()
    for chunk in chunks:
        stamps, values = convert(chunk)
        for token, ti, pi, ltq, vol in zip(chunk.tokens, chunk.time_index, chunk.price_index,
                                           chunk.ltq, chunk.volume, strict=True):
            yield Tick(token, values[pi], stamps[ti], None, None if ltq < 0 else ltq,
                       None if vol < 0 else vol)


def _numbered_ticks(chunks: Iterable[Chunk]) -> Iterator[tuple[int, Tick]]:
    convert = _Converter()
    for chunk in chunks:
        stamps, values = convert(chunk)
        for line, token, ti, pi, ltq, vol in zip(chunk.lines, chunk.tokens, chunk.time_index,
                                                 chunk.price_index, chunk.ltq, chunk.volume,
                                                 strict=True):
            yield line, Tick(token, values[pi], stamps[ti], None, None if ltq < 0 else ltq,
                             None if vol < 0 else vol)


def _time_of(text: str) -> datetime:
    stamp = _parse_time(text)
    assert isinstance(stamp, datetime), text  # checked by the parse loop
    return stamp
