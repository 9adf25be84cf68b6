"""Logins made outside the running agent: ``bot.py login`` in another terminal writes
``session.json``, which the running process would otherwise never read again.

``SessionWatch`` looks at the file (one ``stat``; ``KiteSession.adopt_stored``) when told
that a login is needed (``poke``: Kite refused the token, the ticker was refused, the
morning check found none) and every ``interval`` seconds of wall time while a login is
needed; never per tick. A newer session found there is taken as a Telegram /login would
take it: through ``KiteSession.on_login`` (the broker and the engine take the token, then
the morning's work: the day's instruments, the waiting symbols, the feed, the LOGIN alert),
on this watch's own thread.

Threads: ``poke``, ``start`` and ``stop`` from any thread; the checks on the watch's thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from agent.session import KiteSession

log = logging.getLogger(__name__)

INTERVAL = 30.0  # wall seconds between looks at the file while a login is needed


class SessionWatch:
    """``needed()``: whether a login is needed now (no valid token, or Kite refused it)."""

    def __init__(self, session: KiteSession, needed: Callable[[], bool], *,
                 interval: float = INTERVAL) -> None:
        self.session, self.needed, self.interval = session, needed, interval
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="session-watch", daemon=True)
        self.adopted = 0  # logins taken from the file

    def start(self) -> None:
        self._thread.start()

    def poke(self) -> None:
        """A login is needed (any thread, never blocks): look at the file now."""
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping = True
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def check(self) -> bool:
        """Take a newer stored session if there is one (the watch's thread)."""
        try:
            adopted = self.session.adopt_stored()
        except Exception:  # the next look may do better; the chat's /login still works
            log.exception("the stored Kite session could not be taken")
            return False
        if adopted:
            self.adopted += 1
        return adopted

    def _loop(self) -> None:
        while not self._stopping:
            poked = self._wake.wait(self.interval)
            self._wake.clear()
            if self._stopping:
                break
            if poked or self.needed():
                self.check()
