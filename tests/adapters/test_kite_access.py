"""Kite's access refusals told apart: a dead login, no market-data plan, an unregistered IP.

The classification is pinned on the texts users have reported; the rest runs the real
kiteconnect client against the simulated exchange with its plan and static IPs switched.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kiteconnect import exceptions as kex

from agent.adapters.kite_access import (
    AccessProblem,
    AccessRefusal,
    CheckResult,
    data_refusal,
    order_refusal,
    probe_access,
)
from agent.adapters.kite_client import kite_client
from agent.adapters.kite_rest import Failure, classify
from agent.adapters.kite_writes import SentWith
from agent.models import OrderStatus
from agent.sim.server import SimExchange
from tests.adapters.kite_broker_harness import Harness
from tests.fakes.http_proxy import ForwardProxy
from tests.sim.conftest import DATA, make_sim

QUOTE = "NSE:ADANIPORTS"


@pytest.mark.parametrize("exc", [
    kex.PermissionException("Insufficient permission for that call.", 403),
    kex.InputException("IP (2402:e280:3e1d:1a2:9c3e:14ff:fe2b:7d10) is not allowed", 400),
    kex.GeneralException("Your IP 49.36.10.7 is not whitelisted for this app", 403),
    kex.TokenException("IP 49.36.10.7 not allowed", 403),  # never read as a dead login
    kex.OrderException("Order placement not authorised from this IP address", 400),
])
def test_order_refusals_for_the_ip_are_named_as_such(exc: kex.KiteException) -> None:
    refusal = order_refusal(exc)
    assert refusal is not None and refusal.problem is AccessProblem.IP_NOT_ALLOWED
    assert "developers.kite.trade" in refusal.text() and "kite.proxy" in refusal.text()
    assert refusal.kite_message in refusal.text()
    assert classify(exc) is Failure.REFUSED


@pytest.mark.parametrize("exc", [
    kex.InputException("Market orders without market protection are not allowed via API. "
                       "Please set market protection or use a Limit order.", 400),
    kex.InputException("Fresh orders for MIS after the auto square-off time at 15:20:00 "
                       "is not allowed", 400),
    kex.OrderException("SL-M orders are not allowed for option contracts by the exchange.",
                       400),
    kex.InputException("Invalid `price`.", 400),
])
def test_ordinary_rejections_are_not_access_problems(exc: kex.KiteException) -> None:
    assert order_refusal(exc) is None and data_refusal(exc) is None


def test_a_dead_token_is_a_login_problem_for_orders_and_data() -> None:
    exc = kex.TokenException("Token is invalid or has expired.", 403)
    assert order_refusal(exc).problem is AccessProblem.LOGIN  # type: ignore[union-attr]
    assert data_refusal(exc).problem is AccessProblem.LOGIN  # type: ignore[union-attr]
    assert classify(exc) is Failure.TOKEN


def test_a_permission_refusal_of_market_data_names_the_plan() -> None:
    refusal = data_refusal(kex.PermissionException("Insufficient permission for that call.",
                                                   403))
    assert refusal is not None and refusal.problem is AccessProblem.NO_MARKET_DATA
    assert "Kite Connect plan" in refusal.text() and "login does not help" in refusal.text()


# ---------------------------------------------------------------- against the simulator


@pytest.fixture()
def sim() -> Iterator[SimExchange]:
    exchange = make_sim(DATA / "instruments_all.csv", speed=1e-6).start()
    yield exchange
    exchange.stop()


def client(sim: SimExchange, proxy: str = "") -> object:
    return kite_client(sim.api_key, sim.rest_root, proxy=proxy,
                       access_token=sim.new_access_token(), timeout=5)


def results(sim: SimExchange, *, orders: bool = True, proxy: str = "") -> dict[str, object]:
    report = probe_access(client(sim, proxy), QUOTE, orders=orders)
    return {c.name: (c.refusal.problem if c.refusal else c.result) for c in report.checks}


def test_the_probe_passes_on_the_connect_plan_from_a_registered_ip(sim: SimExchange) -> None:
    assert results(sim) == {"login": CheckResult.OK, "market data": CheckResult.OK,
                            "order calls": CheckResult.OK}
    assert results(sim, orders=False)["order calls"] is CheckResult.SKIPPED
    assert sim.book.orders == {}  # the probe placed nothing


def test_the_probe_tells_a_personal_plan_from_a_dead_login(sim: SimExchange) -> None:
    sim.access.set_market_data(False)
    assert results(sim) == {"login": CheckResult.OK,
                            "market data": AccessProblem.NO_MARKET_DATA,
                            "order calls": CheckResult.OK}
    kite = client(sim)
    sim.faults.expire_tokens()
    report = probe_access(kite, QUOTE, orders=True)
    assert [c.refusal.problem for c in report.checks if c.refusal] == [AccessProblem.LOGIN]


def test_the_probe_names_an_unregistered_ip(sim: SimExchange) -> None:
    sim.access.register_ips(["203.0.113.9"])
    found = results(sim)
    assert found["order calls"] is AccessProblem.IP_NOT_ALLOWED
    assert found["market data"] is CheckResult.OK  # data works from any IP


def test_orders_through_a_static_ip_proxy_are_accepted(sim: SimExchange) -> None:
    sim.access.register_ips(["127.0.0.2"])  # the proxy's address, not ours
    assert results(sim)["order calls"] is AccessProblem.IP_NOT_ALLOWED
    with ForwardProxy(source="127.0.0.2") as proxy:
        assert results(sim, proxy=proxy.url)["order calls"] is CheckResult.OK
        assert "DELETE /orders/regular/100000000000000000" in proxy.seen


# ---------------------------------------------------------------- the broker


@pytest.fixture()
def harness() -> Iterator[tuple[Harness, list[object]]]:
    told: list[object] = []
    with Harness(on_access_refused=told.append) as h:
        yield h, told


def test_an_order_refused_for_the_ip_says_so_and_tells_the_owner_once_per_spell(
        harness: tuple[Harness, list[object]]) -> None:
    h, told = harness
    h.sim.access.register_ips(["203.0.113.9"])
    for _ in range(2):
        h.submit(h.order())
        update = h.next_update()
        assert update.status is OrderStatus.REJECTED
        assert "refuses orders from this machine's IP" in update.message
        assert "127.0.0.1" in update.message  # Kite's own words name the address
    assert len(told) == 1 and h.token_errors == 0  # not mistaken for a dead login
    h.sim.access.register_ips(["127.0.0.1"])  # the owner registered this machine
    h.submit(h.order())
    assert h.until(lambda u: u.status.is_terminal)[-1].status is OrderStatus.COMPLETE
    h.sim.access.register_ips(["203.0.113.9"])  # the address changed again
    h.submit(h.order())
    assert h.next_update().status is OrderStatus.REJECTED
    h.idle()  # the success before it may be answered after it (a new spell all the same)
    assert len(told) == 2


def test_late_answers_of_order_calls_do_not_confuse_the_ip_spell(
        harness: tuple[Harness, list[object]]) -> None:
    """Pool threads answer in any order: a success sent before the spell's refusal does not
    end it; a refusal sent after a success, but answered before it, is a new spell (told
    again once that success lands); the same refusal is not told twice."""
    h, told = harness
    broker = h.broker
    refusal = AccessRefusal(AccessProblem.IP_NOT_ALLOWED, "IP (127.0.0.1) is not allowed")
    h.idle()
    broker.access_refused(refusal, 5)  # the first refusal: told
    assert len(told) == 1 and broker.ip_refused
    broker.order_call_worked(SentWith(4, None))  # sent before it, answered after: nothing
    assert broker.ip_refused and len(told) == 1
    broker.access_refused(refusal, 7)  # sent after a success not yet answered
    assert len(told) == 1
    broker.order_call_worked(SentWith(6, None))  # that success lands: 7 is a new spell
    assert len(told) == 2 and broker.ip_refused
    broker.order_call_worked(SentWith(8, None))  # a success after 7: the spell is over
    assert not broker.ip_refused and len(told) == 2
