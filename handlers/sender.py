"""Sending to Telegram: one paced queue per chat, retries, and the plain-text fallback.

Each chat has its own queue and worker task, so a slow or flooded chat never holds up
another. A worker sends at most one message per ``pace`` seconds (Telegram allows about one
per second per chat). On ``RetryAfter`` it sleeps the time Telegram asks and sends the same
message again; on a network error it retries after each delay of ``backoff`` and then gives
up on that message (logged); when Telegram rejects the HTML ("can't parse entities") it
sends the plain-text twin. A full queue drops its oldest message, counted and logged.
Loop thread only.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from handlers.text import html_to_plain

log = logging.getLogger(__name__)

MAX_FLOOD_WAITS = 5  # RetryAfter answers for one message before it is given up


@dataclass(frozen=True, slots=True)
class Outgoing:
    text: str  # HTML, at most one Telegram message long (a photo's caption)
    silent: bool = False
    markup: Any = None  # a telegram ReplyMarkup
    photo: bytes | None = None  # a PNG to send, with ``text`` as its caption


@dataclass(slots=True)
class _ChatQueue:
    items: deque[Outgoing] = field(default_factory=deque)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    last_sent: float = float("-inf")
    task: asyncio.Task[None] | None = None


def retry_seconds(exc: RetryAfter) -> float:
    """RetryAfter's wait in seconds (an int or a timedelta, depending on PTB settings)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class ChatSender:
    def __init__(self, bot: Bot, *, pace: float = 1.0,
                 backoff: Sequence[float] = (1.0, 2.0, 5.0, 10.0, 30.0),
                 queue_size: int = 200) -> None:
        self.bot = bot
        self.pace = pace
        self.backoff = tuple(backoff)
        self.queue_size = queue_size
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self.plain_fallbacks = 0
        self._queues: dict[int, _ChatQueue] = {}
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def enqueue(self, chat_id: int, out: Outgoing) -> None:
        """Queue a message for ``chat_id`` (never waits)."""
        queue = self._queues.get(chat_id)
        if queue is None:
            queue = self._queues[chat_id] = _ChatQueue()
        if len(queue.items) >= self.queue_size:
            queue.items.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 100 == 0:
                log.warning("send queue of chat %s full: dropped the oldest message "
                            "(%d dropped so far)", chat_id, self.dropped)
        queue.items.append(out)
        queue.ready.set()
        self._idle.clear()
        if queue.task is None or queue.task.done():
            queue.task = asyncio.get_running_loop().create_task(
                self._worker(chat_id, queue), name=f"telegram-send-{chat_id}")

    async def drain(self) -> None:
        """Wait until every queue is empty and nothing is being sent."""
        await self._idle.wait()

    async def close(self) -> None:
        tasks = [q.task for q in self._queues.values() if q.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _maybe_idle(self) -> None:
        if self._in_flight == 0 and not any(q.items for q in self._queues.values()):
            self._idle.set()

    async def _worker(self, chat_id: int, queue: _ChatQueue) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not queue.items:
                queue.ready.clear()
                self._maybe_idle()
                await queue.ready.wait()
            wait = queue.last_sent + self.pace - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            out = queue.items.popleft()
            self._in_flight += 1
            try:
                await self._deliver(chat_id, out)
            except Exception:
                self.failed += 1
                log.exception("sending to chat %s failed", chat_id)
            finally:
                self._in_flight -= 1
                queue.last_sent = loop.time()

    async def _deliver(self, chat_id: int, out: Outgoing) -> None:
        html = True
        failures = floods = 0
        while True:
            try:
                text = out.text if html else html_to_plain(out.text)
                mode = ParseMode.HTML if html else None
                if out.photo is not None:
                    await self.bot.send_photo(chat_id, out.photo, caption=text, parse_mode=mode,
                                              disable_notification=out.silent)
                else:
                    await self.bot.send_message(chat_id, text, parse_mode=mode,
                                                disable_notification=out.silent,
                                                reply_markup=out.markup)
                self.sent += 1
                return
            except RetryAfter as exc:
                floods += 1
                seconds = retry_seconds(exc)
                if floods > MAX_FLOOD_WAITS:
                    self.failed += 1
                    log.error("chat %s: still flood-limited after %d waits; message dropped",
                              chat_id, MAX_FLOOD_WAITS)
                    return
                log.warning("chat %s: Telegram flood control, retrying in %.0f s", chat_id,
                            seconds)
                await asyncio.sleep(seconds)
            except BadRequest as exc:
                if html and "can't parse entities" in exc.message.lower():
                    log.warning("chat %s: Telegram rejected the HTML (%s); sending plain text",
                                chat_id, exc.message)
                    self.plain_fallbacks += 1
                    html = False
                    continue
                self.failed += 1
                log.error("chat %s: Telegram refused a message: %s", chat_id, exc.message)
                return
            except NetworkError as exc:  # includes TimedOut
                if failures >= len(self.backoff):
                    self.failed += 1
                    log.error("chat %s: network errors, message dropped after %d tries: %s",
                              chat_id, failures + 1, exc.message)
                    return
                delay = self.backoff[failures]
                failures += 1
                log.warning("chat %s: network error (%s), retry %d in %.1f s", chat_id,
                            exc.message, failures, delay)
                await asyncio.sleep(delay)
            except Forbidden as exc:
                self.failed += 1
                log.error("chat %s: the bot may not write there (%s)", chat_id, exc.message)
                return
            except TelegramError as exc:
                self.failed += 1
                log.error("chat %s: message not sent: %s", chat_id, exc.message)
                return
