"""docs/strategy.md section 4: VWAP, sticky alerts per allowed side, trailing stops; and the
trade_side rules (section 1 and the end of section 5)."""

from __future__ import annotations

from agent.events import SetTradeSide
from agent.models import Side, Tick, TradeSide
from tests.helpers import (
    Feed,
    at,
    d,
    run,
    sell_candles,
    sell_short,
    worked_candles,
    worked_long,
)


def _alerts(r) -> tuple:
    s = r.state()
    return (None if s.buy_alert is None else s.buy_alert.start,
            None if s.sell_alert is None else s.sell_alert.start)


# ------------------------------------------------------------------ 4.1 VWAP


def test_4_1_vwap_includes_the_completed_candle() -> None:
    # c1 H 130 L 104 C 105 V 300: VWAP with c1 = (100 x 100 + 113 x 300) / 400 = 109.75
    # and 105 < 109.75: a sell alert. Without c1 it would be 100, and 105 > 100.
    r = run()
    f = Feed()
    r.feed(f.candle(at(9, 15), 100, 105, 95, 100, 100),
           f.candle(at(9, 20), 106, 130, 104, 105, 300), f.tick(at(9, 25), 105))
    assert _alerts(r) == (None, at(9, 20))


def test_4_1_vwap_is_weighted_by_volume() -> None:
    # c0 TP 100 V 300; c1 H 106 L 100 C 101 (TP 102.33) V 100: VWAP 100.58 < 101: buy alert.
    # An unweighted mean (101.17) would give a sell alert.
    r = run()
    f = Feed()
    r.feed(f.candle(at(9, 15), 100, 105, 95, 100, 300),
           f.candle(at(9, 20), 101, 106, 100, 101, 100), f.tick(at(9, 25), 101))
    assert _alerts(r) == (at(9, 20), None)


def test_8_zero_volume_vwap_is_mean_of_typical_price() -> None:
    # No volume anywhere (an index): c0 TP 90, c1 TP 101; mean 95.5 < close 101: buy alert.
    # (c1's own TP equals its close, so "no VWAP" or "last TP" would give no alert.)
    r = run()
    ticks = [Tick(1, d(p), t) for p, t in (
        (90, at(9, 15)), (95, at(9, 16)), (85, at(9, 17)), (90, at(9, 18)),
        (100, at(9, 20)), (104, at(9, 21)), (98, at(9, 22)), (101, at(9, 23)),
        (101, at(9, 25)))]
    r.feed(ticks)
    assert [c.volume for c in r.completed()] == [0, 0]
    assert _alerts(r) == (at(9, 20), None)


def test_8_comparisons_exact_close_equal_to_vwap_gives_no_alert() -> None:
    # H 100.15, L 99.95, C 100.05: TP = 100.05 exactly (in floats 100.05000000000001, which
    # would put the close below VWAP and set a sell alert).
    r = run()
    f = Feed()
    r.feed(f.candle(at(9, 15), "100.05", "100.15", "99.95", "100.05", 100),
           f.tick(at(9, 20), "100.05"))
    assert len(r.completed()) == 1
    assert _alerts(r) == (None, None)


# ------------------------------------------------------------------ 4.2 alerts


def test_4_2_no_alert_when_close_equals_vwap() -> None:
    r = run()
    f = Feed()
    r.feed(f.candle(at(9, 15), 100, 105, 95, 100, 100), f.tick(at(9, 20), 101))
    assert _alerts(r) == (None, None)


def test_4_2_buy_alert_set_when_close_above_vwap() -> None:
    r = run()
    f = Feed()
    r.feed(worked_candles(f), f.tick(at(9, 25), 110))
    assert _alerts(r) == (at(9, 20), None)


def test_4_2_buy_alert_is_sticky() -> None:
    # c2 closes above VWAP as well: the first qualifying candle (c1) stays the alert.
    r = run()
    f = Feed()
    r.feed(worked_candles(f), f.candle(at(9, 25), 110, 111, 109, 111, 100),
           f.tick(at(9, 30), 111))
    assert len(r.completed()) == 3
    assert _alerts(r) == (at(9, 20), None)


def test_4_2_buy_alert_cleared_when_close_below_vwap() -> None:
    # c2 H 105 L 100 C 101 V 300: VWAP 103.86 > 101: buy alert cleared, sell alert c2.
    r = run()
    f = Feed()
    r.feed(worked_candles(f), f.candle(at(9, 25), 104, 105, 100, 101, 300),
           f.tick(at(9, 30), 101))
    assert _alerts(r) == (None, at(9, 25))


def test_4_2_sell_alert_set_when_close_below_vwap() -> None:
    r = run()
    f = Feed()
    r.feed(sell_candles(f), f.tick(at(9, 25), 91))
    assert _alerts(r) == (None, at(9, 20))


def test_4_2_sell_alert_is_sticky() -> None:
    r = run()
    f = Feed()
    r.feed(sell_candles(f), f.candle(at(9, 25), 92, 93, 90, 90, 100), f.tick(at(9, 30), 90))
    assert _alerts(r) == (None, at(9, 20))


def test_4_2_sell_alert_cleared_when_close_above_vwap() -> None:
    # c2 H 100 L 95 C 99 V 300: VWAP 96.14 < 99: sell cleared, buy alert c2.
    r = run()
    f = Feed()
    r.feed(sell_candles(f), f.candle(at(9, 25), 96, 100, 95, 99, 300), f.tick(at(9, 30), 99))
    assert _alerts(r) == (at(9, 25), None)


def test_4_2_alert_after_a_clear_is_a_later_candle() -> None:
    r = run()
    f = Feed()
    r.feed(worked_candles(f), f.candle(at(9, 25), 104, 105, 100, 101, 300),  # clears c1
           f.candle(at(9, 30), 104, 110, 104, 110, 500), f.tick(at(9, 35), 110))
    assert _alerts(r) == (at(9, 30), None)


def test_1_trade_side_buy_makes_no_sell_alerts_and_no_shorts() -> None:
    r = run(trade_side=TradeSide.BUY)
    f = Feed()
    r.feed(sell_candles(f), f.tick(at(9, 25), 91), f.tick(at(9, 25, 10), "87.50"),
           f.tick(at(9, 25, 20), 80))
    assert _alerts(r) == (None, None)
    assert r.orders() == []


def test_1_trade_side_sell_makes_no_buy_alerts_and_no_longs() -> None:
    r = run(trade_side=TradeSide.SELL)
    f = Feed()
    r.feed(worked_candles(f), f.tick(at(9, 25), 110), f.tick(at(9, 25, 10), 113),
           f.tick(at(9, 25, 20), 120))
    assert _alerts(r) == (None, None)
    assert r.orders() == []


def test_1_trade_side_buy_still_clears_its_buy_alert() -> None:
    r = run(trade_side=TradeSide.BUY)
    f = Feed()
    r.feed(worked_candles(f), f.candle(at(9, 25), 104, 105, 100, 101, 300),
           f.tick(at(9, 30), 101))
    assert _alerts(r) == (None, None)


def test_5_trade_side_change_clears_alerts_of_sides_no_longer_allowed() -> None:
    r = run()
    f = Feed()
    r.feed(worked_candles(f), f.tick(at(9, 25), 110))
    assert _alerts(r) == (at(9, 20), None)
    reply = r.engine.handle(SetTradeSide(TradeSide.SELL, "NSE:AAA"))
    assert reply.ok
    assert _alerts(r) == (None, None)
    r.engine.handle(SetTradeSide(TradeSide.BOTH, "NSE:AAA"))
    r.feed(f.tick(at(9, 25, 10), "112.65"), f.tick(at(9, 25, 20), 113))
    assert _alerts(r) == (None, None), "a cleared alert does not come back"
    assert r.orders() == []


def test_5_trade_side_change_keeps_alert_of_a_side_still_allowed() -> None:
    r = run()
    f = Feed()
    r.feed(worked_candles(f), f.tick(at(9, 25), 110))
    r.engine.handle(SetTradeSide(TradeSide.BUY, "NSE:AAA"))
    r.feed(f.tick(at(9, 25, 10), "112.65"))
    assert r.order_rows() == [("BUY", 50, "signal", d("112.65"), "COMPLETE")]


def test_5_trade_side_change_open_position_still_managed_to_its_exit() -> None:
    r = run()
    f = Feed()
    r.feed(worked_long(f))
    r.engine.handle(SetTradeSide(TradeSide.SELL, "NSE:AAA"))
    pos = r.position()
    assert pos is not None and pos.side is Side.BUY and pos.stop == d("99.50")
    r.feed(f.tick(at(9, 25, 20), "99.50"))
    # Stop exit; no reverse (trade_side is no longer BOTH).
    assert r.order_rows() == [("BUY", 50, "signal", d("112.65"), "COMPLETE"),
                              ("SELL", 50, "stop", d("99.50"), "COMPLETE")]
    assert r.position() is None and r.quantity() == 0


# ------------------------------------------------------------------ 4.3 trailing


def _long_then_c2(f: Feed) -> list:
    """Long at 112.65 (09:25:10); c2 (09:25, contains the entry) O 112.60 H 118 L 112.60
    C 117; the 09:30 tick (116) completes c2: lower(c2) = down(112.037) = 112.00."""
    return [*worked_long(f), f.tick(at(9, 25, 20), 118), f.tick(at(9, 25, 30), 117),
            f.tick(at(9, 30), 116)]


def test_4_3_trailing_long_raises_stop_to_lower_of_completed_candle() -> None:
    r = run()
    f = Feed()
    r.feed(worked_long(f))
    assert r.position().stop == d("99.50")
    r.feed(_long_then_c2(f)[-3:])
    assert r.position().stop == d("112.00")


def test_4_3_trailing_only_tightens() -> None:
    r = run()
    f = Feed()
    r.feed(_long_then_c2(f))
    # c3 L 112.50: lower = down(111.9375) = 111.90 < 112.00: the stop stays.
    r.feed(f.tick(at(9, 30, 10), "112.50"), f.tick(at(9, 30, 20), 114), f.tick(at(9, 35), 114))
    assert r.position().stop == d("112.00")
    # c4 L 114: lower = down(113.43) = 113.40: tightens again.
    r.feed(f.tick(at(9, 35, 10), 121), f.tick(at(9, 40), 120))
    assert r.position().stop == d("113.40")


def test_4_3_trailing_short_lowers_stop_to_upper_of_completed_candle() -> None:
    # Short 87.50 (09:25:10), stop 100.50; c2 H 87.60: upper = up(88.038) = 88.05.
    r = run()
    f = Feed()
    r.feed(sell_short(f), f.tick(at(9, 25, 20), 85), f.tick(at(9, 25, 30), 86))
    assert r.position().stop == d("100.50")
    r.feed(f.tick(at(9, 30), 86))
    assert r.position().stop == d("88.05")
    # c3 H 87.90 -> up(88.3395) = 88.35 > 88.05: a short's stop only moves down.
    r.feed(f.tick(at(9, 30, 10), "87.90"), f.tick(at(9, 35), 86))
    assert r.position().stop == d("88.05")


def test_4_3_no_trailing_when_trailing_off() -> None:
    r = run(trailing=False)
    f = Feed()
    r.feed(_long_then_c2(f), f.tick(at(9, 35), 120), f.tick(at(9, 40), 121))
    assert r.position().stop == d("99.50")


def test_8_candle_completed_on_entry_tick_does_not_trail() -> None:
    # c2 (09:25) O 110 H 112 L 110 C 112 keeps alert c1 (sticky) and would trail to
    # down(110 x 0.995) = 109.45; the entry tick (09:30:00, 112.65) completes it: no trail.
    r = run()
    f = Feed()
    r.feed(worked_candles(f), f.candle(at(9, 25), 110, 112, 110, 112, 100),
           f.tick(at(9, 30), "112.65"))
    pos = r.position()
    assert pos is not None and pos.entry_time == at(9, 30)
    assert pos.stop == d("99.50")
    # The candle that contains the entry tick does trail: c3 L 112.65 -> 112.05.
    r.feed(f.tick(at(9, 30, 10), 113), f.tick(at(9, 30, 20), "112.70"), f.tick(at(9, 35), 113))
    assert r.position().stop == d("112.05")
