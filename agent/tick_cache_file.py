"""The on-disk form of the tick cache (agent/tick_cache.py says what it holds and when it
is trusted): ``CacheWriter`` writes one, ``CacheReader`` checks and reads one.

Layout: a header (``_HEAD``: magic, format version, whether the tick file was racy, the
tick file's size, mtime, ctime, inode and, when racy, CRC-32); the blocks, one per parse
chunk, each its six integer columns (``_COLUMNS``, each in the narrowest type that holds
it) then its distinct timestamp texts as JSON; the price table (the end offset of each
distinct price text, as uint64, then the UTF-8 texts); the trailer (JSON: row counts,
the first bad rows, each block's offset, types and CRC-32, the price table's); the footer
(``_FOOT``: the trailer's offset and CRC-32, an end magic). Any process or thread; one
object per thread.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import tempfile
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from agent.adapters.replay import Chunk

VERSION = 1
BAD_KEPT = 1000  # bad rows stored (TickFile's default max_bad_kept); all are counted
RACY_NS = 3_000_000_000  # a tick file modified this close to a build also gets a CRC-32
_MAGIC, _END = b"TICKCACH", b"TICKEND\x00"
_HEAD = struct.Struct("<8sIIqqqqI")  # magic, version, racy, size, mtime, ctime, inode, crc
_FOOT = struct.Struct("<QI8s")  # trailer offset, trailer CRC-32, end magic
_COLUMNS = ("tokens", "time_index", "price_index", "ltq", "volume", "lines")
_UNSIGNED, _SIGNED = ("u1", "u2", "u4", "u8"), ("i1", "i2", "i4", "i8")


class CacheUnusable(Exception):
    """The cache is stale or damaged; the message says why."""


@dataclass(slots=True)
class Block:
    """One block's columns (numpy arrays) and its distinct texts. From a parse, the price
    index points into ``prices``; from a cache, into ``price_objects`` (Decimals)."""

    tokens: Any
    time_index: Any
    price_index: Any
    ltq: Any
    volume: Any
    lines: Any
    times: list[str]
    prices: list[str]
    price_objects: Any = None


def cache_path(path: Path) -> Path:
    """Where the cache of ``path`` lives: ``.NAME.cache`` in the same directory."""
    return path.with_name(f".{path.name}.cache")


def _key(info: os.stat_result) -> tuple[int, int, int, int]:
    return info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino


def _crc_of(path: Path) -> int:
    crc = 0
    with open(path, "rb") as fh:
        while piece := fh.read(1 << 20):
            crc = zlib.crc32(piece, crc)
    return crc


def block_of(chunk: Chunk) -> Block:
    """A parse chunk as a Block (no copy)."""
    return Block(np.frombuffer(chunk.tokens, np.int64),
                 np.frombuffer(chunk.time_index, np.uint32),
                 np.frombuffer(chunk.price_index, np.uint32),
                 np.frombuffer(chunk.ltq, np.int64), np.frombuffer(chunk.volume, np.int64),
                 np.frombuffer(chunk.lines, np.uint64), chunk.times, chunk.prices)


def _narrow(column: Any) -> Any:
    """The column in the narrowest integer type holding its values."""
    if not len(column):
        return column.astype("u1")
    low, high = int(column.min()), int(column.max())
    for kind in (_UNSIGNED if low >= 0 else _SIGNED):
        info = np.iinfo(kind)
        if info.min <= low and high <= info.max:
            return column.astype(kind, copy=False)
    return column


class CacheWriter:
    """Writes one cache to a temporary file beside it; ``commit`` renames it into place.
    A failed write (no space, read-only) abandons the cache: ``failed`` says why."""

    def __init__(self, path: Path) -> None:
        self.source = path
        self.target = cache_path(path)
        self.failed: str | None = None
        self.started = time.time_ns()
        self.info = path.stat()
        # A file written this close to now could change again without its times moving:
        # its CRC-32, taken before it is parsed, is checked on every read.
        self.racy = self.info.st_mtime_ns + RACY_NS >= self.started
        self.crc = _crc_of(path) if self.racy else 0
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        self.temp = Path(name)
        self.fh = os.fdopen(fd, "wb")
        self.blocks: list[dict[str, Any]] = []
        self.price_ids: dict[str, int] = {}  # the file's distinct price texts
        self.at = _HEAD.size
        self._guard(self.fh.write, b"\0" * _HEAD.size)  # the header is written last

    def _guard(self, write: Any, *args: Any) -> None:
        if self.failed is not None:
            return
        try:
            write(*args)
        except OSError as exc:
            self.abandon(f"cannot write {self.temp}: {exc.strerror or exc}")

    def add(self, block: Block) -> None:
        """Append one block (called as the parse goes)."""
        if self.failed is not None:
            return
        ids = self.price_ids
        global_ids = np.fromiter((ids.setdefault(text, len(ids)) for text in block.prices),
                                 np.int64, len(block.prices))
        columns = [_narrow(global_ids[block.price_index] if name == "price_index"
                           else getattr(block, name)) for name in _COLUMNS]
        texts = json.dumps(block.times, ensure_ascii=False).encode()
        data = b"".join([c.tobytes() for c in columns] + [texts])
        self.blocks.append({"at": self.at, "rows": len(block.tokens), "text": len(texts),
                            "types": [c.dtype.str for c in columns],
                            "crc": zlib.crc32(data)})
        self.at += len(data)
        self._guard(self.fh.write, data)

    def commit(self, rows: int, bad_count: int, kept: list[tuple[int, int, str]]) -> bool:
        """Finish the cache and rename it into place, unless the tick file changed while it
        was parsed; True when the cache is in place."""
        texts = [text.encode() for text in self.price_ids]
        ends = np.cumsum([0] + [len(text) for text in texts], dtype=np.uint64)
        section = ends.tobytes() + b"".join(texts)
        prices = {"at": self.at, "count": len(texts), "size": len(section),
                  "crc": zlib.crc32(section)}
        self._guard(self.fh.write, section)
        self.at += len(section)
        trailer = json.dumps({"rows": rows, "bad_count": bad_count, "bad": kept,
                              "blocks": self.blocks, "prices": prices}).encode()
        self._guard(self.fh.write, trailer + _FOOT.pack(self.at, zlib.crc32(trailer), _END))
        if self.failed is not None:
            return False
        now = self.source.stat()
        if _key(now) != _key(self.info):
            self.abandon(f"{self.source} changed while it was read")
            return False
        head = _HEAD.pack(_MAGIC, VERSION, self.racy, *_key(self.info), self.crc)
        self._guard(self.fh.seek, 0)
        self._guard(self.fh.write, head)
        self._guard(self.fh.close)
        if self.failed is None:
            self._guard(os.replace, self.temp, self.target)
        return self.failed is None

    def abandon(self, why: str = "stopped") -> None:
        """Drop the temporary file (idempotent)."""
        if self.failed is None:
            self.failed = why
        with contextlib.suppress(OSError):
            self.fh.close()
        with contextlib.suppress(OSError):
            self.temp.unlink()


class CacheReader:
    """A valid cache, open: ``blocks()`` reads it a block at a time (memory stays bounded);
    ``rows``, ``bad_count`` and ``kept`` are the file's counts and first bad rows. Raises
    CacheUnusable."""

    def __init__(self, path: Path) -> None:
        try:
            self.fh = open(cache_path(path), "rb")  # noqa: SIM115 (closed by close())
        except FileNotFoundError:
            raise CacheUnusable("missing") from None
        except OSError as exc:
            raise CacheUnusable(f"damaged: cannot read it: {exc.strerror or exc}") from None
        try:
            self._check(path)
        except (ValueError, KeyError, TypeError) as exc:  # a trailer that checks but is odd
            self.fh.close()
            raise CacheUnusable(f"damaged: {type(exc).__name__}: {exc}") from None
        except OSError as exc:  # the tick file went away or cannot be read
            self.fh.close()
            raise CacheUnusable(f"stale: {exc.strerror or exc}") from None
        except CacheUnusable:
            self.fh.close()
            raise

    def _read(self, at: int, size: int) -> bytes:
        self.fh.seek(at)
        data = self.fh.read(size)
        if len(data) != size:
            raise CacheUnusable(f"damaged: {size} bytes at {at} wanted, {len(data)} read")
        return data

    def _check(self, path: Path) -> None:
        length = os.fstat(self.fh.fileno()).st_size
        if length < _HEAD.size + _FOOT.size:
            raise CacheUnusable(f"damaged: {length} bytes")
        magic, version, racy, *key, crc = _HEAD.unpack(self._read(0, _HEAD.size))
        if magic != _MAGIC:
            raise CacheUnusable("damaged: not a tick cache")
        if version != VERSION:
            raise CacheUnusable(f"stale: format {version}, not {VERSION}")
        if tuple(key) != _key(path.stat()):
            raise CacheUnusable(f"stale: {path} changed")
        at, trailer_crc, end = _FOOT.unpack(self._read(length - _FOOT.size, _FOOT.size))
        trailer = self._read(at, length - _FOOT.size - at) if _HEAD.size <= at <= length \
            else b""
        if end != _END or zlib.crc32(trailer) != trailer_crc:
            raise CacheUnusable("damaged: truncated or overwritten (its trailer does not "
                                "check)")
        info = json.loads(trailer)
        self.rows, self.bad_count = info["rows"], info["bad_count"]
        self.kept = [(line, token, message) for line, token, message in info["bad"]]
        self.meta = info["blocks"]
        expect = _HEAD.size
        for block in self.meta:
            block["size"] = size = block["text"] + sum(block["rows"] * np.dtype(t).itemsize
                                                       for t in block["types"])
            if block["at"] != expect or zlib.crc32(self._read(expect, size)) != block["crc"]:
                raise CacheUnusable(f"damaged: the block at byte {expect} does not check")
            expect += size
        prices = info["prices"]
        count, size = prices["count"], prices["size"]
        table = self._read(expect, size) if prices["at"] == expect else b""
        if zlib.crc32(table) != prices["crc"] or len(table) < 8 * (count + 1):
            raise CacheUnusable("damaged: the price table does not check")
        if expect + size != at:
            raise CacheUnusable("damaged: the blocks do not fill the file")
        if racy and _crc_of(path) != crc:
            raise CacheUnusable(f"stale: {path} changed (its CRC-32 differs)")
        self.price_ends = np.frombuffer(table, np.uint64, count + 1)
        self.price_texts = memoryview(table)[8 * (count + 1):]
        self.price_objects = np.empty(count, dtype=object)
        self.price_made = np.zeros(count, dtype=bool)

    def blocks(self) -> Iterator[Block]:
        for block in self.meta:
            data, at, rows, columns = self._read(block["at"], block["size"]), 0, block["rows"], []
            for kind in block["types"]:
                column = np.frombuffer(data, kind, rows, at)
                columns.append(column)
                at += column.nbytes
            times = json.loads(data[at:])
            self._make_prices(columns[2])
            yield Block(*columns, times, [], self.price_objects)

    def _make_prices(self, index: Any) -> None:
        """The Decimal of each price in ``index`` not made yet (once per distinct text)."""
        new = index[~self.price_made[index]]
        if not len(new):
            return
        texts, ends, objects = self.price_texts, self.price_ends, self.price_objects
        for i in np.unique(new).tolist():
            objects[i] = Decimal(str(texts[int(ends[i]):int(ends[i + 1])], "utf-8"))
        self.price_made[new] = True

    def close(self) -> None:
        self.fh.close()
