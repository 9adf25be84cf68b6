"""Fast parser for Kite WebSocket binary frames (what KiteTicker's ``_parse_binary`` does).

A frame is ``count:u16`` then ``count`` times ``length:u16 packet``; all integers are
big-endian and unsigned. Packet layouts by length: 8 ltp; 28 index quote; 32 index full;
44 quote; 184 full (64-byte header, then 5 buy + 5 sell depth levels of
``quantity:u32 price:u32 orders:u16 pad:2``). Index packets order their OHLC as high, low,
open, close; 44/184-byte packets as open, high, low, close. The price divisor comes from the
segment (``instrument_token & 0xff``): CDS 10**7, BCD and NCO 10**4, otherwise 100.

Differences from KiteTicker, on purpose:

- prices are exact ``Decimal`` rupees (``float(tick.last_price)`` equals KiteTicker's float);
- times are IST-aware, and an epoch of 0 (the exchange did not set it) becomes ``None``;
- bad input never raises. A packet of unknown length is skipped (its length prefix still
  says where the next one starts) and counted. A length prefix that runs past the end of the
  frame cannot be resynchronised from: the ticks before it are kept, the rest of the frame
  is dropped, and one bad packet is counted. Trailing bytes after ``count`` packets are
  ignored, as KiteTicker ignores them.

Speed (``python -m bench``; >= 10x KiteTicker in full mode is the goal): one precompiled
``struct.Struct`` per layout, length prefix included, so a run of same-length packets is a
single ``iter_unpack`` (no per-field slicing); Decimal and datetime caches keyed by the raw
integer (prices and seconds repeat from tick to tick); ticks built with positional
arguments; and lazily decoded depth: a full-mode packet becomes a :class:`FullModeTick`
that keeps the 120 raw depth bytes and builds its ``DepthLevel`` tuples the first time
``depth_buy`` or ``depth_sell`` is read.

Threads: a :class:`KiteFrameParser` (and its caches) belongs to the one thread that calls
``parse``, in the live agent KiteTicker's reactor thread. ``stats`` may be read from any
thread. Ticks may be handed to any thread: lazy depth decoding uses a module-level price
cache (plain dict operations, atomic under the GIL), and two threads racing to decode the
same tick only compute equal tuples twice.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from agent.models import DepthLevel, Tick
from agent.timeutil import IST

logger = logging.getLogger(__name__)

LTP, QUOTE, FULL = "ltp", "quote", "full"
SEGMENT_CDS, SEGMENT_BCD, SEGMENT_INDICES, SEGMENT_NCO = 3, 6, 9, 12
_CACHE_LIMIT = 1 << 16  # entries per cache; a full cache is simply cleared

_U16 = struct.Struct(">H")
# One record = a packet with its u16 length prefix, so a run of same-length packets is one
# iter_unpack. Index packets: token ltp high low open close, 4 unused bytes, [timestamp].
_LTP_REC = struct.Struct(">H2I")
_INDEX_QUOTE_REC = struct.Struct(">H6I4x")
_INDEX_FULL_REC = struct.Struct(">H6I4xI")
_QUOTE_REC = struct.Struct(">H11I")
_FULL_REC = struct.Struct(">H16I120s")  # 64-byte head, 120 bytes of depth kept raw
_DEPTH = struct.Struct(">" + "IIH2x" * 10)
_EPOCH = datetime.fromtimestamp(0, IST)


class _PriceCache(dict):
    """raw u32 -> exact Decimal rupees for one divisor; ``cache[raw]`` fills on a miss."""

    __slots__ = ("unit",)

    def __init__(self, exponent: int) -> None:
        super().__init__()
        self.unit = Decimal(1).scaleb(exponent)

    def __missing__(self, raw: int) -> Decimal:
        if len(self) >= _CACHE_LIMIT:
            self.clear()
        # exact: at most 10 digits, and the thread's context keeps 28 unless someone lowers it
        value = self[raw] = Decimal(raw) * self.unit
        return value


class _TimeCache(dict):
    """epoch seconds -> IST-aware datetime (0 -> None); ``cache[secs]`` fills on a miss."""

    __slots__ = ()

    def __missing__(self, secs: int) -> datetime | None:
        if len(self) >= _CACHE_LIMIT:
            self.clear()
        # A u32 of seconds always fits a datetime (year 2106 at most): this cannot raise.
        value = self[secs] = _EPOCH + timedelta(seconds=secs) if secs else None
        return value


class _Segment(NamedTuple):  # a tuple: the hot loops unpack it in one step
    prices: _PriceCache
    divisor: float
    tradable: bool


# The parser builds ticks with positional arguments (the fastest way): pin the fields.
_TICK_FIELDS = (
    "instrument_token", "last_price", "timestamp", "received_at", "last_traded_quantity",
    "volume_traded", "mode", "tradable", "average_traded_price", "total_buy_quantity",
    "total_sell_quantity", "open", "high", "low", "close", "change", "last_trade_time",
    "oi", "oi_day_high", "oi_day_low", "depth_buy", "depth_sell",
)
if tuple(f.name for f in fields(Tick)) != _TICK_FIELDS:
    raise ImportError("agent.models.Tick fields changed: update kite_parser (_TICK_FIELDS)")

_new_level = object.__new__
_set_level_price = DepthLevel.__dict__["price"].__set__
_set_level_quantity = DepthLevel.__dict__["quantity"].__set__
_set_level_orders = DepthLevel.__dict__["orders"].__set__
if tuple(f.name for f in fields(DepthLevel)) != ("price", "quantity", "orders"):
    raise ImportError("agent.models.DepthLevel fields changed: update kite_parser")
_BUY_SLOT = Tick.__dict__["depth_buy"]  # Tick's slot descriptors, under FullModeTick's
_SELL_SLOT = Tick.__dict__["depth_sell"]  # properties


def _decode_depth(tick: FullModeTick) -> None:
    raw = tick._depth_raw
    if raw is None:  # another thread decoded it meanwhile
        return
    prices = _DEPTH_SEGMENTS[tick.instrument_token & 0xFF].prices
    v = _DEPTH.unpack(raw)
    levels = []
    for i in range(0, 30, 3):  # DepthLevel is frozen: fill its slots directly, 2x faster
        level = _new_level(DepthLevel)
        _set_level_price(level, prices[v[i + 1]])
        _set_level_quantity(level, v[i])
        _set_level_orders(level, v[i + 2])
        levels.append(level)
    _SELL_SLOT.__set__(tick, tuple(levels[5:]))
    _BUY_SLOT.__set__(tick, tuple(levels[:5]))
    tick._depth_raw = None  # last: once it is None, both slots are set


def _get_depth_buy(tick: FullModeTick) -> tuple[DepthLevel, ...]:
    if tick._depth_raw is not None:
        _decode_depth(tick)
    return _BUY_SLOT.__get__(tick)


def _get_depth_sell(tick: FullModeTick) -> tuple[DepthLevel, ...]:
    if tick._depth_raw is not None:
        _decode_depth(tick)
    return _SELL_SLOT.__get__(tick)


def _set_depth_buy(tick: FullModeTick, value: tuple[DepthLevel, ...]) -> None:
    _decode_depth(tick)
    _BUY_SLOT.__set__(tick, value)


def _set_depth_sell(tick: FullModeTick, value: tuple[DepthLevel, ...]) -> None:
    _decode_depth(tick)
    _SELL_SLOT.__set__(tick, value)


class FullModeTick(Tick):
    """A full-mode :class:`Tick` whose depth is decoded on first read.

    The parser passes the packet's 120 raw depth bytes as ``depth_buy``; they are kept in
    ``_depth_raw`` and the first read of ``depth_buy`` or ``depth_sell`` turns them into
    the two ``DepthLevel`` tuples. Every other way in (a tuple ``depth_buy``,
    ``dataclasses.replace``, pickle, copy) is eager. To readers (attributes, ``repr``,
    ``dataclasses.asdict``) it is a Tick with depth. One difference: the dataclass ``==``
    compares objects of the same class only, so a FullModeTick never equals a plain Tick.
    """

    __slots__ = ("_depth_raw",)

    def __init__(  # Tick's signature; assigns the slots directly (faster than properties)
        self, instrument_token: int, last_price: Decimal, timestamp: datetime | None = None,
        received_at: datetime | None = None, last_traded_quantity: int | None = None,
        volume_traded: int | None = None, mode: str = FULL, tradable: bool = True,
        average_traded_price: Decimal | None = None, total_buy_quantity: int | None = None,
        total_sell_quantity: int | None = None, open: Decimal | None = None,
        high: Decimal | None = None, low: Decimal | None = None, close: Decimal | None = None,
        change: float | None = None, last_trade_time: datetime | None = None,
        oi: int | None = None, oi_day_high: int | None = None, oi_day_low: int | None = None,
        depth_buy: bytes | tuple[DepthLevel, ...] = (), depth_sell: tuple[DepthLevel, ...] = (),
    ) -> None:
        self.instrument_token = instrument_token
        self.last_price = last_price
        self.timestamp = timestamp
        self.received_at = received_at
        self.last_traded_quantity = last_traded_quantity
        self.volume_traded = volume_traded
        self.mode = mode
        self.tradable = tradable
        self.average_traded_price = average_traded_price
        self.total_buy_quantity = total_buy_quantity
        self.total_sell_quantity = total_sell_quantity
        self.open = open
        self.high = high
        self.low = low
        self.close = close
        self.change = change
        self.last_trade_time = last_trade_time
        self.oi = oi
        self.oi_day_high = oi_day_high
        self.oi_day_low = oi_day_low
        if depth_buy.__class__ is bytes:
            self._depth_raw = depth_buy
        else:
            self._depth_raw = None
            _BUY_SLOT.__set__(self, depth_buy)
            _SELL_SLOT.__set__(self, depth_sell)

    depth_buy = property(_get_depth_buy, _set_depth_buy, doc="5 buy levels, best first")
    depth_sell = property(_get_depth_sell, _set_depth_sell, doc="5 sell levels, best first")

    def __reduce__(self) -> tuple[type[FullModeTick], tuple[object, ...]]:
        return FullModeTick, tuple(getattr(self, name) for name in _TICK_FIELDS)


def _make_segments() -> list[_Segment]:
    caches = {-2: _PriceCache(-2), -4: _PriceCache(-4), -7: _PriceCache(-7)}
    segments = []
    for seg in range(256):
        exponent = -7 if seg == SEGMENT_CDS else -4 if seg in (SEGMENT_BCD, SEGMENT_NCO) else -2
        segments.append(_Segment(caches[exponent], 10.0**-exponent, seg != SEGMENT_INDICES))
    return segments


_DEPTH_SEGMENTS = _make_segments()  # lazy depth decoding may run on any thread


def _full_run(view: memoryview, ticks: list[Tick], segments: list[_Segment],
              times: _TimeCache, received_at: datetime | None) -> None:
    append = ticks.append
    for (length, tok, ltp, ltq, atp, vol, tbq, tsq, o, h, lo, c, ltt, oi, oih, oil, ts,
         depth) in _FULL_REC.iter_unpack(view):
        if length != 184:
            return
        px, div, tradable = segments[tok & 0xFF]
        close = c / div  # change: in floats, exactly as KiteTicker computes it
        change = (ltp / div - close) * 100 / close if c else 0.0
        append(FullModeTick(
            tok, px[ltp], times[ts], received_at, ltq, vol, FULL, tradable, px[atp],
            tbq, tsq, px[o], px[h], px[lo], px[c], change, times[ltt], oi, oih, oil, depth,
        ))


def _quote_run(view: memoryview, ticks: list[Tick], segments: list[_Segment],
               times: _TimeCache, received_at: datetime | None) -> None:
    append = ticks.append
    for length, tok, ltp, ltq, atp, vol, tbq, tsq, o, h, lo, c in _QUOTE_REC.iter_unpack(view):
        if length != 44:
            return
        px, div, tradable = segments[tok & 0xFF]
        close = c / div
        change = (ltp / div - close) * 100 / close if c else 0.0
        append(Tick(
            tok, px[ltp], None, received_at, ltq, vol, QUOTE, tradable, px[atp],
            tbq, tsq, px[o], px[h], px[lo], px[c], change,
        ))


def _ltp_run(view: memoryview, ticks: list[Tick], segments: list[_Segment],
             times: _TimeCache, received_at: datetime | None) -> None:
    append = ticks.append
    for length, tok, ltp in _LTP_REC.iter_unpack(view):
        if length != 8:
            return
        px, _, tradable = segments[tok & 0xFF]
        append(Tick(tok, px[ltp], None, received_at, None, None, LTP, tradable))


def _index_quote_run(view: memoryview, ticks: list[Tick], segments: list[_Segment],
                     times: _TimeCache, received_at: datetime | None) -> None:
    append = ticks.append
    for length, tok, ltp, h, lo, o, c in _INDEX_QUOTE_REC.iter_unpack(view):
        if length != 28:
            return
        px, div, tradable = segments[tok & 0xFF]
        close = c / div
        change = (ltp / div - close) * 100 / close if c else 0.0
        append(Tick(
            tok, px[ltp], None, received_at, None, None, QUOTE, tradable, None,
            None, None, px[o], px[h], px[lo], px[c], change,
        ))


def _index_full_run(view: memoryview, ticks: list[Tick], segments: list[_Segment],
                    times: _TimeCache, received_at: datetime | None) -> None:
    append = ticks.append
    for length, tok, ltp, h, lo, o, c, ts in _INDEX_FULL_REC.iter_unpack(view):
        if length != 32:
            return
        px, div, tradable = segments[tok & 0xFF]
        close = c / div
        change = (ltp / div - close) * 100 / close if c else 0.0
        append(Tick(
            tok, px[ltp], times[ts], received_at, None, None, FULL, tradable, None,
            None, None, px[o], px[h], px[lo], px[c], change,
        ))


# packet length -> parser of a run of packets of that length (stops at another length)
_RUNS = {184: _full_run, 44: _quote_run, 8: _ltp_run, 28: _index_quote_run,
         32: _index_full_run}
# packet length -> (length, token) of a record of that length, the rest skipped
_TOKEN_RECS = {length: struct.Struct(f">HI{length - 4}x") for length in _RUNS}


@dataclass(slots=True)
class ParserStats:
    """Counters since the parser was made. ``packets`` counts good and bad ones."""

    frames: int = 0
    packets: int = 0
    ticks: int = 0
    bad_packets: int = 0
    heartbeats: int = 0


class KiteFrameParser:
    """Turns Kite binary frames into :class:`Tick` objects and counts what it saw.

    ``parse`` is called by one thread only (the KiteTicker reactor thread); ``stats``
    returns a copy and may be read from any thread.
    """

    def __init__(self) -> None:
        self._stats = ParserStats()
        self._times = _TimeCache()
        self._segments = _make_segments()
        self._next_warning = 1

    @property
    def stats(self) -> ParserStats:
        s = self._stats
        return ParserStats(s.frames, s.packets, s.ticks, s.bad_packets, s.heartbeats)

    def parse(self, payload: bytes, received_at: datetime | None = None) -> list[Tick]:
        """All good packets of one frame as ticks, in frame order. Never raises on bytes.

        ``received_at`` is copied into every tick. Reactor thread only.
        """
        stats = self._stats
        stats.frames += 1
        if payload.__class__ is not bytes:
            payload = bytes(payload)  # bytearray/memoryview; anything else: TypeError
        size = len(payload)
        if size < 2:
            stats.heartbeats += 1
            return []
        ticks, bad = self._packets(payload, received_at)
        stats.ticks += len(ticks)
        stats.packets += len(ticks) + bad
        if bad:
            self._count_bad(bad, size)
        return ticks

    def parse_first(self, payload: bytes, received_at: datetime | None,
                    first: AbstractSet[int], hand_over: Callable[[list[Tick]], None]
                    ) -> list[Tick]:
        """``parse``, in two parts: the ticks of the tokens in ``first`` (in frame order)
        go to ``hand_over`` as soon as they are parsed (not called when there are none);
        the others (in frame order) are parsed after that and returned. Frames whose
        packets are not all of one length are parsed whole and returned. Reactor thread.
        """
        if payload.__class__ is not bytes:
            payload = bytes(payload)
        size = len(payload)
        hot: list[int] = []
        if first and size >= 4:
            count, length = _U16.unpack_from(payload, 0)[0], _U16.unpack_from(payload, 2)[0]
            record = length + 2
            head = _TOKEN_RECS.get(length)
            if head is not None and count and size >= 2 + count * record:
                for i, (n, token) in enumerate(
                        head.iter_unpack(memoryview(payload)[2 : 2 + count * record])):
                    if n != length:  # mixed lengths: the offsets above are not packets
                        hot = []
                        break
                    if token in first:
                        hot.append(i)
        if not hot:
            return self.parse(payload, received_at)
        early, _ = self._packets(self._subframe(payload, record, hot), received_at)
        stats = self._stats
        stats.frames += 1
        stats.packets += count  # all of one known length, all inside the frame: none bad
        stats.ticks += len(early)
        hand_over(early)
        is_hot = set(hot)
        rest, _ = self._packets(self._subframe(
            payload, record, [i for i in range(count) if i not in is_hot]), received_at)
        stats.ticks += len(rest)
        return rest

    @staticmethod
    def _subframe(payload: bytes, record: int, picks: list[int]) -> bytes:
        """A frame of the packets at ``picks`` (indexes) of a frame of same-size records."""
        return b"".join([_U16.pack(len(picks)), *(payload[2 + i * record : 2 + (i + 1) * record]
                                                  for i in picks)])

    def _packets(self, payload: bytes, received_at: datetime | None
                 ) -> tuple[list[Tick], int]:
        """The ticks of a frame of at least 2 bytes, and how many packets were bad."""
        size = len(payload)
        ticks: list[Tick] = []
        view = memoryview(payload)
        count = _U16.unpack_from(payload, 0)[0]
        pos, done, bad = 2, 0, 0
        while done < count:
            if pos + 2 > size:  # the frame ends before this packet's length prefix
                bad += 1
                break
            length = _U16.unpack_from(payload, pos)[0]
            run = _RUNS.get(length)
            record = length + 2
            if run is None:  # unknown layout: skip it if it lies inside the frame
                bad += 1
                done += 1
                pos += record
                if pos > size:
                    break
                continue
            whole = min(count - done, (size - pos) // record)
            if whole == 0:  # the declared length runs past the end: no way to resync
                bad += 1
                break
            before = len(ticks)
            run(view[pos : pos + whole * record], ticks, self._segments, self._times,
                received_at)
            parsed = len(ticks) - before  # >= 1: the first record has this length
            if not parsed:  # cannot happen; never loop forever if it ever does
                bad += 1
                break
            done += parsed
            pos += parsed * record
        return ticks, bad

    def _count_bad(self, bad: int, size: int) -> None:
        self._stats.bad_packets += bad
        total = self._stats.bad_packets
        if total >= self._next_warning:  # warn at 1, 10, 100, ... bad packets, not per frame
            logger.warning("Kite frame of %d bytes had bad packets (%d so far)", size, total)
            self._next_warning = total * 10
        else:
            logger.debug("Kite frame of %d bytes had %d bad packets", size, bad)


_default_parser = KiteFrameParser()


def parse_frame(payload: bytes, received_at: datetime | None = None) -> list[Tick]:
    """Parse one frame with the module's default parser. One thread only (the reactor)."""
    return _default_parser.parse(payload, received_at)


def default_stats() -> ParserStats:
    """The counters of the default parser behind :func:`parse_frame`."""
    return _default_parser.stats
