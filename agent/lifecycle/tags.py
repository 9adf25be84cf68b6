"""Our client tags: unique within a day whatever the crash timing. Engine thread only.

A tag is what Kite calls ``tag``: at most 20 alphanumeric characters. Ours are
``<kind><yymmdd><epoch><seq>``: kind E (entry), X (exit), S (stop); the trading day; the
epoch, the tenth of a second of the wall-clock day at which this process started (six
digits); and a sequence from 1. A restart gets a new epoch, so a tag can never repeat even
when the last snapshot (which carries the sequence) was lost in a crash, or an order was
still on its way to Kite when the process died. Start-up also moves the sequence past
every tag of this epoch that the broker already knows (``advance_past``), in case the
wall clock stepped back. A backtest has no epoch (``<kind><yymmdd><seq:05>``): its tags
are the same on every run.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from datetime import date

from agent.models import OrderPurpose

TAG_MAX = 20
_KIND = {OrderPurpose.ENTRY: "E", OrderPurpose.EXIT: "X", OrderPurpose.STOP: "S"}
_PURPOSE = {v: k for k, v in _KIND.items()}
TAG_RE = re.compile(r"^[EXS]\d{6}\d{5,}$")  # both forms


def make_tag(purpose: OrderPurpose, day: date, seq: int, epoch: str = "") -> str:
    tag = f"{_KIND[purpose]}{day:%y%m%d}{epoch}{seq:05d}"
    assert len(tag) <= TAG_MAX and tag.isalnum(), tag
    return tag


def is_agent_tag(tag: object) -> bool:
    return isinstance(tag, str) and len(tag) <= TAG_MAX and TAG_RE.match(tag) is not None


def purpose_of(tag: str) -> OrderPurpose:
    return _PURPOSE[tag[0]]


def wall_epoch(now: float | None = None) -> str:
    """Six digits: tenths of a second since local midnight of the wall clock."""
    t = time.time() if now is None else now
    local = time.localtime(t)
    seconds = local.tm_hour * 3600 + local.tm_min * 60 + local.tm_sec
    return f"{seconds * 10 + int((t % 1) * 10):06d}"


class TagMint:
    """Hands out the day's tags. ``epoch`` "" (a backtest) or ``wall_epoch()`` (live)."""

    def __init__(self, epoch: str = "") -> None:
        self.epoch = epoch
        self.seq = 0

    def next(self, purpose: OrderPurpose, day: date) -> str:
        self.seq += 1
        return make_tag(purpose, day, self.seq, self.epoch)

    def advance_past(self, tags: Iterable[str], day: date) -> int:
        """Move the sequence past every known tag of this day and epoch; returns it."""
        prefix_len = 1 + 6 + len(self.epoch)
        stamp = f"{day:%y%m%d}{self.epoch}"
        for tag in tags:
            if is_agent_tag(tag) and tag[1:prefix_len] == stamp:
                tail = tag[prefix_len:]
                if not self.epoch and len(tail) > 10:
                    continue  # a live tag (an epoch and a sequence), not a backtest's
                if tail.isdigit():
                    self.seq = max(self.seq, int(tail))
        return self.seq
