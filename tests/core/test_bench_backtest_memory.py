"""The backtest benchmark's memory figures (issue 13): how they are rendered, and the files
they are measured on. No figure is judged here: benchmarks are not tests."""

from __future__ import annotations

from agent.synthetic import synthetic_instruments
from bench.backtest import QUICK, write_days
from bench.report import markdown, rows


def _figures(days: int, peak: float, parser: float) -> dict:
    return {"days": days, "rows": days * 22_500, "file_mb": days * 1.13, "main_mb": peak,
            "parser_mb": parser, "peak_mb": peak, "wall_s": 1.0, "trades": 37 * days,
            "ratio": round(peak / 92.0, 2)}


def test_memory_rows_quote_each_file_against_the_one_day_baseline() -> None:
    backtest = {"instruments": 5, "session_minutes": 30, "rows": 9000, "wall_s": 1.0,
                "ticks_per_s": 9000, "parse_only_s": 0.5, "parse_share": 0.5,
                "parse_only_ticks_per_s": 18_000, "engine_only_s": 0.5, "engine_share": 0.5,
                "engine_only_ticks_per_s": 18_000,
                "memory": {"baseline_days": 1, "files": {
                    "1": _figures(1, 92.0, 0.0), "200": _figures(200, 110.4, 91.0)}}}
    results = {"quick": False, "machine": {}, "parts": {"backtest": backtest},
               "not_measured": {}, "errors": {}}
    memory_rows = [r for r in rows(results) if "peak RSS" in r.case]
    assert len(memory_rows) == 1  # the baseline is the baseline column, not a row
    (row,) = memory_rows
    assert row.case == ("  peak RSS of bot.py backtest, 1 instrument x 200 days (4,500,000 "
                        "ticks, 226 MB)")
    assert (row.measured, row.baseline, row.ratio) == (
        "110 MB (main 110, parser 91)", "1 day: 92 MB", "1.20x")
    assert "| 1.20x |" in markdown(results)
    del backtest["memory"]  # results from before the figures existed still render
    assert not [r for r in rows(results) if "peak RSS" in r.case]


def test_the_memory_files_are_whole_sessions_of_one_instrument(tmp_path) -> None:
    assert QUICK.memory_days[0] == 1 and len(QUICK.memory_days) > 1
    path = tmp_path / "two.csv"
    assert write_days(synthetic_instruments(1)[0], 2, path) == 2 * 22_500
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[1].startswith("2024-01-15T09:15:00+05:30,100001,")
    assert lines[-1].startswith("2024-01-16T15:29:59+05:30,100001,")
