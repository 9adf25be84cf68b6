"""docs/strategy.md sections 2 (rounding, bands) and 3 (session, candles, volume), through the
engine where the rule is observable there."""

from __future__ import annotations

from datetime import time

import pytest

from agent.events import ClockTick
from agent.models import Side, Tick
from agent.settings import SessionHours
from agent.strategy.base import round_down, round_up
from tests.helpers import AAA, BBB, Feed, Sym, at, d, run, worked_candles

# ------------------------------------------------------------------ 2. rounding and bands


@pytest.mark.parametrize(("x", "tau", "expected"), [
    ("112.56", "0.05", "112.60"),
    ("112.5500001", "0.05", "112.60"),
    ("250.0", "0.05", "250.00"),
    ("112.55", "0.05", "112.55"),
    ("10.001", "0.01", "10.01"),
    ("100.1", "0.25", "100.25"),
    ("7", "1", "7"),
])
def test_2_up_rounds_to_next_tick_multiple(x: str, tau: str, expected: str) -> None:
    assert round_up(d(x), d(tau)) == d(expected)


@pytest.mark.parametrize(("x", "tau", "expected"), [
    ("99.5", "0.05", "99.50"),
    ("99.54999", "0.05", "99.50"),
    ("99.55", "0.05", "99.55"),
    ("87.56", "0.05", "87.55"),
    ("10.019", "0.01", "10.01"),
    ("100.2", "0.25", "100.00"),
])
def test_2_down_rounds_to_previous_tick_multiple(x: str, tau: str, expected: str) -> None:
    assert round_down(d(x), d(tau)) == d(expected)


def test_2_band_of_candle_is_up_of_high_and_down_of_low() -> None:
    # Worked example: c1 H 112, L 100, p 0.5: upper up(112.56) = 112.60, lower 99.50.
    r = run()
    f = Feed()
    r.feed(worked_candles(f), f.tick(at(9, 25), "112.60"), f.tick(at(9, 25, 5), "112.60"))
    assert r.orders() == []
    r.feed(f.tick(at(9, 25, 10), "112.65"))
    pos = r.position()
    assert pos is not None and pos.side is Side.BUY and pos.stop == d("99.50")


def test_2_band_is_computed_on_exact_decimals_not_floats() -> None:
    # Sell alert c1 with low 130, p 0.5: lower = down(130 x 0.995 = 129.35) = 129.35 exactly;
    # in binary floats 130 * 0.995 = 129.34999..., which rounds down to 129.30.
    r = run()
    f = Feed()
    r.feed(f.candle(at(9, 15), 140, 145, 135, 140, 100),
           f.candle(at(9, 20), 139, 140, 130, 131, 300),
           f.tick(at(9, 25), 131), f.tick(at(9, 25, 10), "129.35"))
    assert r.orders() == [], "129.35 is not below lower(c1) = 129.35"
    r.feed(f.tick(at(9, 25, 20), "129.30"))
    assert r.order_rows() == [("SELL", 50, "signal", d("129.30"), "COMPLETE")]
    assert r.position().stop == d("140.70")  # up(140 x 1.005 = 140.70)


def test_2_percentage_is_per_instrument() -> None:
    # p 0.4 for AAA: upper up(112 x 1.004 = 112.448) = 112.45, lower down(99.6) = 99.60.
    sym = Sym("NSE:AAA", 1, overrides={"percentage": d("0.4")})
    r = run((sym,))
    f = Feed()
    r.feed(worked_candles(f), f.tick(at(9, 25), "112.45"))
    assert r.orders() == []
    r.feed(f.tick(at(9, 25, 10), "112.50"))
    assert r.order_rows() == [("BUY", 50, "signal", d("112.50"), "COMPLETE")]
    assert r.position().stop == d("99.60")


# ------------------------------------------------------------------ 3. session and candles


def test_3_ticks_outside_session_are_dropped_and_counted() -> None:
    r = run()
    f = Feed()
    r.feed(f.tick(at(9, 14, 59), 500), f.tick(at(9, 15), 100), f.tick(at(9, 16), 101),
           f.tick(at(15, 30), 900), f.tick(at(16, 0), 900))
    r.end()
    assert [(c.start, c.open, c.high, c.close) for c in r.completed()] == [
        (at(9, 15), d(100), d(101), d(101))]
    assert r.rt().outside == 3
    assert r.rt().last_price == d(101)


def test_3_candles_sit_on_a_fixed_grid_from_session_open() -> None:
    r = run()
    f = Feed()
    r.feed(f.tick(at(9, 17, 30), 100), f.tick(at(9, 19, 59, us=999999), 101),
           f.tick(at(9, 20), 102), f.tick(at(9, 24, 1), 103))
    r.end()
    assert [(c.start, c.end, c.open, c.close) for c in r.completed()] == [
        (at(9, 15), at(9, 20), d(100), d(101)),
        (at(9, 20), at(9, 25), d(102), d(103)),
    ]


def test_3_interval_is_per_instrument() -> None:
    sym = Sym("NSE:AAA", 1, overrides={"interval": 3})
    r = run((sym,))
    f = Feed()
    r.feed(f.tick(at(9, 17, 59), 100), f.tick(at(9, 18), 101), f.tick(at(9, 21), 102))
    r.end()
    assert [c.start for c in r.completed()] == [at(9, 15), at(9, 18), at(9, 21)]


def test_3_bucket_with_no_tick_makes_no_candle() -> None:
    r = run()
    f = Feed()
    r.feed(f.tick(at(9, 16), 100), f.tick(at(9, 31), 104))
    r.end()
    assert [c.start for c in r.completed()] == [at(9, 15), at(9, 30)]


def test_3_other_exchange_takes_session_from_schedule() -> None:
    mcx = Sym("MCX:GOLD", 7, tick="1", lot=1)
    r = run((mcx,), sessions={"MCX": SessionHours(time(9, 0), time(23, 30))})
    f = Feed(7)
    r.feed(f.tick(at(8, 59), 1), f.tick(at(9, 0), 100), f.tick(at(9, 6), 101),
           f.tick(at(16, 0), 102), f.tick(at(23, 30), 103))
    r.end()
    assert [c.start for c in r.completed(7)] == [at(9, 0), at(9, 5), at(16, 0)]
    assert r.rt(7).outside == 2


def test_3_tick_time_is_exchange_timestamp_else_receipt_time() -> None:
    r = run()
    r.feed(Tick(1, d(100), None, received_at=at(9, 16)),
           Tick(1, d(101), at(9, 19), received_at=at(9, 21)),  # timestamp wins: bucket 09:15
           Tick(1, d(102), None, received_at=at(9, 21)))
    r.end()
    assert [(c.start, c.close) for c in r.completed()] == [(at(9, 15), d(101)),
                                                           (at(9, 20), d(102))]


def test_3_tick_older_than_current_candle_is_dropped() -> None:
    r = run()
    f = Feed()
    r.feed(f.tick(at(9, 16), 100), f.tick(at(9, 21), 101), f.tick(at(9, 19, 59), 150))
    assert r.rt().stale == 1
    assert r.rt().last_price == d(101)
    r.end()
    assert [(c.start, c.high, c.close) for c in r.completed()] == [
        (at(9, 15), d(100), d(100)), (at(9, 20), d(101), d(101))]


def test_3_tick_in_current_bucket_updates_high_low_close() -> None:
    r = run()
    f = Feed()
    r.feed(f.tick(at(9, 15, 1), 100), f.tick(at(9, 16), 104), f.tick(at(9, 17), 97),
           f.tick(at(9, 18), 99), f.tick(at(9, 19), "101.5"))
    r.end()
    c = r.completed()[0]
    assert (c.open, c.high, c.low, c.close) == (d(100), d(104), d(97), d("101.5"))


def test_3_tick_in_later_bucket_opens_candle_at_its_price() -> None:
    r = run()
    f = Feed()
    r.feed(f.tick(at(9, 16), 100), f.tick(at(9, 22), 120))
    assert len(r.completed()) == 1
    cur = r.rt().series.current
    assert (cur.start, cur.open, cur.high, cur.low, cur.close) == (
        at(9, 20), d(120), d(120), d(120), d(120))


def test_3_candle_completes_at_end_of_data_once() -> None:
    r = run()
    f = Feed()
    r.feed(f.tick(at(9, 16), 100))
    r.end()
    r.end()
    assert len(r.completed()) == 1


def test_3_timer_completes_candle_once_when_clock_passes_its_end() -> None:
    r = run()
    f = Feed()
    r.feed(worked_candles(f))
    assert len(r.completed()) == 1  # c0 only: c1 is still open
    # Live: the clock passes 09:25 with no tick; the timer completes c1 (a grace of a
    # couple of seconds is the engine's choice: 09:25:05 is well past it).
    r.engine.handle(ClockTick(at(9, 25, 5)))
    assert [c.start for c in r.completed()] == [at(9, 15), at(9, 20)]
    assert r.state().buy_alert is not None and r.state().buy_alert.start == at(9, 20)
    r.engine.handle(ClockTick(at(9, 25, 30)))
    r.feed(f.tick(at(9, 24, 59), 111))  # a late tick of c1: c1 does not reopen
    r.feed(f.tick(at(9, 26), 111))  # the next bucket: no second completion of c1
    assert [c.start for c in r.completed()] == [at(9, 15), at(9, 20)]
    assert r.completed()[1].close == d(109)


def test_3_candle_volume_is_rise_of_volume_traded() -> None:
    r = run()
    ticks = [
        Tick(1, d(100), at(9, 16), last_traded_quantity=10, volume_traded=1000),  # first: 10
        Tick(1, d(100), at(9, 16, 1), last_traded_quantity=3, volume_traded=1250),  # +250
        Tick(1, d(100), at(9, 16, 2), last_traded_quantity=3, volume_traded=1200),  # fell: 0
        Tick(1, d(100), at(9, 16, 3), last_traded_quantity=3, volume_traded=1300),  # +100
    ]
    r.feed(ticks).end()
    assert r.completed()[0].volume == 360


def test_3_volume_without_volume_traded_is_last_traded_quantity() -> None:
    r = run()
    r.feed(Tick(1, d(100), at(9, 16), last_traded_quantity=5),
           Tick(1, d(100), at(9, 16, 1), last_traded_quantity=7),
           Tick(1, d(100), at(9, 16, 2)))  # neither: 0
    r.end()
    assert r.completed()[0].volume == 12


def test_8_volume_first_tick_uses_last_traded_quantity() -> None:
    r = run()
    r.feed(Tick(1, d(100), at(9, 16), last_traded_quantity=7, volume_traded=5000),
           Tick(1, d(100), at(9, 16, 1), last_traded_quantity=2, volume_traded=5040))
    r.end()
    assert r.completed()[0].volume == 47
    # No last_traded_quantity on the first tick: 0, even with volume_traded present.
    r = run()
    r.feed(Tick(1, d(100), at(9, 16), volume_traded=5000),
           Tick(1, d(100), at(9, 16, 1), volume_traded=5040))
    r.end()
    assert r.completed()[0].volume == 40


def test_8_stale_tick_sets_no_volume_baseline() -> None:
    r = run()
    r.feed(Tick(1, d(100), at(9, 21), last_traded_quantity=1, volume_traded=1000),
           Tick(1, d(100), at(9, 19), last_traded_quantity=1, volume_traded=9000),  # stale
           Tick(1, d(100), at(9, 21, 1), last_traded_quantity=1, volume_traded=1100))
    r.end()
    assert r.completed()[0].volume == 1 + 100


def test_8_tick_older_than_previous_but_in_current_candle_is_processed() -> None:
    r = run()
    f = Feed()
    r.feed(f.tick(at(9, 16, 30), 100), f.tick(at(9, 16, 10), 103, volume=5))
    assert r.rt().stale == 0
    assert r.rt().last_price == d(103)
    r.end()
    c = r.completed()[0]
    assert (c.high, c.close, c.volume) == (d(103), d(103), 5)


def test_8_session_half_open_1530_dropped() -> None:
    r = run()
    f = Feed()
    r.feed(f.tick(at(15, 29, 59), 100), f.tick(at(15, 30), 200))
    r.end()
    assert [(c.start, c.high, c.close) for c in r.completed()] == [
        (at(15, 25), d(100), d(100))]
    assert r.rt().outside == 1 and r.rt().last_price == d(100)


@pytest.mark.parametrize("interval", [1, 2, 3, 5, 10, 15, 30, 60])
def test_8_session_half_open_for_every_interval(interval: int) -> None:
    # The last bucket of a 2, 10, 30 or 60 minute grid runs past 15:30; ticks at or after
    # 15:30 are still outside the session.
    r = run(interval=interval)
    f = Feed()
    r.feed(f.tick(at(15, 29, 59), 100), f.tick(at(15, 30), 200), f.tick(at(15, 40), 300))
    assert r.rt().last_price == d(100) and r.rt().outside == 2
    r.end()
    assert [(c.high, c.close) for c in r.completed()] == [(d(100), d(100))]


def test_8_ticks_processed_in_file_order_never_sorted() -> None:
    # 09:21 then 09:19:59: the 09:19:59 tick comes after c(09:15) completed and is dropped.
    # Sorting would have put it into the 09:15 candle.
    r = run()
    f = Feed()
    r.feed(f.tick(at(9, 16), 100), f.tick(at(9, 21), 101), f.tick(at(9, 19, 59), 90))
    r.end()
    assert r.completed()[0].low == d(100)


def test_8_unknown_instrument_tick_ignored_entirely() -> None:
    r = run()
    f = Feed()
    r.feed(f.tick(at(9, 16), 100), Tick(99, d(5), at(14, 0)), f.tick(at(9, 17), 101))
    assert r.engine.unknown_ticks == 1
    assert r.rt().stale == 0 and r.rt().last_price == d(101)
    assert r.engine.now() == at(9, 17)


def test_8_candle_completes_only_on_ticks_of_its_own_instrument() -> None:
    r = run((AAA, BBB))
    fa, fb = Feed(1), Feed(2)
    r.feed(worked_candles(fa), fb.tick(at(9, 26), 50), fb.tick(at(9, 31), 50))
    assert [c.start for c in r.completed(1)] == [at(9, 15)]  # c1 of AAA still open
    assert r.state(1).buy_alert is None
    r.feed(fa.tick(at(9, 32), 110))
    assert [c.start for c in r.completed(1)] == [at(9, 15), at(9, 20)]
    assert r.state(1).buy_alert.start == at(9, 20)
