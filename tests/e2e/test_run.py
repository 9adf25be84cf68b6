"""``python bot.py run`` with ``feed: sim`` (paper money, console chat): it trades, and a
SIGTERM stops it cleanly with its state saved."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

from storage.lock import DataDirLock

ROOT = Path(__file__).resolve().parents[2]

CONFIG = """\
mode: paper
feed: sim
data_dir: ./data
sim: {speed: 600}
defaults: {interval: 1, percentage: 0.2, target_multiple: 2}
instruments:
  - {symbol: "NSE:ADANIPORTS", token: 3861249, tick_size: 0.05, lot_size: 1}
  - {symbol: "NSE:ABCAPITAL-BL", token: 5533953, tick_size: 0.05, lot_size: 1}
"""


def test_run_with_the_simulated_feed_trades_and_stops_on_sigterm(tmp_path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG, encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bot.py"), "run", "--config", str(tmp_path / "config.yaml")],
        cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    seen: list[str] = []
    filled = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if "[alert] 🟢 BUY" in line or "[alert] 🔴 SELL" in line:  # an entry filled
                filled.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert filled.wait(90), "".join(seen[-30:])
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
        reader.join(5)
    assert code == 0, "".join(seen[-30:])
    state = json.loads((tmp_path / "data" / "state.json").read_text(encoding="utf-8"))
    assert state["orders"], "the orders of the session are in the saved state"
    assert (tmp_path / "data" / "logs" / "agent.log").stat().st_size > 0
    with DataDirLock(tmp_path / "data"):  # the single-instance lock was released
        pass
