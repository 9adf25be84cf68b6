"""``python bot.py optimize`` end to end: the optimizer's figures are the backtest's."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from agent.backtest import run_backtest
from agent.config import load_settings
from agent.optimize.grid import ConfigBase, parse_axis
from agent.optimize.metrics import Metric, figures, number
from agent.optimize.output import Report, write_table
from agent.optimize.runner import Job, Workers
from agent.optimize.search import gather
from agent.synthetic import session_ticks, synthetic_instruments, write_csv

ROOT = Path(__file__).resolve().parents[2]
SCHEDULES = ROOT / "schedules.yaml"
DAYS = [date(2026, 11, 23) + timedelta(days=k) for k in range(3)]  # Monday to Wednesday
CONFIG = """\
defaults: {{interval: {interval}, percentage: {percentage}, trade_side: both, lots: 1}}
instruments:
  - {{symbol: "NSE:SYN000", token: 100001, tick_size: 0.05, lot_size: 1}}
  - {{symbol: "NSE:SYN001", token: 100002, tick_size: 0.05, lot_size: 25,
     target_multiple: 2}}
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    """Three days of two instruments ticking every 10 s; a file per day part for parity."""
    tmp = tmp_path_factory.mktemp("optimize")
    instruments = synthetic_instruments(2)
    for name, days in (("ticks", DAYS), ("first", DAYS[:1]), ("rest", DAYS[1:])):
        write_csv((t for d in days for t in session_ticks(instruments, d, seed=5,
                                                          every_seconds=10)),
                  tmp / f"{name}.csv")
    (tmp / "config.yaml").write_text(CONFIG.format(interval=5, percentage=0.5),
                                     encoding="utf-8")
    return tmp


def _optimize(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "bot.py"), "optimize", "--ticks", str(tmp / "ticks.csv"),
         "--config", str(tmp / "config.yaml"), *args],
        capture_output=True, text=True, cwd=tmp, timeout=300)


def _expected(tmp: Path, params: dict[str, str], ticks: str = "ticks.csv",
              days: tuple[date, date] | None = None) -> dict:
    """The backtest's own figures with a config file that states the parameters."""
    config = tmp / "one.yaml"
    config.write_text(CONFIG.format(**{"interval": 5, "percentage": 0.5, **params}),
                      encoding="utf-8")
    result = run_backtest(load_settings(config, SCHEDULES), tmp / ticks, days=days)
    f = figures(result.trades)
    assert f.trades > 0  # figures of nothing would prove nothing
    return {m.value: number(f.value(m)) for m in Metric} | {
        "wins": f.wins, "losses": f.losses, "charges": number(f.charges)}


def test_the_optimizers_figures_equal_separate_backtests(files: Path) -> None:
    out = files / "out"
    proc = _optimize(files, "--grid", "percentage=0.3:0.6:0.3", "--grid", "interval=5,15",
                     "--jobs", "2", "--json", "--out", str(out), "--by", "profit_factor")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["by"] == "profit_factor" and data["jobs"] == 2
    assert [r["rank"] for r in data["runs"]] == [1, 2, 3, 4]
    assert {tuple(r["params"].items()) for r in data["runs"]} == {
        (("percentage", p), ("interval", i)) for p in ("0.3", "0.6") for i in ("5", "15")}
    for run in data["runs"]:
        assert run["error"] is None
        assert run["figures"] == _expected(files, run["params"]), run["params"]
    factors = [r["figures"]["profit_factor"] for r in data["runs"]]
    assert factors == sorted(factors, reverse=True)
    assert json.loads((out / "optimize.json").read_text(encoding="utf-8")) == data
    png = (out / "heatmap.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    assert 600 <= width <= 1600 and 400 <= height <= 1200


def test_the_split_runs_each_combination_on_both_parts(files: Path) -> None:
    proc = _optimize(files, "--grid", "percentage=0.4,0.8", "--split", "2026-11-24",
                     "--jobs", "2")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(
        "in-sample 2026-11-23..2026-11-23 (1 day), out-of-sample 2026-11-24..2026-11-25 "
        "(2 days); ranked by the in-sample net_pnl")
    assert "OOS net P&L" in proc.stdout.splitlines()[1]
    assert proc.stderr.splitlines()[-1].startswith("4/4 done, ")  # the last always shows
    proc = _optimize(files, "--grid", "percentage=0.4,0.8", "--split", "0.5", "--jobs", "2",
                     "--json", "--quiet")
    assert proc.returncode == 0 and proc.stderr == ""
    data = json.loads(proc.stdout)
    for run in data["runs"]:
        # the date filter gives what files of only those days give
        assert run["in_sample"] == _expected(files, run["params"], "first.csv")
        assert run["out_of_sample"] == _expected(files, run["params"], "rest.csv")
    ins = [r["in_sample"]["net_pnl"] for r in data["runs"]]
    assert ins == sorted(ins, reverse=True)


def test_optuna_is_seeded_and_its_figures_are_the_backtests(files: Path) -> None:
    args = ("--grid", "percentage=0.2:1.2:0.05", "--grid", "interval=3,5,15", "--search",
            "optuna", "--trials", "5", "--seed", "11", "--json", "--quiet")
    first, again = _optimize(files, *args, "--jobs", "2"), _optimize(files, *args, "--jobs", "1")
    assert first.returncode == 0, first.stderr
    a, b = json.loads(first.stdout), json.loads(again.stdout)
    assert a["runs"] == b["runs"] and a["search"] == "optuna" and a["seed"] == 11
    best = a["runs"][0]
    assert Decimal(best["params"]["percentage"]) in {Decimal("0.2") + Decimal("0.05") * k
                                                     for k in range(21)}
    assert best["figures"] == _expected(files, best["params"])


def test_a_failing_combination_is_reported_with_its_parameters(files: Path) -> None:
    config = files / "config.yaml"
    base = ConfigBase.load(config, SCHEDULES)
    good = (("percentage", "0.5"),)
    bad = (("percentage", "200"),)  # past the up-front check: the worker's loader refuses it
    with Workers(config, SCHEDULES, files / "ticks.csv", 2, base) as workers:
        done = list(workers.run([Job(0, good), Job(1, bad)]))
    runs = gather([good, bad], done)
    assert runs[0].error is None and runs[0].figures is not None
    assert runs[1].figures is None
    assert runs[1].error == "defaults.percentage: expected a number 0..100, got 200"
    out = io_text(Report(runs, [parse_axis("percentage=0.5,200")], Metric.NET_PNL, "grid",
                         None, "t", "c", 1.0, 2))
    assert "failed: percentage=200: defaults.percentage: expected a number 0..100" in out


def io_text(report: Report) -> str:
    import io

    buf = io.StringIO()
    write_table(report, buf, 20)
    return buf.getvalue()


def test_bad_input_is_one_line_and_exit_1_before_any_run(files: Path) -> None:
    proc = _optimize(files, "--grid", "percentage=0.3:200:0.1")
    assert proc.returncode == 1
    assert proc.stderr == ("error: --grid percentage=100.1: defaults.percentage: expected a "
                           "number 0..100, got 100.1\n")
    proc = _optimize(files, "--grid", "interval=5", "--split", "2027-01-01")
    assert proc.returncode == 1 and "leaves no out-of-sample days" in proc.stderr
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bot.py"), "optimize", "--ticks", str(files / "no.csv"),
         "--config", str(files / "config.yaml"), "--grid", "interval=5"],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and proc.stderr == f"error: tick file not found: " \
                                                   f"{files / 'no.csv'}\n"
    (files / "file").write_text("", encoding="utf-8")
    proc = _optimize(files, "--grid", "interval=5", "--out", str(files / "file"))
    assert proc.returncode == 1 and "--out" in proc.stderr and "not a directory" in proc.stderr


def _group_members(pgid: int) -> list[int]:
    """Processes whose process group is ``pgid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text(encoding="ascii").rsplit(")", 1)[1].split()
        except (OSError, IndexError, UnicodeDecodeError):
            continue
        if int(fields[2]) == pgid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_ctrl_c_stops_the_workers_without_a_traceback(files: Path) -> None:
    import os
    import signal

    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bot.py"), "optimize", "--ticks",
         str(files / "ticks.csv"), "--config", str(files / "config.yaml"), "--grid",
         "percentage=0.1:9.9:0.05", "--grid", "interval=3,5,15", "--jobs", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=files,
        start_new_session=True,  # a group of its own: the terminal's Ctrl-C goes to all
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()  # the first progress line: the workers are busy
        assert " done, " in first, first
        assert len(_group_members(proc.pid)) >= 3  # the command and its two workers
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "backtests done; the workers were stopped" in err
    assert out == ""
    assert _group_members(proc.pid) == []
