"""/logs shows IST times even when the agent ran on a machine in another zone: a process
with ``TZ=America/New_York`` writes the log through ``setup_logging``, and /logs, asked
through the fake Bot API, shows its lines stamped in IST."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, time, timedelta
from pathlib import Path

from agent.logsetup import log_path
from agent.timeutil import IST
from handlers.build import ChatServices
from tests.handlers.harness import run, telegram_env

ROOT = Path(__file__).resolve().parents[2]
WRITER = """
import logging, sys, time
from datetime import datetime
from pathlib import Path
from agent.logsetup import setup_logging
from agent.timeutil import IST
setup_logging(Path(sys.argv[1]), console=False)
before = datetime.now(IST)
logging.getLogger("agent.engine").info("NSE:AAA entry BUY 50")
after = datetime.now(IST)
print(before.isoformat(), after.isoformat(), time.strftime("%Z"))
"""


def test_logs_lines_are_ist_when_the_machine_is_in_new_york(tmp_path: Path) -> None:
    env = {**os.environ, "TZ": "America/New_York", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", WRITER, str(tmp_path)], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=60, check=True).stdout
    before_text, after_text, zone = out.split()
    assert zone in ("EST", "EDT")  # the writer really ran in New York's zone
    before, after = datetime.fromisoformat(before_text), datetime.fromisoformat(after_text)

    async def body() -> None:
        services = ChatServices(log_file=log_path(tmp_path))
        async with telegram_env(tmp_path / "chat", services=services) as env:
            reply = await env.text("/logs 5")
            # the title says the (IST) day; each line its IST time, level and message
            title, _, body = reply.removesuffix("</pre>").partition("\n<pre>")
            (line,) = [ln for ln in body.splitlines() if "NSE:AAA entry BUY 50" in ln]
            clock, _, rest = line.partition(" ")
            assert rest == "INF NSE:AAA entry BUY 50", line
            (day,) = {d for d in (before.date(), after.date())
                      if title.startswith(f"<b>Log</b> {d:%a} {d.day} {d:%b} · ")}
            at = datetime.combine(day, time.fromisoformat(clock), IST)
            assert before - timedelta(seconds=1) <= at <= after + timedelta(seconds=1), line

    run(body())
