"""The order lifecycle of the simulated exchange, as Kite's in 2026, through the real clients.

Each realism rule of the lifecycle (``agent.sim.realism``) is shown on, then switched off
by name: market protection, partial fills, interim statuses, transient refusals, the LPP
cancellation (``circuit_limits``), and Kite's order ids. Every test polls the order book
(bounded by a deadline) or waits for ticker messages; the exchange runs at 60x, and what
is asserted about time is read on the exchange's clock.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any, TypeVar

import pytest
from kiteconnect import KiteConnect, KiteTicker
from kiteconnect import exceptions as kex

from agent.sim import errors
from agent.sim.lifecycle import LONG_SECONDS, STEP_SECONDS
from agent.sim.orders import SimOrder
from agent.sim.realism import Realism
from agent.sim.server import SimExchange
from agent.timeutil import IST
from tests.sim.conftest import (
    ADANIPORTS,
    BANKNIFTY_CE,
    WAIT,
    Recorder,
    close_ticker,
    connect_ticker,
    kite_for,
)

T = TypeVar("T")
START = datetime(2024, 1, 15, 10, 0, tzinfo=IST)
OPTION = "BANKNIFTY18JAN23500CE"
INTERIM = ["PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "OPEN PENDING"]
# Every test here polls the order book faster than Kite's 10 requests a second allow, and
# some place stop-losses near the LTP or option orders far from it: those rules (of the
# request-time checks and rate limits) are not what this file is about.
UNRELATED = ("rate_limits", "sl_checks", "option_rules")


def until(fetch: Callable[[], T], done: Callable[[T], bool], what: str,
          timeout: float = WAIT) -> T:
    """Poll ``fetch`` until ``done`` says yes, at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        value = fetch()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: never happened; last seen {value!r}")
        pause.wait(0.01)


@pytest.fixture()
def exchange(fresh_sim: Callable[..., SimExchange]) -> Callable[..., SimExchange]:
    """A started exchange with every lifecycle rule on except those named."""
    def make(*off: str, **options: Any) -> SimExchange:
        options.setdefault("start", START)
        return fresh_sim(realism=Realism.all_but(*UNRELATED, *off), **options)
    return make


@pytest.fixture()
def messages() -> Iterator[Callable[[SimExchange, KiteConnect], Recorder]]:
    """Order messages of a KiteTicker on an exchange (closed afterwards)."""
    opened: list[tuple[KiteTicker, Recorder]] = []

    def listen(sim: SimExchange, kite: KiteConnect) -> Recorder:
        tick = KiteTicker(sim.api_key, kite.access_token, root=sim.ws_root)
        rec = Recorder()
        rec.attach(tick)
        connect_ticker(tick)
        opened.append((tick, rec))
        assert rec.wait_for(lambda: rec.connects >= 1), "the ticker did not connect"
        return rec

    yield listen
    for tick, rec in opened:
        close_ticker(tick, rec)


def buy(kite: KiteConnect, quantity: int = 1, order_type: str = "LIMIT", **kw: Any) -> str:
    return kite.place_order("regular", kw.pop("exchange", "NSE"),
                            kw.pop("tradingsymbol", "ADANIPORTS"),
                            kw.pop("transaction_type", "BUY"), quantity, "MIS", order_type, **kw)


def last(kite: KiteConnect, order_id: str) -> dict[str, Any]:
    return kite.order_history(order_id)[-1]


def status_of(kite: KiteConnect, order_id: str, *statuses: str) -> dict[str, Any]:
    return until(lambda: last(kite, order_id), lambda row: row["status"] in statuses,
                 f"order {order_id} {' or '.join(statuses)}")


def sim_order(sim: SimExchange, order_id: str) -> SimOrder:
    """The exchange's own record of an order, with its exact (microsecond) history."""
    return sim.call(lambda core: core.book.orders[order_id])


def ltp_at(sim: SimExchange, token: int, when: datetime) -> Decimal:
    return sim.call(lambda core: core.market.ltp(token, core.market.second_of(when)))


def far_below(sim: SimExchange) -> float:
    """A buy price that never fills in these tests (inside the circuit)."""
    return float((sim.ltp(ADANIPORTS) * Decimal("0.9")).quantize(Decimal(1)))


def cancel_quietly(kite: KiteConnect, order_id: str) -> None:
    """Clean up an order that may have moved on meanwhile (filled, triggered, cancelled)."""
    with contextlib.suppress(kex.OrderException, kex.InputException):
        kite.cancel_order("regular", order_id)


def of(rec: Recorder, order_id: str) -> list[dict[str, Any]]:
    with rec.lock:
        return [o for o in rec.orders if o["order_id"] == order_id]


# ----- order ids and tags -----
def test_order_ids_are_19_digit_snowflakes_unique_in_a_run_and_tags_are_kept(
        exchange: Callable[..., SimExchange]) -> None:
    sim = exchange(freeze_quantities={BANKNIFTY_CE: 400})
    kite = kite_for(sim)
    ids = [buy(kite, price=far_below(sim), tag=f"t{i}") for i in range(3)]
    option_ltp = sim.ltp(BANKNIFTY_CE)
    sliced = kite.place_autoslice_order("regular", "NFO", OPTION, "BUY", 600, "NRML", "LIMIT",
                                        price=float(option_ltp - 5), tag="slices")
    children = [c["order_id"] for c in sliced["children"]]
    everything = [*ids, sliced["order_id"], *children]
    assert all(len(i) == 19 and i.isdigit() for i in everything), everything
    assert len(set(everything)) == len(everything)
    assert [int(i) for i in ids] == sorted(int(i) for i in ids)
    placed = sim_order(sim, ids[0]).accepted_at
    assert placed is not None  # a snowflake of the exchange's time of placement, as Kite's
    assert abs((int(ids[0]) >> 22) + 1_288_834_974_657 - placed.timestamp() * 1000) < 2
    rows = {o["order_id"]: o for o in kite.orders()}
    assert (rows[ids[1]]["tag"], rows[ids[1]]["tags"]) == ("t1", ["t1"])
    child = rows[children[0]]
    assert child["tag"] == "slices"
    assert child["tags"] == ["slices", "autoslice", f"autoslice:{sliced['order_id']}"]


# ----- market protection -----
def test_a_protected_market_order_becomes_a_limit_at_the_protection_price(
        exchange: Callable[..., SimExchange]) -> None:
    sim = exchange()
    kite = kite_for(sim)
    order_id = buy(kite, order_type="MARKET", market_protection=2, tag="mp1")
    row = status_of(kite, order_id, "COMPLETE")
    history = kite.order_history(order_id)
    assert (history[0]["order_type"], history[0]["price"], history[0]["market_protection"]) \
        == ("MARKET", 0, 2)
    opened = next(h for h in sim_order(sim, order_id).history if h.status == "OPEN")
    assert opened.changed_at is not None
    ltp = ltp_at(sim, ADANIPORTS, opened.changed_at)
    cap = (ltp * Decimal("1.02") / Decimal("0.05")).to_integral_value(ROUND_FLOOR) \
        * Decimal("0.05")  # never above LTP + 2 %
    assert (row["order_type"], Decimal(str(row["price"])), row["market_protection"]) == (
        "LIMIT", cap, 0)
    assert (row["tag"], row["tags"]) == ("mp1", ["mp1", "mktp", "mktp:2.00"])
    assert row["average_price"] <= row["price"]


def test_automatic_protection_takes_zerodhas_band_for_the_price(
        exchange: Callable[..., SimExchange]) -> None:
    sim = exchange()
    kite = kite_for(sim)
    order_id = buy(kite, order_type="MARKET", transaction_type="SELL", market_protection=-1)
    row = status_of(kite, order_id, "COMPLETE")
    assert row["tags"] == ["mktp", "mktp:0.50"]  # equity above 500 rupees: 0.5 %
    assert row["order_type"] == "LIMIT" and row["average_price"] >= row["price"]


def test_what_the_book_cannot_fill_at_the_protection_price_rests_open_until_cancelled(
        exchange: Callable[..., SimExchange]) -> None:
    sim = exchange()
    kite = kite_for(sim)
    quantity = 20_000  # ten times the depth a second shows at most
    order_id = buy(kite, quantity, order_type="MARKET", market_protection=0.05)
    row = until(lambda: last(kite, order_id),
                lambda r: r["status"] == "OPEN" and 0 < r["filled_quantity"] < quantity,
                "a part filled, the rest open")
    assert row["order_type"] == "LIMIT" and row["pending_quantity"] == \
        quantity - row["filled_quantity"]
    kite.cancel_order("regular", order_id)
    done = status_of(kite, order_id, "CANCELLED")
    assert 0 < done["filled_quantity"] < quantity
    assert done["cancelled_quantity"] == done["pending_quantity"] == \
        quantity - done["filled_quantity"]
    trades = kite.order_trades(order_id)
    assert sum(t["quantity"] for t in trades) == done["filled_quantity"]
    assert all(t["average_price"] <= done["price"] for t in trades)  # never beyond the cap


def test_a_triggered_slm_becomes_a_protected_limit(exchange: Callable[..., SimExchange]) -> None:
    sim = exchange()
    kite = kite_for(sim)
    ltp = sim.ltp(ADANIPORTS)
    up = buy(kite, order_type="SL-M", trigger_price=float(ltp + Decimal("0.25")),
             market_protection=1)
    down = buy(kite, order_type="SL-M", transaction_type="SELL",
               trigger_price=float(ltp - Decimal("0.25")), market_protection=1)
    fired = until(lambda: [last(kite, up), last(kite, down)],
                  lambda rows: any(r["status"] == "COMPLETE" for r in rows),
                  "one stop-loss triggered and filled")
    row = next(r for r in fired if r["status"] == "COMPLETE")
    assert (row["order_type"], row["tags"]) == ("LIMIT", ["mktp", "mktp:1.00"])
    statuses = [h["status"] for h in kite.order_history(row["order_id"])]
    assert statuses[3:5] == ["TRIGGER PENDING", "OPEN"] and statuses[-1] == "COMPLETE"
    for order_id in (up, down):
        cancel_quietly(kite, order_id)


def test_market_protection_switched_off_leaves_a_market_order(
        exchange: Callable[..., SimExchange]) -> None:
    sim = exchange("market_protection")
    kite = kite_for(sim)
    order_id = buy(kite, order_type="MARKET", market_protection=2)
    row = status_of(kite, order_id, "COMPLETE")
    assert (row["order_type"], row["price"], row["tags"]) == ("MARKET", 0, [])


# ----- partial fills -----
def test_a_large_order_fills_in_several_trades_over_seconds_with_update_messages(
        exchange: Callable[..., SimExchange],
        messages: Callable[[SimExchange, KiteConnect], Recorder]) -> None:
    sim = exchange()
    kite = kite_for(sim)
    rec = messages(sim, kite)
    quantity = 5_000
    price = float((sim.ltp(ADANIPORTS) * Decimal("1.01")).quantize(Decimal(1)))
    order_id = buy(kite, quantity, price=price)
    assert rec.wait_for(lambda: any(m["status"] == "COMPLETE" for m in of(rec, order_id)))
    sent = of(rec, order_id)
    updates = [m for m in sent if m["status"] == "UPDATE"]
    trades = kite.order_trades(order_id)
    assert len(trades) >= 3 and len(updates) == len(trades) - 1
    assert len({t["fill_timestamp"] for t in trades}) >= 2  # over successive seconds
    filled = [m["filled_quantity"] for m in updates]
    assert filled == sorted(filled) and filled[0] > 0 and filled[-1] < quantity
    for m in updates:
        assert m["pending_quantity"] == m["unfilled_quantity"] == quantity - m["filled_quantity"]
    row = last(kite, order_id)
    weighted = sum(Decimal(str(t["average_price"])) * t["quantity"] for t in trades) / quantity
    assert abs(Decimal(str(row["average_price"])) - weighted) < Decimal("0.0001")
    assert (row["filled_quantity"], row["pending_quantity"]) == (quantity, 0)
    statuses = [h["status"] for h in kite.order_history(order_id)]
    assert statuses[:4] == [*INTERIM, "OPEN"] and statuses[-1] == "COMPLETE"
    assert set(statuses[4:-1]) <= {"OPEN"}  # a partial fill leaves the row OPEN


def test_partial_fills_switched_off_fill_whole(exchange: Callable[..., SimExchange]) -> None:
    sim = exchange("partial_fills")
    kite = kite_for(sim)
    price = float((sim.ltp(ADANIPORTS) * Decimal("1.01")).quantize(Decimal(1)))
    order_id = buy(kite, 5_000, price=price)
    status_of(kite, order_id, "COMPLETE")
    assert [t["quantity"] for t in kite.order_trades(order_id)] == [5_000]


# ----- interim statuses -----
def test_an_order_goes_through_the_interim_statuses_on_the_exchanges_clock(
        exchange: Callable[..., SimExchange],
        messages: Callable[[SimExchange, KiteConnect], Recorder]) -> None:
    sim = exchange()
    kite = kite_for(sim)
    rec = messages(sim, kite)
    order_id = buy(kite, price=far_below(sim))
    status_of(kite, order_id, "OPEN")
    history = kite.order_history(order_id)
    assert [h["status"] for h in history] == [*INTERIM, "OPEN"]
    assert [h["exchange_order_id"] for h in history[:3]] == [None] * 3
    assert history[3]["exchange_order_id"] and history[3]["exchange_timestamp"]
    assert rec.wait_for(lambda: len(of(rec, order_id)) == 4)
    assert [m["status"] for m in of(rec, order_id)] == [*INTERIM, "OPEN"]
    steps = [h.changed_at for h in sim_order(sim, order_id).history]
    for a, b in itertools.pairwise(steps):
        assert a is not None and b is not None
        assert timedelta(seconds=STEP_SECONDS[0]) <= b - a <= timedelta(seconds=LONG_SECONDS[1])
    kite.modify_order("regular", order_id, price=far_below(sim) - 1)
    status_of(kite, order_id, "OPEN")
    assert [h["status"] for h in kite.order_history(order_id)][4:] == [
        "MODIFY VALIDATION PENDING", "MODIFY PENDING", "MODIFIED", "OPEN"]
    assert rec.wait_for(lambda: len(of(rec, order_id)) == 7)
    assert [m["status"] for m in of(rec, order_id)][4:] == [
        "MODIFY VALIDATION PENDING", "MODIFY PENDING", "UPDATE"]
    kite.cancel_order("regular", order_id)
    status_of(kite, order_id, "CANCELLED")
    assert [h["status"] for h in kite.order_history(order_id)][-2:] == [
        "CANCEL PENDING", "CANCELLED"]


def test_the_interim_delays_are_on_the_exchanges_clock_whatever_its_speed(
        exchange: Callable[..., SimExchange]) -> None:
    def steps(speed: float) -> list[timedelta]:
        sim = exchange(speed=speed, seed=11)
        order_id = buy(kite_for(sim), price=far_below(sim))
        until(lambda: sim_order(sim, order_id).status, lambda s: s == "OPEN", "open")
        times = [h.changed_at for h in sim_order(sim, order_id).history]
        return [b - a for a, b in itertools.pairwise(times)]  # type: ignore[operator]

    assert steps(60) == steps(600)  # the same seeded delays, in exchange time


def test_a_held_order_fills_only_once_it_is_open(exchange: Callable[..., SimExchange]) -> None:
    sim = exchange()
    kite = kite_for(sim)
    sim.faults.hold_pending(1, seconds=30)
    order_id = buy(kite, order_type="MARKET", market_protection=2)
    row = status_of(kite, order_id, "OPEN PENDING")
    assert (row["filled_quantity"], row["exchange_order_id"]) == (0, None)
    assert kite.order_trades(order_id) == []
    status_of(kite, order_id, "COMPLETE")
    order = sim_order(sim, order_id)
    opened = next(h.changed_at for h in order.history if h.status == "OPEN")
    held = next(h.changed_at for h in order.history if h.status == "OPEN PENDING")
    assert opened is not None and held is not None and opened - held == timedelta(seconds=30)
    fills = sim.call(lambda core: [t.time for t in core.book.trades if t.order_id == order_id])
    assert fills and min(fills) >= opened


def test_interim_statuses_switched_off_are_recorded_at_once_without_messages(
        exchange: Callable[..., SimExchange],
        messages: Callable[[SimExchange, KiteConnect], Recorder]) -> None:
    sim = exchange("interim_statuses")
    kite = kite_for(sim)
    rec = messages(sim, kite)
    order_id = buy(kite, price=far_below(sim))
    assert last(kite, order_id)["status"] == "OPEN"  # at once: nothing to wait for
    times = {h.changed_at for h in sim_order(sim, order_id).history}
    assert len(times) == 1
    kite.modify_order("regular", order_id, price=far_below(sim) - 1)
    kite.cancel_order("regular", order_id)
    assert last(kite, order_id)["status"] == "CANCELLED"
    assert rec.wait_for(lambda: len(of(rec, order_id)) == 3)
    assert [m["status"] for m in of(rec, order_id)] == ["OPEN", "UPDATE", "CANCELLED"]


# ----- transient refusals -----
def test_a_modify_or_cancel_while_the_order_is_being_processed_is_refused(
        exchange: Callable[..., SimExchange]) -> None:
    sim = exchange()
    kite = kite_for(sim)
    sim.faults.hold_pending(1, seconds=120)
    order_id = buy(kite, price=far_below(sim))
    status_of(kite, order_id, "OPEN PENDING")
    with pytest.raises(kex.InputException) as modify:
        kite.modify_order("regular", order_id, price=far_below(sim) - 1)
    assert (str(modify.value), modify.value.code) == (errors.MODIFY_BEING_PROCESSED, 400)
    with pytest.raises(kex.InputException) as cancel:
        kite.cancel_order("regular", order_id)
    assert (str(cancel.value), cancel.value.code) == (errors.CANCEL_BEING_PROCESSED, 400)
    assert last(kite, order_id)["status"] == "OPEN PENDING"


def test_a_modify_milliseconds_after_the_placement_finds_no_order(
        exchange: Callable[..., SimExchange]) -> None:
    sim = exchange(speed=1e-6)  # the clock stands: every request comes within 5 ms
    kite = kite_for(sim)
    order_id = buy(kite, price=900)
    with pytest.raises(kex.OrderException) as caught:
        kite.modify_order("regular", order_id, price=901)
    assert str(caught.value) == f"The order for ID ({order_id}) does not exist"
    assert caught.value.code == 400


def test_transient_refusals_switched_off_carry_the_request_out_at_once(
        exchange: Callable[..., SimExchange]) -> None:
    sim = exchange("transient_refusals")
    kite = kite_for(sim)
    sim.faults.hold_pending(1, seconds=120)
    order_id = buy(kite, price=far_below(sim))
    status_of(kite, order_id, "OPEN PENDING")
    kite.modify_order("regular", order_id, price=far_below(sim) - 1)
    row = last(kite, order_id)
    assert (row["status"], row["price"]) == ("OPEN PENDING", far_below(sim) - 1)
    kite.cancel_order("regular", order_id)
    assert last(kite, order_id)["status"] == "CANCELLED"


# ----- limit price protection -----
def _stop_losses(kite: KiteConnect, sim: SimExchange) -> tuple[str, str]:
    """An option SL each way, 2 ticks from the LTP, their limits 45 % beyond it."""
    ltp = sim.ltp(BANKNIFTY_CE)
    tick = Decimal("0.05")

    def grid(p: Decimal) -> float:
        return float((p / tick).quantize(Decimal(1)) * tick)

    up = buy(kite, 40, "SL", exchange="NFO", tradingsymbol=OPTION,
             trigger_price=grid(ltp + 2 * tick), price=grid(ltp * Decimal("1.45")))
    down = buy(kite, 40, "SL", exchange="NFO", tradingsymbol=OPTION, transaction_type="SELL",
               trigger_price=grid(ltp - 2 * tick), price=grid(ltp * Decimal("0.55")))
    return up, down


def _first_triggered(kite: KiteConnect, ids: tuple[str, str]) -> dict[str, Any]:
    rows = until(lambda: [last(kite, i) for i in ids],
                 lambda rs: any(r["status"] not in ("TRIGGER PENDING", *INTERIM) for r in rs),
                 "a stop-loss triggered")
    for row in rows:
        if row["status"] == "TRIGGER PENDING":
            cancel_quietly(kite, row["order_id"])
    return next(r for r in rows if r["status"] not in ("TRIGGER PENDING", *INTERIM))


def test_an_sl_triggered_outside_the_lpp_range_is_cancelled_by_the_exchange(
        exchange: Callable[..., SimExchange]) -> None:
    sim = exchange()
    kite = kite_for(sim)
    row = _first_triggered(kite, _stop_losses(kite, sim))
    assert (row["status"], row["status_message"]) == ("CANCELLED", errors.LPP_CANCELLED)
    assert row["filled_quantity"] == 0 and row["cancelled_quantity"] == 40
    assert [h["status"] for h in kite.order_history(row["order_id"])][-2:] == [
        "TRIGGER PENDING", "CANCELLED"]


def test_lpp_switched_off_leaves_the_triggered_sl_working(
        exchange: Callable[..., SimExchange]) -> None:
    sim = exchange("circuit_limits")
    kite = kite_for(sim)
    row = _first_triggered(kite, _stop_losses(kite, sim))
    assert row["status"] in ("OPEN", "COMPLETE") and row["status_message"] is None
    if row["status"] == "OPEN":
        cancel_quietly(kite, row["order_id"])
