"""A generated whole session of 20 instruments where every exit reason occurs.

A daily-limit trip closes and halts everything, so ``daily_limit`` and ``end_of_data`` cannot
both happen on one day: the file holds two whole sessions. On the first, every other reason
occurs (``end_of_data`` for an instrument whose data stops at 14:00 with a position open,
closed when the next date begins); on the second the account reaches its daily target.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, time
from decimal import Decimal

import pytest

from agent.backtest import result_json, run_backtest
from agent.models import ExitReason
from agent.settings import (
    Defaults,
    GroupConfig,
    InstrumentConfig,
    RiskConfig,
    Settings,
    StrategyParams,
)
from agent.synthetic import PathShape, session_ticks, synthetic_instruments, write_csv

DAY1, DAY2 = date(2026, 11, 23), date(2026, 11, 25)
INS = synthetic_instruments(20)
GROUP = (INS[5].symbol, INS[6].symbol, INS[7].symbol)
LIMITED = (INS[3].symbol, INS[4].symbol)
EARLY = INS[19]  # its day-1 data ends at 14:00


def _settings() -> Settings:
    def entry(i: int) -> InstrumentConfig:
        over: dict = {}
        if i % 2 == 0:
            over["target_multiple"] = Decimal(2)
        if INS[i].symbol in LIMITED:
            over.update(loss_limit=Decimal(400), profit_target=Decimal(600))
        ins = INS[i]
        return InstrumentConfig(ins.symbol, ins.token, ins.tick_size, ins.lot_size,
                                overrides=over)

    return Settings(
        defaults=Defaults(params=StrategyParams()),
        instruments=tuple(entry(i) for i in range(20)),
        groups=(GroupConfig("g", GROUP, profit_target=Decimal(1500), loss_limit=Decimal(800)),),
        risk=RiskConfig(daily_profit_target=Decimal(150000)))


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    shape = PathShape(volatility=0.00012, trend=0.00004)
    ticks = [*session_ticks(INS, DAY1, seed=4, every_seconds=5, shape=shape,
                            ends={EARLY.token: time(14, 0)}),
             *session_ticks(INS, DAY2, seed=4, every_seconds=5, shape=shape)]
    path = tmp_path_factory.mktemp("session") / "ticks.csv.gz"
    write_csv(ticks, path)
    out = run_backtest(_settings(), path)
    assert out.bad_count == 0 and out.rows == len(ticks)
    return out


def test_every_exit_reason_occurs(result) -> None:
    reasons = Counter(t.exit_reason for t in result.trades)
    # cutoff is opening_range's time exit (tests/test_orb_days.py shows it in a backtest),
    # signal the kit's Close (tests/strategies/test_kit.py), strategy_changed a restart's
    # (tests/strategies/test_set_and_restore.py)
    expected = {r.value for r in ExitReason} - {
        ExitReason.MANUAL.value, ExitReason.CUTOFF.value, ExitReason.SIGNAL.value,
        ExitReason.STRATEGY_CHANGED.value}
    assert expected <= set(reasons), f"missing: {expected - set(reasons)}"
    assert len({t.symbol for t in result.trades}) == 20


def test_limit_exits_belong_to_their_scopes(result) -> None:
    for t in result.trades:
        if t.exit_reason == "instrument_limit":
            assert t.symbol in LIMITED
        if t.exit_reason == "group_limit":
            assert t.symbol in GROUP
    daily = [t for t in result.trades if t.exit_reason == "daily_limit"]
    assert {t.exit_time.date() for t in daily} == {DAY2}
    assert len({t.exit_time for t in daily}) == 1  # one trip, every position at once
    trip = daily[0].exit_time
    assert not [t for t in result.trades if t.entry_time > trip]  # all halted after it


def test_end_of_data_closes_at_the_day_roll_at_the_last_price(result) -> None:
    (eod,) = [t for t in result.trades if t.exit_reason == "end_of_data"]
    assert eod.symbol == EARLY.symbol and eod.exit_time.date() == DAY1
    # Stamped with the last accepted tick of the day's data, not the instrument's own.
    assert eod.exit_time.time() == time(15, 29, 55)
    early_day1 = [t for t in result.trades if t.symbol == EARLY.symbol
                  and t.entry_time.date() == DAY1]
    assert all(t.entry_time.time() <= time(14, 0) for t in early_day1)


def test_square_off_happens_at_or_after_1515_and_nothing_enters_after_cutoff(result) -> None:
    squares = [t for t in result.trades if t.exit_reason == "square_off"]
    assert squares and all(t.exit_time.time() >= time(15, 15) for t in squares)
    assert all(t.entry_time.time() < time(15, 0) for t in result.trades)


def test_json_contract(result) -> None:
    data = result_json(result)
    assert set(data) == {"trades", "summary"}
    keys = {"symbol", "instrument_token", "side", "quantity", "entry_time", "entry_price",
            "entry_reason", "exit_time", "exit_price", "exit_reason", "pnl", "charges",
            "net_pnl"}
    assert all(set(t) == keys for t in data["trades"])
    assert all(t["charges"] > 0 and Decimal(str(t["net_pnl"])) == Decimal(str(t["pnl"]))
               - Decimal(str(t["charges"])) for t in data["trades"])
    order = [(t["entry_time"], t["symbol"], t["exit_time"]) for t in data["trades"]]
    assert order == sorted(order)
    summary = data["summary"]
    assert summary["trades"] == len(data["trades"])
    assert sum(v["trades"] for v in summary["by_symbol"].values()) == summary["trades"]
    total = sum(Decimal(str(t["pnl"])) for t in data["trades"])
    assert Decimal(str(summary["realized_pnl"])) == total
    charges = sum(Decimal(str(t["charges"])) for t in data["trades"])
    assert Decimal(str(summary["charges"])) == charges
    assert Decimal(str(summary["net_pnl"])) == total - charges
