"""The hand-off of notifications from the engine thread to the asyncio loop.

``put`` is called on the engine thread: it appends to a bounded deque under a lock and, when
the consumer may be asleep, wakes it with ``loop.call_soon_threadsafe`` (a byte on a pipe).
It never waits, whatever Telegram is doing. When the deque is full the oldest notification
is dropped and counted (a warning is logged on the first drop and every 100th), and the
count is handed to the consumer with the next batch so the owner hears about it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque

from agent.events import Notification

log = logging.getLogger(__name__)


class AlertInbox:
    def __init__(self, maxlen: int = 1000) -> None:
        self.maxlen = maxlen
        self.dropped = 0  # total since start
        self._items: deque[Notification] = deque()
        self._unreported = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self._wake_pending = False

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach the consumer's loop (on that loop, before ``get_batch``)."""
        self._loop = loop
        self._event = asyncio.Event()

    def put(self, note: Notification) -> None:
        """Any thread; never blocks."""
        dropped_total = 0
        with self._lock:
            if len(self._items) >= self.maxlen:
                self._items.popleft()
                self.dropped += 1
                self._unreported += 1
                dropped_total = self.dropped
            self._items.append(note)
            loop = self._loop
            wake = loop is not None and not self._wake_pending
            if wake:
                self._wake_pending = True
        if dropped_total and (dropped_total == 1 or dropped_total % 100 == 0):
            log.warning("alert queue full (%d): dropped the oldest alert, %d dropped so far",
                        self.maxlen, dropped_total)
        if wake:
            assert loop is not None and self._event is not None
            with contextlib.suppress(RuntimeError):  # a closed loop: the process is ending
                loop.call_soon_threadsafe(self._event.set)

    def take(self) -> tuple[list[Notification], int]:
        """Everything queued and the count dropped since the last take (any thread)."""
        with self._lock:
            items = list(self._items)
            self._items.clear()
            dropped, self._unreported = self._unreported, 0
            self._wake_pending = False
        return items, dropped

    async def get_batch(self) -> tuple[list[Notification], int]:
        """Wait for at least one notification (loop thread of ``bind``)."""
        assert self._event is not None, "bind() the inbox to its loop first"
        while True:
            items, dropped = self.take()
            if items or dropped:
                return items, dropped
            self._event.clear()
            with self._lock:
                empty = not self._items
            if empty:
                await self._event.wait()
