"""Sending to Telegram: three lanes per chat, paced, with retries and the plain-text fallback.

Each chat has its own worker task, so a slow or flooded chat never holds up another. A
worker sends at most one message per ``pace`` seconds (Telegram allows about one per second
per chat) from three lanes, in this order:

- ``Lane.REPLY``: replies to allowed callers. Always sent first, so a reply waits at most
  the one pacing slot in use, however many alerts are waiting.
- ``Lane.MAIN``: alerts. Sent when no reply waits. Alerts waiting together are sent as one
  message (joined by a blank line, up to ``join_limit`` characters; not those with a photo
  or buttons), so a backlog after a burst takes a slot or two, not one slot per alert.
- ``Lane.COURTESY``: replies to callers who are not allowed (refusals, their /whoami).
  Sent only when the other lanes of the chat are empty, so such a message delays an alert
  by at most the one pacing slot it is using. Bounded per chat (``courtesy_size``) and in
  total (``courtesy_total``): beyond either the new message is dropped, counted. Tried
  once: on ``RetryAfter`` it is dropped and the chat waits as Telegram asks; a network
  error drops it.

On ``RetryAfter`` a reply or an alert waits the time Telegram asks and is sent again; on a
network error it is retried after each delay of ``backoff`` and then given up (logged). A
full reply or alert lane (``queue_size``) drops its oldest message, counted and logged.
When Telegram rejects the HTML ("can't parse entities") any lane sends the plain-text twin.
``Outgoing.on_sent`` is called once the message is delivered (a confirmation prompt's
lifetime starts then). A chat's worker ends, and its entry goes, once its lanes are empty
and its pacing slot has passed, so strangers' chats leave nothing behind. Loop thread only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum
from typing import Any

from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from handlers.text import TELEGRAM_LIMIT, html_to_plain

log = logging.getLogger(__name__)

MAX_FLOOD_WAITS = 5  # RetryAfter answers for one message before it is given up


class Lane(Enum):
    REPLY = "reply"  # replies to allowed callers: first, retried
    MAIN = "main"  # alerts: when no reply waits, joined when several wait, retried
    COURTESY = "courtesy"  # replies to callers not allowed: when the others are empty, once


@dataclass(frozen=True, slots=True)
class Outgoing:
    text: str  # HTML, at most one Telegram message long (a photo's caption)
    silent: bool = False
    markup: Any = None  # a telegram ReplyMarkup
    photo: bytes | None = None  # a PNG to send, with ``text`` as its caption
    on_sent: Callable[[], None] | None = None  # called (loop thread) once it is delivered

    @property
    def joinable(self) -> bool:
        return self.photo is None and self.markup is None and self.on_sent is None


@dataclass(slots=True)
class _ChatQueue:
    replies: deque[Outgoing] = field(default_factory=deque)  # Lane.REPLY
    items: deque[Outgoing] = field(default_factory=deque)  # Lane.MAIN (alerts)
    courtesy: deque[Outgoing] = field(default_factory=deque)  # Lane.COURTESY
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    next_at: float = float("-inf")  # loop time before which nothing may be sent
    task: asyncio.Task[None] | None = None

    def __bool__(self) -> bool:
        return bool(self.replies or self.items or self.courtesy)


def retry_seconds(exc: RetryAfter) -> float:
    """RetryAfter's wait in seconds (an int or a timedelta, depending on PTB settings)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class ChatSender:
    def __init__(self, bot: Bot, *, pace: float = 1.0,
                 backoff: Sequence[float] = (1.0, 2.0, 5.0, 10.0, 30.0),
                 queue_size: int = 200, courtesy_size: int = 5,
                 courtesy_total: int = 30, join_limit: int = TELEGRAM_LIMIT - 96) -> None:
        self.bot = bot
        self.pace = pace
        self.join_limit = join_limit  # alerts joined into one message up to this length
        self.backoff = tuple(backoff)
        self.queue_size = queue_size  # the reply lane and the alert lane, each per chat
        self.courtesy_size = courtesy_size  # courtesy lane, per chat
        self.courtesy_total = courtesy_total  # courtesy lane, all chats together
        self.sent = 0
        self.failed = 0
        self.dropped = 0  # reply or alert lane overflow
        self.courtesy_dropped = 0  # courtesy lane overflow, or given up after one try
        self.plain_fallbacks = 0
        self.joined = 0  # alerts sent inside another alert's message
        self.peak_main = 0  # the longest alert lane of any chat so far
        self.peak_courtesy = 0  # the most courtesy messages waiting at once, all chats
        self._queues: dict[int, _ChatQueue] = {}
        self._courtesy_waiting = 0
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def chats(self) -> int:
        """Chats with a worker now (something queued, or a pacing slot not yet over)."""
        return len(self._queues)

    def enqueue(self, chat_id: int, out: Outgoing, lane: Lane = Lane.MAIN) -> bool:
        """Queue a message for ``chat_id`` (never waits); False when a full courtesy lane
        dropped it."""
        queue = self._queues.get(chat_id)
        if lane is Lane.COURTESY:
            waiting = len(queue.courtesy) if queue is not None else 0
            if waiting >= self.courtesy_size or self._courtesy_waiting >= self.courtesy_total:
                self.courtesy_dropped += 1
                log.debug("courtesy lane full: a reply to chat %s dropped", chat_id)
                return False
        if queue is None:
            queue = self._queues[chat_id] = _ChatQueue()
        if lane is Lane.COURTESY:
            queue.courtesy.append(out)
            self._courtesy_waiting += 1
            self.peak_courtesy = max(self.peak_courtesy, self._courtesy_waiting)
        else:
            lane_items = queue.replies if lane is Lane.REPLY else queue.items
            if len(lane_items) >= self.queue_size:
                lane_items.popleft()
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 100 == 0:
                    log.warning("send queue of chat %s full: dropped the oldest message "
                                "(%d dropped so far)", chat_id, self.dropped)
            lane_items.append(out)
            if lane is Lane.MAIN:
                self.peak_main = max(self.peak_main, len(queue.items))
        queue.ready.set()
        self._idle.clear()
        if queue.task is None or queue.task.done():
            queue.task = asyncio.get_running_loop().create_task(
                self._worker(chat_id, queue), name=f"telegram-send-{chat_id}")
        return True

    async def drain(self) -> None:
        """Wait until every queue is empty and nothing is being sent."""
        await self._idle.wait()

    async def close(self) -> None:
        tasks = [q.task for q in self._queues.values() if q.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _maybe_idle(self) -> None:
        if self._in_flight == 0 and not any(self._queues.values()):
            self._idle.set()

    async def _worker(self, chat_id: int, queue: _ChatQueue) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                if not queue:
                    self._maybe_idle()
                    quiet = queue.next_at - loop.time()
                    if quiet <= 0:  # nothing to send and the slot is over: the worker ends
                        return
                    queue.ready.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(queue.ready.wait(), quiet)
                    continue
                wait = queue.next_at - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue  # look again: an alert may have come meanwhile
                courtesy = not queue.replies and not queue.items
                if queue.replies:
                    out = queue.replies.popleft()
                elif queue.items:
                    out = self._next_alert(queue.items)
                else:
                    out = queue.courtesy.popleft()
                    self._courtesy_waiting -= 1
                self._in_flight += 1
                try:
                    await self._deliver(chat_id, out, queue, patient=not courtesy)
                except Exception:
                    self.failed += 1
                    log.exception("sending to chat %s failed", chat_id)
                finally:
                    self._in_flight -= 1
                    queue.next_at = max(queue.next_at, loop.time() + self.pace)
        finally:
            if self._queues.get(chat_id) is queue:
                del self._queues[chat_id]
                self._courtesy_waiting -= len(queue.courtesy)  # cancelled with some left
            self._maybe_idle()

    def _next_alert(self, items: deque[Outgoing]) -> Outgoing:
        """The first waiting alert, with those behind it joined while they fit."""
        out = items.popleft()
        if not out.joinable:
            return out
        texts, size, silent = [out.text], len(out.text), out.silent
        while items and items[0].joinable and size + 2 + len(items[0].text) <= self.join_limit:
            nxt = items.popleft()
            texts.append(nxt.text)
            size += 2 + len(nxt.text)
            silent = silent and nxt.silent
            self.joined += 1
        if len(texts) == 1:
            return out
        return Outgoing("\n\n".join(texts), silent=silent)

    async def _deliver(self, chat_id: int, out: Outgoing, queue: _ChatQueue, *,
                       patient: bool) -> None:
        """Send one message; ``patient`` (the main lane) waits out flood control and
        retries network errors, a courtesy message is tried once."""
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
                if out.on_sent is not None:
                    try:
                        out.on_sent()
                    except Exception:
                        log.exception("chat %s: the on_sent callback failed", chat_id)
                return
            except RetryAfter as exc:
                floods += 1
                seconds = retry_seconds(exc)
                if not patient:  # the chat waits as asked; the courtesy reply is not worth it
                    self.courtesy_dropped += 1
                    queue.next_at = asyncio.get_running_loop().time() + seconds
                    log.warning("chat %s: Telegram flood control (%.0f s); a reply to a "
                                "caller who is not allowed dropped", chat_id, seconds)
                    return
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
                if not patient:
                    self.courtesy_dropped += 1
                    log.warning("chat %s: network error (%s); a reply to a caller who is not "
                                "allowed dropped", chat_id, exc.message)
                    return
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
