"""Kite ticker binary packets, laid out exactly as Kite sends them.

Big-endian. A frame is a 2-byte packet count, then per packet a 2-byte length and the
packet. Packets: ltp 8 bytes; index quote 28 / full 32 (high, low, open, close order);
quote 44 and full 184 (with 10 depth entries of quantity, price, 2-byte orders and 2 bytes
of padding). Prices are integers: rupees x 100 (x 10^7 for CDS, x 10^4 for BCD and NCO),
chosen from the segment code in the token's low byte, as KiteTicker divides. A heartbeat is
one byte. Pure functions; any thread.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from agent.sim.market import Quote

MODE_LTP = "ltp"
MODE_QUOTE = "quote"
MODE_FULL = "full"
MODES = (MODE_LTP, MODE_QUOTE, MODE_FULL)
SEGMENT_CDS = 3
SEGMENT_BCD = 6
SEGMENT_INDICES = 9
SEGMENT_NCO = 12
HEARTBEAT = b"\x00"

_LTP = struct.Struct(">II")
_INDEX_QUOTE = struct.Struct(">IIIIIIi")
_INDEX_FULL = struct.Struct(">IIIIIIiI")
_QUOTE = struct.Struct(">IIIIIIIIIII")
_FULL_EXTRA = struct.Struct(">IIIII")
_DEPTH = struct.Struct(">IIHH")


def divisor(token: int) -> int:
    segment = token & 0xFF
    if segment == SEGMENT_CDS:
        return 10_000_000
    if segment in (SEGMENT_BCD, SEGMENT_NCO):
        return 10_000
    return 100


def is_index(token: int) -> bool:
    return token & 0xFF == SEGMENT_INDICES


def _p(price: Decimal, div: int) -> int:
    return int((price * div).to_integral_value())


def _epoch(when: datetime) -> int:
    return int(when.timestamp())


def packet(q: Quote, mode: str) -> bytes:
    """The packet of one instrument's quote in a streaming mode."""
    token = q.instrument.token
    div = divisor(token)
    ltp = _p(q.last_price, div)
    if mode == MODE_LTP:
        return _LTP.pack(token, ltp)
    if is_index(token):
        values = (token, ltp, _p(q.high, div), _p(q.low, div), _p(q.open, div),
                  _p(q.close, div), _p(q.last_price - q.close, div))
        if mode == MODE_QUOTE:
            return _INDEX_QUOTE.pack(*values)
        return _INDEX_FULL.pack(*values, _epoch(q.time))
    head = _QUOTE.pack(token, ltp, q.last_quantity, _p(q.average_price, div), q.volume,
                       q.buy_quantity, q.sell_quantity, _p(q.open, div), _p(q.high, div),
                       _p(q.low, div), _p(q.close, div))
    if mode == MODE_QUOTE:
        return head
    stamp = _epoch(q.time)
    parts = [head, _FULL_EXTRA.pack(stamp, q.oi, q.oi_day_high, q.oi_day_low, stamp)]
    for level in (*q.depth_buy, *q.depth_sell):
        parts.append(_DEPTH.pack(level.quantity, _p(level.price, div), level.orders, 0))
    return b"".join(parts)


def frame(packets: Iterable[bytes]) -> bytes:
    """One binary WebSocket message holding packets."""
    items = list(packets)
    parts = [struct.pack(">H", len(items))]
    for item in items:
        parts.append(struct.pack(">H", len(item)))
        parts.append(item)
    return b"".join(parts)
