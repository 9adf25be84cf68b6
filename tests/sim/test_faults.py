"""Fault switches through the real clients, and the order rate limiter on a fake clock."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from agent.sim.faults import Faults, RateLimiter
from agent.sim.realism import Realism
from agent.sim.server import SimExchange
from tests.sim.conftest import close_ticker, kite_for
from tests.sim.test_ticker import open_ticker

Factory = Callable[..., SimExchange]


def market_buy(kite: KiteConnect, tag: str = "x") -> str:
    return kite.place_order("regular", "NSE", "ADANIPORTS", "BUY", 1, "MIS", "MARKET",
                            market_protection=-1, tag=tag)


@pytest.mark.parametrize(("code", "exception"), [(503, kex.NetworkException),
                                                 (502, kex.NetworkException),
                                                 (504, kex.NetworkException),
                                                 (500, kex.GeneralException)])
def test_server_errors_answer_the_next_n_requests(fresh_sim: Factory, code: int,
                                                  exception: type[Exception]) -> None:
    sim = fresh_sim()
    kite = kite_for(sim)
    sim.faults.server_errors(2, code=code)
    for _ in range(2):
        with pytest.raises(exception) as caught:
            kite.profile()
        assert caught.value.code == code
    assert kite.profile()["user_id"]
    with pytest.raises(ValueError, match="500, 502, 503 or 504"):
        sim.faults.server_errors(1, code=404)


def test_a_rate_limit_burst_refuses_the_next_order_requests(fresh_sim: Factory) -> None:
    sim = fresh_sim()
    kite = kite_for(sim)
    sim.faults.rate_limit_burst(2)
    for _ in range(2):
        with pytest.raises(kex.NetworkException, match="Too many requests") as caught:
            market_buy(kite)
        assert caught.value.code == 429
    assert kite.profile()  # reads are not order requests
    market_buy(kite)
    assert len(kite.orders()) == 1


def test_slow_responses_make_the_client_time_out(fresh_sim: Factory) -> None:
    sim = fresh_sim()
    kite = kite_for(sim, timeout=0.3)
    sim.faults.slow_responses(1.0)
    with pytest.raises(requests.exceptions.ReadTimeout):
        kite.profile()
    sim.faults.slow_responses(0)
    assert kite.profile()


@pytest.mark.parametrize("drop", [False, True])
def test_timeout_after_send_places_the_order_once_but_loses_the_answer(fresh_sim: Factory,
                                                                       drop: bool) -> None:
    # the order must be COMPLETE when the answer is lost: no interim statuses to wait out
    sim = fresh_sim(realism=Realism.all_but("interim_statuses"))
    kite = kite_for(sim, timeout=0.3)
    sim.faults.timeout_after_send(1, delay=1.0, drop=drop)
    failure = requests.exceptions.ConnectionError if drop else requests.exceptions.ReadTimeout
    with pytest.raises(failure):
        market_buy(kite, tag="lostanswer")
    orders = kite_for(sim).orders()
    assert [(o["tag"], o["status"]) for o in orders] == [("lostanswer", "COMPLETE")]
    assert market_buy(kite, tag="next")  # only the next n placements are affected


def test_expired_tokens_are_refused_by_rest_and_by_the_ticker_handshake(
        fresh_sim: Factory) -> None:
    sim = fresh_sim()
    kite = kite_for(sim)
    sim.faults.expire_tokens()
    with pytest.raises(kex.TokenException) as caught:
        kite.positions()
    assert caught.value.code == 403
    tick, rec = open_ticker(sim, kite.access_token)
    try:
        assert rec.wait_for(lambda: bool(rec.closes))
    finally:
        close_ticker(tick, rec)
    assert "403" in str(rec.closes[0][1]) and rec.connects == 0
    assert kite_for(sim).profile()  # a fresh login works again


def test_clear_turns_every_switch_off() -> None:
    faults = Faults()
    faults.silence(True)
    faults.rate_limit_burst(3)
    faults.server_errors(3)
    faults.slow_responses(2.0)
    faults.timeout_after_send(3)
    faults.clear()
    assert not faults.silenced and faults.slow == 0
    assert faults.take_rate_limited() is False
    assert faults.take_server_error() is None and faults.take_send_timeout() is None


def test_the_order_rate_limiter_allows_10_a_second_and_400_a_minute() -> None:
    now = [0.0]
    limiter = RateLimiter(((10, 1.0), (400, 60.0)), now=lambda: now[0])
    assert all(limiter.allow() for _ in range(10))
    assert not limiter.allow()  # the 11th in the same second
    now[0] = 1.0
    assert limiter.allow()
    granted = 11
    while now[0] < 59.0:
        now[0] += 0.1
        granted += limiter.allow()
    assert granted == 400 and not limiter.allow()
    now[0] = 61.0  # the first second's orders left the minute window
    assert limiter.allow()
