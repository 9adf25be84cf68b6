"""Smoke test of the benchmarks (``python -m bench --quick``) and checks of their pieces.

Benchmarks are not tests: nothing here asserts a speed. It checks that the quick run works
end to end, prints a row for every part, records what it could not measure as null, never
overwrites the real results, and that the baseline and the verdicts do what they claim.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from agent.backtest import make_engine
from agent.models import Candle, Instrument
from agent.settings import Settings
from agent.synthetic import SESSION_OPEN, synthetic_instruments
from agent.timeutil import IST
from bench import PARTS
from bench.__main__ import RESULTS, main
from bench.engine import DAY, JsonCandleFiles, build_ticks
from bench.report import markdown, rows, verdicts

ROOT = Path(__file__).resolve().parent.parent
NOT_YET = "not yet measured (needs the live adapters)"


def _fingerprint(path: Path) -> tuple[int, int] | None:
    return (path.stat().st_mtime_ns, path.stat().st_size) if path.exists() else None


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    before = _fingerprint(RESULTS)
    proc = subprocess.run([sys.executable, "-m", "bench", "--quick", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    return proc, json.loads(out.read_text()) if out.exists() else None, before


def test_quick_run_exits_0_and_prints_a_row_for_every_part(quick) -> None:
    proc, _, _ = quick
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    for part in PARTS:
        assert any(line.startswith(part + " ") for line in lines), f"no row for {part}"
    for part in ("latency", "scale"):
        (row,) = [line for line in lines if line.startswith(part + " ")]
        assert NOT_YET in row
    assert "QUICK" in lines[0]


def test_quick_run_records_figures_and_nulls_and_leaves_results_json_alone(quick) -> None:
    proc, results, before = quick
    assert results is not None, proc.stderr[-3000:]
    assert _fingerprint(RESULTS) == before
    assert results["quick"] is True and not results["errors"]
    assert {"platform", "cpu_model", "cores", "python", "date"} <= set(results["machine"])
    parts = results["parts"]
    assert list(parts) == list(PARTS)
    assert parts["latency"] is None and parts["scale"] is None
    assert set(results["not_measured"]) == {"latency", "scale"}
    for size in ("50", "500"):
        figures = parts["engine"]["sizes"][size]
        assert figures["ticks_per_s"] > 0 and figures["baseline_ticks_per_s"] > 0
        assert figures["ratio"] > 1  # far faster than a JSON file per tick, even quick
        assert figures["candles_completed"] > 0 and figures["orders"] > 0
    assert parts["backtest"]["rows"] == 5 * 30 * 60
    assert 0 < parts["backtest"]["profile"]["parsing_share"] < 1
    assert parts["parse"]["full"]["ratio"] > 0
    assert parts["storage"]["state_saves_per_s"] > 0
    assert all(g["met"] is None for g in results["goals"])  # quick figures are not judged


def test_markdown_renders_a_saved_file(quick, tmp_path, capsys) -> None:
    _, results, _ = quick
    saved = tmp_path / "r.json"
    saved.write_text(json.dumps(results))
    assert main(["--from", str(saved), "--markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Measured on: ")
    table = [line for line in out.splitlines() if line.startswith("| ")]
    assert table[0].startswith("| part | case |")
    assert len(table) == 1 + len(rows(results))


def test_from_a_missing_file_is_a_clear_error(tmp_path, capsys) -> None:
    assert main(["--from", str(tmp_path / "nope.json")]) == 1
    assert "cannot read results from" in capsys.readouterr().err


def _full(parts: dict) -> dict:
    return {"quick": False, "machine": {"cpu_model": "X"}, "parts": parts,
            "not_measured": {"latency": "needs the live adapters"}, "errors": {}}


def test_verdicts_say_met_or_by_how_much_missed() -> None:
    results = _full({
        "engine": {"goal_size": 500, "sizes": {"500": {
            "ticks": 9, "seconds_between_ticks": 1, "ticks_per_s": 240_000,
            "baseline_ticks_per_s": 3000.0, "ratio": 80.0}}},
        "latency": None,
        "backtest": {"instruments": 100, "session_minutes": 375, "rows": 2_250_000,
                     "wall_s": 12.0, "ticks_per_s": 187_500, "parse_only_s": 6.0,
                     "parse_share": 0.5, "parse_only_ticks_per_s": 375_000,
                     "engine_only_s": 5.5, "engine_share": 0.458,
                     "engine_only_ticks_per_s": 409_091}})
    by_part = {v["part"]: v for v in verdicts(results)}
    assert by_part["engine"]["met"] is False and by_part["engine"]["missed_by"] == 0.2
    assert by_part["backtest"]["met"] is True and by_part["backtest"]["missed_by"] is None
    assert by_part["latency"]["met"] is None and by_part["parse"]["measured"] is None
    text = markdown(results)
    assert "MISSED by 20%" in text and "| met |" in text
    assert "Missed: engine >= 300,000 ticks/s at 500 instruments: measured 240,000" in text
    assert NOT_YET in text
    assert "| 5.5 s (409,091 ticks/s) |" in text  # the engine's share of the backtest


def test_a_failed_part_is_shown_and_unknown_figures_still_render() -> None:
    results = _full({"storage": None, "scale": {"something": 3}})
    results["errors"] = {"storage": "OSError: disk full"}
    shown = {r.part: r for r in rows(results)}
    assert shown["storage"].measured == "FAILED: OSError: disk full"
    assert shown["scale"].measured == "something=3"


def _engine_candles(instruments: list[Instrument], ticks) -> dict[int, list[Candle]]:
    out: dict[int, list[Candle]] = {}
    engine = make_engine(Settings(), instruments)
    engine.on_candle = lambda ins, c: out.setdefault(ins.token, []).append(c)
    for tick in ticks:
        engine.on_tick(tick)
    engine.end_of_data()
    return out


def test_the_json_baseline_builds_the_same_candles_as_the_engine(tmp_path) -> None:
    instruments = synthetic_instruments(3)
    ticks = build_ticks(instruments, window_minutes=12, every_seconds=1)
    files = JsonCandleFiles(tmp_path, 5, datetime.combine(DAY, SESSION_OPEN, tzinfo=IST))
    for tick in ticks:
        files.on_tick(tick)
    expected = _engine_candles(instruments, ticks)
    for ins in instruments:
        ours = [(c["start"], c["open"], c["high"], c["low"], c["close"], c["ticks"])
                for c in files.candles(ins.token)]
        theirs = [(c.start.isoformat(), float(c.open), float(c.high), float(c.low),
                   float(c.close), c.ticks) for c in expected[ins.token]]
        assert len(ours) == 3 and ours == theirs
