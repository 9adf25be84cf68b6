"""``python bot.py backtest``: docs/strategy.md's worked example end to end, bad rows, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CONFIG = """\
defaults: {interval: 5, percentage: 0.5, trade_side: both, lots: 1}
instruments:
  - {symbol: "NSE:EXAMPLE", token: 1001, tick_size: 0.05, lot_size: 50}
"""

# docs/strategy.md section 7: c0 09:15 (H 105, L 95, C 100, V 100), c1 09:20 (H 112, L 100,
# C 109, V 300); then 112.60 (nothing), 112.65 (buy), 99.50 (stop and reverse).
TICKS = """\
timestamp,instrument_token,last_price,last_traded_quantity,volume_traded
2026-11-23T09:15:00,1001,105,100,100
2026-11-23T09:16:30,1001,95,,100
2026-11-23T09:19:59,1001,100,,100
2026-11-23T09:20:00,1001,112,,400
2026-11-23T09:22:00,1001,100,,400
2026-11-23T09:24:59,1001,109,,400
2026-11-23T09:25:00,1001,112.60,,400
2026-11-23T09:25:10,1001,112.65,,400
2026-11-23T09:26:00,1001,99.50,,400
"""


def _run(tmp_path: Path, ticks: str, *extra: str, config: str = CONFIG):
    (tmp_path / "config.yaml").write_text(config, encoding="utf-8")
    (tmp_path / "ticks.csv").write_text(ticks, encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(ROOT / "bot.py"), "backtest", "--ticks", str(tmp_path / "ticks.csv"),
         "--config", str(tmp_path / "config.yaml"), *extra],
        capture_output=True, text=True, cwd=tmp_path, timeout=60)


def test_worked_example_through_the_command_line(tmp_path) -> None:
    proc = _run(tmp_path, TICKS, "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    long, short = data["trades"]
    assert (long["side"], long["quantity"], long["entry_price"], long["entry_reason"]) == (
        "BUY", 50, 112.65, "signal")
    assert long["entry_time"] == "2026-11-23T09:25:10+05:30"
    assert (long["exit_price"], long["exit_reason"], long["pnl"]) == (99.5, "stop", -657.5)
    assert (short["side"], short["quantity"], short["entry_price"], short["entry_reason"]) == (
        "SELL", 50, 99.5, "reverse")
    assert short["exit_reason"] == "end_of_data"
    # Zerodha's charges (the 2026 table, equity intraday), by hand: the long's brokerage
    # 1.69 + 1.49, STT 4975 x 0.025 % = 1.24 -> 1, exchange 10607.50 x 0.00307 % = 0.33,
    # SEBI 0.01, stamp 5632.50 x 0.003 % = 0.17, GST 18 % of 3.52 = 0.63: 5.32; the short
    # (99.50 both ways): 2.98 + 1 + 0.31 + 0.01 + 0.15 + 0.59 = 5.04.
    assert (long["charges"], long["net_pnl"]) == (5.32, -662.82)
    assert (short["charges"], short["net_pnl"]) == (5.04, -5.04)
    assert data["summary"] == {"trades": 2, "realized_pnl": -657.5, "charges": 10.36,
                               "net_pnl": -667.86,
                               "by_symbol": {"NSE:EXAMPLE": {"trades": 2,
                                                             "realized_pnl": -657.5}},
                               "rows": {"read": 9, "bad": 0, "stale": 0, "outside_session": 0,
                                        "accepted": 9}}
    assert not (tmp_path / "data").exists()  # a backtest never touches the data directory


def test_bad_rows_are_reported_with_line_numbers_and_the_run_goes_on(tmp_path) -> None:
    lines = TICKS.splitlines()
    lines.insert(3, "2026-11-23T09:17:00,1001,12..5,,100")
    lines.insert(5, "2026-11-23T09:18:00,4242,100,,100")
    proc = _run(tmp_path, "\n".join(lines) + "\n", "--json")
    assert proc.returncode == 0
    assert "ticks.csv:4: bad last_price '12..5' (skipped)" in proc.stderr
    assert "ticks.csv:6: unknown instrument_token 4242 (skipped)" in proc.stderr
    assert "skipped 2 bad row(s) of 11" in proc.stderr
    assert json.loads(proc.stdout)["summary"]["realized_pnl"] == -657.5


def test_table_output_names_the_trades_and_the_day(tmp_path) -> None:
    proc = _run(tmp_path, TICKS)
    assert proc.returncode == 0
    assert "NSE:EXAMPLE" in proc.stdout and "-657.50" in proc.stdout
    assert "2026-11-23: 2 trades" in proc.stdout


def test_missing_file_column_and_bad_config_exit_1(tmp_path) -> None:
    proc = _run(tmp_path, "timestamp,instrument_token\n2026-11-23T09:15:00,1001\n")
    assert proc.returncode == 1 and "missing column(s) last_price" in proc.stderr
    (tmp_path / "config.yaml").write_text(CONFIG, encoding="utf-8")
    proc = subprocess.run([sys.executable, str(ROOT / "bot.py"), "backtest", "--ticks",
                           str(tmp_path / "none.csv"), "--config", str(tmp_path / "config.yaml")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "tick file not found" in proc.stderr
    proc = _run(tmp_path, TICKS, config=CONFIG.replace("percentage: 0.5", "percentage: abc"))
    assert proc.returncode == 1
    assert "defaults.percentage: expected a number 0..100, got 'abc'" in proc.stderr
