"""The fast Kite frame parser against Zerodha's sample packets and KiteTicker's own parser."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import random
import struct
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from kiteconnect import KiteTicker

from agent.adapters import kite_parser
from agent.adapters.kite_parser import FullModeTick, KiteFrameParser, parse_frame
from agent.models import DepthLevel, Tick
from agent.timeutil import IST
from tests import kite_mocks
from tests.kite_mocks import mock_json

LAYOUTS = (8, 28, 32, 44, 184)
SEGMENTS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 0, 200)  # every Kite segment and two unknown
DIVISOR = {3: 10_000_000, 6: 10_000, 12: 10_000}
IST_OFFSET = timedelta(hours=5, minutes=30)


def frame(*packets: bytes, count: int | None = None) -> bytes:
    n = len(packets) if count is None else count
    return struct.pack(">H", n) + b"".join(struct.pack(">H", len(p)) + p for p in packets)


def mock_packet(name: str) -> bytes:
    data = kite_mocks.mock_packet(name)
    assert len(data) in LAYOUTS, f"{name}: expected one bare packet, got {len(data)} bytes"
    return data


def kite_parse(payload: bytes) -> list[dict]:
    return KiteTicker("test_api_key", "test_access_token")._parse_binary(payload)


def random_packet(rng: random.Random, length: int, segment: int) -> bytes:
    token = rng.randrange(1 << 24) << 8 | segment
    body = bytearray(struct.pack(">I", token))
    for offset in range(4, length, 4):
        if length == 184 and offset >= 64 and (offset - 64) % 12 == 8:
            body += struct.pack(">HH", rng.randrange(1 << 16), 0)  # orders u16 + padding
        elif rng.random() < 0.1:
            body += struct.pack(">I", rng.choice((0, 1, (1 << 32) - 1)))  # edge values
        else:
            body += struct.pack(">I", rng.randrange(1 << 32))
    if length in (32, 184) and rng.random() < 0.8:  # mostly plausible exchange times
        stamp = 1_600_000_000 + rng.randrange(10**8)
        struct.pack_into(">I", body, 28 if length == 32 else 60, stamp)
    return bytes(body)


def assert_price(ours: Decimal, kite: float, token: int) -> None:
    unit = Decimal(1) / DIVISOR.get(token & 0xFF, 100)
    assert isinstance(ours, Decimal)
    assert float(ours) == kite  # both are the correctly rounded float of raw / divisor
    assert abs(ours - Decimal(kite)) <= unit / 2
    assert ours % unit == 0  # exact: on the divisor's grid


def assert_time(ours: datetime | None, kite: datetime | None) -> None:
    # KiteTicker gives naive host-local time; we give IST-aware time and None for epoch 0.
    if kite is None or kite.timestamp() == 0:
        assert ours is None
        return
    assert ours is not None and ours.utcoffset() == IST_OFFSET
    assert ours.timestamp() == kite.timestamp()


def assert_same_as_kite(ours: Tick, kite: dict) -> None:
    token = kite["instrument_token"]
    assert ours.instrument_token == token
    assert ours.mode == kite["mode"]
    assert ours.tradable is kite["tradable"]
    assert_price(ours.last_price, kite["last_price"], token)
    if "ohlc" not in kite:  # ltp
        assert (ours.open, ours.volume_traded, ours.change, ours.timestamp) == (None,) * 4
        return
    for key in ("open", "high", "low", "close"):
        assert_price(getattr(ours, key), kite["ohlc"][key], token)
    assert ours.change == kite["change"]
    assert_time(ours.timestamp, kite.get("exchange_timestamp"))
    if "last_traded_quantity" not in kite:  # index packets
        assert (ours.last_traded_quantity, ours.average_traded_price) == (None, None)
        return
    assert_price(ours.average_traded_price, kite["average_traded_price"], token)
    for key in ("last_traded_quantity", "volume_traded", "total_buy_quantity",
                "total_sell_quantity"):
        assert getattr(ours, key) == kite[key]
    if "depth" not in kite:  # quote
        assert (ours.oi, ours.last_trade_time, ours.depth_buy) == (None, None, ())
        return
    assert_time(ours.last_trade_time, kite["last_trade_time"])
    assert (ours.oi, ours.oi_day_high, ours.oi_day_low) == (
        kite["oi"], kite["oi_day_high"], kite["oi_day_low"])
    for side, levels in (("buy", ours.depth_buy), ("sell", ours.depth_sell)):
        assert len(levels) == 5 and all(isinstance(lv, DepthLevel) for lv in levels)
        for lv, want in zip(levels, kite["depth"][side], strict=True):
            assert (lv.quantity, lv.orders) == (want["quantity"], want["orders"])
            assert_price(lv.price, want["price"], token)


# --- Zerodha's sample packets ------------------------------------------------------------


def assert_mock_fields(tick: Tick, want: dict) -> None:
    assert (tick.instrument_token, tick.mode, tick.tradable) == (
        want["instrument_token"], want["mode"], want["tradable"])
    assert tick.last_price == Decimal(str(want["last_price"]))
    if want["mode"] == "ltp":
        return
    assert tick.last_traded_quantity == want["last_quantity"]
    assert tick.average_traded_price == Decimal(str(want["average_price"]))
    assert tick.volume_traded == want["volume"]
    assert tick.total_buy_quantity == want["buy_quantity"]
    assert tick.total_sell_quantity == want["sell_quantity"]
    for key in ("open", "high", "low", "close"):
        assert getattr(tick, key) == Decimal(str(want["ohlc"][key])), key
    # The JSON's "change" is the rupee difference of its full sample (copied unchanged into
    # the quote sample); KiteTicker reports the percent change from close, and so do we.
    close = float(want["ohlc"]["close"])
    assert tick.change == (want["last_price"] - close) * 100 / close


def test_sample_full_packet_matches_zerodha_json():
    want = mock_json("ticker_full.json")
    (tick,) = parse_frame(frame(mock_packet("ticker_full.packet")))
    assert_mock_fields(tick, want)
    assert tick.last_price == Decimal("1573.70") and str(tick.last_price) == "1573.70"
    for key in ("last_trade_time", "timestamp"):
        assert getattr(tick, key) == datetime.fromisoformat(want[key])
        assert getattr(tick, key).utcoffset() == IST_OFFSET
    assert (tick.oi, tick.oi_day_high, tick.oi_day_low) == (
        want["oi"], want["oi_day_high"], want["oi_day_low"])
    for side, levels in (("buy", tick.depth_buy), ("sell", tick.depth_sell)):
        assert levels == tuple(
            DepthLevel(Decimal(str(d["price"])), d["quantity"], d["orders"])
            for d in want["depth"][side]
        )


def test_sample_quote_packet_matches_zerodha_json():
    want = mock_json("ticker_quote.json")
    (tick,) = parse_frame(frame(mock_packet("ticker_quote.packet")))
    assert_mock_fields(tick, want)
    assert (tick.timestamp, tick.last_trade_time, tick.depth_buy) == (None, None, ())


def test_ltp_packet_built_from_zerodha_json():
    want = mock_json("ticker_ltp.json")
    raw = int(Decimal(str(want["last_price"])) * 100)
    (tick,) = parse_frame(frame(struct.pack(">II", want["instrument_token"], raw)))
    assert_mock_fields(tick, want)
    assert tick.open is None and tick.timestamp is None


def test_sample_frame_agrees_with_kiteticker():
    payload = frame(mock_packet("ticker_full.packet"), mock_packet("ticker_quote.packet"))
    ours, kite = KiteFrameParser().parse(payload), kite_parse(payload)
    assert len(ours) == len(kite) == 2
    for t, k in zip(ours, kite, strict=True):
        assert_same_as_kite(t, k)


# --- against KiteTicker on random packets ---------------------------------------------


@pytest.mark.parametrize("length", LAYOUTS)
def test_every_layout_and_segment_matches_kiteticker(length):
    rng = random.Random(length)
    packets = [random_packet(rng, length, seg) for seg in SEGMENTS for _ in range(40)]
    payload = frame(*packets)
    parser = KiteFrameParser()
    ours, kite = parser.parse(payload), kite_parse(payload)
    assert len(ours) == len(kite) == len(packets)
    for t, k in zip(ours, kite, strict=True):
        assert_same_as_kite(t, k)
    assert dataclasses.astuple(parser.stats) == (1, len(packets), len(packets), 0, 0)


def test_mixed_frames_match_kiteticker():
    rng = random.Random(7)
    parser = KiteFrameParser()
    for _ in range(60):
        # runs of equal layouts and single switches, in random order
        packets = [
            random_packet(rng, length, rng.choice(SEGMENTS))
            for length in rng.choices(LAYOUTS, k=rng.randrange(1, 12))
            for _ in range(rng.choice((1, 1, 2, 5)))
        ]
        payload = frame(*packets)
        ours, kite = parser.parse(payload), kite_parse(payload)
        assert [t.instrument_token for t in ours] == [k["instrument_token"] for k in kite]
        for t, k in zip(ours, kite, strict=True):
            assert_same_as_kite(t, k)
    assert parser.stats.bad_packets == 0


def test_index_ohlc_order_differs_from_quote_order():
    index = struct.pack(">7I", 256265, 2000000, 1, 2, 3, 4, 0)  # high low open close
    quote = struct.pack(">11I", 408065, 2000000, 0, 0, 0, 0, 0, 1, 2, 3, 4)  # o h l c
    t_index, t_quote = parse_frame(frame(index, quote))
    assert (t_index.high, t_index.low, t_index.open, t_index.close) == tuple(
        Decimal(n) / 100 for n in (1, 2, 3, 4))
    assert (t_quote.open, t_quote.high, t_quote.low, t_quote.close) == tuple(
        Decimal(n) / 100 for n in (1, 2, 3, 4))
    assert t_index.tradable is False and t_quote.tradable is True


def test_segment_divisors_keep_the_decimal_places():
    prices = [t.last_price for t in parse_frame(frame(
        struct.pack(">II", 1 << 8 | 3, 745012345),  # CDS
        struct.pack(">II", 1 << 8 | 6, 745012),  # BCD
        struct.pack(">II", 1 << 8 | 12, 745012),  # NCO
        struct.pack(">II", 1 << 8 | 1, 157370),  # NSE
    ))]
    assert [str(p) for p in prices] == ["74.5012345", "74.5012", "74.5012", "1573.70"]


def test_times_are_ist_and_epoch_zero_is_none():
    packet = bytearray(random_packet(random.Random(1), 184, 1))
    struct.pack_into(">I", packet, 44, 0)  # last trade time unset
    struct.pack_into(">I", packet, 60, 1625461887)  # 2021-07-05 05:11:27 UTC
    (tick,) = parse_frame(frame(bytes(packet)))
    assert tick.last_trade_time is None
    assert tick.timestamp == datetime(2021, 7, 5, 10, 41, 27, tzinfo=IST)
    assert tick.timestamp.tzinfo is IST


def test_received_at_is_copied_into_every_tick():
    when = datetime(2024, 1, 2, 9, 15, tzinfo=IST)
    rng = random.Random(3)
    payload = frame(*(random_packet(rng, n, 1) for n in LAYOUTS))
    assert [t.received_at for t in KiteFrameParser().parse(payload, when)] == [when] * 5


def test_caches_overflow_and_still_give_right_values(monkeypatch):
    monkeypatch.setattr(kite_parser, "_CACHE_LIMIT", 4)
    rng = random.Random(11)
    parser = KiteFrameParser()
    for _ in range(5):
        payload = frame(*(random_packet(rng, 184, rng.choice(SEGMENTS)) for _ in range(30)))
        for t, k in zip(parser.parse(payload), kite_parse(payload), strict=True):
            assert_same_as_kite(t, k)


def test_bytearray_and_memoryview_frames_parse_like_bytes():
    payload = frame(random_packet(random.Random(5), 184, 1))
    want = parse_frame(payload)
    assert parse_frame(bytearray(payload)) == want
    assert parse_frame(memoryview(payload)) == want
    with pytest.raises(TypeError):
        parse_frame("not bytes")  # type: ignore[arg-type]


# --- lazy depth -----------------------------------------------------------------------------


def lazy_tick(seed: int = 9) -> FullModeTick:
    (tick,) = KiteFrameParser().parse(frame(random_packet(random.Random(seed), 184, 1)))
    assert isinstance(tick, FullModeTick) and isinstance(tick, Tick)
    return tick


def test_depth_is_decoded_on_first_read_only():
    tick = lazy_tick()
    assert isinstance(tick._depth_raw, bytes) and len(tick._depth_raw) == 120
    buy = tick.depth_buy
    assert tick._depth_raw is None
    assert tick.depth_buy is buy and len(tick.depth_sell) == 5


def test_lazy_tick_copies_pickles_and_replaces_like_a_tick():
    for make in (
        lambda t: pickle.loads(pickle.dumps(t)),
        copy.copy,
        copy.deepcopy,
        lambda t: dataclasses.replace(t),
    ):
        original, twin = lazy_tick(), lazy_tick()
        clone = make(original)
        assert clone == twin and clone is not original
        assert clone.depth_sell == twin.depth_sell and len(clone.depth_buy) == 5
    tick = lazy_tick()
    assert dataclasses.asdict(tick)["depth_buy"][0]["quantity"] == tick.depth_buy[0].quantity
    assert "DepthLevel(price=" in repr(lazy_tick())


def test_setting_one_depth_side_keeps_the_other():
    tick, twin = lazy_tick(), lazy_tick()
    tick.depth_buy = ()
    assert tick.depth_buy == () and tick.depth_sell == twin.depth_sell


def test_concurrent_first_reads_agree():
    ticks = KiteFrameParser().parse(
        frame(*(random_packet(random.Random(i), 184, 1) for i in range(300))))
    expected = [(t.depth_buy, t.depth_sell) for t in KiteFrameParser().parse(
        frame(*(random_packet(random.Random(i), 184, 1) for i in range(300))))]
    start = threading.Barrier(4)

    def read_all(_: int) -> list:
        start.wait(timeout=10)
        return [(t.depth_sell, t.depth_buy)[::-1] for t in ticks]

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(read_all, range(4), timeout=30))
    assert all(r == expected for r in results)


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [b"", b"\x00", b"\xff"])
def test_heartbeats_give_nothing(payload):
    parser = KiteFrameParser()
    assert parser.parse(payload) == []
    assert dataclasses.astuple(parser.stats) == (1, 0, 0, 0, 1)


def test_zero_packets_and_missing_packets():
    parser = KiteFrameParser()
    assert parser.parse(b"\x00\x00") == []
    assert parser.parse(b"\x00\x03") == []  # three declared, none present
    assert parser.parse(b"\x00\x02\x00") == []  # half a length prefix
    assert dataclasses.astuple(parser.stats) == (3, 2, 0, 2, 0)


def test_unknown_length_in_the_middle_is_skipped():
    rng = random.Random(2)
    good = [random_packet(rng, n, 1) for n in (184, 44, 8)]
    parser = KiteFrameParser()
    ticks = parser.parse(frame(good[0], b"\x01" * 10, good[1], b"", good[2]))
    assert [t.mode for t in ticks] == ["full", "quote", "ltp"]
    assert dataclasses.astuple(parser.stats) == (1, 5, 3, 2, 0)


def test_length_past_the_end_keeps_the_ticks_before_it():
    rng = random.Random(4)
    a, b, c = (random_packet(rng, 184, 1) for _ in range(3))
    whole = frame(a, b, c)
    parser = KiteFrameParser()
    ticks = parser.parse(whole[:-1])  # the third packet is one byte short
    assert ticks == parse_frame(frame(a, b))
    too_long = frame(a) + struct.pack(">H", 500) + b"\x00" * 40  # unknown and past the end
    assert len(parser.parse(struct.pack(">H", 2) + too_long[2:])) == 1
    one_short = frame(a, b"\x01" * 10, count=3)[:-1]  # unknown, one byte past the end
    assert len(parser.parse(one_short)) == 1
    assert parser.stats.bad_packets == 3 and parser.stats.ticks == 4


def test_known_length_changing_mid_run_switches_layout():
    rng = random.Random(6)
    packets = [random_packet(rng, 184, 1), random_packet(rng, 184, 2), random_packet(rng, 8, 3)]
    ticks = parse_frame(frame(*packets))
    assert [t.mode for t in ticks] == ["full", "full", "ltp"]


def test_truncated_frames_give_the_complete_packets_before_the_cut():
    rng = random.Random(8)
    lengths = [rng.choice(LAYOUTS) for _ in range(25)]
    packets = [random_packet(rng, n, rng.choice(SEGMENTS)) for n in lengths]
    payload = frame(*packets)
    full = KiteFrameParser().parse(payload)
    ends = [2]
    for p in packets:
        ends.append(ends[-1] + 2 + len(p))
    parser = KiteFrameParser()
    for cut in range(2, len(payload)):
        complete = sum(1 for e in ends[1:] if e <= cut)
        assert parser.parse(payload[:cut]) == full[:complete], cut
    assert parser.stats.bad_packets == len(payload) - 2  # one per truncated frame


def test_garbage_never_raises_and_counts_add_up():
    rng = random.Random(12345)
    parser = KiteFrameParser()
    valid = frame(*(random_packet(rng, rng.choice(LAYOUTS), 1) for _ in range(20)))
    for i in range(3000):
        kind = i % 3
        if kind == 0:
            payload = rng.randbytes(rng.randrange(0, 600))
        elif kind == 1:  # a valid frame with some bytes flipped
            data = bytearray(valid)
            for _ in range(rng.randrange(1, 6)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            payload = bytes(data)
        else:  # junk appended or a random count
            payload = struct.pack(">H", rng.randrange(1 << 16)) + valid[2:] + rng.randbytes(9)
        ticks = parser.parse(payload)
        assert all(isinstance(t, Tick) for t in ticks)
        for t in ticks:  # every tick is complete, depth included
            assert isinstance(t.last_price, Decimal) and isinstance(t.depth_buy, tuple)
    s = parser.stats
    assert s.frames == 3000 and s.packets == s.ticks + s.bad_packets
    assert s.bad_packets > 0 and s.ticks > 0 and s.heartbeats > 0


def test_bench_frames_parse_like_kiteticker():
    from bench.parse import _frames

    for mode in ("full", "quote", "ltp"):
        (payload,) = _frames(1, mode, 1)
        ours, kite = KiteFrameParser().parse(payload), kite_parse(payload)
        assert len(ours) == len(kite) == 500
        for t, k in zip(ours, kite, strict=True):
            assert_same_as_kite(t, k)


def _token(packet: bytes) -> int:
    return struct.unpack_from(">I", packet)[0]


@pytest.mark.parametrize("length", LAYOUTS)
def test_parse_first_splits_a_frame_without_losing_or_reordering_a_tick(length):
    rng = random.Random(length)
    for _ in range(50):
        packets = [random_packet(rng, length, rng.choice((1, 2, 3, 9))) for _ in range(40)]
        packets += rng.sample(packets, 5)  # a token twice in a frame keeps its order
        first = {_token(p) for p in rng.sample(packets, rng.randrange(0, 8))}
        payload = frame(*packets)
        whole = KiteFrameParser().parse(payload)
        parser = KiteFrameParser()
        handed: list[list[Tick]] = []
        rest = parser.parse_first(payload, None, first, handed.append)
        early = handed[0] if handed else []
        assert len(handed) == (1 if early else 0)
        assert early == [t for t in whole if t.instrument_token in first]
        assert rest == [t for t in whole if t.instrument_token not in first]
        stats = parser.stats
        assert (stats.frames, stats.packets, stats.ticks) == (1, len(packets), len(packets))


def test_parse_first_leaves_mixed_and_broken_frames_whole():
    rng = random.Random(5)
    mixed = [random_packet(rng, 184, 1), random_packet(rng, 32, 9), random_packet(rng, 184, 1)]
    payload = frame(*mixed)
    handed: list[list[Tick]] = []
    rest = KiteFrameParser().parse_first(payload, None, {_token(mixed[2])}, handed.append)
    assert handed == [] and rest == KiteFrameParser().parse(payload)
    short = frame(*mixed[:1], count=3)  # declares more packets than it holds
    rest = KiteFrameParser().parse_first(short, None, {_token(mixed[0])}, handed.append)
    assert handed == [] and rest == KiteFrameParser().parse(short)
    for _ in range(2_000):  # garbage never raises
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 400)))
        KiteFrameParser().parse_first(junk, None, {rng.randrange(1 << 32)}, handed.append)
