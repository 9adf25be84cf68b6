"""Live and backtest decide the same (issue 17): ``bot.py run`` in ``mode: live`` against a
standalone simulated exchange (``bot.py exchange``: the real kiteconnect client, its REST
and its WebSocket, exchange stops), one instrument on each built-in strategy and one on the
example, recording the ticks it received (``record_ticks``). The recorded ticks then go
through ``bot.py backtest``'s engine with the same config: every entry the live agent made,
in order, per instrument (side and reason), and the reason of every trade it closed, are
the backtest's.

Prices differ (live fills at the exchange's price, a backtest at the tick's), so what is
compared is what the strategies decided. The run waits on the exchange's clock, never for a
fixed time.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import requests

from agent.backtest import run_backtest
from agent.config import load_settings
from storage.state import StateStore
from tests.e2e.test_follow_exchange import Agent, _login, _until
from tests.exchange_proc import ExchangeProcess

ROOT = Path(__file__).resolve().parents[2]
DAY = "2026-12-07"
UNTIL = "10:05"  # exchange time the agent trades until (about 50 s at 60x)

CONFIG = """\
mode: live
feed: kite
clock: exchange
data_dir: ./data
record_ticks: ./ticks
kite: {{root: "{rest_root}", ws_root: "{ws_root}", login_url: "{login_url}"}}
defaults: {{interval: 1, percentage: 0.05}}
instruments:
  - {{symbol: "NSE:ADANIPORTS"}}
  - {{symbol: "NSE:CDSL", strategy: opening_range, range_minutes: 5, buffer_pct: 0.02,
      stop_pct: 0.15}}
  - {{symbol: "NSE:ARMANFIN", strategy: "{example}", fast: 3, slow: 8, stop_pct: 0.15}}
"""


def _decisions(orders: list[dict[str, Any]], trades: list[dict[str, Any]]
               ) -> tuple[dict[str, list[tuple[str, str]]], dict[str, list[str]]]:
    """Per symbol: the entries (side, reason) in order, and the closed trades' reasons."""
    entries: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for o in sorted(orders, key=lambda o: o["tag"]):
        if o["purpose"] == "ENTRY":
            entries[o["symbol"]].append((o["side"], o["reason"]))
    closed: dict[str, list[str]] = defaultdict(list)
    for t in sorted(trades, key=lambda t: t["entry_tag"]):
        closed[t["symbol"]].append(t["exit_reason"])
    return dict(entries), dict(closed)


def test_live_and_backtest_of_the_recorded_ticks_decide_the_same(tmp_path) -> None:
    example = ROOT / "examples" / "strategies" / "ema_cross.py"
    with ExchangeProcess("--date", f"{DAY}T09:00", "--speed", "60",
                         "--rate-clock", "exchange") as ex:
        config = tmp_path / "config.yaml"
        config.write_text(CONFIG.format(**ex.info, example=f"{example}:EmaCross"),
                          encoding="utf-8")
        login = _login(config, ex)
        assert login.returncode == 0, login.stdout + login.stderr
        agent = Agent(config)
        try:
            agent.wait_for(r"\[alert\] feed up", timeout=90)
            _until(lambda: requests.get(f"{ex.rest_root}/sim/clock", timeout=5).json()
                   ["data"]["now"][11:16] >= UNTIL, 180, f"the exchange's {UNTIL}")
            assert agent.alive(), agent.tail()
        finally:
            code = agent.stop()
        assert code == 0, agent.tail()

    store = StateStore(tmp_path / "data" / "state.json")
    orders, trades = store.load_section("orders"), store.load_section("trades")
    live_entries, live_closed = _decisions(orders, trades)
    assert all(o["status"] != "REJECTED" for o in orders if o["purpose"] == "ENTRY")

    settings = load_settings(config, ROOT / "schedules.yaml",
                             env={"KITE_API_KEY": "simkey", "KITE_API_SECRET": "simsecret"})
    recorded = tmp_path / "ticks" / f"ticks-{DAY}.csv"
    result = run_backtest(settings, recorded)
    assert result.bad_count == 0 and result.accepted > 1000, result.rows
    from agent.serialize import order_to_dict, trade_to_dict

    back_entries, back_closed = _decisions([order_to_dict(o) for o in result.orders],
                                           [trade_to_dict(t) for t in result.trades])

    # every strategy traded live, and each decided exactly as in the backtest
    assert set(live_entries) == {"NSE:ADANIPORTS", "NSE:CDSL", "NSE:ARMANFIN"}, live_entries
    assert live_entries == back_entries
    for symbol, reasons in live_closed.items():  # the backtest also closes at end of data
        assert back_closed[symbol][:len(reasons)] == reasons, symbol
