"""The exchange's refusals and the broker's own acts, in ``python bot.py exchange`` of its own,
through the real kiteconnect client: option MARKET and far-LIMIT orders, the circuit band,
the stop-loss checks, the MIS auto square-off, and Kite's request rates and candle caps.

Time is the exchange's (its clock's speed drives it); rates are wall-time facts, counted per
calendar second: a burst is started just after a second begins and is retried if it did not
end inside that second."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from agent.sim import errors
from tests.exchange_proc import ExchangeProcess

ALL_INSTRUMENTS = "agent/sim/data/instruments_all.csv"  # NSE, BSE and NFO options
STOCK_OPTION = "ADANIPORTS17DEC490PE"
DEADLINE = 30.0  # wall seconds: the longest a test waits for an exchange fact


def on_grid(price: Decimal | float, tick: str = "0.05") -> float:
    return float((Decimal(str(price)) / Decimal(tick)).quantize(Decimal(1)) * Decimal(tick))


def place(kite: KiteConnect, **kw: Any) -> str:
    args: dict[str, Any] = {"variety": "regular", "exchange": "NSE",
                            "tradingsymbol": "ADANIPORTS", "transaction_type": "BUY",
                            "quantity": 1, "product": "MIS", "order_type": "LIMIT"}
    args.update(kw)
    if args["order_type"] in ("MARKET", "SL-M"):
        args.setdefault("market_protection", -1)
    return kite.place_order(**args)


def refused(call: Callable[[], object], text: str,
            exception: type[Exception] = kex.InputException, code: int = 400) -> None:
    with pytest.raises(exception) as caught:
        call()
    assert (str(caught.value), caught.value.code) == (text, code)


def wait_for(fact: Callable[[], Any], deadline: float = DEADLINE, every: float = 0.25) -> Any:
    """Ask the exchange for a fact until it is truthy (at most 4 requests a second, well
    inside Kite's 10) or the deadline passes."""
    end = time.monotonic() + deadline
    while True:
        found = fact()
        if found or time.monotonic() >= end:
            return found
        time.sleep(every)


def next_calendar_second(within: float = 0.3) -> None:
    """Return just after the wall clock enters a new second (Kite counts per calendar
    second), with ``within`` of it left to spare at most."""
    start = time.time()
    while True:
        now = time.time()
        if int(now) > int(start) and now % 1.0 < within:
            return
        time.sleep(0.002)


def burst(calls: list[Callable[[], object]]) -> list[object]:
    """Run the calls inside one calendar second; each result or the exception it raised.
    Retried (up to three times) when the burst ran over the second's end."""
    for _ in range(3):
        next_calendar_second()
        began = time.time()
        results: list[object] = []
        for call in calls:
            try:
                results.append(call())
            except Exception as exc:  # the refusal is the result
                results.append(exc)
        if int(time.time()) == int(began):
            return results
    raise AssertionError("three bursts in a row did not fit in one second")


def too_many(result: object) -> bool:
    return isinstance(result, kex.NetworkException) and result.code == 429 \
        and str(result) == errors.TOO_MANY_REQUESTS


def test_option_circuit_and_stoploss_refusals_and_each_rule_switched_off() -> None:
    # one request after another, back to back: the rates are shown in their own test
    with ExchangeProcess("--speed", "1", "--date", "2026-12-07T10:00", "--instruments",
                         ALL_INSTRUMENTS, "--realism-off", "rate_limits") as ex:
        kite = ex.kite()
        nfo = [f"NFO:{i['tradingsymbol']}" for i in kite.instruments("NFO")]
        prices = {k: Decimal(str(v["last_price"])) for k, v in kite.ltp(nfo).items()}
        option = next(k for k, p in prices.items() if p >= 100 and "BANKNIFTY" in k)
        symbol, opt_ltp = option.split(":")[1], prices[option]
        quote = kite.quote("NSE:ADANIPORTS")["NSE:ADANIPORTS"]
        low, up = quote["lower_circuit_limit"], quote["last_price"] * 1.03

        stock_option = {"exchange": "NFO", "tradingsymbol": STOCK_OPTION, "quantity": 2500,
                        "order_type": "MARKET"}
        index_option = {"exchange": "NFO", "tradingsymbol": symbol, "quantity": 40}
        far_buy = {**index_option, "price": on_grid(opt_ltp * Decimal("2.6"))}
        outside = {"price": on_grid(low - 0.05)}
        sl_wrong = {"order_type": "SL", "trigger_price": on_grid(up), "price": on_grid(up - 1)}
        refused(lambda: place(kite, **stock_option), errors.OPTION_MARKET)
        refused(lambda: place(kite, **index_option, order_type="MARKET"), errors.OPTION_MARKET)
        refused(lambda: place(kite, **far_buy), errors.OPTION_FAR_LIMIT)
        refused(lambda: place(kite, **outside), errors.CIRCUIT_LIMITS)
        refused(lambda: place(kite, **sl_wrong), errors.TRIGGER_ABOVE_PRICE)
        refused(lambda: place(kite, order_type="SL-M", transaction_type="SELL",
                              trigger_price=on_grid(up)), errors.TRIGGER_SELL)

        in_force = ex.realism(disable=["option_rules", "circuit_limits", "sl_checks"])
        assert not {"option_rules", "circuit_limits", "sl_checks"} & set(in_force)
        accepted = [place(kite, **stock_option), place(kite, **far_buy),
                    place(kite, **outside), place(kite, **sl_wrong)]
        rows = {o["order_id"]: o for o in kite.orders()}
        assert all(rows[i]["status"] != "REJECTED" for i in accepted)


def mis_quantity(kite: KiteConnect, symbol: str) -> int:
    return sum(p["quantity"] for p in kite.positions()["net"]
               if p["tradingsymbol"] == symbol and p["product"] == "MIS")


def test_the_broker_squares_off_mis_at_1520_then_refuses_fresh_mis_orders() -> None:
    with ExchangeProcess("--speed", "40", "--date", "2026-12-07T15:18") as ex:
        kite = ex.kite()
        quotes = kite.quote(["NSE:ADANIPORTS", "NSE:CDSL"])  # one call: quotes are 1/s
        price = Decimal(str(quotes["NSE:ADANIPORTS"]["last_price"]))
        entry = place(kite, quantity=3, tag="entry", price=on_grid(price * Decimal("1.01")))
        resting = place(kite, tradingsymbol="CDSL", tag="resting",
                        price=quotes["NSE:CDSL"]["lower_circuit_limit"])
        assert wait_for(lambda: mis_quantity(kite, "ADANIPORTS") == 3)
        assert datetime.fromisoformat(ex.clock()["now"]).time() < datetime(
            2026, 12, 7, 15, 20).time(), "the position came too late to be squared off"

        assert wait_for(lambda: mis_quantity(kite, "ADANIPORTS") == 0)
        orders = {o["order_id"]: o for o in kite.orders()}
        broker = [o for o in orders.values() if o["order_id"] not in (entry, resting)]
        assert [(o["tag"], o["product"], o["transaction_type"], o["tradingsymbol"],
                 o["status"], o["filled_quantity"], o["status_message"]) for o in broker] == [
            (None, "MIS", "SELL", "ADANIPORTS", "COMPLETE", 3,
             errors.SQUARED_OFF.format(time="15:20"))]
        assert (orders[resting]["status"], orders[resting]["status_message"]) == (
            "CANCELLED", errors.SQUARE_OFF_CANCELLED.format(time="15:20"))
        assert broker[0]["order_id"] in {t["order_id"] for t in kite.trades()}

        fresh = {"price": on_grid(price * Decimal("0.95"))}
        refused(lambda: place(kite, **fresh), errors.MIS_AFTER_SQUARE_OFF.format(time="15:20"))
        assert place(kite, **fresh, product="CNC")  # delivery is not intraday
        assert "mis_square_off" not in ex.realism(disable=["mis_square_off"])
        assert place(kite, **fresh)


def test_kites_request_rates_and_historical_caps_answer_as_kite_does() -> None:
    with ExchangeProcess("--speed", "1", "--date", "2026-12-07T10:00") as ex:
        kite = ex.kite()
        floor = kite.quote("NSE:ADANIPORTS")["NSE:ADANIPORTS"]["lower_circuit_limit"]

        orders = burst([lambda: place(kite, price=floor)] * 11)
        assert [too_many(r) for r in orders] == [False] * 10 + [True], orders
        quotes = burst([lambda: kite.ltp("NSE:ADANIPORTS"), lambda: kite.quote("NSE:CDSL")])
        assert [too_many(r) for r in quotes] == [False, True], quotes
        day = "2026-12-07"
        candles = burst([lambda: kite.historical_data(3861249, day, day, "minute")] * 4)
        assert [too_many(r) for r in candles] == [False] * 3 + [True], candles
        others = burst([kite.profile] * 11)
        assert [too_many(r) for r in others] == [False] * 10 + [True], others

        start = datetime(2026, 12, 7, 9, 15)  # the rest of each range lies ahead: cheap
        for interval, days in (("minute", 60), ("5minute", 100), ("30minute", 200),
                               ("60minute", 400), ("day", 2000)):
            fits, over = burst([
                lambda i=interval, d=days: kite.historical_data(
                    3861249, start, start + timedelta(days=d), i),
                lambda i=interval, d=days: kite.historical_data(
                    3861249, start, start + timedelta(days=d + 1), i)])
            assert isinstance(fits, list), fits
            assert isinstance(over, kex.InputException), over
            assert str(over) == errors.HISTORICAL_RANGE.format(days=days)

        assert "rate_limits" not in ex.realism(disable=["rate_limits"])
        unlimited = burst([lambda: kite.ltp("NSE:ADANIPORTS")] * 3
                          + [lambda: place(kite, price=floor)] * 12)
        assert not any(isinstance(r, Exception) for r in unlimited), unlimited
