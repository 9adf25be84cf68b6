"""Alerts: per-type modes (persisted), and batches of notifications made into few messages.

Each ``AlertKind`` is ``on`` (sent), ``silent`` (sent without a notification sound) or
``off`` (not sent); the modes live in ``prefs.json`` (section ``alerts``). Order
placements (``entry_placed``, ``exit_placed``, ``stop_placed``) and ``stop_moved`` are
off unless the owner turns them on: an entry and an exit are one message each
(``handlers/alert_text.py``).

A batch (what the engine queued while the loop was busy, gathered a little longer after a
burst-prone event: ``pump_alerts``) becomes messages so:

- exits of one kind and reason (a limit closing 25 positions, the square-off) are one
  message, one line each, after the limit's own line when it is in the batch;
- an exit followed by the same instrument's entry (a reverse) is one message;
- stop moves are folded: at most one per instrument per candle of its interval (buckets
  aligned to the clock, 09:15-09:19:59 and so on for 5 minutes); the moves of one bucket
  go from the first old stop to the newest, and all instruments' moves of a batch are one
  message. A move in a bucket whose message has already gone out is dropped and counted.

Loop thread only (the notifier drains the engine's notifications into ``prepare``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from agent.events import AlertKind, Notification
from agent.timeutil import to_ist
from handlers import alert_text
from handlers.args import ALERT_MODES
from handlers.inbox import AlertInbox
from handlers.services import Photo
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
    AlertKind.STORAGE_UP: "storage up",
}
_LOGIN_HINT = frozenset({AlertKind.LOGIN_NEEDED, AlertKind.TOKEN_EXPIRED})
# Off unless the owner turns them on (/alerts TYPE on): the entry and exit say it all.
QUIET = frozenset({AlertKind.ENTRY_PLACED, AlertKind.EXIT_PLACED, AlertKind.STOP_PLACED,
                   AlertKind.STOP_MOVED})
# Reasons whose exits come in bursts (one event closes many positions).
BURST_REASONS = frozenset({"daily_limit", "group_limit", "instrument_limit", "square_off",
                           "manual", "cutoff"})


def default_mode(kind: AlertKind) -> str:
    return "off" if kind in QUIET else "on"


class AlertPrefs:
    """The mode of each alert type, read from and written to ``Prefs``."""

    def __init__(self, prefs: Prefs) -> None:
        self.prefs = prefs

    def mode(self, kind: AlertKind) -> str:
        default = default_mode(kind)
        mode = self.prefs.get(SECTION, kind.value, default)
        return mode if mode in ALERT_MODES else default

    def set(self, kinds: Iterable[AlertKind], mode: str) -> None:
        if mode not in ALERT_MODES:
            raise ValueError(f"mode: expected on, silent or off, got {mode!r}")
        self.prefs.update(SECTION, {k.value: mode for k in kinds})

    def table(self) -> list[tuple[AlertKind, str]]:
        return [(k, self.mode(k)) for k in AlertKind]


@dataclass(frozen=True, slots=True)
class Alert:
    """One message to every allowed chat."""

    text: str  # HTML, one or a few lines
    silent: bool = False
    photos: tuple[Photo, ...] = ()  # sent after the text (the day report's charts)
    kind: AlertKind | None = None  # what it is about (the first of what it holds)
    time: datetime | None = None  # the time of its (first) notification


def format_alert(note: Notification) -> str:
    """One notification as a message: an entry or exit in its own words, else a line
    with the label, the time and the engine's text."""
    if note.kind is AlertKind.ENTRY_FILLED:
        text = alert_text.entry_text(note)
        if text is not None:
            return text
    if alert_text.is_exit(note):
        return alert_text.exit_text(note)
    if alert_text.is_trip(note):
        return alert_text.trip_text(note)
    label = LABELS.get(note.kind, note.kind.value)
    # a text of several lines (the day report, a login) goes below its label and time
    gap = "\n" if note.kind is AlertKind.DAY_REPORT or "\n" in note.text else " "
    line = f"{b(label)} {to_ist(note.time):%H:%M:%S}{gap}{esc(note.text)}"
    if note.kind in _LOGIN_HINT:
        line += " - /login"
    return line


@dataclass(slots=True)
class _Slot:
    """Notifications that become one message (in the order of the batch)."""

    notes: list[Notification] = field(default_factory=list)
    silent: bool = True  # every part silent

    def add(self, note: Notification, mode: str) -> None:
        self.notes.append(note)
        self.silent = self.silent and mode == "silent"


class AlertDispatcher:
    """Turns a batch of notifications into alerts: modes applied, bursts grouped, stop
    moves folded."""

    def __init__(self, prefs: AlertPrefs, *, stop_bucket: timedelta = timedelta(minutes=1)
                 ) -> None:
        self.prefs = prefs
        self.bucket_seconds = stop_bucket.total_seconds()  # moves without an interval
        self.coalesced = 0  # stop moves merged into another message or dropped
        self._sent_bucket: dict[str, int] = {}  # symbol -> last bucket already sent

    def bursty(self, note: Notification) -> bool:
        """Whether more of the same event is likely to follow at once (a limit trip, the
        exits of a forced close): worth waiting a moment to send it as one message."""
        return alert_text.is_trip(note) or (alert_text.is_exit(note) and str(
            note.data.get("reason")) in BURST_REASONS)

    def prepare(self, batch: Iterable[Notification], dropped: int = 0) -> list[Alert]:
        out: list[Alert] = []
        if dropped:
            out.append(Alert(f"{b('WARNING')} {dropped} alert(s) were dropped: the "
                             "message queue overflowed. Check /status.", kind=AlertKind.ERROR))
        slots: list[_Slot] = []
        grouped: dict[tuple[str, ...], _Slot] = {}
        moves: set[tuple[str, int]] = set()  # (symbol, bucket) of the moves in this batch
        for note in batch:
            mode = self.prefs.mode(note.kind)
            if mode == "off":
                continue
            key = self._key(note, moves)
            if key == ("dropped",):
                continue
            slot = grouped.get(key) if key else None
            if slot is None:
                slot = _Slot()
                slots.append(slot)
                if key:
                    grouped[key] = slot
            slot.add(note, mode)
        for symbol, bucket in moves:
            self._sent_bucket[symbol] = max(bucket, self._sent_bucket.get(symbol, -1))
        i = 0
        while i < len(slots):
            slot = slots[i]
            nxt = slots[i + 1] if i + 1 < len(slots) else None
            if nxt is not None and _reverse_pair(slot, nxt):
                text = f"{format_alert(slot.notes[0])}\n{format_alert(nxt.notes[0])}"
                out.append(Alert(text, slot.silent and nxt.silent,
                                 kind=slot.notes[0].kind, time=slot.notes[0].time))
                i += 2
                continue
            out.append(self._render(slot))
            i += 1
        return out

    def _key(self, note: Notification, moves: set[tuple[str, int]]) -> tuple[str, ...]:
        """How a notification groups: () on its own; ("dropped",) not sent."""
        if note.kind is AlertKind.STOP_MOVED:
            minutes = note.data.get("interval")
            seconds = float(minutes) * 60 if minutes else self.bucket_seconds
            bucket = int(note.time.timestamp() // seconds)
            if self._sent_bucket.get(note.symbol, -1) >= bucket:
                self.coalesced += 1
                log.debug("%s stop move coalesced (bucket already sent)", note.symbol)
                return ("dropped",)
            if (note.symbol, bucket) in moves:
                self.coalesced += 1
            moves.add((note.symbol, bucket))
            return ("moves",)
        if alert_text.is_trip(note):
            return ("exit", note.kind.value, f"{note.data['scope']}_limit")
        if alert_text.is_exit(note):
            return ("exit", note.kind.value, str(note.data["reason"]))
        return ()

    def _render(self, slot: _Slot) -> Alert:
        notes = slot.notes
        first = notes[0]
        kind, when = first.kind, first.time
        photos: tuple[Photo, ...] = ()
        if kind is AlertKind.STOP_MOVED:
            text = alert_text.moves_text(_folded(notes))
        elif len(notes) > 1:  # a limit trip and its exits, or a burst of exits
            trips = [n for n in notes if alert_text.is_trip(n)]
            exits = [n for n in notes if not alert_text.is_trip(n)]
            parts = [alert_text.trip_text(n) for n in trips]
            if len(exits) > 1:
                parts.append(alert_text.exits_text(exits))
            elif exits:
                parts.append(format_alert(exits[0]))
            text = "\n".join(parts)
        else:
            text = format_alert(first)
            if kind is AlertKind.DAY_REPORT:
                photos = tuple(Photo(esc(c.caption), c.png)
                               for c in first.data.get("charts", ()))
        return Alert(text, slot.silent, photos, kind, when)


def _folded(notes: list[Notification]) -> list[tuple[Notification, Notification]]:
    """Each instrument's moves as (first, last), in the order of their first move."""
    spans: dict[str, tuple[Notification, Notification]] = {}
    for note in notes:
        first = spans.get(note.symbol, (note, note))[0]
        spans[note.symbol] = (first, note)
    return list(spans.values())


def _reverse_pair(slot: _Slot, nxt: _Slot) -> bool:
    """An exit then the same instrument's entry (a reverse): one message."""
    if len(slot.notes) != 1 or len(nxt.notes) != 1:
        return False
    exit_, entry = slot.notes[0], nxt.notes[0]
    return (alert_text.is_exit(exit_) and entry.kind is AlertKind.ENTRY_FILLED
            and entry.symbol == exit_.symbol and "quantity" in entry.data)


async def pump_alerts(inbox: AlertInbox, dispatcher: AlertDispatcher,
                      deliver: Callable[[Alert], None], *, quiet: float = 1.5,
                      longest: float = 8.0) -> None:
    """Forever: take what the engine queued, prepare it, hand each alert to ``deliver``
    (which must not wait). A batch holding a burst-prone event (a limit trip, exits of a
    forced close) is held while more keeps coming, ``quiet`` seconds at a time and at most
    ``longest`` (loop time), so the burst is one message. Loop thread of ``inbox.bind``."""
    loop = asyncio.get_running_loop()
    while True:
        batch, dropped = await inbox.get_batch()
        if any(dispatcher.bursty(n) for n in batch):
            until = loop.time() + longest
            while (left := min(quiet, until - loop.time())) > 0:
                try:
                    more, lost = await asyncio.wait_for(inbox.get_batch(), left)
                except TimeoutError:
                    break
                batch += more
                dropped += lost
        for alert in dispatcher.prepare(batch, dropped):
            try:
                deliver(alert)
            except Exception:
                log.exception("delivering an alert failed")
