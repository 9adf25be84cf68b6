"""KiteFeed with the real KiteTicker against the simulated exchange on loopback."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from kiteconnect import KiteConnect

from agent.adapters.kite_feed import KiteFeed
from agent.events import FeedStatus, TickBatch
from agent.sim.realism import Realism
from agent.sim.server import SimExchange
from agent.timeutil import IST
from tests.feed.conftest import (
    ADANIPORTS,
    BANKBEES,
    CDSL,
    NIFTY,
    QUICK,
    TRADING_DAY,
    Inbox,
    wait_until,
)

MakeSim = Callable[..., SimExchange]
MakeFeed = Callable[..., KiteFeed]
OPEN = datetime(2024, 1, 15, 9, 15, tzinfo=IST)


def test_ticks_reach_the_inbox_in_full_mode_with_the_sims_values(
        make_sim: MakeSim, make_feed: MakeFeed, inbox: Inbox,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="agent.adapters")
    sim = make_sim()
    token = sim.new_access_token()
    feed = make_feed(sim, lambda: token, tokens=[ADANIPORTS, BANKBEES, NIFTY])
    feed.start()
    ticks = inbox.wait_tokens({ADANIPORTS, BANKBEES, NIFTY}, each=40)

    assert inbox.events[0] == FeedStatus(True, "connected: 1 connection(s), 3 instruments")
    assert all(isinstance(e, TickBatch) and e.ticks for e in inbox.events[1:])
    assert {t.instrument_token for t in ticks} == {ADANIPORTS, BANKBEES, NIFTY}
    # Kite answers a subscribe with a quote-mode snapshot; the mode message makes it full
    snapshots = [next(t for t in ticks if t.instrument_token == k) for k in grid_tokens()]
    assert {t.mode for t in snapshots} == {"quote"}
    assert all(t.timestamp is None and t.received_at is not None for t in snapshots)
    ticks = [t for t in ticks if t not in snapshots]
    assert {t.mode for t in ticks} == {"full"}
    grid = {ADANIPORTS: "0.05", BANKBEES: "0.01", NIFTY: "0.05"}
    for tick in ticks:
        assert tick.timestamp is not None and tick.timestamp.utcoffset() == timedelta(hours=5,
                                                                                     minutes=30)
        assert tick.timestamp.date() == TRADING_DAY and tick.timestamp >= OPEN
        assert tick.received_at is not None and tick.received_at >= tick.timestamp
        assert tick.last_price % type(tick.last_price)(grid[tick.instrument_token]) == 0
    assert max(t.received_at for t in ticks if t.received_at) <= sim.clock.now()
    # the values are the simulator's market at each tick's exchange second
    later = [t for t in ticks if t.timestamp and t.timestamp > OPEN][-30:]
    expected = sim.call(lambda core: [
        core.market.quote(t.instrument_token, core.market.second_of(t.timestamp))
        for t in later])
    for tick, quote in zip(later, expected, strict=True):
        assert (tick.last_price, tick.high, tick.low) == (quote.last_price, quote.high,
                                                          quote.low)
        if tick.instrument_token != NIFTY:  # indices carry no volume and no depth
            assert tick.volume_traded == quote.volume
            assert tick.depth_buy[0].price == quote.bid and tick.depth_sell[0].price == quote.ask

    state = feed.status()
    assert state.connected and not state.login_needed and state.instruments == 3
    assert state.counters.ticks >= len(ticks) and state.counters.bad_packets == 0
    assert state.exchange_lag_seconds is not None and 0 <= state.exchange_lag_seconds < 60
    info = feed.feed_info()
    assert info.connected and info.lag_seconds is not None and 0 <= info.lag_seconds < 60
    assert "1 connection(s), 3 instruments" in info.detail
    # connects are logged, ticks are not
    mine = [r for r in caplog.records if r.name.startswith("agent.adapters")]
    assert 1 <= len(mine) <= 5 and len(ticks) >= 100


def grid_tokens() -> tuple[int, ...]:
    return (ADANIPORTS, BANKBEES, NIFTY)


def test_ltp_mode_ticks_get_their_time_from_the_injected_clock(
        make_sim: MakeSim, make_feed: MakeFeed, inbox: Inbox) -> None:
    sim = make_sim()
    token = sim.new_access_token()
    feed = make_feed(sim, lambda: token, tokens=[ADANIPORTS],
                     options=replace(QUICK, mode="ltp"))
    feed.start()
    ticks = inbox.wait_tokens({ADANIPORTS}, each=10)
    assert ticks[0].mode == "quote"  # the subscription's snapshot, before the mode message
    ticks = ticks[1:]
    assert {t.mode for t in ticks} == {"ltp"}
    for tick in ticks:
        assert tick.timestamp is None and tick.volume_traded is None
        assert tick.received_at is not None and tick.time == tick.received_at
        assert OPEN <= tick.received_at <= sim.clock.now()


def test_instruments_added_and_removed_at_runtime(make_sim: MakeSim, make_feed: MakeFeed,
                                                  inbox: Inbox) -> None:
    sim = make_sim()
    token = sim.new_access_token()
    feed = make_feed(sim, lambda: token, tokens=[ADANIPORTS])
    feed.start()
    inbox.wait_tokens({ADANIPORTS})
    mark = inbox.mark()
    feed.subscribe([BANKBEES, ADANIPORTS])
    added = inbox.wait_tokens({BANKBEES}, since=mark, each=5)
    modes = [t.mode for t in added if t.instrument_token == BANKBEES]
    assert modes[0] == "quote" and set(modes[1:]) == {"full"}  # snapshot, then full
    assert feed.tokens == {ADANIPORTS, BANKBEES}

    feed.unsubscribe([ADANIPORTS, 12345])
    feed.subscribe([CDSL])  # a marker: frames after its first tick come after the unsubscribe
    mark = inbox.mark()
    inbox.wait_tokens({CDSL}, since=mark)
    first = next(i for i, b in enumerate(inbox.batches(mark))
                 if any(t.instrument_token == CDSL for t in b.ticks))
    assert inbox.wait_for(lambda: len(inbox.batches(mark)) > first + 10)
    after = [t for b in inbox.batches(mark)[first + 1:] for t in b.ticks]
    assert {t.instrument_token for t in after} == {BANKBEES, CDSL}
    assert feed.tokens == {BANKBEES, CDSL}


def test_dropped_sockets_reconnect_and_resubscribe(make_sim: MakeSim, make_feed: MakeFeed,
                                                   inbox: Inbox) -> None:
    sim = make_sim()
    token = sim.new_access_token()
    feed = make_feed(sim, lambda: token, tokens=[ADANIPORTS, BANKBEES])
    feed.start()
    inbox.wait_status(True)
    mark = inbox.mark()
    sim.faults.drop_sockets()
    down = inbox.wait_status(False, since=mark)
    assert "connection 0 dropped" in down.detail
    back = inbox.mark()
    inbox.wait_status(True, since=mark)
    inbox.wait_tokens({ADANIPORTS, BANKBEES}, since=back, each=5)  # resubscribed
    state = feed.status()
    assert state.connected and state.counters.reconnects >= 1 and state.counters.drops >= 1
    assert inbox.logins == 0


def test_the_watchdog_drops_a_silent_socket_and_reconnects(
        make_sim: MakeSim, make_feed: MakeFeed, inbox: Inbox) -> None:
    sim = make_sim(heartbeat_interval=0.1)
    token = sim.new_access_token()
    feed = make_feed(sim, lambda: token, tokens=[ADANIPORTS],
                     options=replace(QUICK, silence_timeout=1.5))
    feed.start()
    inbox.wait_status(True)
    mark = inbox.mark()
    sim.faults.silence(True)
    try:
        inbox.wait_status(False, since=mark, text="no frame for")
    finally:
        sim.faults.silence(False)
    assert feed.status().counters.watchdog_drops >= 1
    back = inbox.mark()
    inbox.wait_tokens({ADANIPORTS}, since=back, each=5)  # a reconnected socket streams again
    assert inbox.wait_for(lambda: feed.status().connected)
    assert feed.status().counters.reconnects >= 1


def test_an_expired_token_stops_retrying_until_a_new_login(
        make_sim: MakeSim, make_feed: MakeFeed, inbox: Inbox) -> None:
    sim = make_sim()
    current = [sim.new_access_token()]
    feed = make_feed(sim, lambda: current[0], tokens=[ADANIPORTS])
    feed.start()
    inbox.wait_status(True)
    mark = inbox.mark()
    sim.faults.expire_tokens()
    sim.faults.drop_sockets()
    inbox.wait_status(False, since=mark, text="login needed")
    assert inbox.wait_for(lambda: inbox.logins == 1)
    state = feed.status()
    assert state.login_needed and not state.connected
    assert state.connections[0].state == "login needed"
    assert "403" in state.connections[0].reason and feed.feed_info().detail == "login needed"
    attempts = state.connections[0].attempts
    # retries stop: at 0.1 s between attempts, a second would have seen several
    assert not wait_until(lambda: feed.status().connections[0].attempts > attempts, 1.0)
    assert wait_until(lambda: sim.connection_count() == 0)

    current[0] = sim.new_access_token()
    mark = inbox.mark()
    feed.reconnect()
    inbox.wait_status(True, since=mark)
    inbox.wait_tokens({ADANIPORTS}, since=mark, each=5)
    assert not feed.status().login_needed and inbox.logins == 1


def test_a_reconnect_uses_the_token_current_at_that_moment(
        make_sim: MakeSim, make_feed: MakeFeed, inbox: Inbox) -> None:
    sim = make_sim()
    current = [sim.new_access_token()]
    feed = make_feed(sim, lambda: current[0], tokens=[ADANIPORTS])
    feed.start()
    inbox.wait_status(True)
    sim.faults.expire_tokens()  # the old token is dead; a login gave a new one
    current[0] = sim.new_access_token()
    mark = inbox.mark()
    sim.faults.drop_sockets()
    inbox.wait_status(True, since=mark)
    inbox.wait_tokens({ADANIPORTS}, since=mark, each=5)
    assert inbox.logins == 0 and not feed.status().login_needed


def test_many_instruments_spread_over_three_connections_and_orders_arrive_once(
        make_sim: MakeSim, make_feed: MakeFeed, inbox: Inbox) -> None:
    # the order below is cancelled at once and its two messages counted: no interim statuses
    sim = make_sim(max_subscriptions=4, realism=Realism.all_but("interim_statuses"))
    nse = [i.token for i in sim.instruments if i.exchange == "NSE" and i.segment == "NSE"]
    tokens = set(nse[:10])
    token = sim.new_access_token()
    feed = make_feed(sim, lambda: token, tokens=sorted(tokens),
                     options=replace(QUICK, max_per_connection=4))
    feed.start()
    inbox.wait_status(True)
    inbox.wait_tokens(tokens, each=3)
    state = feed.status()
    assert [c.instruments for c in state.connections] == [4, 4, 2]
    assert all(c.state == "open" for c in state.connections)
    assert sim.connection_count() == 3 and state.counters.ticker_errors == 0
    with pytest.raises(ValueError, match=r"13 instruments exceed the ticker's limit of 12 "
                                         r"\(3 connections x 4\)"):
        feed.subscribe([t for t in nse if t not in tokens][:3])
    assert feed.tokens == tokens

    kite = KiteConnect(sim.api_key, root=sim.rest_root)
    kite.set_access_token(token)
    floor = float(sim.quote("NSE:CDSL").lower_circuit)  # rests: the band's lowest price
    order_id = kite.place_order("regular", "NSE", "CDSL", "BUY", 1, "MIS", "LIMIT", price=floor,
                                tag="feedtest")
    kite.cancel_order("regular", order_id)
    # every connection gets both updates: six text frames, two order messages handed on
    # (re-checked on every inbox event: ticks keep flowing meanwhile)
    assert inbox.wait_for(lambda: feed.status().counters.text_frames >= 6)
    assert [(o["order_id"], o["status"]) for o in inbox.orders] == [
        (order_id, "OPEN"), (order_id, "CANCELLED")]
    assert inbox.orders[0]["tag"] == "feedtest"


def test_close_ends_every_socket_and_the_reactor_keeps_running(
        make_sim: MakeSim, make_feed: MakeFeed, inbox: Inbox) -> None:
    sim = make_sim()
    token = sim.new_access_token()
    feed = make_feed(sim, lambda: token, tokens=[ADANIPORTS])
    feed.start()
    inbox.wait_status(True)
    assert feed.close(timeout=10)
    assert wait_until(lambda: sim.connection_count() == 0)
    assert feed.status().connections[0].state == "closed"
    feed.subscribe([BANKBEES])  # after close: recorded, nothing sent, nothing raised
    from twisted.internet import reactor

    assert reactor.running
    other = Inbox()
    again = KiteFeed(sim.api_key, lambda: token, other.put, clock=sim.clock,
                     root=sim.ws_root, tokens=[CDSL], options=QUICK)
    again.start()  # a second feed on the same (never stopped) reactor
    try:
        other.wait_tokens({CDSL})
    finally:
        assert again.close(timeout=10)
