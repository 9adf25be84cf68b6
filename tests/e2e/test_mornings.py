"""Mornings (issue 14): ``bot.py run`` after a morning restart with an expired Kite token and
a configured symbol outside the bundled sample list stays up, says the login is needed,
answers at its console, and after ``/login`` loads the day's instrument list, trades the
symbol and streams it.

As the owner runs it: ``bot.py exchange`` in a process of its own (its market lists
NSE:INFY, the bundled sample does not), ``bot.py run`` following it with ``clock:
exchange``, the console typed into through a pipe. Waits are on the agent's output and
files with deadlines, never for a fixed time.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import requests

from agent.instruments import BUNDLED_DUMP
from tests.e2e.test_follow_exchange import Agent, _until
from tests.exchange_proc import ExchangeProcess

DAY = "2026-12-07"  # a Monday, a trading day in schedules.yaml
INFY = "408065,1594,INFY,INFOSYS,0.0,,0.0,0.05,1,EQ,NSE,NSE\n"

CONFIG = """\
mode: live
feed: kite
clock: exchange
data_dir: ./data
kite: {{root: "{rest_root}", ws_root: "{ws_root}", login_url: "{login_url}"}}
defaults: {{interval: 1, percentage: 0.05, target_multiple: 2}}
instruments: ["NSE:ADANIPORTS", "NSE:INFY"]
"""


def _setup(tmp_path: Path, ex: ExchangeProcess) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(**ex.info), encoding="utf-8")
    data = tmp_path / "data"
    data.mkdir()
    # yesterday's login: the token died at 06:00
    (data / "session.json").write_text(json.dumps({
        "access_token": "yesterdaystoken", "user_id": "SIM001",
        "issued_at": "2026-12-06T09:02:00+05:30"}), encoding="utf-8")
    return config


def _landed(ex: ExchangeProcess) -> str:
    """The address the exchange's login page redirects to (what a person pastes)."""
    page = requests.get(ex.info["login_url"], params={"api_key": "simkey", "v": 3},
                        allow_redirects=False, timeout=10)
    assert page.status_code == 302, page.text
    return str(page.headers["Location"])


def test_an_expired_token_and_an_unknown_symbol_wait_for_the_login(tmp_path) -> None:
    assert "INFY," not in BUNDLED_DUMP.read_text(encoding="utf-8")  # outside the sample
    listed = tmp_path / "instruments.csv"
    listed.write_text(BUNDLED_DUMP.read_text(encoding="utf-8") + INFY, encoding="utf-8")
    with ExchangeProcess("--date", f"{DAY}T10:00", "--speed", "10",
                         "--instruments", str(listed)) as ex:
        config = _setup(tmp_path, ex)
        agent = Agent(config, console=True)
        try:
            # up, and saying why nothing trades yet, with the /login hint
            agent.wait_for(r"\[alert\] LOGIN NEEDED .*Kite login needed \(no valid access "
                           r"token; NSE:INFY waits for it\).* - /login")
            agent.wait_for(r"agent running: mode live, feed kite, 1 instruments")
            mark = agent.send("/status")
            agent.wait_for(r"⏳ waiting for login: NSE:INFY", since=mark)
            mark = agent.send("/instruments")
            agent.wait_for(r"⏳ waiting for login: NSE:INFY", since=mark)
            mark = agent.send("/add NSE:TCS")
            for line in (r"❌ NSE:TCS: not in the bundled sample$",  # 40 columns a line
                         r"^list \(no login yet\);$", r"^/login loads today's$"):
                agent.wait_for(line, since=mark)
            mark = agent.send("/start")
            agent.wait_for(r"^entries once logged in: /login", since=mark)
            mark = agent.send("/login")
            link = agent.wait_for(r"Open the Kite login: (\S+connect/login\?api_key=simkey\S*)",
                                  since=mark)
            assert link.group(1).startswith(ex.info["login_url"])

            mark = agent.send(_landed(ex))
            agent.wait_for(r"Logged in to Kite as SIM001", since=mark)
            agent.wait_for(r"^\[alert\] login \S+$", since=mark)  # its lines below it
            agent.wait_for(r"^Kite login as SIM001: valid until 06:00$", since=mark)
            agent.wait_for(r"^instruments: today's instrument list \(loaded 10:\d\d\)$",
                           since=mark)
            agent.wait_for(r"^now trading NSE:INFY$", since=mark)
            # its ticks reach the engine: its candles are written
            candles = tmp_path / "data" / "candles" / DAY / "408065_1m.jsonl"
            _until(lambda: candles.exists() and candles.stat().st_size > 0, 60,
                   "a completed candle of NSE:INFY")
            mark = agent.send("/resume")
            agent.wait_for(r"^entries allowed now", since=mark)
            mark = agent.send("/status")
            agent.wait_for(r"NSE:INFY", since=mark)
            assert agent.alive(), agent.tail()
        finally:
            code = agent.stop()
        assert code == 0, agent.tail()
        out = agent.output()
        assert "Traceback" not in out, out[-4000:]
        after_login = out[out.index("Logged in to Kite"):]
        assert "waiting for login" not in after_login
        session = json.loads((tmp_path / "data" / "session.json").read_text())
        assert session["issued_at"].startswith(f"{DAY}T10:")
        assert re.search(r"Kite feed connection 0 up with 2 instruments", out), out[-4000:]
