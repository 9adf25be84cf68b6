"""The agent follows a standalone simulated exchange (``bot.py exchange``) with nothing but
config (issue 11): ``feed: kite``, ``clock: exchange`` and ``kite.root`` / ``ws_root`` /
``login_url`` from the exchange's JSON line, ``mode: live``.

Everything runs as the owner would run it: the exchange in a process of its own, ``bot.py
login`` reading the address the login page redirects to, ``bot.py run`` as a subprocess
stopped with SIGTERM and started again. The test waits on conditions with deadlines (the
agent's output, the exchange's order book), never for a fixed time.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from storage.lock import DataDirLock
from tests.exchange_proc import ExchangeProcess

ROOT = Path(__file__).resolve().parents[2]
DAY = "2026-12-07"  # a Monday, a trading day in schedules.yaml
# From the pre-open (09:00) at 60x: the exchange reaches session_start (09:14) 14 s after
# it starts, time for the login and the agent's start; the market opens at 09:15.
START = f"{DAY}T09:00"
SPEED = "60"
OPEN = ("OPEN", "TRIGGER PENDING")

CONFIG = """\
mode: live
feed: kite
clock: exchange
data_dir: ./data
kite: {{root: "{rest_root}", ws_root: "{ws_root}", login_url: "{login_url}"}}
defaults: {{interval: 1, percentage: 0.05, target_multiple: 2}}
instruments:
  - "NSE:ADANIPORTS"
  - "NSE:CDSL"
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("TELEGRAM_BOT_TOKEN", "KITE_ACCESS_TOKEN", "KITE_PROXY")}
    env.update(KITE_API_KEY="simkey", KITE_API_SECRET="simsecret")
    return env


def _until(cond: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``cond`` until it returns something true, at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while time.monotonic() < deadline:
        try:
            got = cond()
        except kex.NetworkException:  # the exchange's rate limits count our polls too
            got = None
        if got:
            return got
        pause.wait(0.5)  # a bounded poll of the exchange, not a race with a result
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


class Agent:
    """``bot.py run`` in a subprocess; its output (log lines and console alerts) read on a
    thread into ``lines``. ``console``: its stdin is a pipe that ``send`` types into."""

    def __init__(self, config: Path, *, console: bool = False) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "bot.py"), "run", "--config", str(config)],
            cwd=config.parent, env=_env(),
            stdin=subprocess.PIPE if console else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, pattern: str, timeout: float = 60.0, since: int = 0
                 ) -> re.Match[str]:
        """The first output line (from line ``since``) matching ``pattern``."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = since
        with self._changed:
            while True:
                for line in self.lines[seen:]:
                    if (found := rx.search(line)) is not None:
                        return found
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0 or not self._reader.is_alive():
                    raise AssertionError(f"the agent never printed {pattern!r}:\n"
                                         f"{self.tail()}")
                self._changed.wait(min(left, 1.0))

    def send(self, line: str) -> int:
        """Type a line at the console; the number of output lines before it."""
        assert self.proc.stdin is not None
        with self._changed:
            seen = len(self.lines)
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return seen

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, n: int = 40) -> str:
        return "".join(self.lines[-n:])

    def output(self) -> str:
        return "".join(self.lines)

    def stop(self) -> int:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"the agent did not stop on SIGTERM:\n{self.tail()}") \
                from None
        self._reader.join(5)
        return code


def _write_config(tmp_path: Path, ex: ExchangeProcess) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(**ex.info), encoding="utf-8")
    return config


def _login(config: Path, ex: ExchangeProcess) -> subprocess.CompletedProcess[str]:
    """``bot.py login`` as a person does it: open the printed link (the exchange's login
    page), paste the address it redirects to."""
    page = requests.get(ex.info["login_url"], params={"api_key": "simkey", "v": 3},
                        allow_redirects=False, timeout=10)
    assert page.status_code == 302, page.text
    landed = page.headers["Location"]
    assert "/connect/redirect?" in landed and "status=success" in landed
    return subprocess.run(
        [sys.executable, str(ROOT / "bot.py"), "login", "--config", str(config)],
        cwd=config.parent, env=_env(), input=landed + "\n", capture_output=True, text=True,
        timeout=60)


def _ours(kite: KiteConnect) -> list[dict[str, Any]]:
    return [o for o in kite.orders() if o.get("tag")]


def _protected_position(kite: KiteConnect) -> list[dict[str, Any]]:
    """Our entries filled and an exchange stop of ours resting: the agent holds a position."""
    orders = _ours(kite)
    filled = [o for o in orders if o["tag"].startswith("E") and o["status"] == "COMPLETE"]
    stops = [o for o in orders if o["tag"].startswith("S") and o["status"] in OPEN]
    return orders if filled and stops else []


def _no_duplicates(orders: list[dict[str, Any]]) -> None:
    twice = [tag for tag, n in Counter(o["tag"] for o in orders).items() if n > 1]
    assert not twice, f"orders placed twice under one tag: {twice}"
    resting = Counter(o["tradingsymbol"] for o in orders
                      if o["tag"].startswith("S") and o["status"] in OPEN)
    assert all(n == 1 for n in resting.values()), f"two stops for one position: {resting}"


def test_the_agent_follows_a_standalone_exchange_with_nothing_but_config(tmp_path) -> None:
    with ExchangeProcess("--date", START, "--speed", SPEED) as ex:
        config = _write_config(tmp_path, ex)
        login = _login(config, ex)
        assert login.returncode == 0, login.stdout + login.stderr
        assert re.search(r"Kite login as \S+: valid until 06:00 IST", login.stdout)
        session = json.loads((tmp_path / "data" / "session.json").read_text())
        # stamped with the exchange's time (a wall-clock stamp of another day would make
        # the agent that follows the exchange take the token for an expired one)
        assert session["issued_at"].startswith(f"{DAY}T09:")
        owner = ex.kite()  # the owner's own client, with the same API key

        # --- the first run: the exchange's clock, its session, its order book
        first = Agent(config)
        try:
            first.wait_for(rf"clock: exchange: following {re.escape(ex.rest_root)}, now "
                           rf"{DAY} 09:(0\d|1[0-3])")
            first.wait_for(rf"job session_start \({DAY} 09:14\)")
            started = first.wait_for(r"\[alert\] session started (\S+) (.*)")
            # the driver fired it at the exchange's 09:14, not a start-up catch-up later
            assert started.group(1).startswith("09:14:"), started.group(0)
            assert f"session {DAY} started: trading" in started.group(2)
            assert not re.search(r"catching up.*session_start", first.output())
            first.wait_for(r"\[alert\] feed up")
            held = _until(lambda: _protected_position(owner), 120,
                          "an entry of ours filled and its exchange stop resting")
            assert all(re.fullmatch(r"[ESX]\d{17}", o["tag"]) for o in held)  # day, epoch, seq

            # --- the owner's own orders, without our tag, while the agent runs: a sell
            # resting at the day's upper circuit (the highest price the exchange takes),
            # and a market buy that fills
            quote = owner.quote(["NSE:ADANIPORTS"])["NSE:ADANIPORTS"]
            resting = owner.place_order(
                variety="regular", exchange="NSE", tradingsymbol="ADANIPORTS",
                transaction_type="SELL", quantity=2, product="MIS", order_type="LIMIT",
                price=quote["upper_circuit_limit"])
            owner.place_order(variety="regular", exchange="NSE", tradingsymbol="CDSL",
                              transaction_type="BUY", quantity=3, product="MIS",
                              order_type="MARKET", market_protection=-1)
            placed = len(_ours(owner))
            _until(lambda: len(_ours(owner)) > placed, 120,
                   "the agent trading on after the owner's orders")
            assert first.alive(), first.tail()
        finally:
            code = first.stop()
        assert code == 0, first.tail()
        with DataDirLock(tmp_path / "data"):  # released on the way out
            pass
        before = _ours(owner)
        _no_duplicates(before)

        # --- a restart against the same exchange: restore, reconcile, no duplicate
        second = Agent(config)
        try:
            restored = second.wait_for(rf"restored the state of {DAY}: (\d+) open "
                                       r"position\(s\), (\d+) trade\(s\), (\d+) order\(s\)")
            assert int(restored.group(3)) >= len(before), restored.group(0)
            second.wait_for(r"agent running: mode live, feed kite")
            second.wait_for(r"session resumed: trading")
            _until(lambda: len(_ours(owner)) > len(before), 120,
                   "the restarted agent's next order")
            assert second.alive(), second.tail()
        finally:
            code = second.stop()
        assert code == 0, second.tail()

        after = _ours(owner)
        _no_duplicates(after)
        old = {o["order_id"]: o["tag"] for o in before}
        assert all(old.get(o["order_id"], o["tag"]) == o["tag"] for o in after)
        assert {o["tag"] for o in after} > {o["tag"] for o in before}
        foreign = next(o for o in owner.orders() if o["order_id"] == resting)
        assert foreign["status"] == "OPEN", "the agent left the owner's order alone"
        for run in (first, second):
            assert "Traceback" not in run.output(), run.output()[-4000:]
        assert "not opened by the agent" in second.output()  # seen, reported, left alone
