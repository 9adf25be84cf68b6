"""Who may act (allowed chats and, when configured, allowed users), and how much a caller
who may not act is answered.

A caller may act when its chat is in ``allowed_chat_ids`` and, if ``allowed_user_ids`` is
not empty, its user is in it too (a group chat being allowed does not let every member
trade). An empty chat list lets nobody act. Refused callers are logged (chat id, user id
and the command word only, never the rest of the text).

Everything said to a caller who may not act (a refusal, the answer to their /whoami, a
"slow down" note) is a courtesy, paid from ``CourtesyBudget``: per user, per chat and in
total per minute. Beyond it the bot stays silent, so a stranger's flood costs a few
messages a minute whatever its size, and the budget's memory is bounded by what it
answered in the last minute. /whoami is budgeted per user for everyone; a caller who may
act spends only their own budget. Loop thread only.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from agent.clock import Clock
from handlers.services import Caller

log = logging.getLogger(__name__)

REFUSAL_TEXT = "Not authorised.\n/whoami shows your chat and user ids."


def slow_down_text(budget: int, window: timedelta) -> str:
    return (f"Slow down: /whoami is answered\n{budget} time(s) per "
            f"{_span(window)}; more are ignored.")


class Courtesy(Enum):
    REFUSAL = "refusal"  # "Not authorised"
    WHOAMI = "whoami"  # the answer to /whoami of a caller who may not act


class Verdict(Enum):
    ANSWER = "answer"
    SLOW_DOWN = "slow down"  # the user's budget is spent: one note per window, then silence
    SILENT = "silent"


@dataclass(frozen=True, slots=True)
class Budgets:
    """Courtesy messages per ``window`` (defaults: a minute)."""

    refusals_per_user: int = 1
    whoami_per_user: int = 3
    per_chat: int = 5  # all courtesies in one chat, every user together (notes included)
    total: int = 30  # all courtesies in every chat together (notes included)


@dataclass(slots=True)
class _User:
    answered: dict[Courtesy, deque[datetime]] = field(default_factory=dict)
    noted: datetime | None = None  # the last "slow down" note


class CourtesyBudget:
    """Sliding-window budgets of what is said to callers who may not act.

    Users are keyed by user id (the chat when a message has no sender). A user is
    remembered only once answered, and forgotten a window after their last answer or note;
    the per-chat and total windows hold at most their budget of times. So memory stays
    under about twice ``budgets.total`` users whatever the flood."""

    def __init__(self, clock: Clock, window: timedelta = timedelta(minutes=1),
                 budgets: Budgets = Budgets()) -> None:
        self.clock = clock
        self.window = window
        self.budgets = budgets
        self.answered = 0  # courtesies granted since start (notes included)
        self.silenced = 0  # courtesies withheld since start
        self._users: dict[tuple[str, int | None], _User] = {}
        self._chats: dict[int, deque[datetime]] = {}
        self._total: deque[datetime] = deque()

    @property
    def tracked(self) -> int:
        """Users and chats remembered now (bounded; for tests and diagnostics)."""
        return len(self._users) + len(self._chats)

    def decide(self, caller: Caller, kind: Courtesy, *, trusted: bool = False) -> Verdict:
        """Whether to answer ``caller`` now; an ANSWER or SLOW_DOWN is counted as spent.
        A ``trusted`` caller (one who may act) has only its own per-user budget: strangers
        spending the chat's or the total budget never silence it."""
        now = self.clock.now()
        start = now - self.window
        self._sweep(start)
        key = ("user", caller.user_id) if caller.user_id is not None else ("chat",
                                                                          caller.chat_id)
        user = self._users.get(key)
        times = user.answered.get(kind) if user is not None else None
        if times is not None:
            _expire(times, start)
        room = trusted or self._room(caller.chat_id, start)
        limit = (self.budgets.refusals_per_user if kind is Courtesy.REFUSAL
                 else self.budgets.whoami_per_user)
        if times is None or len(times) < limit:
            verdict = Verdict.ANSWER if room else Verdict.SILENT
        elif (kind is Courtesy.WHOAMI and room and user is not None
              and (user.noted is None or user.noted <= start)):
            verdict = Verdict.SLOW_DOWN
        else:
            verdict = Verdict.SILENT
        if verdict is Verdict.SILENT:
            self.silenced += 1
            return verdict
        self.answered += 1
        if user is None:
            user = self._users[key] = _User()
        if verdict is Verdict.ANSWER:
            user.answered.setdefault(kind, deque()).append(now)
        else:
            user.noted = now
        if not trusted:
            self._chats.setdefault(caller.chat_id, deque()).append(now)
            self._total.append(now)
        return verdict

    def _room(self, chat_id: int, start: datetime) -> bool:
        """Whether the chat's and the total budgets have room."""
        chat = self._chats.get(chat_id)
        if chat is not None:
            _expire(chat, start)
        _expire(self._total, start)
        return (len(self._total) < self.budgets.total
                and (chat is None or len(chat) < self.budgets.per_chat))

    def _sweep(self, start: datetime) -> None:
        """Forget users and chats with nothing in the window (when there are many)."""
        if len(self._users) > 2 * self.budgets.total:
            self._users = {key: user for key, user in self._users.items()
                           if (user.noted is not None and user.noted > start)
                           or any(t and t[-1] > start for t in user.answered.values())}
        if len(self._chats) > 2 * self.budgets.total:
            self._chats = {chat: t for chat, t in self._chats.items() if t and t[-1] > start}


def _expire(times: deque[datetime], start: datetime) -> None:
    while times and times[0] <= start:
        times.popleft()


def _span(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    return "minute" if seconds == 60 else f"{seconds} s"


class Authorizer:
    def __init__(self, allowed_chat_ids: Iterable[int], allowed_user_ids: Iterable[int],
                 clock: Clock, *, refusal_interval: timedelta = timedelta(minutes=1),
                 budgets: Budgets = Budgets()) -> None:
        self.chats = frozenset(allowed_chat_ids)
        self.users = frozenset(allowed_user_ids)
        self.clock = clock
        self.refusal_interval = refusal_interval  # the courtesy budgets' window
        self.refused = 0  # attempts refused since start
        self.courtesy = CourtesyBudget(clock, refusal_interval, budgets)

    def warn_if_nobody(self) -> None:
        """Log loudly at start when the allow-list lets nobody act."""
        if not self.chats:
            log.warning("telegram.allowed_chat_ids is empty: NOBODY may run commands or "
                        "receive alerts; add your chat id (send /whoami to the bot)")

    def allows(self, caller: Caller) -> bool:
        if caller.chat_id not in self.chats:
            return False
        return not self.users or caller.user_id in self.users

    def refuse(self, caller: Caller, text: str) -> bool:
        """Record a refused attempt; True when a refusal message should be sent now (at most
        ``refusals_per_user`` per user per window, within the chat's and the total budget)."""
        self.refused += 1
        verdict = self.courtesy.decide(caller, Courtesy.REFUSAL)
        level = logging.WARNING if verdict is Verdict.ANSWER else logging.DEBUG
        log.log(level, "refused chat %s user %s: %s", caller.chat_id, caller.user_id,
                command_word(text))
        return verdict is Verdict.ANSWER

    def whoami(self, caller: Caller) -> Verdict:
        """Whether to answer a /whoami now: ``whoami_per_user`` per user per window, then
        one "slow down" note; a caller who may not act also spends the chat's and the
        total budget."""
        verdict = self.courtesy.decide(caller, Courtesy.WHOAMI, trusted=self.allows(caller))
        if verdict is Verdict.SLOW_DOWN:
            log.warning("chat %s user %s: /whoami flood; not answered for a while",
                        caller.chat_id, caller.user_id)
        return verdict

    def slow_down_text(self) -> str:
        return slow_down_text(self.courtesy.budgets.whoami_per_user, self.refusal_interval)


def command_word(text: str) -> str:
    """The command word of a text for logs ('/set'), or '<text>' / '<button>'; never the
    arguments (a pasted login token, a stranger's message)."""
    first = text.strip().split(maxsplit=1)[0] if text.strip() else ""
    if first.startswith("/"):
        return first.split("@", 1)[0][:32]
    return "<text>"
