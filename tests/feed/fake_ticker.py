"""A stand-in for KiteTicker with the callbacks and calls the feed uses, for unit tests.

It runs on the real (shared) Twisted reactor so the feed's threading is exercised as in
production: every call a KiteTicker would get must arrive in the reactor thread, and any
that does not is recorded in ``FakeTickers.off_reactor``. Tests wait on ``wait_for``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from agent.adapters.kite_reactor import is_reactor_thread

REFUSED = "WebSocket connection upgrade failed (403 - Forbidden)"
LOST = "connection was closed uncleanly (peer dropped the TCP connection)"


def _later(fn: Callable[..., Any], *args: Any) -> None:
    from twisted.internet import reactor

    reactor.callLater(0, fn, *args)


class FakeSocket:
    def __init__(self, ticker: FakeTicker) -> None:
        self.ticker = ticker

    def dropConnection(self, abort: bool = False) -> None:  # autobahn's name
        self.ticker.tickers.note_call("dropConnection")
        self.ticker.aborted = abort
        _later(self.ticker.lose, "connection was aborted")


class FakeTicker:
    """One connection attempt. ``sent`` holds what the feed asked of it, in order."""

    def __init__(self, tickers: FakeTickers, api_key: str, access_token: str,
                 **options: Any) -> None:
        self.tickers, self.api_key, self.access_token = tickers, api_key, access_token
        self.options = options
        self.sent: list[tuple[Any, ...]] = []
        self.ws: FakeSocket | None = None
        self.aborted = self.closed = False
        self.on_connect: Any = None
        self.on_message: Any = None
        self.on_error: Any = None
        self.on_close: Any = None
        self.on_noreconnect: Any = None

    # ----- what KiteTicker offers -----
    def connect(self, threaded: bool = False) -> None:
        self.tickers.note_call("connect")
        assert threaded, "KiteTicker.connect must be threaded"
        _later(self._open if self.access_token in self.tickers.valid else self._refuse)

    def subscribe(self, tokens: list[int]) -> None:
        self.tickers.note_call("subscribe")
        self.sent.append(("subscribe", list(tokens)))
        self.tickers.changed()

    def set_mode(self, mode: str, tokens: list[int]) -> None:
        self.tickers.note_call("set_mode")
        self.sent.append(("mode", mode, list(tokens)))
        self.tickers.changed()

    def unsubscribe(self, tokens: list[int]) -> None:
        self.tickers.note_call("unsubscribe")
        self.sent.append(("unsubscribe", list(tokens)))
        self.tickers.changed()

    def close(self) -> None:  # KiteTicker.close: stop_retry + close frame
        self.tickers.note_call("close")
        self.closed = True
        _later(self._closed_cleanly)

    # ----- what the server does -----
    def lose(self, reason: str = LOST) -> None:
        """The socket is lost (reactor thread)."""
        self.ws = None
        self.on_error(self, 1006, reason)
        self.on_close(self, 1006, reason)
        self.on_noreconnect(self)
        self.tickers.changed()

    def receive(self, payload: bytes, is_binary: bool) -> None:
        """A frame arrives (reactor thread)."""
        self.on_message(self, payload, is_binary)
        self.tickers.changed()

    def _open(self) -> None:
        self.ws = FakeSocket(self)
        self.on_connect(self, None)
        self.tickers.changed()

    def _refuse(self) -> None:
        self.on_error(self, 1006, REFUSED)
        self.on_close(self, 1006, REFUSED)
        self.on_noreconnect(self)
        self.tickers.changed()

    def _closed_cleanly(self) -> None:
        self.ws = None
        self.on_close(self, 1000, None)
        self.tickers.changed()

    def subscribed(self) -> list[int]:
        return [t for kind, *rest in self.sent if kind == "subscribe" for t in rest[0]]


class FakeTickers:
    """The ticker factory handed to KiteFeed: makes FakeTickers and remembers them."""

    def __init__(self, valid: set[str]) -> None:
        self.valid = valid  # access tokens the fake server accepts
        self.made: list[FakeTicker] = []
        self.off_reactor: list[str] = []
        self._cond = threading.Condition()

    def __call__(self, api_key: str, access_token: str, **options: Any) -> FakeTicker:
        self.note_call("KiteTicker()")
        ticker = FakeTicker(self, api_key, access_token, **options)
        with self._cond:
            self.made.append(ticker)
            self._cond.notify_all()
        return ticker

    def note_call(self, name: str) -> None:
        if not is_reactor_thread():
            self.off_reactor.append(f"{name} in {threading.current_thread().name}")

    def changed(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def wait_for(self, condition: Callable[[], bool], timeout: float = 20.0) -> bool:
        with self._cond:
            return self._cond.wait_for(condition, timeout)

    def open_count(self) -> int:
        return sum(1 for t in self.made if t.ws is not None)
