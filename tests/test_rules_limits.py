"""docs/strategy.md 5.1 and its fine points: instrument, group and account P&L limits, halts,
exit reasons, and what a flat instrument or a limit of 0 does."""

from __future__ import annotations

import pytest

from agent.events import AlertKind, SetLimit, SetParam, Unhalt
from agent.risk import Scope
from agent.settings import GroupConfig, RiskConfig
from tests.helpers import AAA, BBB, CCC, Feed, Run, Sym, at, by_time, d, run, worked_long

BUY_ENTRY = ("BUY", 50, "signal", d("112.65"), "COMPLETE")


def _aaa(**overrides) -> Sym:
    return Sym("NSE:AAA", 1, overrides={k: d(v) for k, v in overrides.items()})


def test_5_1_instrument_loss_limit_closes_and_halts() -> None:
    r = run((_aaa(loss_limit=500),))
    f = Feed()
    r.feed(worked_long(f), f.tick(at(9, 25, 20), "102.70"))  # -497.50
    assert r.quantity() == 50 and not r.rt().halted
    r.feed(f.tick(at(9, 25, 30), "102.65"))  # -500.00: reached (inclusive)
    assert r.order_rows() == [BUY_ENTRY,
                              ("SELL", 50, "instrument_limit", d("102.65"), "COMPLETE")]
    assert r.rt().halted
    assert any(n.kind is AlertKind.LIMIT_HIT for n in r.notes)
    r.feed(f.tick(at(9, 25, 40), "112.70"), f.tick(at(9, 40), 120))
    assert len(r.orders()) == 2, "halted for the rest of the day"


def test_8_rupee_limits_are_exact_decimals() -> None:
    r = run((_aaa(loss_limit="500.01"),))
    f = Feed()
    r.feed(worked_long(f), f.tick(at(9, 25, 20), "102.65"))  # -500.00 > -500.01
    assert r.quantity() == 50 and not r.rt().halted
    r.feed(f.tick(at(9, 25, 30), "102.60"))  # -502.50
    assert r.trades[0].exit_reason == "instrument_limit"


def test_5_1_instrument_profit_target_closes_and_halts() -> None:
    r = run((_aaa(profit_target=500),))
    f = Feed()
    r.feed(worked_long(f), f.tick(at(9, 25, 20), "122.60"))
    assert r.quantity() == 50
    r.feed(f.tick(at(9, 25, 30), "122.65"))  # +500.00
    assert r.order_rows()[-1] == ("SELL", 50, "instrument_limit", d("122.65"), "COMPLETE")
    assert r.rt().halted


def test_5_1_pnl_is_realized_plus_unrealized() -> None:
    # Stop: realized -657.50 (within 700). New long at 112.65 from the same alert; at
    # 111.80 unrealized -42.50 makes -700.00: the limit is reached.
    r = run((_aaa(loss_limit=700),), reverse_on_stop=False)
    f = Feed()
    r.feed(worked_long(f), f.tick(at(9, 25, 20), "99.50"), f.tick(at(9, 25, 30), "112.65"),
           f.tick(at(9, 25, 40), "111.85"))
    assert r.quantity() == 50 and not r.rt().halted
    r.feed(f.tick(at(9, 25, 50), "111.80"))
    assert r.order_rows()[-1] == ("SELL", 50, "instrument_limit", d("111.80"), "COMPLETE")
    assert r.rt().halted


def test_5_1_limits_are_checked_before_the_stop() -> None:
    # The stop tick (99.50) marks the long at -657.50 <= -600: step 1 closes it first
    # (instrument_limit) and, halted, there is no reverse.
    r = run((_aaa(loss_limit=600),))
    f = Feed()
    r.feed(worked_long(f), f.tick(at(9, 25, 20), "99.50"))
    assert r.order_rows() == [BUY_ENTRY,
                              ("SELL", 50, "instrument_limit", d("99.50"), "COMPLETE")]
    assert r.position() is None and r.quantity() == 0


def test_5_1_group_limit_closes_all_group_positions_and_halts() -> None:
    group = GroupConfig("banks", ("NSE:AAA", "NSE:BBB"), loss_limit=d(1000))
    r = run((AAA, BBB, CCC), groups=(group,))
    fa, fb, fc = Feed(1), Feed(2), Feed(3)
    r.feed(by_time(worked_long(fa), worked_long(fb), worked_long(fc)))
    assert [r.quantity(t) for t in (1, 2, 3)] == [50, 50, 50]
    r.feed(fa.tick(at(9, 26), 104))  # AAA -432.50
    assert r.quantity(1) == 50
    r.feed(fb.tick(at(9, 27), 101))  # BBB -582.50: group -1015.00
    trades = {t.symbol: t for t in r.trades}
    assert set(trades) == {"NSE:AAA", "NSE:BBB"}
    # AAA closes at its own last price, stamped with the time of BBB's tick.
    assert (trades["NSE:AAA"].exit_reason, trades["NSE:AAA"].exit_price,
            trades["NSE:AAA"].exit_time) == ("group_limit", d(104), at(9, 27))
    assert (trades["NSE:BBB"].exit_reason, trades["NSE:BBB"].exit_price,
            trades["NSE:BBB"].exit_time) == ("group_limit", d(101), at(9, 27))
    assert r.rt(1).halted and r.rt(2).halted
    assert r.quantity(3) == 50 and not r.rt(3).halted


def test_5_1_group_limit_halts_a_flat_member_too() -> None:
    group = GroupConfig("banks", ("NSE:AAA", "NSE:BBB"), loss_limit=d(500))
    r = run((AAA, BBB), groups=(group,))
    fa, fb = Feed(1), Feed(2)
    b_ticks = worked_long(fb)[:-1]  # BBB: alert c1, no entry yet
    r.feed(by_time(worked_long(fa), b_ticks))
    assert r.quantity(2) == 0 and r.state(2).buy_alert is not None
    r.feed(fa.tick(at(9, 26), "102.65"))  # AAA -500.00
    assert r.trades[0].exit_reason == "group_limit"
    assert r.rt(2).halted
    r.feed(fb.tick(at(9, 27), "112.65"))
    assert r.orders(2) == []


def test_5_1_daily_limit_closes_everything_and_halts_all() -> None:
    r = run((AAA, BBB, CCC), risk=RiskConfig(daily_loss_limit=d(600)))
    fa, fb, fc = Feed(1), Feed(2), Feed(3)
    r.feed(by_time(worked_long(fa), worked_long(fb), worked_long(fc)[:-1]))
    r.feed(fa.tick(at(9, 26), 104))  # -432.50
    r.feed(fb.tick(at(9, 27), "108.85"))  # -190.00: total -622.50
    assert sorted((t.symbol, t.exit_reason, t.exit_price) for t in r.trades) == [
        ("NSE:AAA", "daily_limit", d(104)), ("NSE:BBB", "daily_limit", d("108.85"))]
    assert all(r.rt(t).halted for t in (1, 2, 3))
    r.feed(fc.tick(at(9, 28), "112.65"))
    assert r.orders(3) == []


def test_5_1_daily_profit_target() -> None:
    r = run(risk=RiskConfig(daily_profit_target=d(300)))
    f = Feed()
    r.feed(worked_long(f), f.tick(at(9, 25, 20), "118.60"))  # +297.50
    assert r.quantity() == 50
    r.feed(f.tick(at(9, 25, 30), "118.65"))  # +300.00
    assert r.trades[0].exit_reason == "daily_limit" and r.rt().halted


def test_8_limit_exit_reason_most_specific() -> None:
    # One tick trips AAA's own limit, the group's and the account's: AAA instrument_limit,
    # BBB (group) group_limit, CCC (account only) daily_limit; all halted.
    group = GroupConfig("g", ("NSE:AAA", "NSE:BBB"), loss_limit=d(400))
    r = run((_aaa(loss_limit=400), BBB, CCC), groups=(group,),
            risk=RiskConfig(daily_loss_limit=d(400)))
    fa, fb, fc = Feed(1), Feed(2), Feed(3)
    r.feed(by_time(worked_long(fa), worked_long(fb), worked_long(fc)))
    r.feed(fa.tick(at(9, 26), 104))  # AAA -432.50; BBB and CCC at 0
    assert sorted((t.symbol, t.exit_reason) for t in r.trades) == [
        ("NSE:AAA", "instrument_limit"), ("NSE:BBB", "group_limit"), ("NSE:CCC", "daily_limit")]
    assert all(r.rt(t).halted for t in (1, 2, 3))


@pytest.mark.parametrize("where", ["instrument", "group", "daily"])
def test_8_limit_of_zero_means_none(where: str) -> None:
    sym = _aaa(loss_limit=0, profit_target=0) if where == "instrument" else AAA
    groups = (GroupConfig("g", ("NSE:AAA",), d(0), d(0)),) if where == "group" else ()
    risk = RiskConfig(d(0), d(0)) if where == "daily" else None
    r = run((sym,), groups=groups, risk=risk, reverse_on_stop=False)
    f = Feed()
    r.feed(worked_long(f), f.tick(at(9, 25, 20), "99.55"), f.tick(at(9, 25, 30), "99.50"),
           f.tick(at(9, 25, 40), "112.65"), f.tick(at(9, 25, 50), 300))
    assert [o.reason for o in r.orders()] == ["signal", "stop", "signal"]
    assert not r.rt().halted


def test_5_1_flat_instrument_never_trips() -> None:
    # Every scope has limits; AAA stays flat (P&L 0) through many ticks and is never halted;
    # it can still enter afterwards.
    group = GroupConfig("g", ("NSE:AAA",), profit_target=d(1), loss_limit=d(1))
    r = run((_aaa(profit_target=1, loss_limit=1),), groups=(group,),
            risk=RiskConfig(daily_profit_target=d(1), daily_loss_limit=d(1)))
    f = Feed()
    r.feed(worked_long(f)[:-1], [f.tick(at(9, 25, s), p) for s, p in
                                 ((5, 99), (10, 112), (15, "112.60"), (20, "99.45"))])
    assert not r.rt().halted and r.engine.risk.tripped == set()
    r.feed(f.tick(at(9, 25, 30), "112.65"))
    assert r.order_rows() == [BUY_ENTRY]


def test_8_limit_close_of_other_instrument_stamped_with_current_tick_time() -> None:
    # AAA enters at 09:26:30; then BBB's tick of 09:26:10 comes (file order; it is in BBB's
    # current candle, so it is processed normally) and trips the account limit: both
    # positions close stamped with the current tick's time, 09:26:10.
    r = run((AAA, BBB), risk=RiskConfig(daily_loss_limit=d(600)))
    fa, fb = Feed(1), Feed(2)
    a_ticks = [*worked_long(fa)[:-1], fa.tick(at(9, 26, 30), "112.65")]
    r.feed(by_time(a_ticks, worked_long(fb)))
    assert r.quantity(1) == 50 and r.quantity(2) == 50
    r.feed(fb.tick(at(9, 26, 10), "100.65"))  # BBB -600.00
    assert sorted((t.symbol, t.exit_reason, t.exit_price, t.exit_time) for t in r.trades) == [
        ("NSE:AAA", "daily_limit", d("112.65"), at(9, 26, 10)),
        ("NSE:BBB", "daily_limit", d("100.65"), at(9, 26, 10))]


# 9.7 /unhalt after a limit: the owner raises the limit (/set, /limits) and unhalts; the
# scope trips again at its new limit. AAA's own limit, its group's or the account's trips at
# -500.00 (the long closes at 102.65); the limit goes to 1000; AAA re-enters at 112.65 from
# the same alert; at 102.00 the scope is at -500.00 - 532.50 = -1,032.50.
SCOPES = ["instrument", "group", "daily"]


def _limit_run(where: str, limit: int) -> Run:
    if where == "instrument":
        return run((_aaa(loss_limit=limit), BBB), reverse_on_stop=False)
    if where == "group":
        return run((AAA, BBB), groups=(GroupConfig("g", ("NSE:AAA",), loss_limit=d(limit)),),
                   reverse_on_stop=False)
    return run((AAA, BBB), risk=RiskConfig(daily_loss_limit=d(limit)), reverse_on_stop=False)


def _set_loss_limit(r: Run, where: str, value: int) -> None:
    """/set loss_limit VALUE NSE:AAA, /limits g loss_limit VALUE or /limits daily ..."""
    cmd = (SetParam("loss_limit", d(value), "NSE:AAA") if where == "instrument"
           else SetLimit("g" if where == "group" else "daily", "loss_limit", d(value)))
    assert r.engine.handle(cmd).ok


def _trips(r: Run) -> list[str]:
    """The scopes of the LIMIT_HIT notices of trips (not of the orders they close)."""
    return [n.data["scope"] for n in r.notes
            if n.kind is AlertKind.LIMIT_HIT and "scope" in n.data]


def _tripped_at_500(where: str) -> tuple[Run, Feed]:
    r, f = _limit_run(where, 500), Feed()
    r.feed(worked_long(f), f.tick(at(9, 25, 20), "102.65"))
    assert r.order_rows() == [BUY_ENTRY, ("SELL", 50, f"{where}_limit", d("102.65"),
                                          "COMPLETE")]
    assert r.rt().halted and _trips(r) == [where]
    return r, f


@pytest.mark.parametrize("where", SCOPES)
def test_9_7_unhalt_after_raising_a_limit_rearms_the_scope(where: str) -> None:
    r, f = _tripped_at_500(where)
    _set_loss_limit(r, where, 1000)
    assert r.rt().halted, "raising a limit does not unhalt"
    assert r.engine.handle(Unhalt("NSE:AAA")).ok and not r.rt().halted
    r.feed(f.tick(at(9, 25, 30), "112.65"), f.tick(at(9, 25, 40), "102.70"))  # -997.50
    assert r.quantity() == 50 and not r.rt().halted
    r.feed(f.tick(at(9, 25, 50), "102.00"))  # -1,032.50
    assert r.order_rows()[2:] == [("BUY", 50, "signal", d("112.65"), "COMPLETE"),
                                  ("SELL", 50, f"{where}_limit", d("102.00"), "COMPLETE")]
    assert r.rt().halted and r.quantity() == 0
    assert _trips(r) == [where, where]
    r.feed(f.tick(at(9, 26), "112.70"))
    assert len(r.orders()) == 4, "halted again"


@pytest.mark.parametrize("where", SCOPES)
def test_9_7_unhalt_refused_while_the_scope_is_still_reached(where: str) -> None:
    r, f = _tripped_at_500(where)
    reply = r.engine.handle(Unhalt("NSE:AAA"))
    assert not reply.ok and "loss_limit is still reached (P&L -₹500.00)" in reply.text
    assert r.rt().halted
    r.feed(f.tick(at(9, 25, 30), "112.65"))
    assert len(r.orders()) == 2, "still halted: no entry"
    # Set again, but not above the scope's loss (-500.00 <= -500): still refused.
    _set_loss_limit(r, where, 500)
    assert not r.engine.handle(Unhalt("NSE:AAA")).ok and r.rt().halted
    r.feed(f.tick(at(9, 25, 40), "112.70"))
    assert len(r.orders()) == 2 and _trips(r) == [where]


@pytest.mark.parametrize("where", SCOPES)
def test_9_2_a_raised_limit_is_examined_again(where: str) -> None:
    # Raising the limit above the scope's P&L re-arms it; lowering it back to a reached
    # value trips it again at the next accepted tick (of any instrument).
    r, _ = _tripped_at_500(where)
    key = r.engine.risk.tripped.copy()
    assert key == {(Scope(where), "daily" if where == "daily" else
                    "g" if where == "group" else "NSE:AAA", "loss_limit")}
    _set_loss_limit(r, where, 1000)
    assert r.engine.risk.tripped == set()
    _set_loss_limit(r, where, 400)
    r.feed(Feed(2).tick(at(9, 25, 30), 100))
    assert _trips(r) == [where, where] and r.engine.risk.tripped == key
