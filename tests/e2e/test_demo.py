"""``python bot.py demo``: the embedded default runs unattended and exits 0."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from storage.journal import JOURNAL_DIR, Journal

ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_a_session_through_the_simulated_exchange_and_exits_0() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bot.py"), "demo", "--speed", "3000", "--until", "12:00"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    out = proc.stdout
    assert "demo: simulated Kite exchange on http://127.0.0.1:" in out
    assert "[alert] session started" in out
    # real orders went through the simulated exchange: an entry's one message
    assert re.search(r"\[alert\] (🟢 BUY|🔴 SELL) \d+ NSE:\S+ @ [\d,.]+\n(above|below) ", out)
    assert "Day report" in out and "demo finished" in out
    reports = Path(out.rsplit("charts are in ", 1)[1].strip())
    assert any(p.suffix == ".png" for p in reports.iterdir())
    # the trade journal (issue 15) holds the day report's trades, and those that closed
    # while the demo stopped (at 3000x a wall second is 50 minutes of the session)
    data_dir = Path(re.search(r"data and logs in (\S+)", out).group(1))
    count = int(re.search(r"Day report \d{4}-\d{2}-\d{2}\n(\d+) trades?,", out).group(1))
    read = Journal(data_dir / JOURNAL_DIR).read()
    assert len(read.trades) >= count > 0 and read.problems == []
