"""Benchmark: our Kite frame parser against KiteTicker's own ``_parse_binary``.

``run(quick)`` builds streams of frames of 500 packets (full, quote and ltp mode) with
random but valid content, parses every stream with both parsers (interleaved, best of a few
repetitions, each repetition with a fresh ``KiteFrameParser`` so its caches start cold) and
returns ticks per second and the ratio ours / KiteTicker for each case:

- ``full``, ``quote``, ``ltp``: a stream of frames for one universe of 500 instruments
  whose prices walk a few ticks per frame and whose timestamps share seconds, as a live
  feed does (our price and time caches hit for repeated values, as they would live);
- ``full_depth_read``: ``full``, and every tick's depth read too (our depth is lazy);
- ``full_unique_prices``: full mode where every price is a fresh random number, so our
  price cache never hits (the worst case for it).

The caller (``python -m bench``) prints the dict; nothing here prints.
"""

from __future__ import annotations

import gc
import random
import struct
import time
from collections.abc import Callable

from kiteconnect import KiteTicker

from agent.adapters.kite_parser import KiteFrameParser

PACKETS_PER_FRAME = 500
_SEGMENTS = (1, 1, 1, 1, 2, 2, 3, 4, 5, 6, 7, 12)  # mostly NSE; CDS/BCD/NCO divisors too
_DIVISOR = {3: 10_000_000, 6: 10_000, 12: 10_000}
_U32 = (1 << 32) - 1


class _Instrument:
    def __init__(self, rng: random.Random, segment: int) -> None:
        self.token = rng.randrange(1, 1 << 24) << 8 | segment
        unit = _DIVISOR.get(segment, 100)
        self.step = unit // 20 if unit >= 10_000 else 5  # a 0.05 rupee tick
        self.price = rng.randrange(10, min(5000, (1 << 31) // unit)) * unit
        self.open = self.high = self.low = self.price
        self.close = self.price + rng.randrange(-50, 50) * self.step
        self.volume = rng.randrange(0, 10**6)

    def walk(self, rng: random.Random) -> None:
        self.price = max(self.step, self.price + rng.randrange(-3, 4) * self.step)
        self.high = max(self.high, self.price)
        self.low = min(self.low, self.price)
        self.volume += rng.randrange(1, 500)


def _packet(rng: random.Random, ins: _Instrument, mode: str, now: int, unique: bool) -> bytes:
    def price() -> int:
        return rng.randrange(1, _U32) if unique else ins.price

    if mode == "ltp":
        return struct.pack(">2I", ins.token, price())
    ohlc = (
        (price(), price(), price(), price())
        if unique
        else (ins.open, ins.high, ins.low, ins.close)
    )
    head = struct.pack(
        ">11I", ins.token, price(), rng.randrange(1, 100), price(), ins.volume,
        rng.randrange(10**6), rng.randrange(10**6), *ohlc,
    )
    if mode == "quote":
        return head
    tail = struct.pack(">5I", now - rng.randrange(3), 0, 0, 0, now)
    depth = b"".join(
        struct.pack(">IIH2x", rng.randrange(1, 5000), price(), rng.randrange(1, 50))
        for _ in range(10)
    )
    return head + tail + depth


def _frames(seed: int, mode: str, count: int, unique: bool = False) -> list[bytes]:
    rng = random.Random(seed)
    universe = [_Instrument(rng, rng.choice(_SEGMENTS)) for _ in range(PACKETS_PER_FRAME)]
    now = 1_700_000_000
    frames = []
    for i in range(count):
        parts = [struct.pack(">H", PACKETS_PER_FRAME)]
        for ins in universe:
            ins.walk(rng)
            packet = _packet(rng, ins, mode, now + i, unique)
            parts.append(struct.pack(">H", len(packet)) + packet)
        frames.append(b"".join(parts))
    return frames


def _timed(action: Callable[[], int]) -> tuple[float, int]:
    gc.collect()
    start = time.perf_counter()
    ticks = action()
    return time.perf_counter() - start, ticks


def _ours(frames: list[bytes], read_depth: bool) -> Callable[[], int]:
    def action() -> int:
        parse = KiteFrameParser().parse  # fresh caches every repetition
        n = 0
        for frame in frames:
            ticks = parse(frame)
            if read_depth:
                for t in ticks:
                    _ = t.depth_buy, t.depth_sell
            n += len(ticks)
        return n

    return action


def _kite(frames: list[bytes]) -> Callable[[], int]:
    ticker = KiteTicker("bench_api_key", "bench_access_token")  # never connects

    def action() -> int:
        return sum(len(ticker._parse_binary(frame)) for frame in frames)

    return action


def _case(frames: list[bytes], repeats: int, read_depth: bool = False) -> dict[str, float]:
    ours_action, kite_action = _ours(frames, read_depth), _kite(frames)
    ours_s = kite_s = float("inf")
    for _ in range(repeats):  # interleaved, so a busy machine slows both alike; best of each
        seconds, ours_n = _timed(ours_action)
        ours_s = min(ours_s, seconds)
        seconds, kite_n = _timed(kite_action)
        kite_s = min(kite_s, seconds)
    if ours_n != kite_n:
        raise RuntimeError(f"tick counts differ: ours {ours_n}, KiteTicker {kite_n}")
    ours, kite = ours_n / ours_s, kite_n / kite_s
    return {"ours_ticks_per_s": round(ours), "kite_ticks_per_s": round(kite),
            "ratio": round(ours / kite, 2)}


def run(quick: bool) -> dict:
    """Ticks/s of both parsers and their ratio per case; quick: fewer frames and repeats."""
    n_frames, repeats = (10, 2) if quick else (20, 5)
    full = _frames(1, "full", n_frames)
    return {
        "packets_per_frame": PACKETS_PER_FRAME,
        "frames": n_frames,
        "full": _case(full, repeats),
        "quote": _case(_frames(2, "quote", n_frames), repeats),
        "ltp": _case(_frames(3, "ltp", n_frames), repeats),
        "full_depth_read": _case(full, repeats, read_depth=True),
        "full_unique_prices": _case(_frames(4, "full", n_frames, unique=True), repeats),
    }
