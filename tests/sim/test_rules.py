"""Kite's refusals and the broker's own acts, through the real kiteconnect client: options,
circuit limits, stop-loss checks, the MIS auto square-off and the request rates. Each rule
is switched off by name to show the request then goes through."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from agent.models import Instrument, Side
from agent.sim import errors, rules
from agent.sim.core import SimCore
from agent.sim.market import Market
from agent.sim.rates import RateLimiter, Rates
from agent.sim.realism import Realism
from agent.sim.server import KITE_ORDER_LIMITS, SimExchange
from agent.timeutil import IST
from tests.sim.conftest import BANKNIFTY_CE, TRADING_DAY, WAIT, kite_for

Factory = Callable[..., SimExchange]
STOCK_OPTION = "ADANIPORTS17DEC490PE"
INDEX_OPTION = "BANKNIFTY18JAN23500CE"  # its index (NIFTY BANK) is not in the sample dump
CHEAP_OPTION = 12074242  # BANKNIFTY18JAN23500PE


def no_rates() -> Realism:
    """One request after another: the rates are tested on their own below."""
    return Realism.all_but("rate_limits")


def on_grid(price: Decimal, tick: str = "0.05") -> Decimal:
    return (price / Decimal(tick)).quantize(Decimal(1)) * Decimal(tick)


def place(kite: KiteConnect, **kw: Any) -> str:
    args: dict[str, Any] = {"variety": "regular", "exchange": "NSE",
                            "tradingsymbol": "ADANIPORTS", "transaction_type": "BUY",
                            "quantity": 1, "product": "MIS", "order_type": "LIMIT"}
    args.update(kw)
    if args["order_type"] in ("MARKET", "SL-M"):
        args.setdefault("market_protection", -1)
    for name in ("price", "trigger_price"):
        if isinstance(args.get(name), Decimal):
            args[name] = float(args[name])
    return kite.place_order(**args)


def refused(call: Callable[[], object], text: str,
            exception: type[Exception] = kex.InputException, code: int = 400) -> None:
    with pytest.raises(exception) as caught:
        call()
    assert (str(caught.value), caught.value.code) == (text, code)


def wait_until(condition: Callable[[], bool], timeout: float = WAIT) -> bool:
    """Poll an exchange fact until it holds or the deadline passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def status(sim: SimExchange, order_id: str) -> str:
    return sim.call(lambda core: core.book.get(order_id).status)


# ----- option_rules -----
def test_market_orders_on_stock_options_and_illiquid_index_options_are_refused(
        fresh_sim: Factory) -> None:
    sim = fresh_sim(speed=1, realism=no_rates())
    kite = kite_for(sim)
    for symbol, lot in ((STOCK_OPTION, 2500), (INDEX_OPTION, 40)):
        refused(lambda s=symbol, q=lot: place(kite, exchange="NFO", tradingsymbol=s,
                                              quantity=q, order_type="MARKET"),
                errors.OPTION_MARKET)
    refused(lambda: place(kite, exchange="NFO", tradingsymbol=INDEX_OPTION, quantity=40,
                          order_type="SL-M", transaction_type="SELL",
                          trigger_price=on_grid(sim.ltp(BANKNIFTY_CE) * Decimal("0.9"))),
            errors.SLM_OPTIONS)
    sim.realism.disable("option_rules")
    assert place(kite, exchange="NFO", tradingsymbol=STOCK_OPTION, quantity=2500,
                 order_type="MARKET")
    assert place(kite, exchange="NFO", tradingsymbol=INDEX_OPTION, quantity=40,
                 order_type="MARKET")
    refused(lambda: place(kite, exchange="NFO", tradingsymbol=INDEX_OPTION, quantity=40,
                          order_type="SL-M", transaction_type="SELL",
                          trigger_price=on_grid(sim.ltp(BANKNIFTY_CE) * Decimal("0.9"))),
            errors.SLM_OPTIONS)  # the exchanges' rule, not Zerodha's: always


NIFTY_INDEX = Instrument(256265, "NSE", "NIFTY 50", Decimal("0.05"), segment="INDICES")
NIFTY_CHAIN = [Instrument(70_000_000 + k, "NFO", f"NIFTY26DEC{strike}CE", Decimal("0.05"),
                          lot_size=75, segment="NFO-OPT", instrument_type="CE", name="NIFTY")
               for k, strike in enumerate(range(19_000, 25_100, 100))]


def nifty_market(d: date = TRADING_DAY) -> tuple[list[Instrument], dict[int, Decimal]]:
    prices = {NIFTY_INDEX.token: Decimal(22_000)}
    prices.update({i.token: Decimal(150) for i in NIFTY_CHAIN})
    return [NIFTY_INDEX, *NIFTY_CHAIN], prices


def strike_of(ins: Instrument) -> int:
    return int(ins.tradingsymbol[len("NIFTY26DEC"):-2])


def test_an_index_option_is_illiquid_beyond_ten_strikes_from_the_money() -> None:
    items, prices = nifty_market()
    market = Market(items, TRADING_DAY, base_prices=prices)
    second = 600
    spot = market.ltp(NIFTY_INDEX.token, second)
    atm = min(range(len(NIFTY_CHAIN)), key=lambda k: abs(strike_of(NIFTY_CHAIN[k]) - spot))
    assert 11 <= atm <= len(NIFTY_CHAIN) - 12, "the chain must reach 11 strikes either side"
    for offset, illiquid in ((0, False), (10, False), (-10, False), (11, True), (-11, True)):
        ins = NIFTY_CHAIN[atm + offset]
        assert rules.is_illiquid(market, ins, second) is illiquid, (offset, spot)
    stock = Instrument(1, "NFO", "INFY26DEC1500CE", Decimal("0.05"), segment="NFO-OPT",
                       instrument_type="CE", name="INFY")
    assert rules.underlying(stock) is None and rules.is_illiquid(market, stock, second)
    assert rules.underlying(NIFTY_CHAIN[0]) == "NIFTY"
    weekly = Instrument(2, "NFO", "NIFTY2612422000PE", Decimal("0.05"), segment="NFO-OPT",
                        instrument_type="PE")  # a weekly symbol, no name in the dump
    assert rules.underlying(weekly) == "NIFTY"


def test_market_orders_on_an_index_option_near_the_money_go_through() -> None:
    items, prices = nifty_market()
    with SimExchange(items, start=TRADING_DAY, speed=1, base_prices=prices,
                     realism=no_rates()) as sim:
        kite = kite_for(sim)
        spot = sim.ltp(NIFTY_INDEX.token)
        by_distance = sorted(NIFTY_CHAIN, key=lambda i: abs(strike_of(i) - spot))
        atm, far = by_distance[0], by_distance[30]  # 15 strikes away, either side
        assert place(kite, exchange="NFO", tradingsymbol=atm.tradingsymbol, quantity=75,
                     order_type="MARKET")
        refused(lambda: place(kite, exchange="NFO", tradingsymbol=far.tradingsymbol,
                              quantity=75, order_type="MARKET"), errors.OPTION_MARKET)


def test_option_limit_orders_far_from_the_ltp_are_refused(fresh_sim: Factory) -> None:
    sim = fresh_sim(speed=1, realism=no_rates(), base_prices={BANKNIFTY_CE: Decimal(250),
                                                            CHEAP_OPTION: Decimal(60)})
    kite = kite_for(sim)
    ltp = sim.ltp(BANKNIFTY_CE)
    assert ltp >= 100

    def buy(price: Decimal) -> str:
        return place(kite, exchange="NFO", tradingsymbol=INDEX_OPTION, quantity=40,
                     price=on_grid(price))

    def sell(price: Decimal, symbol: str = INDEX_OPTION) -> str:
        return place(kite, exchange="NFO", tradingsymbol=symbol, quantity=40,
                     transaction_type="SELL", price=on_grid(price))

    high, low = ltp * Decimal("2.6"), ltp * Decimal("0.45")  # 160% above, 55% below
    quote = sim.quote(BANKNIFTY_CE)
    assert quote.lower_circuit <= low and high <= quote.upper_circuit  # options' wide band
    refused(lambda: buy(high), errors.OPTION_FAR_LIMIT)
    refused(lambda: sell(low), errors.OPTION_FAR_LIMIT)
    assert buy(ltp * Decimal("2.4")) and sell(ltp * Decimal("0.55"))  # inside the limits
    cheap = sim.ltp(CHEAP_OPTION)
    assert cheap < 100  # below ₹100 the block does not apply
    assert sell(cheap * Decimal("0.4"), "BANKNIFTY18JAN23500PE")
    sim.realism.disable("option_rules")
    assert buy(high) and sell(low)


# ----- circuit_limits -----
def test_limit_and_sl_prices_outside_the_circuit_band_are_refused(fresh_sim: Factory) -> None:
    sim = fresh_sim(speed=1, realism=no_rates())
    kite = kite_for(sim)
    quote = sim.quote("NSE:ADANIPORTS")
    low, high, tick = quote.lower_circuit, quote.upper_circuit, Decimal("0.05")
    refused(lambda: place(kite, price=low - tick), errors.CIRCUIT_LIMITS)
    refused(lambda: place(kite, transaction_type="SELL", price=high + tick),
            errors.CIRCUIT_LIMITS)
    refused(lambda: place(kite, transaction_type="SELL", order_type="SL",
                          trigger_price=on_grid(quote.last_price * Decimal("0.9")),
                          price=low - tick), errors.CIRCUIT_LIMITS)
    resting = place(kite, price=low)  # the band's edges are inside it
    assert wait_until(lambda: status(sim, resting) == "OPEN")
    refused(lambda: kite.modify_order("regular", resting, price=float(low - tick)),
            errors.CIRCUIT_LIMITS)
    sim.realism.disable("circuit_limits")
    outside = place(kite, price=low - tick)
    assert wait_until(lambda: status(sim, outside) == "OPEN")


# ----- sl_checks -----
def test_stoploss_triggers_and_prices_on_the_wrong_side_are_refused(fresh_sim: Factory) -> None:
    sim = fresh_sim(speed=1, realism=no_rates())
    kite = kite_for(sim)
    ltp = sim.ltp("NSE:ADANIPORTS")
    up, down = on_grid(ltp * Decimal("1.03")), on_grid(ltp * Decimal("0.97"))
    wrong = [
        (dict(order_type="SL", trigger_price=down, price=down + 1), errors.TRIGGER_BUY),
        (dict(order_type="SL-M", transaction_type="SELL", trigger_price=up),
         errors.TRIGGER_SELL),
        (dict(order_type="SL", trigger_price=up, price=up - 1), errors.TRIGGER_ABOVE_PRICE),
        (dict(order_type="SL", transaction_type="SELL", trigger_price=down, price=down + 1),
         errors.TRIGGER_BELOW_PRICE),
    ]
    for order, text in wrong:
        refused(lambda o=order: place(kite, **o), text)
    assert place(kite, order_type="SL", trigger_price=up, price=up + 1)
    assert place(kite, order_type="SL", transaction_type="SELL", trigger_price=down,
                 price=down - 1)
    sim.realism.disable("sl_checks")
    assert all(place(kite, **order) for order, _ in wrong)


# ----- mis_square_off -----
def mis_position(core: SimCore, symbol: str) -> int:
    return sum(p.quantity for p in core.book.positions.all()
               if p.instrument.tradingsymbol == symbol and p.product == "MIS")


def test_the_broker_squares_off_mis_positions_at_1520_with_untagged_orders(
        fresh_sim: Factory) -> None:
    sim = fresh_sim(start=datetime(2024, 1, 15, 15, 18, tzinfo=IST), speed=60,
                    realism=no_rates())
    kite = kite_for(sim)
    ltp = sim.ltp("NSE:ADANIPORTS")
    entry = place(kite, quantity=5, price=on_grid(ltp * Decimal("1.01")), tag="entry")
    resting = place(kite, tradingsymbol="CDSL", price=sim.quote("NSE:CDSL").lower_circuit,
                    tag="resting")
    held = place(kite, tradingsymbol="BANKBEES", product="CNC", tag="held",
                 price=on_grid(sim.ltp("NSE:BANKBEES") * Decimal("1.01"), "0.01"))
    assert wait_until(lambda: sim.call(lambda c: mis_position(c, "ADANIPORTS")) == 5)
    assert sim.clock.now() < datetime(2024, 1, 15, 15, 20, tzinfo=IST), "too late to test"
    assert wait_until(lambda: sim.call(lambda c: mis_position(c, "ADANIPORTS")) == 0)

    orders = {o["order_id"]: o for o in kite.orders()}
    broker = [o for o in orders.values() if o["order_id"] not in (entry, resting, held)]
    assert [(o["tag"], o["product"], o["transaction_type"], o["tradingsymbol"], o["status"],
             o["filled_quantity"]) for o in broker] == [
        (None, "MIS", "SELL", "ADANIPORTS", "COMPLETE", 5)]
    assert broker[0]["status_message"] == errors.SQUARED_OFF.format(time="15:20")
    assert broker[0]["order_timestamp"] >= datetime(2024, 1, 15, 15, 20)
    assert (orders[resting]["status"], orders[resting]["status_message"]) == (
        "CANCELLED", errors.SQUARE_OFF_CANCELLED.format(time="15:20"))
    cancelled = datetime.fromisoformat(orders[resting]["exchange_update_timestamp"])
    assert cancelled <= broker[0]["order_timestamp"]  # first the cancel, then the close
    assert orders[held]["status"] == "COMPLETE"  # CNC: not the broker's business
    assert sum(t["quantity"] for t in kite.trades()
               if t["order_id"] == broker[0]["order_id"]) == 5
    net = {(p["tradingsymbol"], p["product"]): p for p in kite.positions()["net"]}
    assert net["ADANIPORTS", "MIS"]["quantity"] == 0
    assert net["ADANIPORTS", "MIS"]["sell_quantity"] == 5
    assert net["BANKBEES", "CNC"]["quantity"] == 1

    refused(lambda: place(kite, price=ltp), errors.MIS_AFTER_SQUARE_OFF.format(time="15:20"))
    assert place(kite, product="CNC", price=on_grid(ltp * Decimal("0.95")))
    sim.realism.disable("mis_square_off")
    assert place(kite, price=on_grid(ltp * Decimal("0.95")))


def test_fno_squares_off_at_1525_and_an_exit_after_the_time_is_allowed(
        fresh_sim: Factory) -> None:
    sim = fresh_sim(start=datetime(2024, 1, 15, 15, 23, tzinfo=IST), speed=60,
                    realism=no_rates())
    kite = kite_for(sim)
    refused(lambda: place(kite, price=sim.ltp("NSE:ADANIPORTS")),
            errors.MIS_AFTER_SQUARE_OFF.format(time="15:20"))  # equity's time has passed
    option_ltp = sim.ltp(BANKNIFTY_CE)
    sold = place(kite, exchange="NFO", tradingsymbol=INDEX_OPTION, quantity=80,
                 transaction_type="SELL", price=on_grid(option_ltp * Decimal("0.99")))
    assert wait_until(lambda: sim.call(lambda c: mis_position(c, INDEX_OPTION)) == -80)
    assert sim.clock.now() < datetime(2024, 1, 15, 15, 25, tzinfo=IST), "too late to test"
    assert wait_until(lambda: sim.call(lambda c: mis_position(c, INDEX_OPTION)) == 0)
    broker = [o for o in kite.orders() if o["order_id"] != sold]
    assert [(o["tag"], o["transaction_type"], o["filled_quantity"], o["status_message"])
            for o in broker] == [(None, "BUY", 80, errors.SQUARED_OFF.format(time="15:25"))]
    refused(lambda: place(kite, exchange="NFO", tradingsymbol=INDEX_OPTION, quantity=40,
                          price=on_grid(option_ltp)),
            errors.MIS_AFTER_SQUARE_OFF.format(time="15:25"))


def test_after_the_time_an_order_that_only_reduces_the_position_is_an_exit() -> None:
    from agent.sim.book import Book
    from agent.sim.orders import OrderRequest
    from agent.sim.squareoff import SquareOff
    from tests.sim.test_book import INSTRUMENTS

    market = Market(INSTRUMENTS, TRADING_DAY)
    book = Book(market, realism=Realism.all_but("interim_statuses"))
    at_1519 = datetime(2024, 1, 15, 15, 19, tzinfo=IST)
    ltp = market.ltp(3861249, market.second_of(at_1519))

    def order(side: Side, quantity: int, price: Decimal) -> OrderRequest:
        return OrderRequest("regular", "NSE", "ADANIPORTS", side, quantity, "MIS", "LIMIT",
                            price=on_grid(price))

    book.place(order(Side.BUY, 10, ltp * Decimal("1.01")), at_1519)
    assert mis_position_of(book) == 10
    after = at_1519 + timedelta(minutes=1, seconds=5)
    with pytest.raises(errors.KiteError, match="Fresh orders for MIS"):
        rules.check_place(book, order(Side.BUY, 1, ltp), after)
    with pytest.raises(errors.KiteError, match="Fresh orders for MIS"):
        rules.check_place(book, order(Side.SELL, 11, ltp), after)  # would go short
    rules.check_place(book, order(Side.SELL, 4, ltp), after)  # an exit
    book.place(order(Side.SELL, 4, ltp * Decimal("0.99")), after)
    square_off = SquareOff()
    square_off.step(book, book.realism, after)
    assert mis_position_of(book) == 0
    mine = [o for o in book.orders.values() if square_off.is_mine(o.order_id)]
    assert [(o.side, o.quantity, o.tag) for o in mine] == [(Side.SELL, 6, None)]


def test_the_square_off_times_and_the_brokers_marketable_price() -> None:
    from tests.sim.test_book import INSTRUMENTS

    monday = date(2024, 1, 15)
    assert {ex: f"{rules.square_off_time(ex, monday):%H:%M}" for ex in
            ("NSE", "BSE", "NFO", "BFO", "CDS", "MCX")} == {
        "NSE": "15:20", "BSE": "15:20", "NFO": "15:25", "BFO": "15:25", "CDS": "16:45",
        "MCX": "23:30"}  # MCX closes at 23:55 while New York keeps standard time
    assert f"{rules.square_off_time('MCX', date(2024, 7, 15)):%H:%M}" == "23:05"
    assert rules.square_off_time("NSEIX", monday) is None
    market = Market(INSTRUMENTS, TRADING_DAY, base_prices={BANKNIFTY_CE: Decimal(250)})
    quote = market.quote(3861249, 600)  # equity: the circuit limits themselves
    assert rules.marketable_limit(market, quote.instrument, Side.SELL, 600) == \
        quote.lower_circuit
    assert rules.marketable_limit(market, quote.instrument, Side.BUY, 600) == \
        quote.upper_circuit
    option = market.quote(BANKNIFTY_CE, 600)  # an option: no further than the far-LTP rule
    buy = rules.marketable_limit(market, option.instrument, Side.BUY, 600)
    sell = rules.marketable_limit(market, option.instrument, Side.SELL, 600)
    assert buy <= option.last_price * rules.FAR_BUY < buy + Decimal("0.05")
    assert sell - Decimal("0.05") < option.last_price * rules.FAR_SELL <= sell
    assert option.lower_circuit <= sell and buy <= option.upper_circuit


def mis_position_of(book: Any) -> int:
    return sum(p.quantity for p in book.positions.all() if p.product == "MIS")


def test_without_the_rule_mis_positions_stay_open_past_1520(fresh_sim: Factory) -> None:
    sim = fresh_sim(start=datetime(2024, 1, 15, 15, 19, 30, tzinfo=IST), speed=60,
                    realism=Realism.all_but("rate_limits", "mis_square_off"))
    kite = kite_for(sim)
    place(kite, quantity=5, price=on_grid(sim.ltp("NSE:ADANIPORTS") * Decimal("1.01")))
    assert wait_until(lambda: sim.call(lambda c: mis_position(c, "ADANIPORTS")) == 5)
    later = sim.market.second_of(datetime(2024, 1, 15, 15, 21, tzinfo=IST))
    assert wait_until(lambda: sim.call(lambda c: c.matched_second) >= later)
    assert sim.call(lambda c: mis_position(c, "ADANIPORTS")) == 5
    assert len(kite.orders()) == 1


# ----- rate_limits -----
class WallClock:
    """A wall clock the test moves (the limiters count on wall time)."""

    def __init__(self, t: float = 1_000.25) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def next_second(self) -> None:
        self.t = float(int(self.t) + 1) + 0.25


def frozen_limits(sim: SimExchange, wall: WallClock) -> None:
    def install(core: SimCore) -> None:
        core.order_limiter = RateLimiter(KITE_ORDER_LIMITS, now=wall)
        core.rates = Rates(now=wall)

    sim.call(install)


def test_kites_request_rates_answer_429_too_many_requests(fresh_sim: Factory) -> None:
    sim = fresh_sim(speed=1)
    kite = kite_for(sim)
    wall = WallClock()
    frozen_limits(sim, wall)
    too_many = (errors.TOO_MANY_REQUESTS, kex.NetworkException, 429)
    floor = float(sim.quote("NSE:ADANIPORTS").lower_circuit)
    ids = [place(kite, price=floor) for _ in range(10)]  # 10 orders in one second
    refused(lambda: place(kite, price=floor), *too_many)
    refused(lambda: kite.cancel_order("regular", ids[0]), *too_many)  # cancels count too
    wall.next_second()
    assert wait_until(lambda: status(sim, ids[0]) == "OPEN")
    for _ in range(9):
        place(kite, price=floor)
    kite.modify_order("regular", ids[0], price=floor + 0.05)
    refused(lambda: place(kite, price=floor), *too_many)

    assert kite.ltp("NSE:ADANIPORTS")  # quotes: one a second
    refused(lambda: kite.quote("NSE:ADANIPORTS"), *too_many)
    refused(lambda: kite.ohlc("NSE:ADANIPORTS"), *too_many)
    day = TRADING_DAY.isoformat()
    for _ in range(3):  # historical: three a second
        kite.historical_data(3861249, day, day, "minute")
    refused(lambda: kite.historical_data(3861249, day, day, "minute"), *too_many)
    for _ in range(9):  # the rest: ten a second (the modify above was an order)
        kite.profile()
    kite.orders()
    refused(kite.positions, *too_many)
    wall.next_second()
    assert kite.quote("NSE:ADANIPORTS") and kite.positions() is not None
    assert kite.historical_data(3861249, day, day, "minute")

    sim.realism.disable("rate_limits")
    assert [place(kite, price=floor) for _ in range(12)]
    assert kite.ltp("NSE:ADANIPORTS") and kite.ltp("NSE:ADANIPORTS")


def test_historical_ranges_are_capped_per_interval(fresh_sim: Factory) -> None:
    sim = fresh_sim(speed=1)
    kite = kite_for(sim)
    wall = WallClock()
    frozen_limits(sim, wall)
    start = datetime(2024, 1, 15, 9, 15)  # the rest of each range is in the future: cheap
    for interval, days in (("minute", 60), ("3minute", 100), ("5minute", 100),
                           ("10minute", 100), ("15minute", 200), ("30minute", 200),
                           ("60minute", 400), ("day", 2000)):
        wall.next_second()
        assert kite.historical_data(3861249, start, start + timedelta(days=days), interval)
        refused(lambda i=interval, d=days: kite.historical_data(
            3861249, start, start + timedelta(days=d + 1), i),
            errors.HISTORICAL_RANGE.format(days=days))
    sim.realism.disable("rate_limits")
    assert kite.historical_data(3861249, start, start + timedelta(days=61), "minute")


def test_a_second_counts_by_the_calendar_and_longer_windows_slide() -> None:
    wall = WallClock(5.9)
    limiter = RateLimiter(KITE_ORDER_LIMITS, now=wall)
    assert all(limiter.allow() for _ in range(10)) and not limiter.allow()
    wall.t = 6.05  # the next calendar second, 150 ms later: ten more
    assert all(limiter.allow() for _ in range(10)) and not limiter.allow()
    day = RateLimiter(((5_000, 86_400.0),), now=wall)
    assert all(day.allow() for _ in range(5_000)) and not day.allow()
    wall.t += 86_399.0
    assert not day.allow()
    wall.t += 1.0
    assert day.allow()
