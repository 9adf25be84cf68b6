"""``--split DATE|FRACTION``: the in-sample and out-of-sample days of a tick file.

``--split 2026-03-01``: the days before that date are in-sample, it and the later ones out
of sample; ``--split 0.7``: the first 70% of the file's trading days (rounded down) in
sample, the rest out. Either way both parts must have days. The days are the IST dates of
the file's ticks, read once by the parent (main thread).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

Days = tuple[date, date]


class SplitError(ValueError):
    """A ``--split`` that cannot divide the file's days; the message is one line."""


@dataclass(frozen=True, slots=True)
class Split:
    in_sample: Days
    out_of_sample: Days
    in_days: int
    out_days: int

    def describe(self) -> str:
        a, b = self.in_sample, self.out_of_sample
        return (f"in-sample {a[0]}..{a[1]} ({_days(self.in_days)}), out-of-sample "
                f"{b[0]}..{b[1]} ({_days(self.out_days)})")


def _days(n: int) -> str:
    return f"{n} day{'' if n == 1 else 's'}"


def parse_split(text: str) -> date | Decimal:
    """A date (YYYY-MM-DD) or a fraction strictly between 0 and 1."""
    text = text.strip()
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise SplitError(f"--split {text}: not a date") from None
    if re.fullmatch(r"0?\.[0-9]+", text):
        fraction = Decimal(text)
        if 0 < fraction < 1:
            return fraction
    raise SplitError(f"--split {text[:40]}: expected a date YYYY-MM-DD (the first "
                     "out-of-sample day) or a fraction of the days between 0 and 1 (0.7)")


def file_days(ticks: Path) -> list[date]:
    """The IST dates of the file's ticks, in order (TickFileError if it cannot be read)."""
    from agent.adapters.replay import TickFile

    seen: set[date] = set()
    last = None
    for tick in TickFile(ticks):
        t = tick.timestamp
        if t is None or t.date() == last:
            continue
        last = t.date()  # the parser gives IST times
        seen.add(last)
    return sorted(seen)


def split_days(days: Sequence[date], at: date | Decimal) -> Split:
    """The two parts of ``days`` (sorted, distinct) at ``at``."""
    if not days:
        raise SplitError("--split: the tick file has no ticks")
    if isinstance(at, date):
        first = [d for d in days if d < at]
        rest = [d for d in days if d >= at]
        name = str(at)
    else:
        count = int(at * len(days))
        first, rest = list(days[:count]), list(days[count:])
        name = f"{at} of {_days(len(days))}"
    if not first or not rest:
        part = "in-sample" if not first else "out-of-sample"
        raise SplitError(f"--split {name}: leaves no {part} days (the file has "
                         f"{days[0]}..{days[-1]}, {_days(len(days))})")
    return Split((first[0], first[-1]), (rest[0], rest[-1]), len(first), len(rest))
