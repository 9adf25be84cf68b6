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
        assert "not yet measured" not in row and "FAILED" not in row
    assert "QUICK" in lines[0]


def test_quick_run_records_figures_and_nulls_and_leaves_results_json_alone(quick) -> None:
    proc, results, before = quick
    assert results is not None, proc.stderr[-3000:]
    assert _fingerprint(RESULTS) == before
    assert results["quick"] is True and not results["errors"]
    assert {"platform", "cpu_model", "cores", "python", "date"} <= set(results["machine"])
    parts = results["parts"]
    assert list(parts) == list(PARTS)
    assert not results["not_measured"]
    for size in ("50", "500"):
        figures = parts["engine"]["sizes"][size]
        assert figures["ticks_per_s"] > 0 and figures["baseline_ticks_per_s"] > 0
        assert figures["ratio"] > 1  # far faster than a JSON file per tick, even quick
        assert figures["candles_completed"] > 0 and figures["orders"] > 0
    assert parts["backtest"]["rows"] == 5 * 30 * 60
    assert 0 < parts["backtest"]["profile"]["parsing_share"] < 1
    assert parts["parse"]["full"]["ratio"] > 0
    assert parts["storage"]["state_saves_per_s"] > 0
    latency = parts["latency"]  # the live agent against the simulator, in two processes
    assert latency["samples"] > 0 and latency["feed"]["bad_packets"] == 0
    assert 0 < latency["p50_ms"] <= latency["p99_ms"] <= latency["max_ms"]
    assert latency["orders"].get("ENTRY COMPLETE", 0) > 0
    scale = parts["scale"]
    assert scale["connections"] == 3 and scale["feed"]["drops"] == 0
    assert scale["ticks_per_s_received"] > 0.8 * scale["ticks_per_s_expected"]
    assert scale["peak_rss_mb"] > 10 and scale["cpu_share"] > 0
    assert scale["max_inbox_depth"] >= 0 and scale["inbox_depth"]["samples"] > 0
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


def test_frame_second_reads_the_first_full_packets_exchange_second() -> None:
    from agent.sim import encoder
    from agent.sim.market import Market
    from bench.live_sim import bench_instruments, frame_second

    instruments = bench_instruments(3)
    market = Market(instruments, DAY)
    quotes = [market.quote(i.token, 75) for i in instruments]
    full = encoder.frame(encoder.packet(q, encoder.MODE_FULL) for q in quotes)
    assert frame_second(full) == (int(quotes[0].time.timestamp()), 3)
    assert quotes[0].time.second == 15  # 09:15 + 75 s
    quote_mode = encoder.frame(encoder.packet(q, encoder.MODE_QUOTE) for q in quotes)
    assert frame_second(quote_mode) == (-1, 3)
    assert frame_second(encoder.HEARTBEAT) == (-1, 0)
    assert {i.token & 0xFF for i in instruments} == {1}  # NSE: prices scaled by 100


def _records(arrive_second: float | None):
    from bench.live_agent import AgentRecord
    from bench.live_sim import SimRecord

    sim = SimRecord(frames=[(10.0, 0, 100, 3000), (11.0, 0, 101, 3000)],
                    orders=[(11.020, "E1", "SYN0001"), (11.050, "E2", "SYN0002")])
    if arrive_second is not None:
        sim.orders.append((arrive_second, "E4", "SYN0004"))
    agent = AgentRecord(
        window=(10.5, 12.0), rate_waits=[11.030],
        submits=[(11.010, "E1", "ENTRY", "signal", 1, (11.002, 11.005), 101, 7),
                 (11.011, "E2", "ENTRY", "signal", 2, (11.002, 11.005), 101, 9),
                 (11.300, "S3", "STOP", "stop", 1, None, -1, -1),  # not frame-triggered
                 (11.400, "E4", "ENTRY", "signal", 4, (11.002, 11.005), 101, 20)],
        calls=[("place", "E1", 11.012, 11.019), ("place", "E2", 11.045, 11.049),
               ("place", "E4", 11.401, 11.410)])
    return sim, agent


def test_latency_samples_are_split_into_stages_and_what_waited_is_counted_apart() -> None:
    from bench.latency import Plan, match, summarize

    sim, agent = _records(arrive_second=None)
    samples, unmatched = match(sim, agent)
    assert [s.tag for s in samples] == ["E1", "E2"] and unmatched == 1  # E4 never arrived
    first, second = samples
    assert first.total == pytest.approx(0.020)
    assert (first.received - first.sent, first.put - first.received,
            first.submitted - first.put, first.called - first.submitted,
            first.arrived - first.called) == pytest.approx((0.002, 0.003, 0.005, 0.002, 0.008))
    assert not first.rate_limited and not first.behind_call
    assert second.rate_limited and second.behind_call  # the window waited; E1 was ahead
    figures = summarize(samples, sim, agent, Plan(3000, 2, 1.0, 1.5, 0.0))
    assert figures["samples"] == 2 and figures["unmatched_entries"] == 1
    assert (figures["p50_ms"], figures["max_ms"]) == (35.0, 50.0)
    assert figures["clean"]["count"] == 1 and figures["clean"]["max_ms"] == 20.0
    assert figures["held_by_rate_limit"] == 1 and figures["behind_another_call"] == 0
    assert figures["stages_ms"]["parse"]["max_ms"] == 3.0


def test_percentiles_interpolate_between_ranks() -> None:
    from bench.live_stats import percentile, spread_ms

    assert percentile([4, 1, 3, 2], 50) == 2.5
    assert percentile([1, 2, 3, 4], 100) == 4 and percentile([7], 99) == 7
    assert spread_ms([0.001, 0.002, 0.003]) == {"count": 3, "p50_ms": 2.0, "p99_ms": 2.98,
                                                "max_ms": 3.0}
    assert spread_ms([])["p99_ms"] is None


def test_active_instruments_are_spread_over_the_whole_frame() -> None:
    from bench.live_agent import AgentPlan, active_instruments, bench_settings

    plan = AgentPlan(3000, 1.0, active=150, active_params={"percentage": 1})
    chosen = active_instruments(plan)
    assert len(set(chosen)) == 150 and chosen[0] == 0 and chosen[-1] == 2980
    settings = bench_settings(plan, ROOT / "unused")
    assert settings.instruments[1].symbol == "NSE:SYN0020"
    assert dict(settings.instruments[1].overrides) == {"percentage": 1}


def test_scale_figures_from_records() -> None:
    from bench.live_agent import AgentRecord
    from bench.live_sim import SimRecord
    from bench.scale import Plan, summarize

    sim = SimRecord(frames=[(100.0 + k, c, 500 + k, 100) for k in range(60) for c in range(3)])
    agent = AgentRecord(
        window=(100.0, 160.0), cpu_seconds=6.0, peak_rss_mb=123.4, max_depth=4,
        samples=[(100.0 + k, k % 3, 100.0 + k) for k in range(60)],
        batches=[(100.001 + k, 100.002 + k, 100.003 + k, 100.008 + k, 100, 500 + k)
                 for k in range(60) for _ in range(3)])
    figures = summarize(sim, agent, Plan(300, 100, 60.0, 0.0))
    assert figures["connections"] == 3 and figures["simulated_minutes"] == 1
    assert figures["ticks_per_s_received"] == 300 and figures["ticks_per_s_sent"] == 300
    assert figures["cpu_share"] == 0.1 and figures["peak_rss_mb"] == 123.4
    assert figures["depth_by_30s"] == [2, 2] and figures["inbox_depth"]["max"] == 2
    assert figures["rss_mb_by_30s"] == [129, 159]
    assert figures["frame_to_engine_done_ms"]["max_ms"] == pytest.approx(8.0)
    assert figures["engine_busy_share"] == pytest.approx(0.015)
