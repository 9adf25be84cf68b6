"""P&L limits (instrument, group, account) and their halts: docs/strategy.md 5.1.

The P&L compared is gross unless ``risk.limits_on: net`` (``PnlBook.net``): then it is net
of the day's charges, the open positions' estimated round-trip charges included.

Reads the incremental totals of ``PnlBook``; only scopes whose P&L changed since the last
check are examined, which is the same as examining all of them on every tick (a scope's
P&L only moves when one of its instruments is marked or filled). Engine thread only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from agent.models import ExitReason
from agent.pnl import PnlBook

log = logging.getLogger(__name__)
ZERO = Decimal(0)


class Scope(StrEnum):
    INSTRUMENT = "instrument"
    GROUP = "group"
    DAILY = "daily"


_REASON = {
    Scope.INSTRUMENT: ExitReason.INSTRUMENT_LIMIT,
    Scope.GROUP: ExitReason.GROUP_LIMIT,
    Scope.DAILY: ExitReason.DAILY_LIMIT,
}


@dataclass(frozen=True, slots=True)
class Limits:
    profit_target: Decimal = ZERO  # 0: none
    loss_limit: Decimal = ZERO  # 0: none

    def breached(self, pnl: Decimal) -> str | None:
        """'profit_target' or 'loss_limit' when pnl reaches it (inclusive), else None."""
        if self.profit_target and pnl >= self.profit_target:
            return "profit_target"
        if self.loss_limit and pnl <= -self.loss_limit:
            return "loss_limit"
        return None


NO_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class Trip:
    """A scope reached a limit: close and halt ``tokens``."""

    scope: Scope
    name: str  # the symbol, the group name, or 'daily'
    which: str  # 'profit_target' or 'loss_limit'
    pnl: Decimal
    limit: Decimal
    tokens: tuple[int, ...]

    @property
    def reason(self) -> ExitReason:
        return _REASON[self.scope]


@dataclass(slots=True)
class RiskBook:
    """Limits per scope and which scopes have tripped today."""

    pnl: PnlBook
    instrument_limits: dict[int, Limits] = field(default_factory=dict)  # by token
    groups: dict[str, tuple[int, ...]] = field(default_factory=dict)
    group_limits: dict[str, Limits] = field(default_factory=dict)
    daily: Limits = field(default_factory=Limits)
    # (scope, name, which): a profit-target trip leaves the loss limit armed, and so on
    tripped: set[tuple[Scope, str, str]] = field(default_factory=set)

    def check(self, all_tokens: Iterable[int]) -> list[Trip]:
        """Scopes that reached a limit since the last check (each trips once a day)."""
        dirty = self.pnl.dirty
        if not dirty:
            return []
        trips: list[Trip] = []
        seen_groups: set[str] = set()
        books = self.pnl.books
        for token in dirty:
            book = books[token]
            key = (Scope.INSTRUMENT, book.symbol)
            limits = self.instrument_limits.get(token, NO_LIMITS)
            value = self.pnl.limit_pnl(book)
            which = limits.breached(value)
            if which and (*key, which) not in self.tripped:
                trips.append(self._trip(key, which, value, limits, (token,)))
            for g in book.groups:
                if g in seen_groups:
                    continue
                seen_groups.add(g)
                key = (Scope.GROUP, g)
                group_limits = self.group_limits.get(g)
                if group_limits is None:
                    continue
                which = group_limits.breached(self.pnl.group_pnl[g])
                if which and (*key, which) not in self.tripped:
                    trips.append(self._trip(key, which, self.pnl.group_pnl[g], group_limits,
                                            self.groups.get(g, ())))
        dirty.clear()
        key = (Scope.DAILY, "daily")
        which = self.daily.breached(self.pnl.total)
        if which and (*key, which) not in self.tripped:
            trips.append(self._trip(key, which, self.pnl.total, self.daily, tuple(all_tokens)))
        return trips

    def _trip(self, key: tuple[Scope, str], which: str, pnl: Decimal, limits: Limits,
              tokens: tuple[int, ...]) -> Trip:
        self.tripped.add((*key, which))
        limit = limits.profit_target if which == "profit_target" else limits.loss_limit
        return Trip(key[0], key[1], which, pnl, limit, tokens)

    def recheck_all(self) -> None:
        """Limits changed: say which books matter, and examine them at the next check."""
        daily = bool(self.daily.profit_target or self.daily.loss_limit)
        grouped = {t for g, tokens in self.groups.items()
                   if (lim := self.group_limits.get(g)) and (lim.profit_target or lim.loss_limit)
                   for t in tokens}
        for token, book in self.pnl.books.items():
            lim = self.instrument_limits.get(token, NO_LIMITS)
            book.watched = daily or token in grouped or bool(lim.profit_target or lim.loss_limit)
        self.pnl.recount()

    def scopes_of(self, token: int) -> list[tuple[Scope, str]]:
        """The scopes whose limits cover an instrument: itself, its groups, the account."""
        book = self.pnl.books[token]
        return [(Scope.INSTRUMENT, book.symbol),
                *((Scope.GROUP, g) for g, tokens in self.groups.items() if token in tokens),
                (Scope.DAILY, "daily")]

    def reached(self, scope: Scope, name: str) -> tuple[str | None, Decimal]:
        """('profit_target' or 'loss_limit' or None, P&L): whether the scope is at its limit
        now, from every book's current P&L. Engine thread (commands)."""
        net = self.pnl.net
        if scope is Scope.DAILY:
            limits, pnl = self.daily, self.pnl.fresh_total(net)
        elif scope is Scope.GROUP:
            limits = self.group_limits.get(name, NO_LIMITS)
            pnl = self.pnl.fresh_group(name, net)
        else:
            token = next((t for t, b in self.pnl.books.items() if b.symbol == name), None)
            if token is None:
                return None, ZERO
            limits = self.instrument_limits.get(token, NO_LIMITS)
            pnl = self.pnl.limit_pnl(self.pnl.books[token])
        return limits.breached(pnl), pnl

    def rearm(self, keys: Iterable[tuple[Scope, str]]) -> None:
        """Let these tripped scopes trip again (``/unhalt``: docs/strategy.md 9.7). Engine
        thread (commands)."""
        scopes = set(keys)
        self.tripped = {t for t in self.tripped if (t[0], t[1]) not in scopes}

    def rearm_unreached(self) -> None:
        """After a limit change: every tripped scope no longer at its limit (raised above its
        P&L, or set to 0) is armed again, so it trips at its new limit (docs/strategy.md 9.2,
        9.7). Its instruments stay halted until ``/unhalt``. Engine thread (commands)."""
        self.tripped = {t for t in self.tripped if self.reached(t[0], t[1])[0] == t[2]}

    def reset_day(self) -> None:
        self.tripped.clear()


def most_specific(trips: Iterable[Trip]) -> dict[int, Trip]:
    """For each token to close: the most specific trip (instrument, then group, then daily)."""
    order = {Scope.INSTRUMENT: 0, Scope.GROUP: 1, Scope.DAILY: 2}
    chosen: dict[int, Trip] = {}
    for trip in sorted(trips, key=lambda tr: order[tr.scope]):
        for token in trip.tokens:
            chosen.setdefault(token, trip)
    return chosen
