"""The key layout on Redis (``storage.backend: redis``), one place for every name.

Every key of one agent carries its account (``storage.account``, say AB1234), so two agents
on one Redis never touch each other's keys:

- ``candle:{account}:{token}:{interval}:{start}``: a hash per completed candle (``open``,
  ``high``, ``low``, ``close``, ``volume``, ``start``, ``end``, ``ticks``, ``token``;
  ``start`` in the key is the candle's start in epoch seconds), expiring after
  ``storage.candle_ttl_days``;
- ``candles:{account}:{token}:{interval}:{day}``: a sorted set of that day's candle starts
  (score and member: epoch seconds), so a day reads back in order; same expiry;
- ``candle-series:{account}:{day}``: a set of ``token:interval`` with candles that day, and
  ``candle-days:{account}``: a sorted set of days (score: the day's ordinal);
- ``marks:{account}:{token}:{day}``: a list of the strategy's marks (JSON lines, as in the
  ``<token>_marks.jsonl`` files); same expiry;
- ``state:{account}``: a hash, one field per state section (JSON) and ``_sections``,
  replaced whole in one transaction;
- ``journal:{account}:{YYYY-MM}``: a list of journal lines (JSON), never expiring, and
  ``journal-months:{account}``: the set of months;
- ``agent:{account}``: the heartbeat (JSON: account, mode, pid, host, at, positions, day
  P&L), expiring after ``HEARTBEAT_TTL`` seconds unless renewed; ``agents``: the set of
  accounts that ever ran here (``bot.py status --redis``);
- ``lock:{account}``: held by the running agent (renewed with the heartbeat), so a second
  agent with the same account is refused.

Logical paths: the storage writer queues lines by ``Path``; on Redis these are
``redis:{account}/candles/{day}/{token}_{interval}m.jsonl``,
``redis:{account}/candles/{day}/{token}_marks.jsonl`` and
``redis:{account}/journal/{YYYY-MM}.jsonl``, which ``target`` maps to keys (and which log
lines and alerts show). Pure functions; any thread.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import PurePosixPath

HEARTBEAT_TTL = 30  # seconds: an agent silent this long is taken for dead
AGENTS = "agents"

_CANDLE_FILE = re.compile(r"^(\d+)_(\d+)m\.jsonl$")
_MARKS_FILE = re.compile(r"^(\d+)_marks\.jsonl$")
_MONTH_FILE = re.compile(r"^(\d{4}-\d{2})\.jsonl$")


@dataclass(frozen=True, slots=True)
class CandleTarget:
    """Where a logical candle path's lines go."""

    token: int
    interval: int
    day: date


@dataclass(frozen=True, slots=True)
class MarksTarget:
    token: int
    day: date


@dataclass(frozen=True, slots=True)
class JournalTarget:
    month: str  # YYYY-MM


@dataclass(frozen=True, slots=True)
class Keys:
    """The keys of one account."""

    account: str

    @property
    def root(self) -> PurePosixPath:
        """The logical root of this account's paths (``redis:AB1234``)."""
        return PurePosixPath(f"redis:{self.account}")

    def candle_at(self, token: int, interval: int, start_epoch: int) -> str:
        return f"candle:{self.account}:{token}:{interval}:{start_epoch}"

    def candle_day(self, token: int, interval: int, day: date) -> str:
        return f"candles:{self.account}:{token}:{interval}:{day.isoformat()}"

    def series(self, day: date) -> str:
        return f"candle-series:{self.account}:{day.isoformat()}"

    @property
    def days(self) -> str:
        return f"candle-days:{self.account}"

    def marks(self, token: int, day: date) -> str:
        return f"marks:{self.account}:{token}:{day.isoformat()}"

    @property
    def state(self) -> str:
        return f"state:{self.account}"

    def state_copy(self, stamp: str) -> str:
        """Where a state that cannot be used is copied before it is refused."""
        return f"state:{self.account}:corrupt-{stamp}"

    def journal(self, month: str) -> str:
        return f"journal:{self.account}:{month}"

    @property
    def journal_months(self) -> str:
        return f"journal-months:{self.account}"

    @property
    def heartbeat(self) -> str:
        return f"agent:{self.account}"

    @property
    def lock(self) -> str:
        return f"lock:{self.account}"

    def target(self, path: PurePosixPath | str) -> CandleTarget | MarksTarget | JournalTarget:
        """The keys a logical path (see the module doc) stands for; ValueError otherwise."""
        parts = PurePosixPath(path).parts
        if len(parts) >= 3 and parts[-3] == "candles":
            day = date.fromisoformat(parts[-2])
            if match := _CANDLE_FILE.match(parts[-1]):
                return CandleTarget(int(match.group(1)), int(match.group(2)), day)
            if match := _MARKS_FILE.match(parts[-1]):
                return MarksTarget(int(match.group(1)), day)
        if len(parts) >= 2 and parts[-2] == "journal" and (
                match := _MONTH_FILE.match(parts[-1])):
            return JournalTarget(match.group(1))
        raise ValueError(f"{path}: not a candle, marks or journal path of this store")
