"""``python bot.py report``: the journal's figures on the command line, as text (the chat's
tables) and as JSON, every number recomputed here from the trades of the range; the
journal chart; bad arguments."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from agent.charts_pnl import JOURNAL_SIZE
from agent.models import Trade
from agent.settings import Settings, StorageBackend, StorageConfig
from handlers.text import money
from storage.backends import open_stores
from storage.journal import JOURNAL_DIR
from storage.plainjson import dumps_line
from tests.journal_helpers import journal_with, random_trades, recompute
from tests.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
FIRST, LAST = date(2026, 11, 2), date(2026, 12, 13)

CONFIG = """\
defaults: {interval: 5, percentage: 0.5, trade_side: both, lots: 1}
instruments:
  - {symbol: "NSE:EXAMPLE", token: 1001, tick_size: 0.05, lot_size: 50}
data_dir: ./data
"""


def _world(tmp: Path) -> list[Trade]:
    (tmp / "config.yaml").write_text(CONFIG, encoding="utf-8")
    trades = random_trades(5, FIRST - timedelta(days=20), 70)  # some outside the range
    journal_with(tmp / "data", trades)
    return [t for t in trades if FIRST <= t.exit_time.date() <= LAST]


def _report(tmp: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "bot.py"), "report", "--config", str(tmp / "config.yaml"),
         *extra], capture_output=True, text=True, cwd=tmp, timeout=60)


def _cents(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.01"), ROUND_HALF_UP))


def _rupees(paise: int) -> float:
    return float(Decimal(paise) / 100)


def test_json_every_figure_recomputed_from_the_trades_of_the_range(tmp_path: Path) -> None:
    trades = _world(tmp_path)
    proc = _report(tmp_path, "--from", FIRST.isoformat(), "--to", LAST.isoformat(), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert (data["from"], data["to"], data["net_of_charges"]) == (
        "2026-11-02", "2026-12-13", True)
    e = recompute(trades)
    summary = data["summary"]
    assert (summary["trades"], summary["wins"], summary["losses"]) == (
        e["trades"], e["wins"], e["losses"])
    assert summary["even"] == e["trades"] - e["wins"] - e["losses"]
    assert (summary["gross"], summary["charges"], summary["net"]) == (
        _rupees(e["gross"]), _rupees(e["charges"]), _rupees(e["net"]))
    n = e["trades"]
    assert summary["win_rate"] == _cents(Decimal(e["wins"] * 100) / n)
    assert summary["expectancy"] == _cents(Decimal(e["net"]) / 100 / n)
    assert summary["profit_factor"] == _cents(Decimal(e["won"]) / Decimal(e["lost"]))
    assert summary["max_drawdown"] == _rupees(e["max_drawdown"])
    assert summary["average_hold_s"] == round(e["hold"])
    assert summary["best"]["exit_tag"] == e["best"].exit_tag
    assert summary["worst"]["exit_tag"] == e["worst"].exit_tag
    assert [t["key"] for t in data["trades"]] == [
        t["key"] for t in sorted(data["trades"], key=lambda t: (t["exit_time"],
                                                                t["entry_time"]))]
    assert len(data["trades"]) == len(trades) and data["skipped"] == []
    days: dict[str, list[Trade]] = {}
    for t in trades:
        days.setdefault(t.exit_time.date().isoformat(), []).append(t)
    assert [d["date"] for d in data["days"]] == sorted(days)
    for d in data["days"]:
        mine = recompute(days[d["date"]])
        assert (d["trades"], d["wins"], d["losses"], d["net"], d["charges"]) == (
            mine["trades"], mine["wins"], mine["losses"], _rupees(mine["net"]),
            _rupees(mine["charges"]))
    for week in data["weeks"]:
        start = date.fromisoformat(week["start"])
        assert start.weekday() == 0
        mine = recompute([t for t in trades
                          if start <= t.exit_time.date() < start + timedelta(days=7)])
        assert (week["trades"], week["net"], week["max_drawdown"]) == (
            mine["trades"], _rupees(mine["net"]), _rupees(mine["max_drawdown"]))
    assert [m["start"] for m in data["months"]] == ["2026-11-01", "2026-12-01"]
    for symbol in data["symbols"]:
        mine = recompute([t for t in trades if t.symbol == symbol["symbol"]])
        assert (symbol["trades"], symbol["net"]) == (mine["trades"], _rupees(mine["net"]))


def test_text_is_the_chats_tables(tmp_path: Path) -> None:
    trades = _world(tmp_path)
    proc = _report(tmp_path, "--from", FIRST.isoformat(), "--to", LAST.isoformat())
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith("Journal 02 Nov–13 Dec 2026\nnet of charges\n\nProfit\n")
    e = recompute(trades)
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 40
    net_line = next(line for line in lines if line.startswith("Net P&L"))
    assert net_line.split()[-1] == money(Decimal(e["net"]) / 100)
    for title in ("Daily", "Weekly", "Monthly", "Per symbol"):
        assert title in lines
    total_lines = [line for line in lines if line.startswith("TOTAL")]
    assert len(total_lines) == 4
    assert all(line.split()[1] == str(len(trades)) for line in total_lines)
    month_rows = [line for line in lines if line.startswith(("Nov 2026", "Dec 2026"))]
    assert [row.split()[2] for row in month_rows] == [
        str(sum(t.exit_time.month == m for t in trades)) for m in (12, 11)]  # newest first


def test_chart_and_bad_input(tmp_path: Path) -> None:
    _world(tmp_path)
    proc = _report(tmp_path, "--from", FIRST.isoformat(), "--to", LAST.isoformat(),
                   "--chart", "charts")
    assert proc.returncode == 0, proc.stderr
    png = tmp_path / "charts" / "journal_2026-11-02_2026-12-13.png"
    assert proc.stdout.endswith(f"chart: {Path('charts') / png.name}\n")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (JOURNAL_SIZE.width, JOURNAL_SIZE.height)
    # a corrupt line: named on stderr with the data directory, the rest reported
    with (tmp_path / "data" / JOURNAL_DIR / "2026-11.jsonl").open("a") as f:
        f.write("garbage\n")
    proc = _report(tmp_path, "--from", FIRST.isoformat(), "--to", LAST.isoformat())
    assert proc.returncode == 0 and "Profit" in proc.stdout
    assert "data/journal/2026-11.jsonl line" in proc.stderr and "(skipped)" in proc.stderr
    bad = _report(tmp_path, "--from", "2026-12-13", "--to", "2026-11-02")
    assert bad.returncode == 1 and "--from 2026-12-13 is after --to 2026-11-02" in bad.stderr
    bad = _report(tmp_path, "--from", "2026-1-5")
    assert bad.returncode == 2 and "expected a date YYYY-MM-DD" in bad.stderr
    bad = _report(tmp_path, "--to", "２０２６-01-05")
    assert bad.returncode == 2 and "expected a date YYYY-MM-DD" in bad.stderr
    (tmp_path / "afile").write_text("x")
    bad = _report(tmp_path, "--chart", "afile")
    assert bad.returncode == 1 and "--chart afile: is a file" in bad.stderr
    empty = _report(tmp_path, "--from", "2020-01-01", "--to", "2020-01-31", "--json")
    assert json.loads(empty.stdout)["summary"]["profit_factor_text"] == "n/a"


def test_the_report_reads_the_journal_of_the_configured_backend(tmp_path: Path,
                                                                 redis_db) -> None:
    """Issue 16: with storage.backend redis, ``bot.py report`` reads the journal on Redis
    (the data directory has none), and names the Redis when it is not there."""
    trades = random_trades(3, FIRST, 12)
    stores = open_stores(_redis_settings(tmp_path, redis_db.url))
    journal = stores.journal(_SinkWriter(stores.candles))
    for t in trades:
        journal.record(t)
    stores.close()
    redis_config = CONFIG + f'storage: {{backend: redis, redis_url: "{redis_db.url}", ' \
        'account: AB1234}\n'
    (tmp_path / "config.yaml").write_text(redis_config, encoding="utf-8")
    proc = _report(tmp_path, "--from", FIRST.isoformat(), "--to", LAST.isoformat(), "--json")
    assert proc.returncode == 0, proc.stderr
    shown = [t for t in trades if FIRST <= t.exit_time.date() <= LAST]
    assert json.loads(proc.stdout)["summary"]["trades"] == len(shown) > 0
    assert not (tmp_path / "data" / JOURNAL_DIR).exists()
    down = f"redis://127.0.0.1:{free_port()}/0"
    (tmp_path / "config.yaml").write_text(redis_config.replace(redis_db.url, down),
                                          encoding="utf-8")
    proc = _report(tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"error: Redis at {down}: cannot be reached")


def _redis_settings(tmp: Path, url: str) -> Settings:
    return Settings(data_dir=tmp / "data", storage=StorageConfig(
        backend=StorageBackend.REDIS, redis_url=url, account="AB1234"))


class _SinkWriter:
    """Journal lines written at once through a store's line sink (Redis here)."""

    def __init__(self, sink: Any) -> None:
        self.sink = sink

    def append_line(self, path: Path, record: dict[str, Any]) -> None:
        self.sink.append_lines(path, [dumps_line(dict(record), str(path))])
