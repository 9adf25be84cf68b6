"""Ticks through the columnar cache (agent/tick_cache.py), exactly as ``TickFile`` gives them.

``open_ticks(path, known)`` reads a valid cache, or builds it while the ticks stream (a
large file is parsed and cached by a child process while this one runs the engine, as
``TickFile`` does), or, with ``use_cache=False``, is a plain ``TickFile``. ``CachedTicks``
has TickFile's interface (iteration, ``numbered()``, ``rows``, ``bad``, ``bad_count``)
plus ``feed(on_tick)``, the fast way to run every tick. The cache holds every row whose
token parses; rows whose token is not in ``known`` become bad rows here, with TickFile's
message, merged with the stored bad rows in line order. Ticks are made block by block from
the columns: one ``Decimal`` per distinct price text and one ``datetime`` per distinct
timestamp text (converted as TickFile converts them), so memory stays bounded. Iterate on
one thread; the counts are complete once the iteration ends.
"""

from __future__ import annotations

import heapq
import multiprocessing
import sys
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np

from agent.adapters.child_stream import messages, send_quietly, start_child
from agent.adapters.replay import (
    PARALLEL_BYTES,
    TIME_CACHE,
    BadRow,
    TickFile,
    TickFileError,
    _Converter,
    _time_of,
)
from agent.models import Tick
from agent.tick_cache import (
    BAD_KEPT,
    Block,
    Recorder,
    build_blocks,
    open_writer,
    valid_reader,
)

Columns = tuple[list[int], list[Any], list[Any], Any, Any, Any]


def open_ticks(path: Path, known: set[int] | None, *, use_cache: bool = True
               ) -> TickFile | CachedTicks:
    """The ticks of ``path``: through its cache unless ``use_cache`` is False. A file that
    cannot be read raises TickFileError when iterated, as TickFile does."""
    if not use_cache:
        return TickFile(path, known)
    reader = valid_reader(path)
    if reader is not None:
        return CachedTicks(known, reader)
    return CachedTicks(known, _Build(path))


class _Build:
    """Blocks parsed from the tick file and written to its cache as they go: in a child
    process for a large file (when processes can be forked), else here."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = self.bad_count = 0
        self.kept: list[tuple[int, int, str]] = []

    def blocks(self) -> Iterator[Block]:
        source = TickFile(self.path)
        with source._open() as fh:  # a missing file or a bad header: TickFileError here
            source._header(fh)
        if source._size >= PARALLEL_BYTES and \
                "fork" in multiprocessing.get_all_start_methods():
            yield from self._from_child()
        else:
            yield from self._here()

    def _here(self) -> Iterator[Block]:
        recorder = Recorder(self.path)
        yield from build_blocks(self.path, open_writer(self.path), recorder)
        self.rows, self.bad_count, self.kept = recorder.rows, recorder.bad_count, recorder.kept

    def _from_child(self) -> Iterator[Block]:
        started = start_child(_build_in_child, (self.path,), "tick-cache-builder")
        if started is None:  # no process to spare: build here
            yield from self._here()
            return
        for kind, payload in messages(self.path, *started, TickFileError):
            if kind == "block":
                yield Block(*payload)
            else:  # the end
                self.rows, self.bad_count, self.kept = payload


def _build_in_child(path: Path, send: Any) -> None:
    """The child's side of ``_Build``: parse and cache, send each block, then the counts;
    every failure is sent as one line for the parent to raise."""
    recorder = Recorder(path)
    try:
        for b in build_blocks(path, open_writer(path), recorder):
            send.send(("block", (b.tokens, b.time_index, b.price_index, b.ltq, b.volume,
                                 b.lines, b.times, b.prices)))
        send.send(("end", (recorder.rows, recorder.bad_count, recorder.kept)))
    except TickFileError as exc:
        send_quietly(send, ("error", str(exc)))
    except (BrokenPipeError, ConnectionResetError):
        pass  # the parent stopped reading
    except Exception as exc:  # a bug: still one line in the parent
        send_quietly(send, ("error", f"{path}: the parser failed on data row "
                                     f"{recorder.rows:,}: {type(exc).__name__}: {exc}"))
    finally:
        send.close()


class CachedTicks:
    """TickFile's interface over cached (or being-cached) blocks, ``known`` applied."""

    def __init__(self, known: set[int] | None, raw: Any, max_bad_kept: int = BAD_KEPT) -> None:
        if max_bad_kept > BAD_KEPT:
            raise ValueError(f"the cache keeps {BAD_KEPT} bad rows, not {max_bad_kept}")
        self.known = known
        self.raw = raw  # a CacheReader or a _Build: blocks(), then rows, bad_count, kept
        self.bad: list[BadRow] = []
        self.bad_count = 0
        self.rows = 0
        self._max_bad = max_bad_kept

    def __iter__(self) -> Iterator[Tick]:
        for tokens, prices, stamps, ltq, volume, _ in self._columns():
            yield from map(Tick, tokens, prices, stamps, repeat(None), ltq, volume)

    def numbered(self) -> Iterator[tuple[int, Tick]]:
        """(line number, tick) pairs, for reports that name the line of a tick."""
        for tokens, prices, stamps, ltq, volume, lines in self._columns():
            yield from zip(lines.tolist(),
                           map(Tick, tokens, prices, stamps, repeat(None), ltq, volume),
                           strict=True)

    def feed(self, on_tick: Callable[[Tick], object]) -> None:
        """Every tick to ``on_tick``, in file order: what iterating gives, faster. Making a
        Tick costs about as much as a third of the engine's work on it, so a tick that
        ``on_tick`` did not keep (its reference count is back to what it was before the
        call: nothing else can reach it) is refilled with the next row instead of a new
        one being made; a tick that was kept is never changed."""
        refs = sys.getrefcount
        tick = Tick(0, Decimal(0))
        unshared = refs(tick)
        for tokens, prices, stamps, ltq, volume, _ in self._columns():
            for token, price, stamp, traded, total in zip(tokens, prices, stamps, ltq, volume,
                                                          strict=True):
                if refs(tick) == unshared:
                    tick.instrument_token = token
                    tick.last_price = price
                    tick.timestamp = stamp
                    tick.last_traded_quantity = traded
                    tick.volume_traded = total
                else:
                    tick = Tick(token, price, stamp, None, traded, total)
                on_tick(tick)

    def _columns(self) -> Iterator[Columns]:
        """Each block as lists (and iterables) of the Tick fields, unknown tokens removed;
        the counts and bad rows are set at the end."""
        convert, times = _Converter(), _Times()
        known = None if self.known is None else np.fromiter(self.known, np.int64,
                                                            len(self.known))
        unknown: list[tuple[int, str]] = []
        dropped = 0
        try:
            for block in self.raw.blocks():
                columns = (block.tokens, block.time_index, block.price_index, block.ltq,
                           block.volume, block.lines)
                if known is not None:
                    keep = np.isin(block.tokens, known)
                    if not keep.all():
                        gone = ~keep
                        dropped += int(gone.sum())
                        room = self._max_bad - len(unknown)
                        unknown += ((line, f"unknown instrument_token {token}") for line, token
                                    in zip(block.lines[gone][:room].tolist(),
                                           block.tokens[gone][:room].tolist(), strict=True))
                        columns = tuple(column[keep] for column in columns)
                tokens, time_index, price_index, ltq, volume, lines = columns
                if not len(tokens):
                    continue
                stamps = _pick(times(block.times), time_index)
                if block.price_objects is not None:  # from the cache
                    prices = block.price_objects.take(price_index).tolist()
                else:  # from a parse
                    prices = _pick(convert(block)[1], price_index)  # type: ignore[arg-type]
                yield (tokens.tolist(), prices, stamps, _quantities(ltq), _quantities(volume),
                       lines)
        finally:
            close = getattr(self.raw, "close", None)
            if close is not None:
                close()
        self._finish(unknown, dropped)

    def _finish(self, unknown: list[tuple[int, str]], dropped: int) -> None:
        raw, known = self.raw, self.known
        stored = [(line, f"unknown instrument_token {token}"
                   if known is not None and token >= 0 and token not in known else message)
                  for line, token, message in raw.kept]
        merged = heapq.merge(stored, unknown)
        self.bad = [BadRow(line, message) for line, message in merged][:self._max_bad]
        self.bad_count = raw.bad_count + dropped
        self.rows = raw.rows


class _Times:
    """Timestamp texts as datetimes, each converted once while in a bounded cache."""

    def __init__(self) -> None:
        self.seen: dict[str, datetime] = {}

    def __call__(self, texts: list[str]) -> list[datetime]:
        seen = self.seen
        if len(seen) > TIME_CACHE:
            seen.clear()
        return [seen.get(t) or seen.setdefault(t, _time_of(t)) for t in texts]


def _pick(table: list[Any], index: Any) -> list[Any]:
    """``[table[i] for i in index]``, in numpy."""
    objects = np.empty(len(table), dtype=object)
    objects[:] = table
    return objects.take(index).tolist()


def _quantities(column: Any) -> Any:
    """A quantity column as ints, None where absent (negative)."""
    if not len(column) or column.min() >= 0:
        return column.tolist()
    if column.max() < 0:
        return [None] * len(column)
    values = column.astype(object)
    values[column < 0] = None
    return values.tolist()
