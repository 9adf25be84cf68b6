"""The morning login_check, a refused ticker and ``bot.py check-config`` name the real
problem (a dead login, no market-data plan, an unregistered IP) and what to do.

Everything talks to the simulated exchange through the real kiteconnect client; the
check-config tests run ``bot.py`` as a subprocess against it.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.adapters.kite_client import kite_client
from agent.clock import LiveClock
from agent.events import AlertKind, LoggedIn, LoginNeeded, Notification
from agent.session import KiteSession
from agent.sim.server import SimExchange
from handlers.access_watch import AccessWatch
from handlers.runtime import MemorySessionStore
from tests.exchange_proc import ExchangeProcess
from tests.sim.conftest import DATA, make_sim

ROOT = Path(__file__).resolve().parents[2]
WAIT = 10.0


@pytest.fixture()
def sim() -> Iterator[SimExchange]:
    exchange = make_sim(DATA / "instruments_all.csv", speed=1e-6).start()
    yield exchange
    exchange.stop()


class Watched:
    """An AccessWatch on a logged-in session, with the engine's inbox and the alerts."""

    def __init__(self, sim: SimExchange, *, orders: bool = True) -> None:
        self.session = KiteSession(sim.api_key, sim.api_secret, MemorySessionStore(),
                                   root=sim.rest_root, login_base=sim.login_url)
        self.session.complete(sim.issue_request_token())
        self.events: queue.Queue[object] = queue.Queue()
        self.alerts: queue.Queue[Notification] = queue.Queue()
        self.watch = AccessWatch(
            self.session,
            lambda: kite_client(sim.api_key, sim.rest_root, timeout=5,
                                access_token=self.session.access_token()),
            self.events.put, self.alerts.put, LiveClock(), quote_key="NSE:ADANIPORTS",
            orders=orders)

    def drained(self, q: queue.Queue[Any]) -> list[Any]:
        out = []
        while not q.empty():
            out.append(q.get_nowait())
        return out


def test_login_check_with_full_access_logs_in_quietly(sim: SimExchange) -> None:
    w = Watched(sim)
    report = w.watch.login_check()
    assert report is not None and report.refusals == ()
    assert [type(e) for e in w.drained(w.events)] == [LoggedIn]
    assert w.drained(w.alerts) == []


def test_login_check_names_a_missing_market_data_plan_not_a_login(sim: SimExchange) -> None:
    w = Watched(sim)
    sim.access.set_market_data(False)
    w.watch.login_check()
    assert [type(e) for e in w.drained(w.events)] == [LoggedIn]  # the login is fine
    (alert,) = w.drained(w.alerts)
    assert alert.kind is AlertKind.KITE_ACCESS
    assert "market data" in alert.text and "Kite Connect plan" in alert.text
    w.watch.login_check()  # the next morning: still refused, told once until it clears
    assert w.drained(w.alerts) == []


def test_login_check_names_an_unregistered_ip_in_live_mode_only(sim: SimExchange) -> None:
    sim.access.register_ips(["203.0.113.9"])
    paper = Watched(sim, orders=False)
    paper.watch.login_check()
    assert paper.drained(paper.alerts) == []  # paper orders never reach Kite
    live = Watched(sim)
    live.watch.login_check()
    (alert,) = live.drained(live.alerts)
    assert alert.kind is AlertKind.KITE_ACCESS and "static IP" in alert.text
    assert alert.data["problem"] == "ip_not_allowed"
    sim.access.register_ips(["127.0.0.1"])
    live.watch.login_check()  # fixed: quiet, and a later refusal is told again
    sim.access.register_ips(["203.0.113.9"])
    live.watch.login_check()
    assert [a.kind for a in live.drained(live.alerts)] == [AlertKind.KITE_ACCESS]


def test_login_check_without_a_valid_token_asks_for_a_login(sim: SimExchange) -> None:
    w = Watched(sim)
    sim.faults.expire_tokens()
    assert w.watch.login_check() is None
    assert [type(e) for e in w.drained(w.events)] == [LoginNeeded]
    assert w.session.access_token() is None


def test_a_refused_ticker_is_diagnosed_as_no_market_data(sim: SimExchange) -> None:
    w = Watched(sim)
    sim.access.set_market_data(False)
    w.watch.ticker_refused()
    alert = w.alerts.get(timeout=WAIT)
    assert alert.kind is AlertKind.KITE_ACCESS and "market data" in alert.text
    assert w.events.empty()  # no "login needed": a login would not help


def test_a_refused_ticker_with_a_dead_token_asks_for_a_login(sim: SimExchange) -> None:
    w = Watched(sim)
    sim.faults.expire_tokens()
    w.watch.ticker_refused()
    assert isinstance(w.events.get(timeout=WAIT), LoginNeeded)
    assert w.alerts.empty()


# ---------------------------------------------------------------- bot.py check-config


def check_config(sim: SimExchange, tmp_path: Path, *, mode: str = "live",
                 offline: bool = False) -> subprocess.CompletedProcess[str]:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"mode: {mode}\ndata_dir: {tmp_path / 'data'}\n"
                   f"kite: {{root: '{sim.rest_root}'}}\n"
                   "instruments: ['NSE:ADANIPORTS']\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KITE_", "TELEGRAM_"))}
    env.update(KITE_API_KEY=sim.api_key, KITE_API_SECRET=sim.api_secret,
               KITE_ACCESS_TOKEN=sim.new_access_token())
    args = [sys.executable, "bot.py", "check-config", "--config", str(cfg)]
    return subprocess.run(args + (["--offline"] if offline else []), cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_check_config_asks_kite_and_passes(sim: SimExchange, tmp_path: Path) -> None:
    done = check_config(sim, tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("config OK: 1 instrument")
    assert "Kite login: ok (valid, user" in done.stdout
    assert "Kite market data: ok" in done.stdout and "Kite order calls: ok" in done.stdout
    assert sim.api_secret not in done.stdout + done.stderr
    assert not (tmp_path / "data").exists()  # nothing written


def test_check_config_exits_1_naming_the_missing_plan(sim: SimExchange,
                                                      tmp_path: Path) -> None:
    sim.access.set_market_data(False)
    done = check_config(sim, tmp_path)
    assert done.returncode == 1
    assert "Kite market data: Kite refuses market data for this API key" in done.stderr
    assert "Kite login needed" not in done.stderr and "Kite login: ok" in done.stdout


def test_check_config_exits_1_naming_the_ip(sim: SimExchange, tmp_path: Path) -> None:
    sim.access.register_ips(["203.0.113.9"])
    done = check_config(sim, tmp_path)
    assert done.returncode == 1
    assert "Kite order calls: Kite refuses orders from this machine's IP" in done.stderr
    assert "127.0.0.1" in done.stderr  # the address Kite saw, in Kite's own words
    paper = check_config(sim, tmp_path, mode="paper")
    assert paper.returncode == 0 and "order calls: skipped (paper mode)" in paper.stdout


def test_check_config_offline_never_asks_kite(sim: SimExchange, tmp_path: Path) -> None:
    sim.access.set_market_data(False)
    done = check_config(sim, tmp_path, offline=True)
    assert done.returncode == 0 and "Kite" not in done.stdout



def test_check_config_judges_the_token_by_the_exchanges_day(tmp_path: Path) -> None:
    """With ``clock: exchange`` on an exchange whose day is not today's, a token issued on
    the exchange's day is today's token."""
    with ExchangeProcess("--date", "2024-01-15T10:00", "--speed", "1") as ex:
        kite = ex.kite()
        data = tmp_path / "data"
        data.mkdir()
        (data / "session.json").write_text(json.dumps({
            "access_token": kite.access_token, "user_id": "",
            "issued_at": ex.clock()["now"]}), encoding="utf-8")
        cfg = tmp_path / "config.yaml"
        cfg.write_text(f"mode: live\nclock: exchange\ndata_dir: {data}\n"
                       f"kite: {{root: '{ex.rest_root}', ws_root: '{ex.ws_root}'}}\n"
                       "instruments: ['NSE:ADANIPORTS']\n", encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KITE_", "TELEGRAM_"))}
        env.update(KITE_API_KEY=ex.api_key, KITE_API_SECRET=ex.info["api_secret"])
        done = subprocess.run([sys.executable, "bot.py", "check-config", "--config", str(cfg)],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Kite login: ok" in done.stdout
