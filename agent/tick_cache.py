"""The columnar cache of a tick file: parse a CSV once, read its rows back many times.

``ticks.csv`` is cached in ``.ticks.csv.cache`` beside it (``ensure_cache`` builds it; the
backtest builds it on its first run while it parses). The cache holds what
``TickFile(path, known_tokens=None)`` gives, block by block (one block per parse chunk):
each column (tokens, indexes into the block's distinct timestamp texts and into the file's
distinct price texts, the quantities, the line numbers) in the narrowest integer type that
holds it, the timestamp texts; after the blocks, the file's distinct price texts (so prices
come back as the exact ``Decimal`` the CSV gives, each made once when first read); at the
end the row counts and the first ``BAD_KEPT`` bad rows with their line numbers, messages and,
when the row failed after its token was read, its token (the known-token check is applied
when the cache is read: agent/cached_ticks.py).

Trust: the header names the tick file's size, mtime, ctime and inode and the format version;
any difference means stale (rebuilt). A tick file changed within 3 s of the build
(a file system's clock may not tick between two writes) also has its CRC-32 in the header,
checked on every read. The trailer and every block have a CRC-32, checked when the cache is
opened: a truncated or damaged cache is never used (a WARNING, then rebuilt). Writes go to a
temporary file renamed over the cache, so concurrent builders cannot leave a torn one. A
directory that cannot take the cache is not an error: the tick file is parsed as before.
Any process or thread may build or read; one object per thread.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from agent.adapters.replay import TickFile
from agent.tick_cache_file import (
    BAD_KEPT,
    Block,
    CacheReader,
    CacheUnusable,
    CacheWriter,
    block_of,
    cache_path,
)

__all__ = ["BAD_KEPT", "Block", "CacheReader", "Recorder", "build_blocks", "cache_path",
           "ensure_cache", "open_writer", "valid_reader"]

log = logging.getLogger(__name__)


class Recorder(TickFile):
    """A TickFile parsed with every token allowed, in this process, keeping the first
    ``BAD_KEPT`` bad rows with their tokens (``kept``)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, None, BAD_KEPT, parallel_bytes=1 << 62)
        self.kept: list[tuple[int, int, str]] = []

    def _bad(self, line: int, message: str, token: int = -1) -> None:
        self.bad_count += 1
        if len(self.kept) < BAD_KEPT:
            self.kept.append((line, token, message))


def build_blocks(path: Path, writer: CacheWriter | None,
                 recorder: Recorder | None = None) -> Iterator[Block]:
    """Parse ``path`` in this process, writing each block to ``writer`` as it goes, and
    commit the cache at the end; the counts are on ``recorder`` then. A TickFileError, or
    the caller stopping, abandons the cache."""
    source = recorder or Recorder(path)
    try:
        with source._open() as fh:
            names = source._header(fh)
            for chunk in source.chunks(fh, names):
                block = block_of(chunk)
                if writer is not None:
                    writer.add(block)
                yield block
        if writer is not None:
            writer.commit(source.rows, source.bad_count, source.kept)
    finally:
        if writer is not None and writer.temp.exists():  # not committed
            writer.abandon()


_TOLD: set[Path] = set()  # directories already logged as unable to take a cache


def open_writer(path: Path) -> CacheWriter | None:
    """A writer for ``path``'s cache, or None (logged once per directory at INFO) when its
    directory cannot take one."""
    try:
        return CacheWriter(path)
    except OSError as exc:
        if path.parent not in _TOLD:
            _TOLD.add(path.parent)
            log.info("no tick cache beside %s (%s): the file is parsed on every run",
                     path, exc.strerror or exc)
        return None


def valid_reader(path: Path) -> CacheReader | None:
    """The cache of ``path`` when it can be trusted, else None (a damaged one is logged at
    WARNING; a missing or stale one is not worth a warning)."""
    try:
        return CacheReader(path)
    except CacheUnusable as exc:
        why = str(exc)
        if why.startswith("damaged"):
            log.warning("tick cache %s is %s: rebuilding it", cache_path(path), why)
        elif why != "missing":
            log.info("tick cache %s is %s: rebuilding it", cache_path(path), why)
        return None


def ensure_cache(path: Path) -> Path | None:
    """Build the cache of ``path`` unless a valid one exists; its path, or None when it
    cannot be written (read-only directory, no space). A tick file that cannot be read
    raises TickFileError as a backtest would. Called in the process that will fork the
    readers (the optimizer's parent)."""
    reader = valid_reader(path)
    if reader is not None:
        reader.close()
        return cache_path(path)
    TickFile(path)._open().close()  # a missing or unreadable file: TickFileError
    writer = open_writer(path)
    if writer is None:
        return None
    for _ in build_blocks(path, writer):
        pass
    return cache_path(path) if writer.failed is None else None
