"""docs/strategy.md section 8: what an ignored tick must not touch, end of data, several days
in one tick file, and the order of the trade list."""

from __future__ import annotations

from datetime import timedelta

from agent.backtest import sorted_trades
from agent.models import Side, Tick, Trade
from tests.helpers import (
    AAA,
    BBB,
    DAY,
    DAY2,
    Feed,
    Sym,
    at,
    by_time,
    d,
    run,
    worked_candles,
    worked_long,
)

# ------------------------------------------------------------------ ignored ticks


def test_8_stale_tick_sets_no_price() -> None:
    # 09:29 is older than the current candle (09:30): at 90 it would hit the stop.
    r = run()
    f = Feed()
    r.feed(worked_long(f), f.tick(at(9, 31), 113), f.tick(at(9, 29), 90))
    assert r.quantity() == 50 and r.rt().last_price == d(113)
    r.end()
    assert (r.trades[0].exit_price, r.trades[0].exit_time) == (d(113), at(9, 31))


def test_8_out_of_session_tick_sets_no_time_and_no_price() -> None:
    r = run()
    f = Feed()
    r.feed(worked_long(f), f.tick(at(9, 40), 113), f.tick(at(15, 45), 50))
    assert r.quantity() == 50
    r.end()
    t = r.trades[0]
    assert (t.exit_reason, t.exit_price, t.exit_time) == ("end_of_data", d(113), at(9, 40))


def test_8_end_of_data_closes_each_instrument_at_its_last_price() -> None:
    r = run((AAA, BBB))
    fa, fb = Feed(1), Feed(2)
    r.feed(by_time(worked_long(fa), worked_long(fb)), fa.tick(at(9, 40), 113),
           fb.tick(at(9, 41), 114))
    r.end()
    got = sorted((t.symbol, t.exit_reason, t.exit_price, t.exit_time) for t in r.trades)
    assert got == [("NSE:AAA", "end_of_data", d(113), at(9, 41)),
                   ("NSE:BBB", "end_of_data", d(114), at(9, 41))]


def test_8_end_of_data_stamped_with_last_accepted_tick_time() -> None:
    # The entry tick is 09:26:30; the last accepted tick (09:26:10, same candle, file order)
    # is older. End of data stamps the exit with that last accepted tick's time.
    r = run()
    f = Feed()
    r.feed(worked_candles(f), f.tick(at(9, 25), "112.60"), f.tick(at(9, 26, 30), "112.65"),
           f.tick(at(9, 26, 10), 113))
    assert r.quantity() == 50
    r.end()
    t = r.trades[0]
    assert (t.exit_reason, t.exit_price, t.exit_time) == ("end_of_data", d(113), at(9, 26, 10))


# ------------------------------------------------------------------ several days


def test_8_several_days_in_one_file_reset_state() -> None:
    # Day 1 ends with a long open; the first accepted tick of day 2 closes it as at the end
    # of data (day 1's last price and time), and day 2 starts with no alerts.
    r = run()
    f = Feed()
    r.feed(worked_long(f), f.tick(at(9, 40), 113))
    f.new_day()
    r.feed(f.tick(at(9, 15, day=DAY2), 120))
    assert r.quantity() == 0 and r.position() is None
    t = r.trades[0]
    assert (t.exit_reason, t.exit_price, t.exit_time) == ("end_of_data", d(113), at(9, 40))
    s = r.state()
    assert s.buy_alert is None and s.sell_alert is None
    r.feed(f.tick(at(9, 15, 10, day=DAY2), 125))
    assert len(r.trades) == 1 and r.quantity() == 0, "no alert on day 2 yet: no entry"


def test_8_new_day_starts_at_its_first_accepted_tick_only() -> None:
    # A pre-open tick of day 2 neither ends day 1 nor sets a price.
    r = run()
    f = Feed()
    r.feed(worked_long(f), f.tick(at(9, 40), 113), f.tick(at(9, 10, day=DAY2), 130))
    assert r.quantity() == 50 and r.trades == []
    r.end()
    t = r.trades[0]
    assert (t.exit_price, t.exit_time) == (d(113), at(9, 40))


def test_8_new_day_resets_candles_and_vwap() -> None:
    # Day 2's first candle has close = TP (200): with day 1's candles still in the VWAP
    # (about 105) it would make a buy alert; reset, it makes none.
    r = run()
    f = Feed()
    r.feed(worked_candles(f), f.tick(at(9, 25), 110))
    assert r.state().buy_alert is not None
    f.new_day()
    r.feed(f.candle(at(9, 15, day=DAY2), 200, 205, 195, 200, 100),
           f.tick(at(9, 20, day=DAY2), 200))
    assert r.completed()[-1].start == at(9, 15, day=DAY2)
    assert r.state().buy_alert is None and r.state().sell_alert is None


def test_8_new_day_resets_volume_baseline() -> None:
    r = run()
    r.feed(Tick(1, d(100), at(9, 16), last_traded_quantity=1, volume_traded=5000))
    r.feed(Tick(1, d(100), at(9, 16, day=DAY2), last_traded_quantity=5, volume_traded=40),
           Tick(1, d(100), at(9, 16, 1, day=DAY2), last_traded_quantity=1, volume_traded=60))
    r.end()
    assert [c.volume for c in r.completed()] == [1, 25]


def test_8_new_day_resets_halts_trade_counts_and_day_pnl() -> None:
    # Day 1: the 99.50 tick marks -657.50 and trips AAA's loss limit (600): halted, and the
    # one trade of max_trades_per_day used. Day 2 trades again, and day 1's loss no longer
    # counts: at 105 (-382.50) the new long stays open.
    sym = Sym("NSE:AAA", 1, overrides={"loss_limit": d(600)})
    r = run((sym,), max_trades_per_day=1)
    f = Feed()
    r.feed(worked_long(f), f.tick(at(9, 25, 20), "99.50"))
    assert r.trades[0].exit_reason == "instrument_limit" and r.rt().halted
    f.new_day()
    r.feed(worked_long(f, DAY2))
    assert not r.rt().halted
    assert r.quantity() == 50 and r.position().entry_time == at(9, 25, 10, day=DAY2)
    r.feed(f.tick(at(9, 25, 20, day=DAY2), 105))
    assert r.quantity() == 50 and not r.rt().halted
    assert r.engine.pnl.books[1].realized == 0


def test_8_tick_of_an_earlier_date_after_day_roll_is_dropped() -> None:
    r = run()
    f = Feed()
    r.feed(f.tick(at(9, 16), 100), f.tick(at(9, 16, day=DAY2), 101),
           f.tick(at(9, 17), 300))
    assert r.rt().last_price == d(101) and r.rt().stale == 1


# ------------------------------------------------------------------ the trade list


def _trade(symbol: str, entry_s: int, exit_s: int) -> Trade:
    t0 = at(10, 0, day=DAY)
    return Trade(symbol, 1, Side.BUY, 1, t0 + timedelta(seconds=entry_s), d(1), "signal",
                 t0 + timedelta(seconds=exit_s), d(1), "stop", d(0))


def test_8_trade_list_ordered_by_entry_time_then_symbol_then_exit_time() -> None:
    trades = [_trade("NSE:BBB", 5, 9), _trade("NSE:AAA", 5, 50), _trade("NSE:AAA", 5, 20),
              _trade("NSE:CCC", 1, 99)]
    got = [(t.symbol, t.exit_time.second) for t in sorted_trades(trades)]
    assert got == [("NSE:CCC", 39), ("NSE:AAA", 20), ("NSE:AAA", 50), ("NSE:BBB", 9)]
