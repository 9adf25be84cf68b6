"""docs/strategies.md, the opening range breakout: the worked example (ORB 11), a restart
within the day (ORB 10) and a synthetic backtest of several days (ORB 2 to 7 at scale)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from agent import snapshot
from agent.models import Side
from agent.strategy.base import round_down, round_up
from agent.synthetic import PathShape, session_ticks, synthetic_instruments
from agent.timeutil import IST
from tests.helpers import DAY, Feed, Run, Sym, at, d
from tests.orb_helpers import HIGH, LONG_TRIGGER, LOW, SHORT_TRIGGER, opening, orb_run, rows

# ------------------------------------------------------------------ ORB 11 worked example


def test_orb_11_worked_example() -> None:
    r = orb_run(target_multiple=1)
    f = Feed()
    r.feed(opening(f), f.tick(at(9, 30), "101.60"))
    s = r.state()
    assert (s.high, s.low, s.high - s.low) == (d("101.50"), d("99.20"), d("2.30"))
    assert (s.long_trigger, s.short_trigger) == (d("101.65"), d("99.10"))
    assert r.orders() == []
    r.feed(f.tick(at(9, 31), "101.65"))
    assert r.orders() == []
    r.feed(f.tick(at(9, 32), "101.70"))
    pos = r.position()
    assert (pos.side, pos.entry_price, pos.stop, pos.target) == (
        Side.BUY, d("101.70"), d("99.20"), d("104.00"))
    r.feed(f.tick(at(9, 40), "99.05"))
    assert r.position() is None and r.trades[0].pnl == d("-132.50")
    r.feed(f.tick(at(9, 41), "99.00"))
    pos = r.position()
    assert (pos.side, pos.entry_price, pos.stop, pos.target) == (
        Side.SELL, d("99.00"), d("101.50"), d("96.70"))
    r.feed(f.tick(at(11, 0), "96.70"), f.tick(at(12, 0), "98.00"), f.tick(at(13, 0), "101.70"))
    assert r.order_rows() == rows(("BUY", "signal", "101.70"), ("SELL", "stop", "99.05"),
                                  ("SELL", "signal", "99.00"), ("BUY", "target", "96.70"))
    assert [(t.exit_reason, t.pnl) for t in r.trades] == [("stop", d("-132.50")),
                                                          ("target", d("115.00"))]
    assert sum(t.pnl for t in r.trades) == d("-17.50")


def test_orb_11_worked_example_with_stop_pct_and_the_cutoff() -> None:
    r = orb_run(stop_pct=1)
    f = Feed()
    r.feed(opening(f), f.tick(at(9, 30), "101.60"), f.tick(at(9, 31), "101.65"),
           f.tick(at(9, 32), "101.70"))
    assert (r.position().stop, r.position().target) == (d("100.65"), None)
    r.feed(f.tick(at(9, 40), "99.05"), f.tick(at(9, 41), "99.00"))
    assert (r.position().stop, r.position().target) == (d("100.00"), None)
    r.feed(f.tick(at(11, 0), "96.70"), f.tick(at(15, 0), "98.50"))
    assert r.order_rows() == rows(("BUY", "signal", "101.70"), ("SELL", "stop", "99.05"),
                                  ("SELL", "signal", "99.00"), ("BUY", "cutoff", "98.50"))
    assert [(t.exit_reason, t.pnl) for t in r.trades] == [("stop", d("-132.50")),
                                                          ("cutoff", d("25.00"))]
    assert sum(t.pnl for t in r.trades) == d("-107.50")


# ------------------------------------------------------------------ ORB 10 restart


def _restarted(r: Run, **kw: object) -> Run:
    saved = json.loads(json.dumps(snapshot.take(r.engine, r.engine.now())))
    fresh = orb_run(**kw)  # type: ignore[arg-type]
    assert snapshot.restore(fresh.engine, saved, DAY)
    return fresh


def test_orb_10_restart_keeps_the_range_and_the_sides_used() -> None:
    r = orb_run()
    f = Feed()
    r.feed(opening(f), f.tick(at(9, 32), "101.70"), f.tick(at(9, 40), "99.20"))
    r2 = _restarted(r)
    s = r2.state()
    assert (s.high, s.low, s.complete, s.long_used, s.short_used) == (
        HIGH, LOW, True, True, False)
    assert (s.long_trigger, s.short_trigger, s.range_end, s.cutoff) == (
        None, SHORT_TRIGGER, at(9, 30), at(15, 0))  # the hours came from start_session
    r2.feed(f.tick(at(9, 50), "101.70"))
    assert r2.orders() == r.orders()  # no second long
    r2.feed(f.tick(at(9, 51), "99.05"))
    assert r2.order_rows()[-1] == ("SELL", 50, "signal", d("99.05"), "COMPLETE")


def test_orb_10_restart_inside_the_window_and_with_a_position() -> None:
    r = orb_run(target_multiple=1)
    f = Feed()
    r.feed(f.tick(at(9, 15), "100.00"), f.tick(at(9, 20), "101.50"))
    r2 = _restarted(r, target_multiple=1)
    r2.feed(f.tick(at(9, 25), "99.20"), f.tick(at(9, 30), "101.60"))
    s = r2.state()
    assert (s.high, s.low, s.long_trigger) == (HIGH, LOW, LONG_TRIGGER)
    r2.feed(f.tick(at(9, 32), "101.70"))
    r3 = _restarted(r2, target_multiple=1)
    pos = r3.position()
    assert (pos.side, pos.entry_price, pos.stop, pos.target, pos.entry_time) == (
        Side.BUY, d("101.70"), LOW, d("104.00"), at(9, 32))
    assert r3.quantity() == 50 and r3.state().long_used
    r3.feed(f.tick(at(9, 50), "104.00"))
    assert r3.order_rows()[-1] == ("SELL", 50, "target", d("104.00"), "COMPLETE")


def test_orb_10_restore_is_tolerant_of_missing_keys() -> None:
    r = orb_run(target_multiple=2)
    f = Feed()
    r.feed(opening(f), f.tick(at(9, 32), "101.70"))
    strategy, s = r.rt().strategy, r.state()
    saved = strategy.to_dict(s)
    assert strategy.version(s) == strategy.version(s)
    before = strategy.version(s)
    strategy.restore(s, {})
    assert (s.high, s.complete, s.long_used, s.position, s.minutes) == (
        None, False, False, None, 15)
    assert strategy.version(s) != before
    del saved["position"]["reach"]  # an older save: today's m x the range height
    strategy.restore(s, saved)
    assert (s.position.target, s.long_trigger, s.short_trigger) == (
        d("106.30"), None, SHORT_TRIGGER)
    assert strategy.to_dict(s)["position"]["reach"] == "4.60"


# ------------------------------------------------------------------ a synthetic backtest

DAYS = (date(2024, 1, 15), date(2024, 1, 16), date(2024, 1, 17))


def _window_range(ticks: list, token: int, day: date) -> tuple[Decimal, Decimal]:
    opens = datetime.combine(day, time(9, 15), tzinfo=IST)
    inside = [t.last_price for t in ticks if t.instrument_token == token
              and opens <= t.timestamp < opens + timedelta(minutes=15)]
    return max(inside), min(inside)


def test_orb_backtest_trades_each_side_at_most_once_a_day() -> None:
    instruments = synthetic_instruments(6)
    syms = tuple(Sym(i.symbol, i.token, str(i.tick_size), i.lot_size) for i in instruments)
    shape = PathShape(volatility=0.0003, trend=0.0001)
    ticks = [t for day in DAYS for t in session_ticks(instruments, day, seed=1,
                                                      every_seconds=10, shape=shape)]
    r = orb_run(syms, target_multiple=2)
    r.feed(ticks).end()
    trades = r.trades
    per_side = Counter((t.symbol, t.entry_time.date(), t.side) for t in trades)
    assert max(per_side.values()) == 1, "never twice per side per day"
    assert {Side.BUY, Side.SELL} <= {t.side for t in trades}
    assert {t.exit_reason for t in trades} == {"stop", "target", "cutoff"}
    tokens = {i.symbol: i.token for i in instruments}
    for t in trades:  # every entry strictly beyond its trigger, every stop at the range
        day = t.entry_time.date()
        hi, lo = _window_range(ticks, tokens[t.symbol], day)
        assert time(9, 30) <= t.entry_time.time() < time(15, 0)
        if t.side is Side.BUY:
            assert t.entry_price > round_up(hi * Decimal("1.001"), Decimal("0.05"))
            assert t.exit_reason != "stop" or t.exit_price <= lo
        else:
            assert t.entry_price < round_down(lo * Decimal("0.999"), Decimal("0.05"))
            assert t.exit_reason != "stop" or t.exit_price >= hi
        if t.exit_reason == "cutoff":
            assert t.exit_time.time() >= time(15, 0)
