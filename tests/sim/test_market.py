"""The seeded market: reproducible, on the tick grid, lively, consistent with its history."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from agent.instruments import BUNDLED_DUMP, load_dump
from agent.models import Instrument
from agent.sim.market import Market, previous_weekday
from agent.sim.paths import SESSION_SECONDS, PricePath
from agent.timeutil import IST

DAY = date(2024, 1, 15)
INSTRUMENTS = load_dump(BUNDLED_DUMP)
ETF = next(i for i in INSTRUMENTS if i.tick_size == Decimal("0.01"))
STOCK = next(i for i in INSTRUMENTS if i.tradingsymbol == "ADANIPORTS")


def test_the_same_seed_gives_the_same_market_and_another_seed_another() -> None:
    a, b, c = (Market(INSTRUMENTS, DAY, seed=s) for s in (7, 7, 8))
    seconds = range(0, 3_000, 37)
    path = [a.ltp(STOCK.token, k) for k in seconds]
    assert path == [b.ltp(STOCK.token, k) for k in seconds]
    assert path != [c.ltp(STOCK.token, k) for k in seconds]


def test_a_path_grown_lazily_equals_the_path_grown_at_once() -> None:
    lazy = PricePath("k", 250.0, 0.05)
    for k in range(0, 5_000, 333):
        lazy.extend_to(k)
    lazy.extend_to(4_999)
    eager = PricePath("k", 250.0, 0.05)
    eager.extend_to(4_999)
    assert list(lazy.ticks) == list(eager.ticks) and list(lazy.volume) == list(eager.volume)


@pytest.mark.parametrize("ins", [STOCK, ETF], ids=lambda i: i.tradingsymbol)
def test_quotes_are_on_the_tick_grid_with_rising_volume_and_a_sane_day(ins: Instrument) -> None:
    market = Market(INSTRUMENTS, DAY)
    last_volume = 0
    for k in range(0, SESSION_SECONDS, 450):
        q = market.quote(ins.token, k)
        for price in (q.last_price, q.open, q.high, q.low, q.close, q.bid, q.ask):
            assert price % ins.tick_size == 0, (k, price)
        assert q.low <= q.last_price <= q.high and q.low <= q.open <= q.high
        assert q.bid < q.ask and q.bid <= q.last_price <= q.ask
        assert q.volume > last_volume and q.average_price > 0
        assert q.time == datetime(2024, 1, 15, 9, 15, tzinfo=IST) + timedelta(seconds=k)
        last_volume = q.volume
    day = market.quote(ins.token, SESSION_SECONDS - 1)
    assert Decimal("0.005") < (day.high - day.low) / day.open < Decimal("0.2")


def test_the_market_trends_and_reverses_enough_for_band_breakouts() -> None:
    """Most instruments cross 0.5% beyond a 5-minute candle's high (or low) several
    times a session: what the demo's strategy needs to trade."""
    sample = INSTRUMENTS[:8]
    market = Market(sample, DAY)
    lively = 0
    for ins in sample:
        path = market.path(ins.token)
        path.extend_to(SESSION_SECONDS - 1)
        ticks, breakouts = path.ticks, 0
        for start in range(0, SESSION_SECONDS - 600, 300):
            high, low = max(ticks[start:start + 300]), min(ticks[start:start + 300])
            later = ticks[start + 300:start + 1_800]
            if max(later) > high * 1.005 or min(later) < low * 0.995:
                breakouts += 1
        lively += breakouts >= 6
    assert lively >= 6


def test_history_ends_at_the_previous_close_that_todays_quotes_show() -> None:
    market = Market(INSTRUMENTS, DAY)
    friday = previous_weekday(DAY)
    assert friday == date(2024, 1, 12)
    start = datetime(2024, 1, 12, 9, 0, tzinfo=IST)
    candles = market.minute_candles(STOCK.token, start, start + timedelta(hours=8),
                                    now=datetime(2024, 1, 15, 9, 20, tzinfo=IST))
    assert len(candles) == 375
    assert candles[0].start == datetime(2024, 1, 12, 9, 15, tzinfo=IST)
    assert candles[-1].close == market.quote(STOCK.token, 0).close == market.prev_close(
        STOCK.token)
    assert all(c.low <= min(c.open, c.close) and c.high >= max(c.open, c.close)
               for c in candles)


def test_todays_candles_stop_at_now_and_match_the_path() -> None:
    market = Market(INSTRUMENTS, DAY)
    now = datetime(2024, 1, 15, 9, 20, 30, tzinfo=IST)
    candles = market.minute_candles(STOCK.token, now.replace(hour=9, minute=0), now, now)
    assert [c.start.minute for c in candles] == [15, 16, 17, 18, 19, 20]
    first_minute = [market.ltp(STOCK.token, k) for k in range(60)]
    assert (candles[0].open, candles[0].high, candles[0].low, candles[0].close) == (
        first_minute[0], max(first_minute), min(first_minute), first_minute[-1])
    assert candles[-1].close == market.ltp(STOCK.token, 330)  # the partial minute


def test_before_the_open_the_quote_shows_the_previous_close_and_no_volume() -> None:
    market = Market(INSTRUMENTS, DAY)
    assert market.second_of(datetime(2024, 1, 15, 9, 0, tzinfo=IST)) == -1
    assert not market.is_open(datetime(2024, 1, 15, 15, 30, tzinfo=IST))
    q = market.quote(STOCK.token, -1)
    assert q.last_price == q.close == market.prev_close(STOCK.token) and q.volume == 0


def test_base_prices_can_be_given_and_unknown_tokens_are_named() -> None:
    market = Market(INSTRUMENTS, DAY, base_prices={STOCK.token: Decimal(1000)})
    assert Decimal(900) < market.ltp(STOCK.token, 0) < Decimal(1100)
    with pytest.raises(KeyError, match="12345"):
        market.quote(12345, 0)
