"""``clock: wall | exchange``: the config key, reading a standalone exchange's clock
(``agent.clock.exchange_clock``), the agent taking it, and the error at the command line
when the exchange does not answer or answers nonsense (issue 11)."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.calendar import load_schedule
from agent.clock import ExchangeClockError, LiveClock, ScaledClock, exchange_clock
from agent.config import ConfigError, config_summary, load_settings_from_dict
from agent.settings import ClockKind
from agent.sim import SimExchange
from agent.timeutil import IST
from handlers.runtime import AgentProcess, RuntimeOptions
from storage.lock import DataDirLock

ROOT = Path(__file__).resolve().parent.parent
SCHEDULE = load_schedule(ROOT / "schedules.yaml")
INSTRUMENTS = [{"symbol": "NSE:ADANIPORTS", "token": 3861249, "tick_size": 0.05,
                "lot_size": 1}]
START = datetime(2026, 12, 7, 10, 0, tzinfo=IST)


def settings(**extra: Any):
    return load_settings_from_dict({"instruments": INSTRUMENTS, **extra}, SCHEDULE, {})


def problems(**extra: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        settings(**extra)
    return caught.value.problems


@pytest.fixture(scope="module")
def sim():
    exchange = SimExchange(start=START, speed=60).start()
    yield exchange
    exchange.stop()


def dead_root() -> str:
    """A loopback address where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# ---------------------------------------------------------------- the config key


def test_clock_is_wall_by_default_and_exchange_when_asked_in_any_case() -> None:
    assert settings().clock is ClockKind.WALL
    assert settings(clock="WALL").clock is ClockKind.WALL
    followed = settings(clock="Exchange", kite={"root": "http://127.0.0.1:5000"})
    assert followed.clock is ClockKind.EXCHANGE
    assert "feed kite, clock exchange;" in config_summary(followed)


@pytest.mark.parametrize("value", ["exchnage", 1, True, None, ["wall"]])
def test_a_bad_clock_is_named_with_the_choices(value: Any) -> None:
    [problem] = problems(clock=value)
    assert problem.startswith("clock: expected one of wall, exchange, got ")


def test_clock_exchange_with_the_in_process_simulator_is_an_error() -> None:
    [problem] = problems(clock="exchange", feed="sim")
    assert problem.startswith("clock: exchange follows a standalone exchange")
    assert "feed: sim already runs on its simulator's clock" in problem


def test_clock_exchange_needs_kite_root_on_the_exchange_not_kite() -> None:
    [problem] = problems(clock="exchange")
    assert "clock: exchange needs kite.root on the simulated exchange" in problem
    assert "https://api.kite.trade has no clock to follow" in problem


# ---------------------------------------------------------------- reading the clock


def test_exchange_clock_runs_at_the_exchange_time_and_speed(sim) -> None:
    clock = exchange_clock(sim.rest_root)
    assert isinstance(clock, ScaledClock) and clock.speed == 60
    # the two clocks agree to well within a second of exchange time (ms of wall time)
    assert abs(clock.now() - sim.clock.now()) < timedelta(seconds=2)
    assert clock.now().tzinfo is not None and clock.now().date() == START.date()
    assert clock.rate_scale == 1.0  # Kite's rate windows count real seconds


def test_an_exchange_counting_its_own_seconds_scales_the_agents_rate_windows() -> None:
    """``--rate-clock exchange``: the exchange's windows count its own seconds, and the
    agent's, following its clock, shrink alike (10 a second of exchange time = 10 per
    0.01 s of wall time at speed 100); on real seconds nothing changes."""
    from agent.adapters.kite_broker import KiteBroker

    own = SimExchange(start=START, speed=100, rate_clock="exchange").start()
    try:
        clock = exchange_clock(own.rest_root)
        assert clock.speed == 100 and clock.rate_scale == 100
        broker = KiteBroker(object(), lambda token: None, lambda item: None, clock=clock)
        try:
            assert broker.order_rate.limits == ((10, 0.01), (400, 0.6))
        finally:
            broker.close()
    finally:
        own.stop()
    with pytest.raises(ValueError, match="rate_clock: expected wall or exchange"):
        SimExchange(start=START, speed=100, rate_clock="market")


class Answer:
    def __init__(self, status: int, body: Any) -> None:
        self.status_code, self._body = status, body

    def json(self) -> Any:
        if isinstance(self._body, Exception):
            raise self._body
        return self._body


@pytest.mark.parametrize("answer, said", [
    (Answer(200, ValueError("no JSON")), "answered something that is not JSON"),
    (Answer(404, {"status": "error"}), "answered HTTP 404"),
    (Answer(200, {"status": "error", "message": "no"}), "not the exchange's clock"),
    (Answer(200, {"status": "success", "data": []}), "not the exchange's clock"),
    (Answer(200, {"status": "success", "data": {"now": "soon", "speed": 60}}),
     "not the exchange's clock"),
    (Answer(200, {"status": "success", "data": {"now": START.isoformat(), "speed": 0}}),
     "not the exchange's clock"),
    (Answer(200, {"status": "success", "data": {"now": START.isoformat(), "speed": "60"}}),
     "not the exchange's clock"),
    (Answer(200, {"status": "success", "data": {"now": START.isoformat()}}),
     "not the exchange's clock"),
])
def test_nonsense_from_the_clock_url_is_an_error_naming_it(answer: Answer, said: str) -> None:
    with pytest.raises(ExchangeClockError) as caught:
        exchange_clock("http://exchange.test:9/", get=lambda url, timeout: answer)
    message = str(caught.value)
    assert message.startswith("clock: exchange: http://exchange.test:9/sim/clock ")
    assert said in message and "bot.py exchange" in message


def test_an_exchange_that_does_not_answer_is_an_error_naming_the_url() -> None:
    root = dead_root()
    with pytest.raises(ExchangeClockError, match=rf"{root}/sim/clock does not answer "
                       r"\(ConnectionError\): start `python bot.py exchange`"):
        exchange_clock(root, timeout=2)


def test_a_root_that_is_not_the_exchange_is_an_error(sim) -> None:
    with pytest.raises(ExchangeClockError, match=r"/elsewhere/sim/clock answered HTTP 404"):
        exchange_clock(sim.rest_root + "/elsewhere")


# ---------------------------------------------------------------- the agent takes it


def test_the_agent_opens_on_the_exchange_clock(sim, tmp_path) -> None:
    s = settings(clock="exchange", data_dir=str(tmp_path),
                 kite={"root": sim.rest_root, "ws_root": sim.ws_root,
                       "login_url": sim.login_url})
    proc = AgentProcess(s, options=RuntimeOptions(stdin=io.StringIO(), stdout=io.StringIO()))
    try:
        proc.open()
        assert isinstance(proc.clock, ScaledClock) and proc.clock.speed == 60
        assert abs(proc.clock.now() - sim.clock.now()) < timedelta(seconds=2)
        assert proc.engine.clock is proc.clock and proc.day.clock is proc.clock
        # A person's waits (a confirmation button's minute) stay on the wall's time.
        people = proc.chat.center.confirmations.clock
        assert isinstance(people, LiveClock) and proc.chat.center.people is people
    finally:
        proc.close()


def _run(command: str, config: Path, root: str) -> subprocess.CompletedProcess[str]:
    config.write_text(f'mode: paper\nfeed: kite\nclock: exchange\ndata_dir: ./data\n'
                      f'kite: {{root: "{root}"}}\n'
                      'instruments: [{symbol: "NSE:ADANIPORTS", token: 3861249, '
                      'tick_size: 0.05, lot_size: 1}]\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items()
           if k not in ("TELEGRAM_BOT_TOKEN", "KITE_ACCESS_TOKEN", "KITE_PROXY")}
    env.update(KITE_API_KEY="simkey", KITE_API_SECRET="simsecret")
    return subprocess.run([sys.executable, str(ROOT / "bot.py"), command, "--config",
                           str(config)], cwd=config.parent, env=env, input="",
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("command", ["run", "login"])
def test_run_and_login_without_the_exchange_exit_1_naming_the_url(command: str,
                                                                  tmp_path) -> None:
    root = dead_root()
    done = _run(command, tmp_path / "config.yaml", root)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"error: clock: exchange: {root}/sim/clock does not answer" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    with DataDirLock(tmp_path / "data"):  # nothing holds the lock
        pass


def test_run_against_something_else_exits_1_naming_the_url(sim, tmp_path) -> None:
    done = _run("run", tmp_path / "config.yaml", sim.rest_root + "/elsewhere")
    assert done.returncode == 1, done.stdout + done.stderr
    assert (f"error: clock: exchange: {sim.rest_root}/elsewhere/sim/clock answered HTTP 404"
            in done.stderr)
    assert "Traceback" not in done.stdout + done.stderr
