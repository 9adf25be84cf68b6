"""docs/strategy.md 5.2 (stop, stop-and-reverse), 5.3 (target), 5.5 (square-off, end of data)
and section 6 (fills, slippage, P&L)."""

from __future__ import annotations

from datetime import time

from agent.events import PauseEntries
from agent.models import EntryReason, Side
from tests.helpers import (
    AAA,
    BBB,
    Feed,
    at,
    by_time,
    d,
    run,
    sell_short,
    worked_candles,
    worked_long,
)

BUY_ENTRY = ("BUY", 50, "signal", d("112.65"), "COMPLETE")

# ------------------------------------------------------------------ 5.2 stop


def test_5_2_stop_is_inclusive() -> None:
    r = run(reverse_on_stop=False)
    f = Feed()
    r.feed(worked_long(f), f.tick(at(9, 25, 20), "99.55"))
    assert r.position() is not None
    r.feed(f.tick(at(9, 25, 30), "99.50"))
    assert r.order_rows() == [BUY_ENTRY, ("SELL", 50, "stop", d("99.50"), "COMPLETE")]
    assert r.position() is None and r.quantity() == 0


def test_5_2_short_stop_is_inclusive() -> None:
    r = run(reverse_on_stop=False)
    f = Feed()
    r.feed(sell_short(f), f.tick(at(9, 25, 20), "100.45"))
    assert r.position() is not None
    r.feed(f.tick(at(9, 25, 30), "100.50"))
    assert r.order_rows()[1:] == [("BUY", 50, "stop", d("100.50"), "COMPLETE")]
    assert r.trades[0].pnl == (d("87.50") - d("100.50")) * 50


def test_5_2_trailing_stop_reason_when_stop_moved() -> None:
    r = run(reverse_on_stop=False)
    f = Feed()
    r.feed(worked_long(f), f.tick(at(9, 25, 20), 118), f.tick(at(9, 30), 116))
    assert r.position().stop == d("112.00")
    r.feed(f.tick(at(9, 30, 10), "112.00"))
    assert r.order_rows()[1:] == [("SELL", 50, "trailing_stop", d("112.00"), "COMPLETE")]


def test_8_trailing_runs_before_the_stop_check_of_the_same_tick() -> None:
    # The 09:30 tick completes c2 (stop -> 112.00) and is itself at 112.00: trailing_stop.
    r = run(reverse_on_stop=False)
    f = Feed()
    r.feed(worked_long(f), f.tick(at(9, 25, 20), 118), f.tick(at(9, 30), "112.00"))
    assert r.order_rows()[1:] == [("SELL", 50, "trailing_stop", d("112.00"), "COMPLETE")]


def test_5_2_reverse_on_stop_enters_opposite_side_at_once() -> None:
    r = run()
    f = Feed()
    r.feed(worked_long(f), f.tick(at(9, 25, 20), "99.50"))
    assert r.order_rows() == [BUY_ENTRY, ("SELL", 50, "stop", d("99.50"), "COMPLETE"),
                              ("SELL", 50, "reverse", d("99.50"), "COMPLETE")]
    pos = r.position()
    assert pos.side is Side.SELL and pos.reason is EntryReason.REVERSE
    assert pos.stop == d("112.60")


def test_5_2_reverse_on_stop_keeps_alert_candle_X() -> None:
    # c2 (contains the entry) closes below VWAP: the buy alert is cleared and c2 becomes
    # the sell alert (upper(c2) = up(112.65 x 1.005) = 113.25). The reverse after the stop
    # still uses X = c1: stop upper(c1) = 112.60.
    r = run()
    f = Feed()
    r.feed(worked_long(f), f.tick(at(9, 25, 20), 100, volume=1000),
           f.tick(at(9, 25, 30), "100.50"), f.tick(at(9, 30), 100))
    s = r.state()
    assert s.buy_alert is None and s.sell_alert.start == at(9, 25)
    assert r.position().side is Side.BUY
    r.feed(f.tick(at(9, 30, 10), "99.50"))
    pos = r.position()
    assert pos.side is Side.SELL and pos.reason is EntryReason.REVERSE
    assert pos.stop == d("112.60")


def test_8_position_keeps_X_through_any_number_of_reverses() -> None:
    r = run()
    f = Feed()
    r.feed(worked_long(f), f.tick(at(9, 25, 20), "99.50"), f.tick(at(9, 25, 30), "112.60"))
    assert r.position().side is Side.BUY and r.position().stop == d("99.50")
    r.feed(f.tick(at(9, 25, 40), "99.50"))
    assert r.position().side is Side.SELL and r.position().stop == d("112.60")
    assert [(s, q, why, p) for s, q, why, p, _ in r.order_rows()] == [
        ("BUY", 50, "signal", d("112.65")),
        ("SELL", 50, "stop", d("99.50")), ("SELL", 50, "reverse", d("99.50")),
        ("BUY", 50, "stop", d("112.60")), ("BUY", 50, "reverse", d("112.60")),
        ("SELL", 50, "stop", d("99.50")), ("SELL", 50, "reverse", d("99.50")),
    ]


def test_5_2_no_reverse_unless_trade_side_both() -> None:
    from agent.models import TradeSide

    r = run(trade_side=TradeSide.BUY)
    f = Feed()
    r.feed(worked_long(f), f.tick(at(9, 25, 20), "99.50"))
    assert r.order_rows() == [BUY_ENTRY, ("SELL", 50, "stop", d("99.50"), "COMPLETE")]
    assert r.position() is None


def test_5_2_no_reverse_when_reverse_on_stop_off() -> None:
    r = run(reverse_on_stop=False)
    f = Feed()
    r.feed(worked_long(f), f.tick(at(9, 25, 20), "99.50"))
    assert len(r.orders()) == 2 and r.position() is None


def test_5_2_no_reverse_when_entry_not_allowed() -> None:
    r = run()
    f = Feed()
    r.feed(worked_long(f))
    r.engine.handle(PauseEntries())
    r.feed(f.tick(at(9, 25, 20), "99.50"))
    assert r.order_rows() == [BUY_ENTRY, ("SELL", 50, "stop", d("99.50"), "COMPLETE")]


def test_8_stop_without_reverse_leaves_alert_for_a_new_signal() -> None:
    r = run(reverse_on_stop=False)
    f = Feed()
    r.feed(worked_long(f), f.tick(at(9, 25, 20), "99.50"), f.tick(at(9, 25, 30), "112.60"))
    assert r.state().buy_alert.start == at(9, 20)
    assert len(r.orders()) == 2
    r.feed(f.tick(at(9, 25, 40), "112.70"))
    assert r.order_rows()[2] == ("BUY", 50, "signal", d("112.70"), "COMPLETE")
    assert r.position().stop == d("99.50")


# ------------------------------------------------------------------ 5.3 target


def test_5_3_long_target_at_entry_plus_m_times_range() -> None:
    # m 1, range(c1) 12: target 112.65 + 12 = 124.65.
    r = run(target_multiple=d(1))
    f = Feed()
    r.feed(worked_long(f), f.tick(at(9, 25, 20), "124.60"))
    assert r.position() is not None
    r.feed(f.tick(at(9, 25, 30), "124.65"))
    assert r.order_rows()[1:] == [("SELL", 50, "target", d("124.65"), "COMPLETE")]
    assert r.trades[0].pnl == d(12) * 50


def test_5_3_short_target_at_entry_minus_m_times_range() -> None:
    # Short 87.50, range(c1) = 100 - 88 = 12, m 1: target 75.50.
    r = run(target_multiple=d(1))
    f = Feed()
    r.feed(sell_short(f), f.tick(at(9, 25, 20), "75.55"))
    assert r.position() is not None
    r.feed(f.tick(at(9, 25, 30), "75.50"))
    assert r.order_rows()[1:] == [("BUY", 50, "target", d("75.50"), "COMPLETE")]


def test_5_3_target_clears_both_alerts() -> None:
    r = run(target_multiple=d(1))
    f = Feed()
    r.feed(worked_long(f), f.tick(at(9, 25, 20), "124.65"))
    s = r.state()
    assert s.buy_alert is None and s.sell_alert is None
    r.feed(f.tick(at(9, 25, 30), 126))
    assert len(r.orders()) == 2, "no alert: no new entry until a later candle makes one"
    # c2 (09:25, the exit's candle) completes after the exit with close 126 > VWAP: alert.
    r.feed(f.tick(at(9, 30), 126))
    assert r.state().buy_alert.start == at(9, 25)
    # upper(c2) = up(126 x 1.005 = 126.63) = 126.65
    r.feed(f.tick(at(9, 30, 10), "126.70"))
    assert r.order_rows()[2] == ("BUY", 50, "signal", d("126.70"), "COMPLETE")


def test_5_3_no_target_when_multiple_is_zero() -> None:
    r = run()
    f = Feed()
    r.feed(worked_long(f), f.tick(at(9, 25, 20), 500))
    assert r.position() is not None and len(r.orders()) == 1


def test_8_target_is_exact_not_rounded_to_tick() -> None:
    # m 0.33 x range 12 = 3.96: long target 116.61, short target 83.54 (not tick multiples).
    r = run(target_multiple=d("0.33"))
    f = Feed()
    r.feed(worked_long(f), f.tick(at(9, 25, 20), "116.60"))
    assert r.position() is not None
    r.feed(f.tick(at(9, 25, 30), "116.65"))
    assert r.order_rows()[-1] == ("SELL", 50, "target", d("116.65"), "COMPLETE")

    r = run(target_multiple=d("0.33"))
    f = Feed()
    r.feed(sell_short(f), f.tick(at(9, 25, 20), "83.55"))
    assert r.position() is not None
    r.feed(f.tick(at(9, 25, 30), "83.50"))
    assert r.order_rows()[-1] == ("BUY", 50, "target", d("83.50"), "COMPLETE")


def test_8_reverse_target_uses_range_of_X() -> None:
    # Long 112.65 (target 124.65) stops at 99.50; the reverse short's target is
    # 99.50 - 12 = 87.50.
    r = run(target_multiple=d(1))
    f = Feed()
    r.feed(worked_long(f), f.tick(at(9, 25, 20), "99.50"), f.tick(at(9, 25, 30), "87.55"))
    assert r.position().side is Side.SELL
    r.feed(f.tick(at(9, 25, 40), "87.50"))
    assert r.order_rows()[-1] == ("BUY", 50, "target", d("87.50"), "COMPLETE")
    assert r.position() is None


def test_8_steps_3_to_5_apply_to_position_opened_by_step_2() -> None:
    # Alert c1 is a single price (110): range 0, band 109.45 - 110.55, so with m 1 a new
    # position's target is its own entry. The stop at 109.45 reverses to a short at 109.45
    # and step 3 then takes that short's target on the same tick.
    r = run(target_multiple=d(1))
    f = Feed()
    r.feed(f.candle(at(9, 15), 100, 105, 95, 100, 100),
           f.candle(at(9, 20), 110, 110, 110, 110, 100), f.tick(at(9, 25), "110.60"))
    assert r.order_rows() == [("BUY", 50, "signal", d("110.60"), "COMPLETE")]
    r.feed(f.tick(at(9, 25, 10), "109.45"))
    assert [(s, why, p) for s, _, why, p, _ in r.order_rows()] == [
        ("BUY", "signal", d("110.60")), ("SELL", "stop", d("109.45")),
        ("SELL", "reverse", d("109.45")), ("BUY", "target", d("109.45"))]
    assert r.position() is None and r.quantity() == 0
    assert r.state().buy_alert is None and r.state().sell_alert is None


# ------------------------------------------------------------------ 5.5 square-off


def _long_late(f: Feed) -> list:
    """Long at 112.65 at 09:25:10, then nothing until 15:14:59 (price 115; c2 trails the
    stop to 112.00)."""
    return [*worked_long(f), f.tick(at(15, 14, 59), 115)]


def test_5_5_square_off_first_tick_at_or_after() -> None:
    r = run()
    f = Feed()
    r.feed(_long_late(f))
    assert r.position() is not None
    r.feed(f.tick(at(15, 15), 116), f.tick(at(15, 15, 5), 117))
    assert r.order_rows() == [BUY_ENTRY, ("SELL", 50, "square_off", d(116), "COMPLETE")]
    t = r.trades[0]
    assert (t.exit_reason, t.exit_time, t.pnl) == ("square_off", at(15, 15), d("167.50"))


def test_5_5_square_off_is_per_instrument_on_its_own_tick() -> None:
    r = run((AAA, BBB))
    fa, fb = Feed(1), Feed(2)
    r.feed(by_time(worked_long(fa), worked_long(fb)))
    assert r.quantity(1) == 50 and r.quantity(2) == 50
    r.feed(fb.tick(at(15, 16), 113))
    assert r.quantity(1) == 50 and r.quantity(2) == 0
    r.feed(fa.tick(at(15, 17), 114))
    assert r.quantity(1) == 0
    by_sym = {t.symbol: t for t in r.trades}
    assert (by_sym["NSE:BBB"].exit_price, by_sym["NSE:BBB"].exit_time) == (d(113), at(15, 16))
    assert (by_sym["NSE:AAA"].exit_price, by_sym["NSE:AAA"].exit_time) == (d(114), at(15, 17))
    assert {t.exit_reason for t in r.trades} == {"square_off"}


def test_5_5_square_off_time_comes_from_schedule() -> None:
    r = run(jobs={"entry_cutoff": time(9, 40), "square_off": time(10, 0)})
    f = Feed()
    r.feed(worked_long(f), f.tick(at(9, 59, 59), 115), f.tick(at(10, 0), 115))
    assert r.order_rows()[-1] == ("SELL", 50, "square_off", d(115), "COMPLETE")


def test_5_5_end_of_data_closes_what_is_open() -> None:
    r = run()
    f = Feed()
    r.feed(worked_long(f), f.tick(at(9, 40), 113))
    r.end()
    t = r.trades[0]
    assert (t.exit_reason, t.exit_price, t.exit_time) == ("end_of_data", d(113), at(9, 40))


# ------------------------------------------------------------------ 6. fills


def test_6_slippage_moves_price_against_trader() -> None:
    # 2 ticks of 0.05: buys fill 0.10 higher, sells 0.10 lower.
    r = run(slippage_ticks=2)
    f = Feed()
    r.feed(worked_long(f), f.tick(at(9, 25, 20), "99.50"))
    assert [(s, why, p) for s, _, why, p, _ in r.order_rows()] == [
        ("BUY", "signal", d("112.75")), ("SELL", "stop", d("99.40")),
        ("SELL", "reverse", d("99.40"))]
    assert r.trades[0].pnl == (d("99.40") - d("112.75")) * 50
    assert r.position().stop == d("112.60")
    r.end()
    assert (r.trades[1].exit_price, r.trades[1].pnl) == (d("99.60"), d("-10.00"))


def test_6_pnl_of_a_short_is_entry_minus_exit() -> None:
    r = run()
    f = Feed()
    r.feed(sell_short(f), f.tick(at(9, 25, 20), 80))
    r.end()
    t = r.trades[0]
    assert (t.side, t.entry_price, t.exit_price, t.quantity) == (Side.SELL, d("87.50"),
                                                                  d(80), 50)
    assert t.pnl == d("375.00")


def test_1_quantity_is_lots_times_lot_size() -> None:
    r = run(lots=3)
    f = Feed()
    r.feed(worked_long(f), f.tick(at(9, 25, 20), "99.50"))
    assert [q for _, q, _, _, _ in r.order_rows()] == [150, 150, 150]
    assert r.trades[0].pnl == (d("99.50") - d("112.65")) * 150


def test_8_entry_on_the_tick_that_completes_the_alert_candle() -> None:
    # Section 4 runs before section 5 of the same tick.
    r = run()
    f = Feed()
    r.feed(worked_candles(f), f.tick(at(9, 25), "112.65"))
    assert r.order_rows() == [BUY_ENTRY]
    assert r.trades == [] and r.position().entry_time == at(9, 25)
