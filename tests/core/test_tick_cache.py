"""Issue 17: the columnar tick cache gives exactly what parsing the CSV gives.

A backtest through the cache (the run that builds it and the runs that read it) has the
same trades, orders, row counts, bad rows by line and dropped-row reports as one with
``--no-cache``, on files with bad rows, small and over 4 MB (built in a child process). A
changed tick file, a damaged cache, a directory that cannot take one and two builders at
once are all handled without trusting a wrong cache.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from decimal import Decimal
from pathlib import Path

import pytest

from agent import tick_cache_file
from agent.adapters.replay import TickFile
from agent.backtest import backtest_command, run_backtest
from agent.cached_ticks import CachedTicks, open_ticks
from agent.config import load_settings
from agent.tick_cache import CacheReader, cache_path, ensure_cache
from tests.core.test_tick_file_bad_input import CONFIG, ROOT, SIZES, SKIPPED, _file

TAIL = [
    b"2026-11-24T09:15:00,1001,100.050,1,5\n",  # trailing zero: Decimal('100.050')
    b"2026-11-24T09:15:01,2002,100,1,5\n",  # a token the config does not know
    b"2026-11-24T09:15:01,2002,NaN,1,5\n",  # unknown token and a bad price
    b"2026-11-24T09:15:01,2002,100,-3,5\n",  # unknown token and a bad quantity
    b"\n",  # blank
    b'"2026-11-24T09:15:02+05:30","1001"," 100.10",,\n',  # quoted, offset, no quantities
    *(case[1] for case in SKIPPED[:12]),
    b"2026-11-24T09:21:00,1001,101,1,6\n",
    b"2026-11-24T09:16:00,1001,102,1,7\n",  # stale
    b"2026-11-24T15:30:00,1001,103,1,8\n",  # outside the session
    b"2026-11-24T09:22:00,1001,106.25,1,11\n",
]
BOTH = CONFIG + '  - {symbol: "NSE:OTHER", token: 2002, tick_size: 0.05, lot_size: 1}\n'


def _settings(tmp_path: Path, text: str = CONFIG):
    config = tmp_path / "config.yaml"
    config.write_text(text, encoding="utf-8")
    return load_settings(config, ROOT / "schedules.yaml")


def _run(settings, path: Path, **kw):
    """The result's observable parts and the dropped-row reports."""
    dropped: list[tuple[int, str, str]] = []
    result = run_backtest(settings, path, on_dropped=lambda n, t, why: dropped.append(
        (n, repr(t), why)), keep_notifications=False, **kw)
    return (result.trades, result.orders, result.bad_rows, result.bad_count, result.rows,
            result.accepted, result.stale, result.outside_session, dropped)


def _plain(settings, path: Path, **kw):
    result = run_backtest(settings, path, keep_notifications=False, **kw)
    return (result.trades, result.orders, result.bad_rows, result.bad_count, result.rows,
            result.accepted, result.stale, result.outside_session)


@pytest.mark.parametrize("config", [CONFIG, BOTH], ids=["one token known", "both known"])
@pytest.mark.parametrize("size", SIZES)
def test_cached_runs_equal_the_uncached_one(tmp_path, size, config) -> None:
    path = tmp_path / "ticks.csv"
    path.write_bytes(_file(size, *TAIL))
    settings = _settings(tmp_path, config)
    expected = _run(settings, path, use_cache=False)
    assert not cache_path(path).exists()  # --no-cache writes nothing
    assert expected[3] >= 12 and expected[8]  # bad rows and dropped rows to compare
    assert _run(settings, path) == expected  # builds the cache
    assert cache_path(path).exists()
    assert _run(settings, path) == expected  # reads it
    assert _plain(settings, path) == expected[:8]  # the fast path (no --verbose)
    assert _plain(settings, path, use_cache=False) == expected[:8]


@pytest.mark.parametrize("size", SIZES)
def test_the_cache_gives_the_parsed_ticks_exactly(tmp_path, size) -> None:
    path = tmp_path / "ticks.csv"
    path.write_bytes(_file(size, *TAIL))
    known = {1001}
    parsed = TickFile(path, known)
    expected = [(n, repr(t)) for n, t in parsed.numbered()]
    assert ensure_cache(path) == cache_path(path)
    cached = open_ticks(path, known)
    assert isinstance(cached, CachedTicks) and isinstance(cached.raw, CacheReader)
    assert [(n, repr(t)) for n, t in cached.numbered()] == expected
    assert (cached.rows, cached.bad_count, cached.bad) == (parsed.rows, parsed.bad_count,
                                                           parsed.bad)
    assert any("last_price=Decimal('100.050')" in r for _, r in expected)
    # feed() refills a tick nobody kept; a kept one is never changed
    kept, seen = [], []

    def on_tick(tick) -> None:
        seen.append(repr(tick))
        if len(seen) % 3 == 0:
            kept.append((tick, repr(tick)))

    open_ticks(path, known).feed(on_tick)
    assert seen == [r for _, r in expected]
    assert [repr(t) for t, _ in kept] == [r for _, r in kept]


def test_a_changed_file_is_never_read_from_the_old_cache(tmp_path) -> None:
    path = tmp_path / "ticks.csv"
    data = _file("small", b"2026-11-24T09:15:00,1001,100.05,1,5\n")
    path.write_bytes(data)
    old = 1_700_000_000_000_000_000
    os.utime(path, ns=(old, old))  # written long ago: no content check needed
    ensure_cache(path)
    first = CacheReader(path)
    first.close()
    path.write_bytes(data.replace(b"100.05", b"100.10"))  # same size
    os.utime(path, ns=(old, old))  # even with its times set back
    assert path.stat().st_size == len(data)
    ticks = list(open_ticks(path, {1001}))
    assert ticks[-1].last_price == Decimal("100.10")
    assert list(open_ticks(path, {1001}))[-1].last_price == Decimal("100.10")


def test_a_file_rewritten_right_after_its_cache_is_checked_by_content(tmp_path) -> None:
    path = tmp_path / "ticks.csv"
    data = _file("small", b"2026-11-24T09:15:00,1001,100.05,1,5\n")
    path.write_bytes(data)
    ensure_cache(path)  # just written: the cache also holds the file's CRC-32
    path.write_bytes(data.replace(b"100.05", b"100.10"))
    # A coarse file system clock could leave size, mtime and ctime as they were: say so in
    # the cache's header.
    target = cache_path(path)
    head = bytearray(target.read_bytes())
    form = tick_cache_file._HEAD
    magic, version, racy, *_, crc = form.unpack_from(head, 0)
    assert racy
    form.pack_into(head, 0, magic, version, racy, *tick_cache_file._key(path.stat()), crc)
    target.write_bytes(head)
    assert list(open_ticks(path, {1001}))[-1].last_price == Decimal("100.10")


def _damage(target: Path, how: str) -> None:
    data = bytearray(target.read_bytes())
    if how == "truncated":
        target.write_bytes(data[:len(data) // 2])
    elif how == "garbage":
        target.write_bytes(os.urandom(len(data)))
    elif how == "one byte flipped":
        data[len(data) // 3] ^= 0x01
        target.write_bytes(data)
    else:
        target.write_bytes(b"")


@pytest.mark.parametrize("how", ["truncated", "garbage", "one byte flipped", "empty"])
def test_a_damaged_cache_is_rebuilt_never_trusted(tmp_path, caplog, how) -> None:
    path = tmp_path / "ticks.csv"
    path.write_bytes(_file("small", *TAIL))
    settings = _settings(tmp_path)
    expected = _run(settings, path, use_cache=False)
    ensure_cache(path)
    _damage(cache_path(path), how)
    with caplog.at_level(logging.WARNING, logger="agent.tick_cache"):
        assert _run(settings, path) == expected
    assert any("rebuilding" in r.getMessage() and r.levelno == logging.WARNING
               for r in caplog.records)
    CacheReader(path).close()  # valid again
    assert _run(settings, path) == expected


def test_a_directory_that_cannot_take_a_cache_is_parsed_as_before(tmp_path, monkeypatch,
                                                                    caplog) -> None:
    path = tmp_path / "ticks.csv"
    path.write_bytes(_file("small", *TAIL))
    settings = _settings(tmp_path)
    expected = _run(settings, path, use_cache=False)

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tick_cache_file.tempfile, "mkstemp", refused)
    with caplog.at_level(logging.INFO, logger="agent.tick_cache"):
        assert _run(settings, path) == expected
        assert ensure_cache(path) is None
    assert not cache_path(path).exists()
    assert [r.levelno for r in caplog.records] == [logging.INFO]  # told once


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_directory_is_parsed_as_before(tmp_path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    path = data_dir / "ticks.csv"
    path.write_bytes(_file("small", *TAIL))
    settings = _settings(tmp_path)
    expected = _run(settings, path, use_cache=False)
    data_dir.chmod(0o555)
    try:
        assert _run(settings, path) == expected
    finally:
        data_dir.chmod(0o755)
    assert sorted(p.name for p in data_dir.iterdir()) == ["ticks.csv"]


def _build(path: str, barrier) -> None:
    barrier.wait(10)
    ensure_cache(Path(path))


def test_two_builders_at_once_leave_one_valid_cache(tmp_path) -> None:
    path = tmp_path / "ticks.csv"
    path.write_bytes(_file("4MB", *TAIL))
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(2)
    builders = [context.Process(target=_build, args=(str(path), barrier)) for _ in range(2)]
    for p in builders:
        p.start()
    for p in builders:
        p.join(60)
    assert [p.exitcode for p in builders] == [0, 0]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".ticks.csv.cache", "ticks.csv"]
    cached = open_ticks(path, {1001})
    assert isinstance(cached.raw, CacheReader)
    parsed = TickFile(path, {1001})
    assert [repr(t) for t in cached] == [repr(t) for t in parsed]
    assert (cached.rows, cached.bad_count, cached.bad) == (parsed.rows, parsed.bad_count,
                                                           parsed.bad)


def test_no_cache_on_the_command_line_writes_nothing(tmp_path, capsys) -> None:
    path = tmp_path / "ticks.csv"
    path.write_bytes(_file("small", *TAIL))
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    args = (path, config, ROOT / "schedules.yaml")
    assert backtest_command(*args, as_json=True, chart_dir=None, use_cache=False) == 0
    plain = capsys.readouterr()
    assert not cache_path(path).exists()
    assert backtest_command(*args, as_json=True, chart_dir=None) == 0
    assert capsys.readouterr() == plain
    assert cache_path(path).exists()
    assert backtest_command(*args, as_json=True, chart_dir=None) == 0
    assert capsys.readouterr() == plain
