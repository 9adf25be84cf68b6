"""Who may act: allowed chats and, when configured, allowed users.

A caller may act when its chat is in ``allowed_chat_ids`` and, if ``allowed_user_ids`` is
not empty, its user is in it too (a group chat being allowed does not let every member
trade). An empty chat list lets nobody act. Refused callers are logged (chat id, user id
and the command word only, never the rest of the text) and get at most one short refusal
per chat per ``refusal_interval``. Loop thread only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from agent.clock import Clock
from handlers.services import Caller

log = logging.getLogger(__name__)

REFUSAL_TEXT = "Not authorised. /whoami shows your chat and user ids."


class Authorizer:
    def __init__(self, allowed_chat_ids: Iterable[int], allowed_user_ids: Iterable[int],
                 clock: Clock, *, refusal_interval: timedelta = timedelta(minutes=1)) -> None:
        self.chats = frozenset(allowed_chat_ids)
        self.users = frozenset(allowed_user_ids)
        self.clock = clock
        self.refusal_interval = refusal_interval
        self.refused = 0  # attempts refused since start
        self._last_refusal: dict[int, datetime] = {}

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
        """Record a refused attempt; True when a refusal message should be sent now."""
        self.refused += 1
        word = command_word(text)
        log.warning("refused chat %s user %s: %s", caller.chat_id, caller.user_id, word)
        now = self.clock.now()
        last = self._last_refusal.get(caller.chat_id)
        if last is not None and now - last < self.refusal_interval:
            return False
        self._last_refusal[caller.chat_id] = now
        if len(self._last_refusal) > 10_000:  # a flood of strangers must not grow memory
            self._last_refusal = {caller.chat_id: now}
        return True


def command_word(text: str) -> str:
    """The command word of a text for logs ('/set'), or '<text>' / '<button>'; never the
    arguments (a pasted login token, a stranger's message)."""
    first = text.strip().split(maxsplit=1)[0] if text.strip() else ""
    if first.startswith("/"):
        return first.split("@", 1)[0][:32]
    return "<text>"
