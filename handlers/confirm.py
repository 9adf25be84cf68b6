"""Confirmation prompts for destructive commands: buttons that work once and expire.

``offer`` stores the choices of a prompt under a random id and returns the buttons
(``data`` is ``c:<id>:<n>``); ``take`` hands back the chosen ``Choice`` once, checking the
chat and the age against the injected clock. An expired, reused, foreign or unknown button
gets a ``Refusal`` that says why, and so does malformed or forged data (any text). A choice
may lead to a second prompt instead of running a command (``then``: a position button of
the /squareoff list asks "Square off ...? Yes/No").

A prompt's age counts from its delivery: the transport calls ``delivered`` once the
message is out (a prompt queued behind others, or held by Telegram's flood control, loses
none of its time); until then, from the offer. The clock is people's time (wall time,
``CommandCenter.people``), never a simulated market's. Loop thread only.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from agent.clock import Clock
from agent.events import Command
from handlers.services import Button, ButtonOutcome, Caller

PREFIX = "c:"


@dataclass(frozen=True, slots=True)
class Choice:
    label: str
    command: Command | None  # None: cancel (unless ``then`` is given)
    done: str = ""  # what the prompt says once chosen (else the engine's reply)
    # a follow-up instead of a command: ``then(caller)`` -> the ButtonOutcome (a new prompt)
    then: Callable[[Caller], Awaitable[ButtonOutcome]] | None = None


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: str
    expired: bool = False  # the prompt timed out (its buttons should go away)


@dataclass(slots=True)
class _Prompt:
    chat_id: int
    created: datetime  # the offer; then the delivery (``Confirmations.delivered``)
    what: str
    choices: tuple[Choice, ...]


class Confirmations:
    def __init__(self, clock: Clock, ttl: timedelta = timedelta(seconds=60)) -> None:
        self.clock = clock
        self.ttl = ttl
        self._prompts: dict[str, _Prompt] = {}

    def offer(self, chat_id: int, what: str, choices: tuple[Choice, ...]) -> tuple[Button, ...]:
        """Store a prompt for ``chat_id``; ``what`` names the action (for refusals)."""
        self._forget_expired()
        key = secrets.token_hex(4)
        self._prompts[key] = _Prompt(chat_id, self.clock.now(), what, choices)
        return tuple(Button(c.label, f"{PREFIX}{key}:{i}") for i, c in enumerate(choices))

    def delivered(self, data: str) -> None:
        """The prompt holding the button ``data`` has reached its chat: its lifetime
        starts now."""
        parts = _parts(data)
        prompt = None if parts is None else self._prompts.get(parts[0])
        if prompt is not None:
            prompt.created = self.clock.now()

    def take(self, chat_id: int, data: str) -> Choice | Refusal:
        """The choice behind a pressed button, once; else why it does nothing."""
        parts = _parts(data)
        if parts is None:
            return Refusal("this button is not one of mine")
        key, index = parts
        prompt = self._prompts.get(key)
        if prompt is None or prompt.chat_id != chat_id:
            return Refusal("this button was already used or is no longer valid; nothing done")
        if self.clock.now() - prompt.created > self.ttl:
            del self._prompts[key]
            seconds = int(self.ttl.total_seconds())
            return Refusal(f"this button expired (after {seconds} s); nothing done. "
                           f"Send the command again to {prompt.what}.", expired=True)
        if index >= len(prompt.choices):
            return Refusal("this button is not one of mine")
        del self._prompts[key]
        return prompt.choices[index]

    def pending(self) -> int:
        return len(self._prompts)

    def _forget_expired(self) -> None:
        now = self.clock.now()
        for key in [k for k, p in self._prompts.items() if now - p.created > self.ttl * 10]:
            del self._prompts[key]


def _parts(data: str) -> tuple[str, int] | None:
    """The prompt's id and the choice's index in a button's data; None if malformed."""
    parts = data.split(":") if isinstance(data, str) else []
    if (len(parts) != 3 or f"{parts[0]}:" != PREFIX or not parts[2].isascii()
            or not parts[2].isdigit() or len(parts[2]) > 3):
        return None
    return parts[1], int(parts[2])
