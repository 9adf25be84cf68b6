"""The Kite adapter's pure rules: statuses, rounding, lots, slices, the aggregate of one
engine order over its Kite orders, rate windows, backoff, failure classes, and the
reconciliation of order-book and position rows."""

from __future__ import annotations

import math
import random
from collections import Counter
from decimal import Decimal

import pytest
import requests
from kiteconnect import exceptions as kex
from urllib3.exceptions import NewConnectionError, ProtocolError

from agent.adapters.kite_orders import (
    Child,
    ChildState,
    Tracked,
    aggregate,
    lot_problem,
    round_limit,
    round_trigger,
    slices,
    to_tick,
)
from agent.adapters.kite_reconcile import reconcile_rows
from agent.adapters.kite_rest import (
    Change,
    Failure,
    RateWindows,
    RetryPolicy,
    classify,
    classify_change,
)
from agent.adapters.kite_rows import KITE_STATUS, RowView, is_agent_tag, kite_status
from agent.models import Instrument, OrderPurpose, OrderStatus, OrderType, Side

S = OrderStatus
OPTION = Instrument(12073986, "NFO", "BANKNIFTY18JAN23500CE", Decimal("0.05"), 40, 900)
EQUITY = Instrument(3861249, "NSE", "ADANIPORTS", Decimal("0.05"))


def d(x: str) -> Decimal:
    return Decimal(x)


def view(status: OrderStatus | None, filled: int = 0, average: Decimal | None = None,
         quantity: int | None = None) -> RowView:
    """A parsed row with a known status (None: an interim one)."""
    return RowView(status, True, str(status), quantity, filled, average, "")


@pytest.mark.parametrize(("kite", "ours"), [
    ("OPEN", S.OPEN), ("COMPLETE", S.COMPLETE), ("CANCELLED", S.CANCELLED),
    ("REJECTED", S.REJECTED), ("TRIGGER PENDING", S.TRIGGER_PENDING),
    ("PUT ORDER REQ RECEIVED", S.PENDING), ("VALIDATION PENDING", S.PENDING),
    ("OPEN PENDING", S.PENDING), ("AMO REQ RECEIVED", S.PENDING),
    ("MODIFY VALIDATION PENDING", None), ("MODIFY PENDING", None), ("MODIFIED", None),
    ("CANCEL PENDING", None), ("UPDATE", None)])
def test_every_kite_status_string_has_a_meaning(kite: str, ours: OrderStatus | None) -> None:
    assert kite_status(kite) == (True, ours)


def test_an_unknown_status_is_reported_as_unknown() -> None:
    assert kite_status("LAPSED") == (False, None) and kite_status(None) == (False, None)
    assert len(KITE_STATUS) == 14


def test_prices_round_towards_execution_and_triggers_towards_the_market() -> None:
    tick = d("0.05")
    assert to_tick(d("100.02"), tick, up=True) == d("100.05")
    assert to_tick(d("100.02"), tick, up=False) == d("100.00")
    assert to_tick(d("100.05"), tick, up=True) == d("100.05")  # on the grid: unchanged
    assert to_tick(d("100.02"), Decimal(0), up=True) == d("100.02")  # no tick known
    assert round_limit(d("99.97"), Side.BUY, tick) == d("100.00")
    assert round_limit(d("99.97"), Side.SELL, tick) == d("99.95")
    assert round_trigger(d("99.97"), Side.SELL, tick) == d("100.00")  # a long's stop: up
    assert round_trigger(d("99.97"), Side.BUY, tick) == d("99.95")  # a short's stop: down
    assert round_limit(d("10.123"), Side.BUY, d("0.01")) == d("10.13")


def test_quantities_must_be_positive_whole_lots() -> None:
    assert lot_problem(80, OPTION) is None and lot_problem(7, EQUITY) is None
    assert lot_problem(30, OPTION) == ("quantity 30 is not a multiple of the lot size 40 of "
                                       "NFO:BANKNIFTY18JAN23500CE")
    assert "must be positive" in (lot_problem(0, EQUITY) or "")


def test_freeze_slices_are_whole_lots_no_larger_than_the_freeze_quantity() -> None:
    assert slices(2000, OPTION) == [880, 880, 240]
    assert slices(900, OPTION) == [900] and slices(880, OPTION) == [880]
    assert slices(1760, OPTION) == [880, 880]
    assert slices(5000, EQUITY) == [5000]  # no freeze quantity known
    tiny = Instrument(1, "NFO", "X", d("0.05"), lot_size=50, freeze_quantity=30)
    assert slices(100, tiny) == [50, 50]


def test_tags_of_the_agents_format_are_recognised() -> None:
    assert is_agent_tag("E24011500001") and is_agent_tag("S240115123456")
    assert not is_agent_tag("manual") and not is_agent_tag(None)
    assert not is_agent_tag("Q24011500001") and not is_agent_tag("E2401150001")


def tracked(quantity: int, *children: Child) -> Tracked:
    t = Tracked("E24011500001", OPTION, Side.BUY, quantity, OrderType.MARKET, "MIS", None, None)
    t.children = list(children)
    return t


def placed(quantity: int, status: OrderStatus, filled: int = 0, price: str = "0",
           **kw: object) -> Child:
    c = Child(quantity, state=ChildState.PLACED, order_id=f"id{quantity}{status}", **kw)
    c.status, c.filled, c.average = status, filled, d(price) if filled else None
    return c


def test_the_aggregate_sums_fills_and_weights_the_average() -> None:
    t = tracked(1760, placed(880, S.COMPLETE, 880, "250.05"), placed(880, S.OPEN, 440, "250.10"))
    agg = aggregate(t)
    assert (agg.status, agg.filled) == (S.OPEN, 1320)
    assert agg.average == (d("250.05") * 880 + d("250.10") * 440) / 1320
    t.children[1].apply(view(S.COMPLETE, 880, d("250.10")))
    assert (aggregate(t).status, aggregate(t).filled) == (S.COMPLETE, 1760)


def test_the_aggregate_is_final_only_when_nothing_is_left_to_place() -> None:
    t = tracked(1760, placed(880, S.COMPLETE, 880, "250"), Child(880))
    assert aggregate(t).status is S.OPEN  # the second slice is still to go
    t = tracked(880, placed(880, S.TRIGGER_PENDING))
    assert aggregate(t).status is S.TRIGGER_PENDING
    t = tracked(880, Child(880, state=ChildState.UNRESOLVED))
    assert aggregate(t).status is S.PENDING


def test_rejected_only_when_every_slice_is_rejected() -> None:
    t = tracked(1760, placed(880, S.REJECTED, message="freeze"),
                placed(880, S.REJECTED, message="freeze"))
    assert (aggregate(t).status, aggregate(t).message) == (S.REJECTED, "freeze")
    t = tracked(1760, placed(880, S.REJECTED, message="freeze"), placed(880, S.COMPLETE, 880,
                                                                       "250"))
    agg = aggregate(t)
    assert (agg.status, agg.filled) == (S.CANCELLED, 880)
    assert agg.message == "1 of 2 slices rejected (freeze); filled 880 of 1760"


def test_a_stop_between_its_cancelled_order_and_the_fresh_one_is_not_final() -> None:
    old = placed(40, S.CANCELLED, replace=True)
    t = tracked(40, old)
    assert not aggregate(t).status.is_terminal  # replacement not yet queued
    old.replaced = True
    t.children.append(Child(40, state=ChildState.FAILED, rejected=True, message="trigger"))
    assert (aggregate(t).status, aggregate(t).message) == (S.REJECTED, "trigger")


def test_a_child_never_goes_back() -> None:
    c = placed(40, S.OPEN)
    assert c.apply(view(S.COMPLETE, 40, d("250"))) is True
    assert c.apply(view(S.OPEN)) is False  # stale
    assert (c.status, c.filled) == (S.COMPLETE, 40)
    fresh = placed(40, S.TRIGGER_PENDING)
    assert fresh.apply(view(S.PENDING)) is False  # no step back to PENDING
    assert fresh.apply(view(None)) is False  # "MODIFY PENDING": nothing to say


def test_rate_windows_hold_10_a_second_and_400_a_minute() -> None:
    rate = RateWindows(((10, 1.0), (400, 60.0)))
    for _ in range(10):
        assert rate.wait(0.0) == 0
        rate.take(0.0)
    assert rate.wait(0.0) == 1.0 and rate.wait(0.5) == 0.5
    assert rate.wait(1.0) == 0
    now, sent = 1.0, 10
    while sent < 400:
        now += rate.wait(now)
        rate.take(now)
        sent += 1
    assert now < 60.0 and rate.wait(now) == pytest.approx(60.0 - now)  # the minute is full
    assert RateWindows(((10, 1.0),)).wait(0.0, n=2) == 0
    with pytest.raises(ValueError, match="count > 0"):
        RateWindows(((0, 1.0),))


def test_backoff_doubles_up_to_its_cap() -> None:
    policy = RetryPolicy(first_delay=0.5, factor=2.0, max_delay=3.0)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def _connection_error(reason: Exception) -> requests.ConnectionError:
    class Wrapped(Exception):
        pass

    wrapped = Wrapped()
    wrapped.reason = reason  # type: ignore[attr-defined]
    return requests.ConnectionError(wrapped)


@pytest.mark.parametrize(("exc", "kind"), [
    (kex.TokenException("expired"), Failure.TOKEN),
    (kex.NetworkException("Too many requests", code=429), Failure.RETRY),
    (kex.NetworkException("Service unavailable", code=503), Failure.AMBIGUOUS),
    (kex.GeneralException("Something unexpected went wrong", code=500), Failure.AMBIGUOUS),
    (kex.DataException("Couldn't parse", code=502), Failure.AMBIGUOUS),
    (kex.NetworkException("Maximum allowed order modifications exceeded.", code=400),
     Failure.REFUSED),
    (kex.InputException("Invalid `price`."), Failure.REFUSED),
    (kex.OrderException("Order cannot be cancelled as it is complete."), Failure.REFUSED),
    (kex.PermissionException("Insufficient permission"), Failure.REFUSED),
    (requests.exceptions.ReadTimeout(), Failure.AMBIGUOUS),
    (requests.exceptions.ConnectTimeout(), Failure.RETRY),
    (_connection_error(NewConnectionError(None, "refused")), Failure.RETRY),  # type: ignore[arg-type]
    (_connection_error(ProtocolError("Connection aborted.")), Failure.AMBIGUOUS),
    (ValueError("a bug"), None),
])
def test_failures_are_classified_by_what_they_say_about_the_request(
        exc: Exception, kind: Failure | None) -> None:
    assert classify(exc) is kind


def row(tag: object, status: str, side: str = "BUY", quantity: int = 5, filled: int = 0,
        token: int = 3861249, symbol: str = "ADANIPORTS", **kw: object) -> dict[str, object]:
    base = {"order_id": f"{tag}-{status}-{quantity}", "tag": tag, "status": status,
            "transaction_type": side, "quantity": quantity, "filled_quantity": filled,
            "average_price": 1000 if filled else 0, "instrument_token": token,
            "exchange": "NSE", "tradingsymbol": symbol, "product": "MIS",
            "order_type": "SL", "price": 949, "trigger_price": 950}
    base.update(kw)
    return base


def test_reconciliation_groups_our_open_orders_and_explains_positions() -> None:
    orders = [
        row("E24011500001", "COMPLETE", filled=5, order_type="MARKET"),
        row("S24011500002", "CANCELLED", side="SELL"),  # replaced before the cap
        row("S24011500002", "TRIGGER PENDING", side="SELL"),
        row("X24011500003", "REJECTED", side="SELL"),
        row("manual", "OPEN", order_type="LIMIT"),
        row(None, "COMPLETE", filled=3, token=5420545, symbol="CDSL"),
    ]
    net = [{"instrument_token": 3861249, "exchange": "NSE", "tradingsymbol": "ADANIPORTS",
            "product": "MIS", "quantity": 5, "average_price": 1000},
           {"instrument_token": 5420545, "exchange": "NSE", "tradingsymbol": "CDSL",
            "product": "MIS", "quantity": 3, "average_price": 1500.5},
           {"instrument_token": 1, "exchange": "NSE", "tradingsymbol": "FLAT",
            "product": "MIS", "quantity": 0, "average_price": 0},
           {"instrument_token": 2, "exchange": "NSE", "tradingsymbol": "HELD",
            "product": "CNC", "quantity": 10, "average_price": 10}]
    rec = reconcile_rows(orders, net)
    (stop,) = rec.open_orders
    assert (stop.tag, stop.purpose, stop.side, stop.quantity, stop.status) == (
        "S24011500002", OrderPurpose.STOP, Side.SELL, 5, S.TRIGGER_PENDING)
    assert (stop.trigger_price, stop.price, len(stop.broker_order_ids)) == (d("950"), d("949"),
                                                                            2)
    assert rec.foreign_open_orders == ("manual-OPEN-5",)
    assert [(p.symbol, p.quantity, p.agent_quantity) for p in rec.positions] == [
        ("NSE:ADANIPORTS", 5, 5), ("NSE:CDSL", 3, 0)]
    assert [p.symbol for p in rec.foreign_positions] == ["NSE:CDSL"]
    assert rec.positions[1].average_price == d("1500.5")


def test_calls_in_flight_hold_their_place_until_a_window_after_they_end() -> None:
    rate = RateWindows(((3, 1.0),))
    rate.begin(2)
    rate.take(0.0)
    assert rate.wait(0.0) == 1.0  # the call that ended at 0.0 leaves first
    assert rate.wait(5.0) == 0 and rate.wait(5.0, n=2) == math.inf  # the two hold theirs
    rate.end(5.0)
    assert rate.in_flight == 1 and rate.wait(5.0, n=2) == 1.0  # ended at 5.0: out at 6.0
    rate.end(5.5)
    assert rate.in_flight == 0
    assert rate.wait(5.5, n=2) == pytest.approx(0.5)  # the one that ended at 5.0 leaves
    assert rate.wait(6.5, n=3) == 0


@pytest.mark.parametrize("seed", range(20))
def test_no_calendar_second_ever_sees_more_than_the_limit_whatever_the_latency(
        seed: int) -> None:
    """Kite counts arrivals per calendar second on its clock; a call arrives somewhere
    between its send and its end. Sending only when ``wait`` says so keeps every second,
    however aligned, at ten arrivals or fewer, with many calls in flight."""
    rng = random.Random(seed)
    rate = RateWindows(((10, 1.0),))
    now, in_flight, arrivals = 0.0, [], []  # in flight: (ends at, arrives at)
    while now < 20.0:
        for end, _ in [f for f in in_flight if f[0] <= now]:
            rate.end(end)
        in_flight = [f for f in in_flight if f[0] > now]
        if len(in_flight) < 8 and rate.wait(now) == 0:
            rate.begin()
            latency = rng.choice((0.001, 0.05, 0.3, 0.9, 2.5))
            arrive = now + rng.random() * latency
            in_flight.append((now + latency, arrive))
            arrivals.append(arrive)
        now = round(now + rng.choice((0.0005, 0.01, 0.1)), 6)
    offset = rng.random()  # Kite's clock against ours
    per_second = Counter(math.floor(a + offset) for a in arrivals)
    assert max(per_second.values()) <= 10
    assert len(arrivals) > 60  # the limit was actually reached


@pytest.mark.parametrize(("exc", "verdict"), [
    (kex.InputException("Order cannot be modified as it is being processed. Try later.",
                        code=400), Change.RETRY),
    (kex.InputException("Order cannot be cancelled as it is being processed. Try later.",
                        code=400), Change.RETRY),
    (kex.OrderException("The order for ID (1953341975595868160) does not exist", code=400),
     Change.RETRY),
    (kex.NetworkException("Too many requests", code=429), Change.RETRY),
    (kex.NetworkException("Service unavailable", code=503), Change.RETRY),
    (requests.exceptions.ReadTimeout(), Change.RETRY),
    (_connection_error(NewConnectionError(None, "refused")), Change.RETRY),  # type: ignore[arg-type]
    (kex.OrderException("Order cannot be cancelled as it is complete.", code=400),
     Change.ORDER_FINAL),
    (kex.OrderException("Order cannot be modified as it is rejected.", code=400),
     Change.ORDER_FINAL),
    (kex.NetworkException("Maximum allowed order modifications exceeded.", code=400),
     Change.MAX_MODIFICATIONS),
    (kex.NetworkException("Maximum allowed order modifications exceeded.", code=503),
     Change.MAX_MODIFICATIONS),
    (kex.InputException("Trigger price for stoploss sell orders should be lower than the "
                        "last traded price.", code=400), Change.REFUSED),
    (kex.PermissionException("IP (2402::1) is not allowed to place orders for this app.",
                             code=403), Change.REFUSED),
    (kex.TokenException("Token is invalid or has expired.", code=403), Change.TOKEN),
    (ValueError("a bug"), Change.REFUSED),
])
def test_a_refused_modify_or_cancel_is_retried_only_for_a_passing_reason(
        exc: Exception, verdict: Change) -> None:
    assert classify_change(exc) is verdict
