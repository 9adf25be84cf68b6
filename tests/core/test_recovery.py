"""Restart recovery: missed candles rebuilt from minute candles, through the strategy."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from kiteconnect import KiteConnect

from agent.recovery import MinuteBar, bars_from_kite, fill_gaps
from agent.sim import SimExchange
from agent.timeutil import IST
from tests.helpers import AAA, Feed, at, d, run


def _bar(hh: int, mm: int, o, h, low, c, v: int) -> MinuteBar:
    return MinuteBar(at(hh, mm), d(o), d(h), d(low), d(c), v)


def test_missed_candles_give_the_alert_and_the_bucket_in_progress() -> None:
    # docs/strategy.md's worked example, as minute candles: c0 09:15-09:20 (H 105, L 95, C 100,
    # V 100) and c1 09:20-09:25 (H 112, L 100, C 109, V 300); the agent starts at 09:26:30.
    bars = [_bar(9, 15, 100, 105, 95, 101, 60), _bar(9, 17, 101, 102, 99, 100, 40),
            _bar(9, 20, 101, 112, 100, 108, 100), _bar(9, 23, 108, 110, 104, 109, 200),
            _bar(9, 25, 110, 111, 109, 110, 10), _bar(9, 26, 110, 110.5, 109.5, 110, 5)]
    r = run()
    asked = []

    def fetch(token, start, end):
        asked.append((token, start, end))
        return bars

    now = at(9, 26, 30)
    assert fill_gaps(r.engine, fetch, lambda token: None, now) == {"NSE:AAA": 2}
    assert asked == [(AAA.token, at(9, 15), now)]
    state = r.state()
    assert state.buy_alert is not None and state.buy_alert.start == at(9, 20)
    assert state.vwap() == d("105.25")
    current = r.rt().series.current
    assert (current.start, current.high, current.low, current.volume) == (
        at(9, 25), d("111"), d("109"), 15)
    # the agent goes on from there: the next tick above upper(c1) = 112.60 enters
    f = Feed()
    r.feed(f.tick(at(9, 26, 40), "112.65"))
    assert r.quantity() == 50


def test_nothing_to_rebuild_when_the_state_is_current() -> None:
    r = run()
    f = Feed()
    r.feed(f.candle(at(9, 15), 100, 105, 95, 100, 100), f.tick(at(9, 20, 5), 101))
    end = r.rt().last_candle_end
    assert end == at(9, 20)
    called = []
    assert fill_gaps(r.engine, lambda *a: called.append(a) or [], lambda t: end,
                     at(9, 20, 30)) == {}
    assert called == []  # the engine has the bucket in progress: nothing is missing


def test_minute_candles_from_the_simulated_exchange() -> None:
    sim = SimExchange(start=datetime(2026, 11, 23, 10, 0, tzinfo=IST), speed=1).start()
    try:
        kite = KiteConnect(sim.api_key, root=sim.rest_root)
        kite.set_access_token(sim.new_access_token())
        token = sim.instruments[0].token
        start = at(9, 15, day=datetime(2026, 11, 23).date())
        bars = bars_from_kite(kite.historical_data(token, start, start + timedelta(minutes=30),
                                                   "minute"))
        assert [b.start for b in bars[:2]] == [start, start + timedelta(minutes=1)]
        assert all(isinstance(b.close, Decimal) and b.low <= b.close <= b.high for b in bars)
    finally:
        sim.stop()
