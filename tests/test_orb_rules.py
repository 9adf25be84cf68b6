"""docs/strategies.md, the opening range breakout (opening_range): rules ORB 2 to 9, each
through the real engine (paper broker, SimClock) where the engine plays a part."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from agent.events import AlertKind
from agent.models import Candle, EntryReason, Side, TradeSide
from agent.strategy.base import AlertView
from handlers.alert_text import exit_text
from tests.helpers import Feed, at, d
from tests.orb_helpers import (
    HIGH,
    LONG_TRIGGER,
    LOW,
    SHORT_TRIGGER,
    opening,
    orb_params,
    orb_run,
    rows,
)

LONG = ("BUY", "signal", "101.70")
SHORT = ("SELL", "signal", "99.05")

# ------------------------------------------------------------------ ORB 2 the range


def test_orb_2_range_is_the_window_ticks_and_completes_at_the_first_tick_after() -> None:
    r = orb_run()
    f = Feed()
    r.feed(f.tick(at(9, 15), "100.00"), f.tick(at(9, 16), "110.00"), f.tick(at(9, 17), "90.00"))
    assert r.orders() == [], "no entry inside the window, however far the price goes"
    r.feed(f.tick(at(9, 29, 59), "100.40"))
    s = r.state()
    assert (s.high, s.low, s.complete) == (d("110.00"), d("90.00"), False)
    assert r.rt().strategy.alerts(s) == ()
    r.feed(f.tick(at(9, 30), "100.00"))  # the first tick at or after 09:30 completes it
    assert (s.high, s.low, s.complete) == (d("110.00"), d("90.00"), True)
    assert (s.long_trigger, s.short_trigger) == (d("110.15"), d("89.90"))  # up(110.11), down(89.91)
    r.feed(f.tick(at(9, 31), "111.00"))  # later ticks never widen it
    assert (s.high, s.low) == (d("110.00"), d("90.00"))


def test_orb_2_range_minutes_sets_the_window() -> None:
    r = orb_run(range_minutes=5)
    f = Feed()
    r.feed(f.tick(at(9, 15), "100.00"), f.tick(at(9, 19, 59), "101.00"))
    assert r.state().complete is False
    r.feed(f.tick(at(9, 20), "101.10"))  # 09:20:00 is outside [09:15, 09:20): not in the range
    s = r.state()
    assert (s.high, s.low, s.long_trigger) == (d("101.00"), d("100.00"), d("101.15"))
    assert r.orders() == []


def test_orb_2_no_tick_in_the_window_no_trades(caplog: pytest.LogCaptureFixture) -> None:
    r = orb_run()
    f = Feed()
    with caplog.at_level(logging.INFO, logger="agent.strategy.opening_range"):
        r.feed(f.tick(at(9, 30), "100.00"), f.tick(at(9, 31), "150.00"),
               f.tick(at(9, 32), "50.00"), f.tick(at(9, 33), "150.00"))
    assert r.orders() == []
    s = r.state()
    assert s.complete and s.high is None and r.rt().strategy.alerts(s) == ()
    said = [rec for rec in caplog.records if "no tick in the opening range" in rec.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.INFO
    assert "NSE:AAA" in said[0].getMessage() and "09:15-09:30" in said[0].getMessage()


def test_orb_2_candles_wholly_inside_the_window_widen_the_range() -> None:
    # What a restart's rebuilt candles do (docs/strategy.md 9.4).
    r = orb_run()
    f = Feed()
    r.feed(f.tick(at(9, 27), "100.00"))
    strategy, s = r.rt().strategy, r.state()

    def candle(start: tuple[int, int], minutes: int, high: str, low: str) -> Candle:
        t0 = at(*start)
        return Candle(1, t0, t0 + timedelta(minutes=minutes), d(low), d(high), d(low),
                      d(low), 0)

    assert strategy.on_candle(s, candle((9, 15), 5, "101.00", "99.00")) == []
    assert (s.high, s.low) == (d("101.00"), d("99.00"))
    strategy.on_candle(s, candle((9, 25), 10, "105.00", "95.00"))  # ends 09:35: not inside
    assert (s.high, s.low) == (d("101.00"), d("99.00"))
    r.feed(f.tick(at(9, 30), "100.00"))
    strategy.on_candle(s, candle((9, 20), 5, "103.00", "97.00"))  # after completion: no
    assert (s.high, s.low, s.long_trigger) == (d("101.00"), d("99.00"), d("101.15"))


# ------------------------------------------------------------------ ORB 3 entries


def test_orb_3_long_trigger_is_strict() -> None:
    r = orb_run()
    f = Feed()
    r.feed(opening(f), f.tick(at(9, 30), "101.60"), f.tick(at(9, 31), "101.65"))
    assert r.orders() == []
    r.feed(f.tick(at(9, 32), "101.70"))
    assert r.order_rows() == rows(LONG)
    pos = r.position()
    assert (pos.side, pos.reason, pos.stop, pos.entry_price) == (
        Side.BUY, EntryReason.SIGNAL, LOW, d("101.70"))


def test_orb_3_short_trigger_is_strict() -> None:
    r = orb_run()
    f = Feed()
    r.feed(opening(f), f.tick(at(9, 30), "99.15"), f.tick(at(9, 31), "99.10"))
    assert r.orders() == []
    r.feed(f.tick(at(9, 32), "99.05"))
    assert r.order_rows() == rows(SHORT)
    pos = r.position()
    assert (pos.side, pos.stop, pos.entry_price) == (Side.SELL, HIGH, d("99.05"))


def test_orb_3_buffer_rounds_the_long_trigger_up_and_the_short_down() -> None:
    r = orb_run(buffer_pct="0.5")
    f = Feed()
    r.feed(opening(f), f.tick(at(9, 30), "100.00"))
    s = r.state()  # up(101.50 x 1.005 = 102.0075), down(99.20 x 0.995 = 98.704)
    assert (s.long_trigger, s.short_trigger) == (d("102.05"), d("98.70"))
    r.feed(f.tick(at(9, 31), "102.05"), f.tick(at(9, 32), "98.70"))
    assert r.orders() == []


def test_orb_3_a_gap_on_the_first_tick_after_the_window_enters_at_once() -> None:
    r = orb_run()
    f = Feed()
    r.feed(opening(f), f.tick(at(9, 30, 5), "103.00"))
    assert r.order_rows() == rows(("BUY", "signal", "103.00"))


def test_orb_3_trade_side_and_the_entry_gate() -> None:
    r = orb_run(trade_side=TradeSide.SELL)
    f = Feed()
    r.feed(opening(f), f.tick(at(9, 30), "101.70"), f.tick(at(9, 31), "101.80"))
    assert r.orders() == [] and r.state().long_trigger is None
    r.feed(f.tick(at(9, 32), "99.05"))
    assert r.order_rows() == rows(SHORT)
    late = orb_run()  # the first break comes after the entry cutoff (15:00): nothing
    g = Feed()
    late.feed(opening(g), g.tick(at(14, 59, 59), "101.60"), g.tick(at(15, 0), "101.70"))
    assert late.orders() == []


# ------------------------------------------------------------------ ORB 4 stop


def test_orb_4_long_stop_is_the_range_low_inclusive() -> None:
    r = orb_run()
    f = Feed()
    r.feed(opening(f), f.tick(at(9, 32), "101.70"), f.tick(at(9, 40), "99.25"))
    assert r.position() is not None
    r.feed(f.tick(at(9, 41), "99.20"))
    assert r.order_rows() == rows(LONG, ("SELL", "stop", "99.20"))
    assert r.position() is None and r.quantity() == 0 and r.trades[0].exit_reason == "stop"


def test_orb_4_short_stop_is_the_range_high_inclusive() -> None:
    r = orb_run()
    f = Feed()
    r.feed(opening(f), f.tick(at(9, 32), "99.05"), f.tick(at(9, 40), "101.45"))
    assert r.position() is not None
    r.feed(f.tick(at(9, 41), "101.50"))
    assert r.order_rows() == rows(SHORT, ("BUY", "stop", "101.50"))


def test_orb_4_stop_pct_is_from_the_trigger_price_before_slippage() -> None:
    r = orb_run(stop_pct=1, slippage_ticks=2)
    f = Feed()
    r.feed(opening(f), f.tick(at(9, 32), "101.70"))
    pos = r.position()  # down(101.70 x 0.99 = 100.683), not from the fill 101.80
    assert (pos.entry_price, pos.stop) == (d("101.80"), d("100.65"))
    r.feed(f.tick(at(9, 33), "100.70"))
    assert r.position() is not None
    r.feed(f.tick(at(9, 34), "100.65"))
    assert r.order_rows()[-1] == ("SELL", 50, "stop", d("100.55"), "COMPLETE")  # slipped
    short = orb_run(stop_pct=1)
    g = Feed()
    short.feed(opening(g), g.tick(at(9, 32), "99.05"))
    assert short.position().stop == d("100.05")  # up(99.05 x 1.01 = 100.0405)


def test_orb_4_an_exchange_stop_fill_only_makes_the_strategy_flat() -> None:
    r = orb_run()
    f = Feed()
    r.feed(opening(f), f.tick(at(9, 32), "101.70"))
    strategy, s = r.rt().strategy, r.state()
    assert strategy.stopped_out(s, d("99.20"), at(9, 40), at(9, 40)) == []
    assert s.position is None and s.long_used and s.short_trigger == SHORT_TRIGGER


# ------------------------------------------------------------------ ORB 5 target


def test_orb_5_long_target_is_a_multiple_of_the_range_inclusive() -> None:
    r = orb_run(target_multiple=1)
    f = Feed()
    r.feed(opening(f), f.tick(at(9, 32), "101.70"))
    assert r.position().target == d("104.00")  # 101.70 + 1 x 2.30
    r.feed(f.tick(at(9, 40), "103.95"))
    assert r.position() is not None
    r.feed(f.tick(at(9, 41), "104.00"))
    assert r.order_rows() == rows(LONG, ("SELL", "target", "104.00"))


def test_orb_5_short_target_is_inclusive() -> None:
    r = orb_run(target_multiple="2.5")
    f = Feed()
    r.feed(opening(f), f.tick(at(9, 32), "99.05"))
    assert r.position().target == d("93.30")  # 99.05 - 2.5 x 2.30
    r.feed(f.tick(at(9, 40), "93.35"), f.tick(at(9, 41), "93.30"))
    assert r.order_rows() == rows(SHORT, ("BUY", "target", "93.30"))


def test_orb_5_the_target_follows_the_fill_price() -> None:
    r = orb_run(target_multiple=1, slippage_ticks=1)
    f = Feed()
    r.feed(opening(f), f.tick(at(9, 32), "101.70"))
    assert r.position().target == d("104.05")  # the fill 101.75 + 2.30
    r.rt().strategy.entry_filled(r.state(), d("101.90"))
    assert (r.position().entry_price, r.position().target) == (d("101.90"), d("104.20"))


def test_orb_5_a_range_without_height_has_no_target() -> None:
    r = orb_run(target_multiple=2)
    f = Feed()
    r.feed(f.tick(at(9, 15), "100.00"), f.tick(at(9, 20), "100.00"), f.tick(at(9, 31), "100.15"))
    pos = r.position()  # long trigger up(100.10) = 100.10
    assert (pos.entry_price, pos.stop, pos.target) == (d("100.15"), d("100.00"), None)


# ------------------------------------------------------------------ ORB 6 one per side


def test_orb_6_one_trade_per_side_per_day() -> None:
    r = orb_run()
    f = Feed()
    r.feed(opening(f), f.tick(at(9, 32), "101.70"), f.tick(at(9, 40), "99.20"),
           f.tick(at(9, 50), "101.70"))
    assert r.order_rows() == rows(LONG, ("SELL", "stop", "99.20")), "no second long"
    r.feed(f.tick(at(10, 0), "99.05"), f.tick(at(10, 10), "101.50"),
           f.tick(at(10, 20), "99.00"), f.tick(at(10, 30), "102.00"))
    assert r.order_rows() == rows(LONG, ("SELL", "stop", "99.20"), SHORT,
                                  ("BUY", "stop", "101.50"))
    assert r.rt().strategy.alerts(r.state()) == ()


def test_orb_6_no_entry_on_a_tick_that_exited() -> None:
    r = orb_run()
    f = Feed()
    r.feed(opening(f), f.tick(at(9, 32), "101.70"), f.tick(at(9, 40), "99.05"))
    assert r.order_rows() == rows(LONG, ("SELL", "stop", "99.05"))
    r.feed(f.tick(at(9, 41), "99.00"))
    assert r.order_rows() == rows(LONG, ("SELL", "stop", "99.05"), ("SELL", "signal", "99.00"))


def test_orb_6_no_entry_while_a_position_is_open() -> None:
    r = orb_run(stop_pct=5)  # long stop down(96.615) = 96.60, below the short trigger
    f = Feed()
    r.feed(opening(f), f.tick(at(9, 32), "101.70"), f.tick(at(9, 40), "99.00"))
    assert r.order_rows() == rows(LONG) and r.position().side is Side.BUY


def test_orb_6_a_rejected_entry_gives_its_side_back() -> None:
    r = orb_run()
    f = Feed()
    r.feed(opening(f), f.tick(at(9, 32), "101.70"))
    strategy, s = r.rt().strategy, r.state()
    assert s.long_used and s.long_trigger is None
    strategy.entry_rejected(s)
    assert s.position is None and not s.long_used and s.long_trigger == LONG_TRIGGER
    strategy.force_flat(s)  # a forced close (or a stop, a target) does not give it back
    out = strategy.on_tick(s, d("101.70"), at(9, 33), r.rt().series.current)
    assert [(i.side, i.stop, i.level) for i in out] == [(Side.BUY, LOW, LONG_TRIGGER)]
    strategy.force_flat(s)
    assert s.long_used and strategy.on_tick(s, d("101.75"), at(9, 34),
                                            r.rt().series.current) is None


# ------------------------------------------------------------------ ORB 7 the cutoff


def test_orb_7_the_first_tick_at_the_cutoff_exits() -> None:
    r = orb_run()
    f = Feed()
    r.feed(opening(f), f.tick(at(9, 32), "101.70"), f.tick(at(14, 59, 59), "102.00"))
    assert r.position() is not None
    r.feed(f.tick(at(15, 0), "102.50"), f.tick(at(15, 0, 10), "99.00"))
    assert r.order_rows() == rows(LONG, ("SELL", "cutoff", "102.50"))
    (trade,) = r.trades
    assert (trade.exit_reason, trade.pnl) == ("cutoff", d("40.00"))
    (note,) = [n for n in r.notes if n.data.get("reason") == "cutoff" and "pnl" in n.data]
    assert note.kind is AlertKind.SQUARE_OFF
    assert exit_text(note).startswith("⏰ <b>Time exit at the cutoff NSE:AAA</b>")


def test_orb_7_a_stop_on_the_cutoff_tick_keeps_its_reason() -> None:
    r = orb_run()
    f = Feed()
    r.feed(opening(f), f.tick(at(9, 32), "101.70"), f.tick(at(15, 0), "99.20"))
    assert r.order_rows() == rows(LONG, ("SELL", "stop", "99.20"))


# ------------------------------------------------------------------ ORB 8 what is shown


def test_orb_8_alerts_armed_and_position() -> None:
    r = orb_run(target_multiple=1)
    f = Feed()
    r.feed(opening(f))
    strategy, s = r.rt().strategy, r.state()
    assert strategy.alerts(s) == () and not strategy.armed(s, d("101.60"))
    r.feed(f.tick(at(9, 30), "101.00"))
    assert strategy.alerts(s) == (AlertView(Side.BUY, LONG_TRIGGER, HIGH, LOW, at(9, 15)),
                                  AlertView(Side.SELL, SHORT_TRIGGER, HIGH, LOW, at(9, 15)))
    assert strategy.armed(s, d("101.00")) and not strategy.armed(s, d("103.00"))
    r.feed(f.tick(at(9, 32), "101.70"))
    assert strategy.alerts(s) == (AlertView(Side.SELL, SHORT_TRIGGER, HIGH, LOW, at(9, 15)),)
    assert strategy.armed(s, d("103.00"))  # the target 104.00 is within 1 %
    assert not strategy.armed(s, d("102.00"))  # 2.00 from the target, 2.80 from the stop
    assert r.position().target == d("104.00")


# ------------------------------------------------------------------ ORB 9 changes


def test_orb_9_changing_parameters_during_the_day() -> None:
    r = orb_run()
    f = Feed()
    r.feed(opening(f), f.tick(at(9, 32), "101.70"))
    rt, s = r.rt(), r.state()
    end = s.range_end
    new = rt.params.with_overrides({"buffer_pct": d("0.5"), "stop_pct": d(1),
                                    "target_multiple": d(1), "range_minutes": 30})
    assert rt.strategy.set_params(s, new) == []
    pos = r.position()
    assert (pos.stop, pos.target, s.range_end) == (LOW, None, end), "the open one keeps them"
    assert (s.long_trigger, s.short_trigger) == (None, d("98.70"))  # down(98.704)
    assert orb_params(range_minutes=30).value("range_minutes") == 30
