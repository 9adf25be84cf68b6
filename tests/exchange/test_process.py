"""``python bot.py exchange`` on its own: the JSON line, the login page, the clock, the
control routes, bad options, and SIGTERM."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from kiteconnect import exceptions as kex

from agent.timeutil import IST
from tests.exchange_proc import ROOT, ExchangeProcess


def test_it_runs_alone_prints_its_roots_and_stops_cleanly(tmp_path: Path) -> None:
    info = tmp_path / "exchange.json"
    ex = ExchangeProcess("--speed", "60", "--date", "2026-12-07T15:10", "--seed", "3",
                         "--info", str(info)).start()
    try:
        assert json.loads(info.read_text()) == ex.info
        assert ex.info["rest_root"].startswith("http://127.0.0.1:")
        assert ex.info["ws_root"] == ex.info["rest_root"].replace("http", "ws") + "/ws"
        assert ex.info["clock_start"] == "2026-12-07T15:10:00+05:30" and ex.info["speed"] == 60
        clock = ex.clock()
        now = datetime.fromisoformat(clock["now"])
        assert clock["speed"] == 60 and now >= datetime(2026, 12, 7, 15, 10, tzinfo=IST)
        kite = ex.kite()  # through the login page's redirect, as a person would
        assert kite.profile()["user_id"]
        second = ex.kite()  # a second agent on the same exchange
        assert second.access_token != kite.access_token and second.orders() == []
    finally:
        assert ex.stop() == 0


def test_faults_switch_from_outside_and_bad_ones_are_named() -> None:
    with ExchangeProcess("--speed", "1", "--date", "2026-12-07T10:00",
                         "--faults", '{"rate_limit_burst": {"n": 1}}') as ex:
        kite = ex.kite()
        floor = kite.quote("NSE:ADANIPORTS")["NSE:ADANIPORTS"]["lower_circuit_limit"]
        order = {"variety": "regular", "exchange": "NSE", "tradingsymbol": "ADANIPORTS",
                 "transaction_type": "BUY", "quantity": 1, "product": "MIS",
                 "order_type": "LIMIT", "price": floor}  # rests: the band's lowest price
        with pytest.raises(kex.NetworkException, match="Too many requests"):
            kite.place_order(**order)  # the fault given at start
        assert kite.place_order(**order)
        ex.faults(server_errors={"n": 1, "code": 502})
        with pytest.raises(kex.NetworkException, match="Bad gateway"):
            kite.profile()
        assert kite.profile()["user_id"]
        ex.faults(expire_tokens=True)
        with pytest.raises(kex.TokenException):
            kite.profile()
        with pytest.raises(ValueError, match="unknown fault 'bogus'"):
            ex.faults(bogus=True)
        with pytest.raises(ValueError, match="server_errors: expected true or an object"):
            ex.faults(server_errors={"count": 2})
        assert "partial_fills" not in ex.realism(disable=["partial_fills"])
        with pytest.raises(ValueError, match="unknown realism rule"):
            ex.realism(disable=["kindness"])


@pytest.mark.parametrize(("args", "says"), [
    (["--speed", "0"], "--speed: expected a number above 0"),
    (["--date", "07-12-2026"], "--date: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM"),
    (["--realism-off", "kindness"], "--realism-off: unknown rule(s) kindness"),
    (["--faults", '{"bogus": true}'], "unknown fault 'bogus'"),
    (["--allowed-ips", "not-an-ip"], "does not appear to be an IPv4 or IPv6 address"),
])
def test_bad_options_exit_1_naming_them(args: list[str], says: str) -> None:
    done = subprocess.run([sys.executable, "bot.py", "exchange", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and says in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
