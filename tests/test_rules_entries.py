"""docs/strategy.md 5.4 (entries, signal_reverse) and the entry gates of section 5 (halted,
paused/stopped, entry cutoff, square-off, trade_side, max_trades_per_day)."""

from __future__ import annotations

from datetime import time, timedelta

from agent.events import PauseEntries, ResumeEntries, StartTrading, StopTrading
from agent.models import Candle, EntryReason, Side
from agent.serialize import candle_to_dict
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

BUY_ENTRY = ("BUY", 50, "signal", d("112.65"), "COMPLETE")


def test_5_4_entry_triggers_are_strict() -> None:
    r = run()
    f = Feed()
    r.feed(worked_candles(f), f.tick(at(9, 25), "112.60"), f.tick(at(9, 25, 5), "112.60"))
    assert r.orders() == []
    r.feed(f.tick(at(9, 25, 10), "112.65"))
    assert r.order_rows() == [BUY_ENTRY]
    pos = r.position()
    assert (pos.side, pos.reason, pos.stop) == (Side.BUY, EntryReason.SIGNAL, d("99.50"))


def test_5_4_entry_triggers_are_strict_short() -> None:
    # Sell alert c1: lower 87.55, upper 100.50.
    r = run()
    f = Feed()
    r.feed(sell_candles(f), f.tick(at(9, 25), "87.55"), f.tick(at(9, 25, 5), "87.55"))
    assert r.orders() == []
    r.feed(f.tick(at(9, 25, 10), "87.50"))
    assert r.order_rows() == [("SELL", 50, "signal", d("87.50"), "COMPLETE")]
    pos = r.position()
    assert (pos.side, pos.reason, pos.stop) == (Side.SELL, EntryReason.SIGNAL, d("100.50"))


def _long_then_sell_alert(f: Feed) -> list:
    """Long at 112.65 (stop 99.50); c2 (09:25) O 112.60 H 112.65 L 105 C 105.50 V 2000
    closes below VWAP (107.31): buy alert cleared, sell alert c2 with lower
    down(104.475) = 104.45 and upper up(113.21325) = 113.25. The 09:30 tick (105)
    completes c2."""
    return [*worked_long(f), f.tick(at(9, 25, 20), 105, volume=2000),
            f.tick(at(9, 25, 30), "105.50"), f.tick(at(9, 30), 105)]


def test_5_4_signal_reverse() -> None:
    r = run(trailing=False)
    f = Feed()
    r.feed(_long_then_sell_alert(f))
    assert r.state().sell_alert.start == at(9, 25) and r.position().side is Side.BUY
    r.feed(f.tick(at(9, 30, 10), "104.45"))
    assert len(r.orders()) == 1, "strict: 104.45 is not below lower(c2)"
    r.feed(f.tick(at(9, 30, 20), "104.40"))
    assert r.order_rows() == [BUY_ENTRY,
                              ("SELL", 50, "signal_reverse", d("104.40"), "COMPLETE"),
                              ("SELL", 50, "signal", d("104.40"), "COMPLETE")]
    pos = r.position()
    assert (pos.side, pos.reason, pos.stop) == (Side.SELL, EntryReason.SIGNAL, d("113.25"))
    assert r.trades[0].exit_reason == "signal_reverse"


def test_8_after_signal_reverse_X_is_the_alert_that_triggered_it() -> None:
    # The short from c2 stops at upper(c2) = 113.25 and reverses to a long with stop
    # lower(c2) = 104.45 (not lower(c1) = 99.50).
    r = run(trailing=False)
    f = Feed()
    r.feed(_long_then_sell_alert(f), f.tick(at(9, 30, 20), "104.40"),
           f.tick(at(9, 30, 30), "113.25"))
    pos = r.position()
    assert (pos.side, pos.reason, pos.stop) == (Side.BUY, EntryReason.REVERSE, d("104.45"))


def test_8_after_signal_reverse_target_uses_range_of_B() -> None:
    # m 1: the short from c2 (range 112.65 - 105 = 7.65) entered at 104.40 has target 96.75.
    r = run(trailing=False, target_multiple=d(1))
    f = Feed()
    r.feed(_long_then_sell_alert(f), f.tick(at(9, 30, 20), "104.40"),
           f.tick(at(9, 30, 30), "96.80"))
    assert r.position().side is Side.SELL
    r.feed(f.tick(at(9, 30, 40), "96.75"))
    assert r.order_rows()[-1] == ("BUY", 50, "target", d("96.75"), "COMPLETE")


def test_5_4_signal_reverse_short_to_long() -> None:
    # Short 87.50 (stop 100.50); c2 O 87.60 H 95 L 87.50 C 94.50 V 2000 closes above VWAP
    # (92.74): buy alert c2, upper up(95.475) = 95.50, lower down(87.0625) = 87.05.
    r = run(trailing=False)
    f = Feed()
    r.feed(sell_short(f), f.tick(at(9, 25, 20), 95, volume=2000),
           f.tick(at(9, 25, 30), "94.50"), f.tick(at(9, 30), 95), f.tick(at(9, 30, 10), "95.55"))
    assert r.order_rows()[1:] == [("BUY", 50, "signal_reverse", d("95.55"), "COMPLETE"),
                                  ("BUY", 50, "signal", d("95.55"), "COMPLETE")]
    assert r.position().stop == d("87.05")


def test_8_signal_reverse_not_allowed_keeps_position() -> None:
    # max_trades_per_day 1 is used up by the long: the short of the signal_reverse is not
    # allowed, so nothing happens.
    r = run(trailing=False, max_trades_per_day=1)
    f = Feed()
    r.feed(_long_then_sell_alert(f), f.tick(at(9, 30, 20), "104.40"))
    assert r.order_rows() == [BUY_ENTRY]
    assert r.position().side is Side.BUY and r.quantity() == 50


def test_5_4_no_entry_on_a_tick_with_an_exit() -> None:
    # Flat after a stop (no reverse) at 99.50 that is also below lower(c2) = 104.45: no
    # short on that tick; the next tick below 104.45 takes it.
    r = run(trailing=False, reverse_on_stop=False)
    f = Feed()
    r.feed(_long_then_sell_alert(f), f.tick(at(9, 30, 10), "99.50"))
    assert r.order_rows() == [BUY_ENTRY, ("SELL", 50, "stop", d("99.50"), "COMPLETE")]
    r.feed(f.tick(at(9, 30, 20), "99.40"))
    assert r.order_rows()[2] == ("SELL", 50, "signal", d("99.40"), "COMPLETE")


def test_8_if_both_triggers_hold_long_is_taken() -> None:
    # Both alerts at once cannot come from candles (each candle clears one side), so they
    # come from saved state: A (H 100, L 98): upper 100.50, lower 97.50; B (H 112, L 110):
    # lower 109.45. At 105 both triggers hold.
    r = run()
    f = Feed()
    r.feed(f.tick(at(9, 25), 104))

    def candle(start, h, low, c) -> dict:
        return candle_to_dict(Candle(1, start, start + timedelta(minutes=5), d(c), d(h), d(low),
                                     d(c), 100, 4))

    s = r.state()
    data = r.engine.runtimes[1].strategy.to_dict(s)
    data["buy_alert"] = candle(at(9, 15), 100, 98, 99)
    data["sell_alert"] = candle(at(9, 20), 112, 110, 111)
    r.engine.runtimes[1].strategy.restore(s, data)
    assert s.buy_alert is not None and s.sell_alert is not None
    r.feed(f.tick(at(9, 25, 10), 105))
    assert r.order_rows() == [("BUY", 50, "signal", d(105), "COMPLETE")]
    assert r.position().stop == d("97.50")


# ------------------------------------------------------------------ gates


def test_5_4_no_entry_when_paused_until_resumed() -> None:
    r = run()
    f = Feed()
    r.feed(worked_candles(f), f.tick(at(9, 25), 110))
    assert r.engine.handle(PauseEntries()).ok
    r.feed(f.tick(at(9, 25, 10), "112.65"))
    assert r.orders() == []
    r.engine.handle(ResumeEntries())
    r.feed(f.tick(at(9, 25, 20), "112.70"))
    assert r.order_rows() == [("BUY", 50, "signal", d("112.70"), "COMPLETE")]


def test_5_4_no_entry_when_stopped_until_started() -> None:
    r = run()
    f = Feed()
    r.feed(worked_candles(f), f.tick(at(9, 25), 110))
    r.engine.handle(StopTrading())
    r.feed(f.tick(at(9, 25, 10), "112.65"))
    assert r.orders() == []
    r.engine.handle(StartTrading())
    r.feed(f.tick(at(9, 25, 20), "112.70"))
    assert len(r.orders()) == 1


def test_5_4_paused_position_still_managed() -> None:
    r = run()
    f = Feed()
    r.feed(worked_long(f))
    r.engine.handle(PauseEntries())
    r.feed(f.tick(at(9, 25, 20), "99.50"))
    assert r.order_rows() == [BUY_ENTRY, ("SELL", 50, "stop", d("99.50"), "COMPLETE")]


def test_8_entry_cutoff_tick_before_cutoff_enters() -> None:
    r = run()
    f = Feed()
    r.feed(worked_candles(f, start=time(14, 45)), f.tick(at(14, 55), 110),
           f.tick(at(14, 59, 59), "112.65"))
    assert r.order_rows() == [BUY_ENTRY]


def test_8_entry_cutoff_tick_at_cutoff_does_not_enter() -> None:
    r = run()
    f = Feed()
    r.feed(worked_candles(f, start=time(14, 45)), f.tick(at(14, 55), 110),
           f.tick(at(15, 0), "112.65"), f.tick(at(15, 5), 113))
    assert r.orders() == []


def test_8_entry_cutoff_blocks_reverse() -> None:
    r = run(trailing=False)
    f = Feed()
    r.feed(worked_candles(f, start=time(14, 45)), f.tick(at(14, 55), 110),
           f.tick(at(14, 59, 59), "112.65"), f.tick(at(15, 0), "99.50"))
    assert r.order_rows() == [BUY_ENTRY, ("SELL", 50, "stop", d("99.50"), "COMPLETE")]


def test_8_entry_cutoff_comes_from_schedule() -> None:
    r = run(jobs={"entry_cutoff": time(9, 25, 10)})
    f = Feed()
    r.feed(worked_long(f), f.tick(at(9, 25, 20), "112.70"))
    assert r.orders() == []


def test_5_entry_not_allowed_at_or_after_square_off() -> None:
    # Entry cutoff set after square-off: square-off still blocks entries.
    r = run(jobs={"entry_cutoff": time(15, 20), "square_off": time(15, 10)})
    f = Feed()
    r.feed(worked_candles(f, start=time(15, 0)), f.tick(at(15, 10), "112.65"),
           f.tick(at(15, 10, 10), "112.70"))
    assert r.orders() == []


def test_5_4_max_trades_per_day_counts_reversals() -> None:
    # 2 entries: the long and its reverse; the short's stop then exits without a reverse,
    # and the alert gives no new entry.
    r = run(max_trades_per_day=2)
    f = Feed()
    r.feed(worked_long(f), f.tick(at(9, 25, 20), "99.50"), f.tick(at(9, 25, 30), "112.60"),
           f.tick(at(9, 25, 40), "112.70"))
    assert [(s, why) for s, _, why, _, _ in r.order_rows()] == [
        ("BUY", "signal"), ("SELL", "stop"), ("SELL", "reverse"), ("BUY", "stop")]
    assert r.position() is None and r.quantity() == 0


def test_5_4_max_trades_one_allows_no_reverse() -> None:
    r = run(max_trades_per_day=1, reverse_on_stop=True)
    f = Feed()
    r.feed(worked_long(f), f.tick(at(9, 25, 20), "99.50"), f.tick(at(9, 25, 30), "112.70"))
    assert r.order_rows() == [BUY_ENTRY, ("SELL", 50, "stop", d("99.50"), "COMPLETE")]


def test_5_4_max_trades_zero_is_unlimited() -> None:
    r = run(max_trades_per_day=0, reverse_on_stop=False)
    f = Feed()
    ticks = worked_long(f)
    for i in range(5):
        ticks += [f.tick(at(9, 26, i * 10), "99.50"), f.tick(at(9, 26, i * 10 + 5), "112.65")]
    r.feed(ticks)
    assert sum(1 for o in r.orders() if o.reason == "signal") == 6
