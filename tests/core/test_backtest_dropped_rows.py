"""Issue 13: rows the engine drops (stale, outside the session) are counted in the summary
and listed by line with ``--verbose``; the parser's caches stay bounded without changing a
tick; a failing or dying parser is one line, not a traceback; ``--chart`` goes day by day.

As in test_tick_file_bad_input.py, each case runs on a small file and on one over 4 MB (a
file that large is parsed in a child process).
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import pytest

from agent import cached_ticks
from agent.adapters import replay
from agent.backtest import backtest_command, run_backtest, write_charts
from agent.settings import InstrumentConfig, Settings
from agent.synthetic import session_ticks, synthetic_instruments, write_csv
from tests.core.test_tick_file_bad_input import (
    ROOT,
    SIZES,
    _file,
    _prefix_lines,
    _run,
)

# After the prefix (2026-11-23), on 2026-11-24: tail line k is file line prefix_lines + k.
TAIL = [
    b"2026-11-24T09:15:00,1001,100,1,5\n",  # 1 accepted
    b"2026-11-24T09:21:00,1001,101,1,6\n",  # 2 accepted: the 09:20 candle
    b"2026-11-24T09:16:00,1001,102,1,7\n",  # 3 stale: before 09:20
    b"2026-11-24T15:30:00,1001,103,1,8\n",  # 4 outside the session (it is half-open)
    b"2026-11-24T09:14:59,1001,104,1,9\n",  # 5 outside the session
    b"2026-11-23T10:00:00,1001,105,1,10\n",  # 6 stale: the day before
    b"2026-11-24T09:22:00,1001,106,1,11\n",  # 7 accepted
]


def _dropped(path: Path, first: int) -> list[str]:
    return [
        f"{path}:{first + 3}: stale: NSE:EXAMPLE at 09:16:00 is before the start of its "
        "current candle, 09:20:00 (dropped)",
        f"{path}:{first + 4}: outside the session: NSE:EXAMPLE at 2026-11-24 15:30:00 is not "
        "in 09:15:00-15:30:00 (dropped)",
        f"{path}:{first + 5}: outside the session: NSE:EXAMPLE at 2026-11-24 09:14:59 is not "
        "in 09:15:00-15:30:00 (dropped)",
        f"{path}:{first + 6}: stale: NSE:EXAMPLE at 2026-11-23 10:00:00 is before the current "
        "day, 2026-11-24 (dropped)",
    ]


@pytest.mark.parametrize("size", SIZES)
def test_dropped_rows_are_counted_in_the_json_summary(tmp_path, capsys, size) -> None:
    code, out, err, _ = _run(tmp_path, _file(size, *TAIL), capsys, "--json")
    assert code == 0, err
    read = _prefix_lines(size) - 1 + len(TAIL)
    assert json.loads(out)["summary"]["rows"] == {
        "read": read, "bad": 0, "stale": 2, "outside_session": 2, "accepted": read - 4}
    assert "(dropped)" not in err  # listed only with --verbose
    assert f"dropped 2 stale and 2 outside-the-session row(s) of {read} (--verbose lists " \
           "them)" in err


@pytest.mark.parametrize("size", SIZES)
def test_verbose_lists_dropped_rows_with_their_line_numbers(tmp_path, capsys, size) -> None:
    bad = b"2026-11-24T09:21:30,1001,abc,1,6\n"
    code, out, err, path = _run(tmp_path, _file(size, *TAIL[:2], bad, *TAIL[2:]), capsys,
                                "--verbose")
    assert code == 0, err
    first = _prefix_lines(size)
    listed = [line for line in err.splitlines() if line.endswith("(dropped)")]
    assert listed == _dropped(path, first + 1)  # one line later: after the bad row
    assert f"{path}:{first + 3}: bad last_price 'abc' (skipped)" in err
    read = first - 1 + len(TAIL) + 1
    assert (f"  rows: {read:,} read, 1 bad (skipped), 2 stale (dropped), 2 outside the "
            f"session (dropped), {read - 5:,} accepted\n") in out


@pytest.mark.parametrize("size", SIZES)
def test_numbered_ticks_carry_their_line_and_tiny_caches_change_nothing(tmp_path, size,
                                                                        monkeypatch) -> None:
    path = tmp_path / "ticks.csv"
    bad = b"2026-11-24T09:21:30,1001,abc,1,6\n"
    path.write_bytes(_file(size, *TAIL[:2], b"\n", bad, *TAIL[2:]))
    reference = list(replay.TickFile(path).numbered())
    first = _prefix_lines(size)
    tail = reference[-len(TAIL):]
    assert [line for line, _ in tail] == [first + k + (2 if k > 2 else 0)
                                          for k in range(1, len(TAIL) + 1)]
    assert [line for line, _ in reference[:3]] == [2, 3, 4]
    monkeypatch.setattr(replay, "TIME_CACHE", 2)
    monkeypatch.setattr(replay, "PRICE_CACHE", 3)
    monkeypatch.setattr(replay, "CHUNK_ROWS", 1000)
    for parallel in (1, 1 << 62):  # in a child process (forked: the same limits), and here
        source = replay.TickFile(path, parallel_bytes=parallel)
        assert list(source.numbered()) == reference
        assert (source.rows, source.bad_count) == (first - 1 + len(TAIL) + 1, 1)
        assert [(b.line, b.message) for b in source.bad] == [(first + 4,
                                                              "bad last_price 'abc'")]
        assert [t for _, t in reference] == list(replay.TickFile(path,
                                                                 parallel_bytes=parallel))


def _boom(text: str) -> str | None:
    raise RuntimeError("boom")


@pytest.mark.parametrize("size", SIZES)
def test_a_parser_bug_is_one_line(tmp_path, capsys, size, monkeypatch) -> None:
    monkeypatch.setattr(replay, "_time_error", _boom)
    code, out, err, path = _run(tmp_path, _file(size, *TAIL), capsys)
    assert code == 1 and out == ""
    (line,) = err.strip().splitlines()
    if size == "small":
        assert line == (f"error: the backtest of {path} failed: RuntimeError: boom (a bug: "
                        "please report it; --verbose shows where)")
    else:
        assert line == f"error: {path}: the parser failed on data row 1: RuntimeError: boom"


def _die(*args: object) -> None:
    os._exit(3)


def test_a_parser_process_that_dies_is_one_line(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(replay, "_parse_in_child", _die)  # with --no-cache
    monkeypatch.setattr(cached_ticks, "_build_in_child", _die)  # building the cache
    code, _, err, path = _run(tmp_path, _file("4MB", *TAIL), capsys)
    assert code == 1
    assert err.strip() == (f"error: {path}: the parser process ended unexpectedly "
                           "(exit code 3)")


def test_charts_are_written_day_by_day_as_write_charts_would(tmp_path, capsys) -> None:
    instruments = synthetic_instruments(2)
    days = (date(2026, 11, 23), date(2026, 11, 24))
    path = tmp_path / "ticks.csv"
    write_csv((t for day in days for t in session_ticks(instruments, day, seed=4,
                                                        every_seconds=30)), path)
    config = tmp_path / "config.yaml"
    config.write_text("instruments:\n" + "".join(
        f'  - {{symbol: "{i.symbol}", token: {i.token}, tick_size: 0.05, lot_size: 1}}\n'
        for i in instruments), encoding="utf-8")
    code = backtest_command(path, config, ROOT / "schedules.yaml", as_json=True,
                            chart_dir=str(tmp_path / "charts"))
    assert code == 0
    written = sorted(p.name for p in (tmp_path / "charts").iterdir())
    settings = Settings(instruments=tuple(
        InstrumentConfig(i.symbol, i.token, i.tick_size, i.lot_size) for i in instruments))
    kept = run_backtest(settings, path, keep_candles=True)
    assert kept.trades
    expected = sorted(p.name for p in write_charts(kept, tmp_path / "all"))
    assert written == expected and len(expected) == 6  # P&L and 2 symbols, 2 days
    err = capsys.readouterr().err
    assert sorted(Path(line[7:]).name for line in err.splitlines()
                  if line.startswith("chart: ")) == expected
