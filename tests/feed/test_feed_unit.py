"""KiteFeed with a fake KiteTicker on the real reactor: sharding, the watchdog on an
injected clock, tokens and login, text frames, and the reactor-thread rule."""

from __future__ import annotations

import json
import logging
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime

import pytest

from agent.adapters.kite_feed import FeedOptions, KiteFeed
from agent.adapters.kite_reactor import call_in_reactor
from agent.clock import SimClock
from agent.events import FeedStatus, TickBatch
from agent.timeutil import IST
from tests.feed.conftest import QUICK, Inbox
from tests.feed.fake_ticker import FakeTickers

MakeFeed = Callable[..., KiteFeed]
CLOCK = SimClock(datetime(2024, 1, 15, 10, 0, tzinfo=IST))
LTP_FRAME = struct.pack(">HHII", 1, 8, 3861249, 100031)  # one ltp packet: 1000.31


class Monotonic:
    """The watchdog's clock, moved by the test; counts reads so a test can wait for the
    watchdog to have looked (it reads the clock on every round)."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.reads = 0
        self._cond = threading.Condition()

    def __call__(self) -> float:
        with self._cond:
            self.reads += 1
            self._cond.notify_all()
            return self.now

    def wait_reads(self, more: int) -> None:
        with self._cond:
            target = self.reads + more
            assert self._cond.wait_for(lambda: self.reads >= target, 20.0)


@pytest.fixture()
def fakes() -> Iterator[FakeTickers]:
    made = FakeTickers(valid={"tok-1"})
    yield made
    assert made.off_reactor == [], "KiteTicker was called off the reactor thread"


@pytest.fixture()
def fake_feed(make_feed: MakeFeed, fakes: FakeTickers) -> Callable[..., KiteFeed]:
    def factory(token: Callable[[], str | None] = lambda: "tok-1", **options: object
                ) -> KiteFeed:
        options.setdefault("clock", CLOCK)
        return make_feed(None, token, ticker_factory=fakes, **options)

    return factory


def in_reactor_now(fn: Callable[..., object], *args: object) -> None:
    call_in_reactor(fn, *args)


def test_nine_thousand_instruments_take_three_connections_of_3000(
        fake_feed: Callable[..., KiteFeed], fakes: FakeTickers, inbox: Inbox) -> None:
    tokens = list(range(1, 9_001))
    feed = fake_feed(tokens=tokens)
    feed.start()
    inbox.wait_status(True)
    assert fakes.wait_for(lambda: fakes.open_count() == 3)
    assert len(fakes.made) == 3
    seen: list[int] = []
    for ticker in fakes.made:
        (sub, subscribed), (mode, full, moded) = ticker.sent
        assert (sub, mode, full) == ("subscribe", "mode", "full")
        assert len(subscribed) == 3_000 and moded == subscribed
        seen += subscribed
    assert sorted(seen) == tokens
    state = feed.status()
    assert [c.instruments for c in state.connections] == [3_000] * 3 and state.connected
    assert {t.options["reconnect_max_tries"] for t in fakes.made} == {0}


def test_more_than_nine_thousand_is_a_clear_error_that_changes_nothing(
        fake_feed: Callable[..., KiteFeed]) -> None:
    with pytest.raises(ValueError, match=r"9001 instruments exceed the ticker's limit of "
                                         r"9000 \(3 connections x 3000\)"):
        fake_feed(tokens=range(1, 9_002))
    feed = fake_feed(tokens=range(1, 9_000))
    with pytest.raises(ValueError, match="9001 instruments"):
        feed.subscribe([20_000, 20_001])
    assert len(feed.tokens) == 8_999
    feed.subscribe([20_000, 5])  # 5 is known: one new
    assert len(feed.tokens) == 9_000
    with pytest.raises(ValueError, match="positive 32-bit ints, got \\['x', -1\\]"):
        feed.subscribe(["x", -1, 7])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="iterable of ints"):
        feed.subscribe(7)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="feed mode must be one of ltp, quote, full"):
        FeedOptions(mode="fast")


def test_an_add_beyond_a_full_connection_opens_the_next_one(
        fake_feed: Callable[..., KiteFeed], fakes: FakeTickers, inbox: Inbox) -> None:
    feed = fake_feed(tokens=range(1, 3_001), options=replace(QUICK, mode="quote"))
    feed.start()
    inbox.wait_status(True)
    first = fakes.made[0]
    assert [kind for kind, *_ in first.sent] == ["subscribe"]  # quote mode: no mode message
    feed.subscribe([50_000, 50_001])
    assert fakes.wait_for(lambda: fakes.open_count() == 2)
    second = fakes.made[1]
    assert fakes.wait_for(lambda: bool(second.sent))
    assert second.sent == [("subscribe", [50_000, 50_001])]
    assert len(first.sent) == 1
    feed.unsubscribe([50_000, 3, 99_999])
    assert fakes.wait_for(lambda: ("unsubscribe", [50_000]) in second.sent)
    assert fakes.wait_for(lambda: ("unsubscribe", [3]) in first.sent)
    assert feed.tokens == (set(range(1, 3_001)) - {3}) | {50_001}


def test_the_watchdog_drops_after_silence_on_the_injected_clock(
        fake_feed: Callable[..., KiteFeed], fakes: FakeTickers, inbox: Inbox) -> None:
    clock = Monotonic()
    feed = fake_feed(tokens=[7, 8], monotonic=clock,
                     options=replace(QUICK, silence_timeout=5.0, watchdog_interval=0.01))
    feed.start()
    inbox.wait_status(True)
    first = fakes.made[0]
    clock.now += 4.9
    clock.wait_reads(3)  # the watchdog looked at 4.9 s of silence: not enough
    assert not first.aborted and feed.status().connected
    in_reactor_now(first.receive, b"\x00", True)  # a heartbeat resets the silence
    clock.now += 4.9
    clock.wait_reads(3)
    assert not first.aborted
    mark = inbox.mark()
    clock.now += 0.2  # 5.1 s since the heartbeat
    down = inbox.wait_status(False, since=mark)
    assert down.detail == "connection 0 dropped: no frame for 5.1 s" and first.aborted
    inbox.wait_status(True, since=mark)
    second = fakes.made[1]
    assert second.sent == [("subscribe", [7, 8]), ("mode", "full", [7, 8])]  # resubscribed
    state = feed.status()
    assert state.counters.watchdog_drops == 1 and state.counters.reconnects == 1
    assert state.counters.heartbeats == 1 and state.connections[0].attempts == 2


def test_a_refused_token_asks_for_login_once_and_a_new_token_reconnects(
        fake_feed: Callable[..., KiteFeed], fakes: FakeTickers, inbox: Inbox) -> None:
    current = ["tok-1"]
    feed = fake_feed(token=lambda: current[0], tokens=[7])
    feed.start()
    inbox.wait_status(True)
    fakes.valid.clear()  # the token expired at the server
    mark = inbox.mark()
    in_reactor_now(fakes.made[0].lose)
    inbox.wait_status(False, since=mark, text="login needed")
    assert inbox.wait_for(lambda: inbox.logins == 1)
    assert len(fakes.made) == 2 and fakes.made[1].access_token == "tok-1"
    state = feed.status()
    assert state.login_needed and state.connections[0].state == "login needed"
    assert "403" in state.connections[0].reason

    current[0] = "tok-2"
    fakes.valid.add("tok-2")
    mark = inbox.mark()
    feed.reconnect()
    inbox.wait_status(True, since=mark)
    assert fakes.made[-1].access_token == "tok-2" and len(fakes.made) == 3
    assert fakes.made[-1].subscribed() == [7]
    assert not feed.status().login_needed and inbox.logins == 1


def test_no_token_at_all_is_login_needed_without_dialing(
        fake_feed: Callable[..., KiteFeed], fakes: FakeTickers, inbox: Inbox) -> None:
    feed = fake_feed(token=lambda: None, tokens=[7])
    feed.start()
    assert inbox.wait_status(False) == FeedStatus(False, "login needed")
    assert inbox.wait_for(lambda: inbox.logins == 1)
    assert fakes.made == [] and feed.feed_info().detail == "login needed"


def test_frames_become_one_batch_each_and_text_frames_are_sorted_out(
        fake_feed: Callable[..., KiteFeed], fakes: FakeTickers, inbox: Inbox,
        caplog: pytest.LogCaptureFixture) -> None:
    feed = fake_feed(tokens=range(1, 3_002))  # two connections
    feed.start()
    inbox.wait_status(True)
    one, two = fakes.made
    mark = inbox.mark()
    in_reactor_now(one.receive, LTP_FRAME + b"junk", True)
    batch = inbox.batches(mark)
    assert len(batch) == 1 and isinstance(batch[0], TickBatch)
    (tick,) = batch[0].ticks
    assert (tick.instrument_token, str(tick.last_price), tick.received_at) == (
        3861249, "1000.31", CLOCK.now())

    order = json.dumps({"type": "order", "data": {"order_id": "1", "status": "OPEN"}}).encode()
    update = json.dumps({"type": "order", "data": {"order_id": "1", "status": "COMPLETE"}})
    with caplog.at_level(logging.WARNING, logger="agent.adapters"):
        in_reactor_now(one.receive, order, False)
        in_reactor_now(two.receive, order, False)  # the same update on the other socket
        in_reactor_now(two.receive, b'{"type": "error", "data": "Invalid message"}', False)
        in_reactor_now(one.receive, b"not json", False)
        in_reactor_now(one.receive, update, False)
    assert [o["status"] for o in inbox.orders] == ["OPEN", "COMPLETE"]
    warnings = [r.getMessage() for r in caplog.records]
    assert "Kite ticker error: Invalid message" in warnings
    assert any("not JSON" in w for w in warnings)
    counters = feed.status().counters
    assert (counters.text_frames, counters.order_messages, counters.ticker_errors) == (5, 2, 1)
    assert len(inbox.batches(mark)) == 1  # text frames put nothing on the inbox


def test_a_failing_order_callback_does_not_stop_the_feed(
        fake_feed: Callable[..., KiteFeed], fakes: FakeTickers, inbox: Inbox) -> None:
    calls: list[str] = []

    def broken(data: dict[str, object]) -> None:
        calls.append(str(data["status"]))
        raise RuntimeError("broker adapter bug")

    feed = fake_feed(tokens=[7], on_order_message=broken)
    feed.start()
    inbox.wait_status(True)
    ticker = fakes.made[0]
    for status in ("OPEN", "CANCELLED"):
        data = json.dumps({"type": "order", "data": {"status": status}}).encode()
        in_reactor_now(ticker.receive, data, False)
    mark = inbox.mark()
    in_reactor_now(ticker.receive, LTP_FRAME, True)
    assert calls == ["OPEN", "CANCELLED"] and len(inbox.batches(mark)) == 1
    assert feed.status().connected


def test_close_is_clean_and_stops_reconnecting(
        fake_feed: Callable[..., KiteFeed], fakes: FakeTickers, inbox: Inbox) -> None:
    feed = fake_feed(tokens=range(1, 3_002))
    never_started = fake_feed(tokens=[1])
    assert never_started.close()
    feed.start()
    inbox.wait_status(True)
    assert feed.close(timeout=10)
    assert all(t.closed for t in fakes.made) and len(fakes.made) == 2
    assert {c.state for c in feed.status().connections} == {"closed"}
    assert feed.close(timeout=1)  # again: nothing left to do
    feed.reconnect()  # after close: ignored
    with pytest.raises(RuntimeError, match="already started"):
        feed.start()


def test_prioritized_instruments_come_first_in_a_batch_of_their_own(
        fake_feed: Callable[..., KiteFeed], fakes: FakeTickers, inbox: Inbox) -> None:
    feed = fake_feed(tokens=range(1, 10))
    feed.start()
    inbox.wait_status(True)
    (ticker,) = fakes.made
    ltp = [struct.pack(">HII", 8, (token << 8) | 1, 10_000 + token) for token in range(1, 6)]
    payload = struct.pack(">H", len(ltp)) + b"".join(ltp)
    feed.prioritize(frozenset({(4 << 8) | 1, (2 << 8) | 1}))
    mark = inbox.mark()
    in_reactor_now(ticker.receive, payload, True)
    first, rest = inbox.batches(mark)
    assert [t.instrument_token >> 8 for t in first.ticks] == [2, 4]
    assert [t.instrument_token >> 8 for t in rest.ticks] == [1, 3, 5]
    feed.prioritize(frozenset())
    mark = inbox.mark()
    in_reactor_now(ticker.receive, payload, True)
    (whole,) = inbox.batches(mark)
    assert [t.instrument_token >> 8 for t in whole.ticks] == [1, 2, 3, 4, 5]
