"""The order lifecycle of ``python bot.py exchange``, in its own process, through the real
kiteconnect clients: protected MARKET orders, partial fills, interim statuses, transient
refusals, 19-digit ids and the LPP cancellation, and each of them switched off by name
through ``/sim/realism``.

The exchange runs at 60x; tests poll its order book until a deadline (or wait for ticker
messages), never for a fixed time.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from kiteconnect import KiteConnect, KiteTicker
from kiteconnect import exceptions as kex

from tests.exchange_proc import ExchangeProcess
from tests.sim.conftest import Recorder, close_ticker, connect_ticker

T = TypeVar("T")
WAIT = 15.0
INSTRUMENTS = "agent/sim/data/instruments_all.csv"  # NSE shares and NFO options
# These tests poll the order book faster than Kite's rates allow, and place stop-losses
# near the LTP and option orders far from it: the request-time rules are not their subject.
UNRELATED = "rate_limits,sl_checks,option_rules"
INTERIM = ["PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "OPEN PENDING"]
BEING_PROCESSED = "Order cannot be {} as it is being processed. Try later."
LPP = ("The order was cancelled by the exchange because the price is outside the current "
       "allowed limit price protection range")


def until(fetch: Callable[[], T], done: Callable[[T], bool], what: str,
          timeout: float = WAIT) -> T:
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        value = fetch()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: never happened; last seen {value!r}")
        pause.wait(0.02)


@pytest.fixture(scope="module")
def ex() -> Iterator[ExchangeProcess]:
    with ExchangeProcess("--speed", "60", "--date", "2026-12-07T10:00", "--instruments",
                         INSTRUMENTS, "--realism-off", UNRELATED) as process:
        yield process


@pytest.fixture(scope="module")
def kite(ex: ExchangeProcess) -> KiteConnect:
    return ex.kite()


@pytest.fixture()
def without(ex: ExchangeProcess) -> Iterator[Callable[[str], None]]:
    """Switch a rule off for one test; every rule is back on afterwards."""
    switched: list[str] = []

    def off(name: str) -> None:
        assert name not in ex.realism(disable=[name])
        switched.append(name)

    yield off
    if switched:
        ex.realism(enable=switched)


def ltp(kite: KiteConnect, key: str = "NSE:ADANIPORTS") -> Decimal:
    return Decimal(str(kite.ltp(key)[key]["last_price"]))


def grid(price: Decimal, tick: str = "0.05") -> float:
    return float((price / Decimal(tick)).quantize(Decimal(1)) * Decimal(tick))


def place(kite: KiteConnect, quantity: int = 1, order_type: str = "LIMIT", **kw: Any) -> str:
    return kite.place_order("regular", kw.pop("exchange", "NSE"),
                            kw.pop("tradingsymbol", "ADANIPORTS"),
                            kw.pop("transaction_type", "BUY"), quantity, "MIS", order_type, **kw)


def cancel_quietly(kite: KiteConnect, order_id: str) -> None:
    """Clean up an order that may have moved on meanwhile (filled, triggered, cancelled)."""
    with contextlib.suppress(kex.OrderException, kex.InputException):
        kite.cancel_order("regular", order_id)


def last(kite: KiteConnect, order_id: str) -> dict[str, Any]:
    return kite.order_history(order_id)[-1]


def reaches(kite: KiteConnect, order_id: str, *statuses: str) -> dict[str, Any]:
    return until(lambda: last(kite, order_id), lambda r: r["status"] in statuses,
                 f"order {order_id} {' or '.join(statuses)}")


def far_below(kite: KiteConnect) -> float:
    return grid(ltp(kite) * Decimal("0.9"))


def depth_total(kite: KiteConnect) -> int:
    quote = kite.quote("NSE:ADANIPORTS")["NSE:ADANIPORTS"]
    return sum(level["quantity"] for level in quote["depth"]["sell"])


# ----- market protection -----
def test_a_protected_market_order_is_a_limit_with_mktp_tags(kite: KiteConnect) -> None:
    order_id = place(kite, order_type="MARKET", market_protection=2, tag="proc1")
    row = reaches(kite, order_id, "COMPLETE")
    assert len(order_id) == 19 and order_id.isdigit()
    assert (row["order_type"], row["market_protection"]) == ("LIMIT", 0)
    assert (row["tag"], row["tags"]) == ("proc1", ["proc1", "mktp", "mktp:2.00"])
    assert row["average_price"] <= row["price"] <= float(ltp(kite) * Decimal("1.03"))
    first = kite.order_history(order_id)[0]
    assert (first["order_type"], first["price"], first["market_protection"]) == ("MARKET", 0, 2)


def test_the_unfilled_rest_of_a_protected_order_stays_open_until_cancelled(
        kite: KiteConnect) -> None:
    quantity = 20 * depth_total(kite)  # far more than the book shows at once
    order_id = place(kite, quantity, order_type="MARKET", market_protection=0.05)
    row = until(lambda: last(kite, order_id),
                lambda r: r["status"] == "OPEN" and r["pending_quantity"] > 0,
                "open with a rest")
    assert row["order_type"] == "LIMIT" and row["tags"][0] == "mktp"
    kite.cancel_order("regular", order_id)
    done = reaches(kite, order_id, "CANCELLED")
    assert done["filled_quantity"] < quantity
    assert done["cancelled_quantity"] == quantity - done["filled_quantity"]
    assert all(t["average_price"] <= done["price"] for t in kite.order_trades(order_id))


def test_market_protection_switched_off(kite: KiteConnect,
                                        without: Callable[[str], None]) -> None:
    without("market_protection")
    row = reaches(kite, place(kite, order_type="MARKET", market_protection=2), "COMPLETE")
    assert (row["order_type"], row["price"], row["tags"]) == ("MARKET", 0, [])


# ----- partial fills -----
def test_a_large_order_fills_in_several_trades_with_update_messages(
        ex: ExchangeProcess, kite: KiteConnect) -> None:
    tick = KiteTicker(ex.api_key, kite.access_token, root=ex.ws_root)
    rec = Recorder()
    rec.attach(tick)
    connect_ticker(tick)
    try:
        assert rec.wait_for(lambda: rec.connects >= 1, WAIT)
        quantity = 3 * depth_total(kite)
        order_id = place(kite, quantity, price=grid(ltp(kite) * Decimal("1.01")))
        row = reaches(kite, order_id, "COMPLETE")

        def updates() -> list[dict[str, Any]]:
            with rec.lock:
                return [o for o in rec.orders
                        if o["order_id"] == order_id and o["status"] == "UPDATE"]

        trades = kite.order_trades(order_id)
        assert len(trades) >= 2 and sum(t["quantity"] for t in trades) == quantity
        assert rec.wait_for(lambda: len(updates()) == len(trades) - 1, WAIT)
        assert all(u["filled_quantity"] + u["pending_quantity"] == quantity for u in updates())
        paid = sum(Decimal(str(t["average_price"])) * t["quantity"] for t in trades)
        assert abs(paid / quantity - Decimal(str(row["average_price"]))) < Decimal("0.0001")
    finally:
        close_ticker(tick, rec)


def test_partial_fills_switched_off(kite: KiteConnect,
                                    without: Callable[[str], None]) -> None:
    without("partial_fills")
    quantity = 3 * depth_total(kite)
    order_id = place(kite, quantity, price=grid(ltp(kite) * Decimal("1.01")))
    reaches(kite, order_id, "COMPLETE")
    assert [t["quantity"] for t in kite.order_trades(order_id)] == [quantity]


# ----- interim statuses -----
def test_the_order_history_shows_every_interim_status(kite: KiteConnect) -> None:
    order_id = place(kite, price=far_below(kite))
    reaches(kite, order_id, "OPEN")
    history = kite.order_history(order_id)
    assert [h["status"] for h in history] == [*INTERIM, "OPEN"]
    assert [h["exchange_order_id"] for h in history][:3] == [None] * 3
    assert history[-1]["exchange_order_id"]
    kite.cancel_order("regular", order_id)
    reaches(kite, order_id, "CANCELLED")
    assert [h["status"] for h in kite.order_history(order_id)][-2:] == [
        "CANCEL PENDING", "CANCELLED"]


def test_interim_statuses_switched_off(kite: KiteConnect,
                                       without: Callable[[str], None]) -> None:
    without("interim_statuses")
    order_id = place(kite, price=far_below(kite))
    assert last(kite, order_id)["status"] == "OPEN"  # nothing to wait for
    kite.cancel_order("regular", order_id)
    assert last(kite, order_id)["status"] == "CANCELLED"


# ----- transient refusals -----
def test_a_modify_or_cancel_of_an_order_being_processed_is_refused(
        ex: ExchangeProcess, kite: KiteConnect) -> None:
    ex.faults(hold_pending={"n": 1, "seconds": 600})  # ten minutes of the exchange's clock
    order_id = place(kite, price=far_below(kite))
    reaches(kite, order_id, "OPEN PENDING")
    with pytest.raises(kex.InputException) as modify:
        kite.modify_order("regular", order_id, price=far_below(kite) - 1)
    assert (str(modify.value), modify.value.code) == (BEING_PROCESSED.format("modified"), 400)
    with pytest.raises(kex.InputException) as cancel:
        kite.cancel_order("regular", order_id)
    assert (str(cancel.value), cancel.value.code) == (BEING_PROCESSED.format("cancelled"), 400)
    assert last(kite, order_id)["status"] == "OPEN PENDING"


def test_transient_refusals_switched_off(ex: ExchangeProcess, kite: KiteConnect,
                                         without: Callable[[str], None]) -> None:
    without("transient_refusals")
    ex.faults(hold_pending={"n": 1, "seconds": 600})
    order_id = place(kite, price=far_below(kite))
    reaches(kite, order_id, "OPEN PENDING")
    price = far_below(kite) - 1
    kite.modify_order("regular", order_id, price=price)
    assert (last(kite, order_id)["status"], last(kite, order_id)["price"]) == (
        "OPEN PENDING", price)
    kite.cancel_order("regular", order_id)
    assert last(kite, order_id)["status"] == "CANCELLED"


def test_a_modify_right_after_the_placement_finds_no_order() -> None:
    # the clock stands still: every request comes within the first milliseconds
    with ExchangeProcess("--speed", "0.000001", "--date", "2026-12-07T10:00",
                         "--realism-off", UNRELATED) as frozen:
        kite = frozen.kite()
        order_id = place(kite, price=far_below(kite))
        with pytest.raises(kex.OrderException) as caught:
            kite.modify_order("regular", order_id, price=far_below(kite) - 1)
        assert str(caught.value) == f"The order for ID ({order_id}) does not exist"
        assert frozen.realism(disable=["transient_refusals"])
        kite.modify_order("regular", order_id, price=far_below(kite) - 1)  # now carried out


# ----- order ids -----
def test_order_ids_have_19_digits_and_are_unique(kite: KiteConnect) -> None:
    ids = [place(kite, price=far_below(kite)) for _ in range(5)]
    assert all(len(i) == 19 and i.isdigit() for i in ids) and len(set(ids)) == 5
    assert ids == sorted(ids)
    for order_id in ids:
        reaches(kite, order_id, "OPEN")
        cancel_quietly(kite, order_id)


# ----- limit price protection -----
def _option(kite: KiteConnect) -> tuple[str, Decimal]:
    """An NFO option trading above 50 (its LPP range is then +/- 40 %)."""
    options = [f"NFO:{i['tradingsymbol']}" for i in kite.instruments("NFO")]
    quotes = kite.ltp(*options)
    key = next(k for k in options if quotes[k]["last_price"] > 60)
    return key.split(":")[1], Decimal(str(quotes[key]["last_price"]))


def _first_triggered(kite: KiteConnect) -> dict[str, Any]:
    symbol, price = _option(kite)
    lot = next(i["lot_size"] for i in kite.instruments("NFO") if i["tradingsymbol"] == symbol)
    tick = Decimal("0.05")
    both = [place(kite, lot, "SL", exchange="NFO", tradingsymbol=symbol,
                  trigger_price=grid(price + 2 * tick), price=grid(price * Decimal("1.45"))),
            place(kite, lot, "SL", exchange="NFO", tradingsymbol=symbol,
                  transaction_type="SELL", trigger_price=grid(price - 2 * tick),
                  price=grid(price * Decimal("0.55")))]
    waiting = ("TRIGGER PENDING", *INTERIM)
    rows = until(lambda: [last(kite, i) for i in both],
                 lambda rs: any(r["status"] not in waiting for r in rs), "a trigger", 60)
    for row in rows:
        if row["status"] in waiting:
            cancel_quietly(kite, row["order_id"])
    return next(r for r in rows if r["status"] not in waiting)


def test_an_sl_triggered_outside_the_lpp_range_is_cancelled_by_the_exchange(
        kite: KiteConnect) -> None:
    row = _first_triggered(kite)
    assert (row["status"], row["status_message"], row["filled_quantity"]) == (
        "CANCELLED", LPP, 0)


def test_lpp_switched_off(kite: KiteConnect, without: Callable[[str], None]) -> None:
    without("circuit_limits")
    row = _first_triggered(kite)
    assert row["status"] in ("OPEN", "COMPLETE") and row["status_message"] is None
    if row["status"] == "OPEN":
        cancel_quietly(kite, row["order_id"])
