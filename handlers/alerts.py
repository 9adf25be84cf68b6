"""Alerts: per-type modes (persisted), one-line formatting, and stop-move coalescing.

Each ``AlertKind`` is ``on`` (sent), ``silent`` (sent without a notification sound) or
``off`` (not sent); the modes live in ``prefs.json`` (section ``alerts``).

Coalescing rule for ``STOP_MOVED``: at most one message per instrument per
``stop_bucket`` of *notification time* (default one minute, the shortest candle interval;
buckets are aligned to the clock, 09:16:00-09:16:59 and so on). Stops only move when a
candle completes, so normally every move is sent; after a burst (a backlog of candles
completing together, or Telegram falling behind so several moves wait in one batch) the
moves of one bucket merge into one message from the first old stop to the newest stop.
A move in a bucket whose message has already gone out is dropped and counted.

Loop thread only (the notifier drains the engine's notifications into ``prepare``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta

from agent.events import AlertKind, Notification
from agent.timeutil import to_ist
from handlers.args import ALERT_MODES
from handlers.inbox import AlertInbox
from handlers.text import b, esc
from storage.prefs import Prefs

log = logging.getLogger(__name__)

SECTION = "alerts"

LABELS: dict[AlertKind, str] = {
    AlertKind.ENTRY_PLACED: "entry placed",
    AlertKind.ENTRY_FILLED: "entry filled",
    AlertKind.EXIT_PLACED: "exit placed",
    AlertKind.EXIT_FILLED: "exit filled",
    AlertKind.ORDER_REJECTED: "REJECTED",
    AlertKind.STOP_PLACED: "stop placed",
    AlertKind.STOP_MOVED: "stop moved",
    AlertKind.STOP_HIT: "stop hit",
    AlertKind.TARGET_HIT: "target hit",
    AlertKind.LIMIT_HIT: "LIMIT HIT",
    AlertKind.REVERSAL: "reversal",
    AlertKind.SQUARE_OFF: "square-off",
    AlertKind.FEED_DOWN: "FEED DOWN",
    AlertKind.FEED_UP: "feed up",
    AlertKind.LOGIN_NEEDED: "LOGIN NEEDED",
    AlertKind.KITE_ACCESS: "KITE ACCESS",
    AlertKind.BROKER_SYNC: "broker",
    AlertKind.TOKEN_EXPIRED: "TOKEN EXPIRED",
    AlertKind.SESSION_STARTED: "session started",
    AlertKind.SESSION_ENDED: "session ended",
    AlertKind.ERROR: "ERROR",
    AlertKind.DAY_REPORT: "day report",
    AlertKind.MARGIN_LOW: "MARGIN LOW",
    AlertKind.LOGIN: "login",
}
_LOGIN_HINT = frozenset({AlertKind.LOGIN_NEEDED, AlertKind.TOKEN_EXPIRED})


class AlertPrefs:
    """The mode of each alert type, read from and written to ``Prefs``."""

    def __init__(self, prefs: Prefs) -> None:
        self.prefs = prefs

    def mode(self, kind: AlertKind) -> str:
        mode = self.prefs.get(SECTION, kind.value, "on")
        return mode if mode in ALERT_MODES else "on"

    def set(self, kinds: Iterable[AlertKind], mode: str) -> None:
        if mode not in ALERT_MODES:
            raise ValueError(f"mode: expected on, silent or off, got {mode!r}")
        self.prefs.update(SECTION, {k.value: mode for k in kinds})

    def table(self) -> list[tuple[AlertKind, str]]:
        return [(k, self.mode(k)) for k in AlertKind]


@dataclass(frozen=True, slots=True)
class Alert:
    """One message to every allowed chat."""

    text: str  # HTML, one line
    silent: bool = False
    photos: tuple[str, ...] = ()  # PNG files sent after the text (the day report's charts)


def format_alert(note: Notification) -> str:
    label = LABELS.get(note.kind, note.kind.value)
    line = f"{b(label)} {to_ist(note.time):%H:%M:%S} {esc(note.text)}"
    if note.kind in _LOGIN_HINT:
        line += " - /login"
    return line


class AlertDispatcher:
    """Turns a batch of notifications into alerts: modes applied, stop moves coalesced."""

    def __init__(self, prefs: AlertPrefs, *, stop_bucket: timedelta = timedelta(minutes=1)
                 ) -> None:
        self.prefs = prefs
        self.bucket_seconds = stop_bucket.total_seconds()
        self.coalesced = 0  # stop moves merged into another message or dropped
        self._sent_bucket: dict[str, int] = {}  # symbol -> last bucket already sent

    def prepare(self, batch: Iterable[Notification], dropped: int = 0) -> list[Alert]:
        out: list[Alert] = []
        if dropped:
            out.append(Alert(f"{b('WARNING')} {dropped} alert(s) were dropped: the "
                             "message queue overflowed. Check /status."))
        merged: dict[tuple[str, int], tuple[int, Notification, Notification]] = {}
        for note in batch:
            mode = self.prefs.mode(note.kind)
            if mode == "off":
                continue
            if note.kind is AlertKind.STOP_MOVED:
                bucket = int(note.time.timestamp() // self.bucket_seconds)
                key = (note.symbol, bucket)
                if self._sent_bucket.get(note.symbol, -1) >= bucket:
                    self.coalesced += 1
                    log.debug("%s stop move coalesced (bucket already sent)", note.symbol)
                    continue
                if key in merged:
                    index, first, _ = merged[key]
                    merged[key] = (index, first, note)
                    self.coalesced += 1
                    continue
                merged[key] = (len(out), note, note)
            photos = tuple(note.data.get("charts", ())) if note.kind is AlertKind.DAY_REPORT \
                else ()
            out.append(Alert(format_alert(note), silent=mode == "silent", photos=photos))
        for (symbol, bucket), (index, first, last) in merged.items():
            self._sent_bucket[symbol] = max(bucket, self._sent_bucket.get(symbol, -1))
            if first is not last:
                out[index] = Alert(format_alert(_merge_moves(first, last)), out[index].silent)
        return out


def _merge_moves(first: Notification, last: Notification) -> Notification:
    old = first.data.get("old")
    new = last.data.get("stop")
    if old is None or new is None:
        return last
    return Notification(last.kind, f"{last.symbol} stop moved {old} -> {new}", last.time,
                        last.symbol, last.tag, {"old": old, "stop": new})


async def pump_alerts(inbox: AlertInbox, dispatcher: AlertDispatcher,
                      deliver: Callable[[Alert], None]) -> None:
    """Forever: take what the engine queued, prepare it, hand each alert to ``deliver``
    (which must not wait). Loop thread of ``inbox.bind``."""
    while True:
        batch, dropped = await inbox.get_batch()
        for alert in dispatcher.prepare(batch, dropped):
            try:
                deliver(alert)
            except Exception:
                log.exception("delivering an alert failed")
