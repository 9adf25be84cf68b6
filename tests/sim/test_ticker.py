"""The ticker WebSocket through the real KiteTicker (one Twisted reactor per process)."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from kiteconnect import KiteConnect, KiteTicker

from agent.sim.server import SimExchange
from agent.timeutil import IST
from tests.sim.conftest import (
    ADANIPORTS,
    BANKNIFTY_CE,
    CDSL,
    INTERIM,
    NIFTY,
    WAIT,
    Recorder,
    close_ticker,
    connect_ticker,
    in_reactor,
    kite_for,
)

Shared = tuple[KiteTicker, Recorder]


def ticks_after(tick: KiteTicker, rec: Recorder, start: int) -> list[dict[str, Any]]:
    with rec.lock:
        frames = rec.binary[start:]
    return [t for frame in frames for t in tick._parse_binary(frame)]


def wait_ticks(tick: KiteTicker, rec: Recorder, start: int,
               want: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def done() -> bool:
        found[:] = ticks_after(tick, rec, start)
        return want(found)

    assert rec.wait_for(done), f"ticks never satisfied the test; last: {found[-3:]}"
    return found


def open_ticker(sim: SimExchange, access_token: str,
                on_connect: Callable[[Any], None] | None = None) -> tuple[KiteTicker, Recorder]:
    tick = KiteTicker(sim.api_key, access_token, root=sim.ws_root)
    rec = Recorder()
    rec.attach(tick, on_connect)
    connect_ticker(tick)
    return tick, rec


def wait_connections(sim: SimExchange, count: int) -> None:
    done = threading.Event()
    for _ in range(int(WAIT / 0.05)):
        if sim.connection_count() == count:
            return
        done.wait(0.05)  # polling the server's own count, not a race on the result
    raise AssertionError(f"the simulator never had {count} connections")


def test_subscribe_and_modes_stream_kite_packets(sim: SimExchange, ticker: Shared) -> None:
    tick, rec = ticker
    start = len(rec.binary)
    in_reactor(tick.subscribe, [ADANIPORTS, BANKNIFTY_CE, NIFTY, 999])
    in_reactor(tick.set_mode, tick.MODE_FULL, [ADANIPORTS])
    in_reactor(tick.set_mode, tick.MODE_LTP, [BANKNIFTY_CE])

    def have_all(ticks: list[dict[str, Any]]) -> bool:
        modes = [(t["instrument_token"], t["mode"]) for t in ticks]
        return {(ADANIPORTS, "full"), (BANKNIFTY_CE, "ltp"), (NIFTY, "quote")} <= set(modes) \
            and modes.count((ADANIPORTS, "full")) >= 5

    ticks = wait_ticks(tick, rec, start, have_all)
    assert {t["instrument_token"] for t in ticks} == {ADANIPORTS, BANKNIFTY_CE, NIFTY}
    full = [t for t in ticks if t["mode"] == "full"]
    for t in full:
        assert Decimal(str(t["last_price"])) % Decimal("0.05") == 0
        assert t["ohlc"]["low"] <= t["last_price"] <= t["ohlc"]["high"]
        assert len(t["depth"]["buy"]) == len(t["depth"]["sell"]) == 5
        assert t["depth"]["buy"][0]["price"] < t["depth"]["sell"][0]["price"]
        assert t["volume_traded"] > 0 and t["tradable"] is True
    index = next(t for t in ticks if t["instrument_token"] == NIFTY)
    assert index["tradable"] is False and "volume_traded" not in index
    stamps = sorted({t["exchange_timestamp"] for t in full})
    # KiteTicker reports naive times in the host's zone
    session_open = datetime(2024, 1, 15, 9, 15, tzinfo=IST).astimezone().replace(tzinfo=None)
    assert session_open <= stamps[0]
    gaps = {b - a for a, b in itertools.pairwise(stamps)}
    assert timedelta(seconds=1) in gaps  # a tick per simulated second


def test_unsubscribe_stops_an_instrument(ticker: Shared) -> None:
    tick, rec = ticker
    in_reactor(tick.subscribe, [CDSL])
    start = len(rec.binary)
    wait_ticks(tick, rec, start, lambda ts: any(t["instrument_token"] == CDSL for t in ts))
    in_reactor(tick.unsubscribe, [CDSL])
    in_reactor(tick.subscribe, [ADANIPORTS])  # a marker: once its snapshot arrives, CDSL is off
    marker = len(rec.binary)
    wait_ticks(tick, rec, marker, lambda ts: len(ts) > 20)
    later = ticks_after(tick, rec, marker + 2)
    assert later and CDSL not in {t["instrument_token"] for t in later}


def test_order_changes_arrive_as_text_messages(ticker: Shared, kite: KiteConnect) -> None:
    _, rec = ticker
    floor = kite.quote("NSE:CDSL")["NSE:CDSL"]["lower_circuit_limit"]  # rests there
    order_id = kite.place_order("regular", "NSE", "CDSL", "BUY", 1, "MIS", "LIMIT", price=floor,
                                tag="wsorder")

    def statuses() -> list[str]:
        return [o["status"] for o in rec.orders if o["order_id"] == order_id]

    # the statuses on its way to the exchange first; a cancel before OPEN is refused
    assert rec.wait_for(lambda: statuses() == [*INTERIM[:3], "OPEN"])
    kite.cancel_order("regular", order_id)
    assert rec.wait_for(lambda: statuses()[4:] == ["CANCEL PENDING", "CANCELLED"])
    last = next(o for o in reversed(rec.orders) if o["order_id"] == order_id)
    assert last["tag"] == "wsorder" and last["cancelled_quantity"] == 1
    raw = next(t for t in rec.texts if order_id in t)
    assert json.loads(raw)["type"] == "order"


def test_an_idle_connection_gets_one_byte_heartbeats(sim: SimExchange,
                                                     kite: KiteConnect) -> None:
    tick, rec = open_ticker(sim, kite.access_token)
    try:
        assert rec.wait_for(lambda: rec.binary.count(b"\x00") >= 3)
        assert set(rec.binary) == {b"\x00"}
        # only order messages (every connection of the account hears them), no error text
        assert all(json.loads(t)["type"] == "order" for t in rec.texts)
    finally:
        close_ticker(tick, rec)
    wait_connections(sim, 1)


def test_a_bad_token_is_refused_at_the_handshake_with_403(sim: SimExchange) -> None:
    tick, rec = open_ticker(sim, "not-a-token")
    try:
        assert rec.wait_for(lambda: bool(rec.closes))
    finally:
        close_ticker(tick, rec)
    assert rec.connects == 0
    assert "403" in str(rec.errors[0][1]) and "403" in str(rec.closes[0][1])


def test_silence_keeps_the_socket_open_but_sends_nothing(sim: SimExchange,
                                                         ticker: Shared) -> None:
    tick, rec = ticker

    def count() -> int:
        return len(rec.binary) + len(rec.texts)

    sim.faults.silence(True)
    try:
        settled = count()  # frames already on the wire still land: wait until none comes
        while rec.wait_for(lambda seen=settled: count() > seen, timeout=0.3):
            settled = count()
        # four heartbeat intervals (0.25 s here) and more: nothing at all
        assert not rec.wait_for(lambda: count() > settled, timeout=1.0)
        assert tick.is_connected()
    finally:
        sim.faults.silence(False)
    assert rec.wait_for(lambda: count() > settled)


def test_dropped_sockets_reconnect_and_resubscribe_by_themselves(sim: SimExchange,
                                                                 ticker: Shared) -> None:
    tick, rec = ticker
    in_reactor(tick.subscribe, [ADANIPORTS])
    connects, closes = rec.connects, len(rec.closes)
    sim.faults.drop_sockets()
    assert rec.wait_for(lambda: len(rec.closes) > closes)
    assert rec.wait_for(lambda: rec.connects > connects)
    start = len(rec.binary)
    wait_ticks(tick, rec, start, lambda ts: any(t["instrument_token"] == ADANIPORTS
                                                for t in ts))


def test_a_fourth_connection_and_too_many_subscriptions_are_refused(
        fresh_sim: Callable[..., SimExchange]) -> None:
    sim = fresh_sim(max_subscriptions=2)
    token = kite_for(sim).access_token
    opened = [open_ticker(sim, token) for _ in range(3)]
    try:
        for _, rec in opened:
            assert rec.wait_for(lambda rec=rec: rec.connects == 1)
        fourth, rec4 = open_ticker(sim, token)
        assert rec4.wait_for(lambda: bool(rec4.closes))
        close_ticker(fourth, rec4)
        assert "429" in str(rec4.closes[0][1]) and rec4.connects == 0
        tick, rec = opened[0]
        in_reactor(tick.subscribe, [ADANIPORTS, CDSL, BANKNIFTY_CE])
        # KiteTicker calls on_message before on_error for the same frame: wait on the error.
        assert rec.wait_for(lambda: bool(rec.errors))
        assert any("Subscription limit" in t for t in rec.texts)
        assert "1 were ignored" in str(rec.errors[-1][1])
        ticks = wait_ticks(tick, rec, 0, lambda ts: len(ts) >= 10)
        assert {t["instrument_token"] for t in ticks} == {ADANIPORTS, CDSL}
    finally:
        for each, each_rec in opened:
            close_ticker(each, each_rec)


def test_ticks_stop_at_the_close_and_follow_the_tick_interval(
        fresh_sim: Callable[..., SimExchange]) -> None:
    sim = fresh_sim(start=datetime(2024, 1, 15, 15, 29, 30, tzinfo=IST), speed=60,
                    tick_interval=5.0, heartbeat_interval=0.2)
    tick, rec = open_ticker(sim, kite_for(sim).access_token,
                            on_connect=lambda ws: ws.set_mode(ws.MODE_FULL, [ADANIPORTS]))
    try:
        # after the close the socket only carries heartbeats
        assert rec.wait_for(lambda: rec.binary[-3:] == [b"\x00"] * 3 and len(rec.binary) > 3)
        assert sim.clock.now() >= datetime(2024, 1, 15, 15, 30, tzinfo=IST)
        ticks = ticks_after(tick, rec, 0)[1:]  # after the subscription's snapshot
        stamps = [t["exchange_timestamp"] for t in ticks]
        close = datetime(2024, 1, 15, 15, 30, tzinfo=IST).astimezone().replace(tzinfo=None)
        assert stamps and max(stamps) == close - timedelta(seconds=5)
        assert {b - a for a, b in itertools.pairwise(stamps)} == {timedelta(seconds=5)}
        assert kite_for(sim).ltp("NSE:ADANIPORTS")  # REST still answers after the close
    finally:
        close_ticker(tick, rec)
