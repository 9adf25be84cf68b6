"""The words of the alerts: an entry, an exit, a burst of exits, a limit trip, stop moves.

Each is a few short lines for a phone 40 columns wide, money through ``money()``:

    🟢 BUY 150 NSE:ADANIPORTS @ 1,632.10
    above 1,631.55 · stop 1,620.00
    risk ₹1,815.00 · 09:52:48

    🛑 Trailing stop hit NSE:ADANIPORTS
    long 150 · 1,632.10 → 1,645.40
    stop 1,645.00 · held 42 min · 10:34:40
    P&L +₹1,995.00 · net +₹1,860.08

An exit's "net" is its P&L less its charges (agent/charges.py).

A notification without the structured data (``Notification.data``) these need falls back
to the plain line: the label, the time and the engine's text. Pure functions, any thread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from agent.events import AlertKind, Notification
from agent.money import price
from agent.timeutil import to_ist
from handlers.text import b, esc, money

# The kinds an exit is announced as (agent/lifecycle/announce.py: EXIT_ALERT).
EXIT_KINDS = frozenset({AlertKind.STOP_HIT, AlertKind.TARGET_HIT, AlertKind.LIMIT_HIT,
                        AlertKind.REVERSAL, AlertKind.SQUARE_OFF, AlertKind.EXIT_FILLED})
# reason -> (emoji, words, what the level is called)
REASONS: dict[str, tuple[str, str, str]] = {
    "stop": ("🛑", "Stop hit", "stop"),
    "trailing_stop": ("🛑", "Trailing stop hit", "stop"),
    "target": ("🎯", "Target hit", "target"),
    "signal_reverse": ("🔁", "Reversed", "signal"),
    "signal": ("📤", "Strategy exit", ""),
    "daily_limit": ("⚠️", "Daily limit", ""),
    "group_limit": ("⚠️", "Group limit", ""),
    "instrument_limit": ("⚠️", "Instrument limit", ""),
    "square_off": ("⏰", "Square-off", ""),
    "manual": ("✋", "Closed by /squareoff", ""),
    "end_of_data": ("⏹", "End of data", ""),
    "cutoff": ("⏰", "Time exit at the cutoff", ""),
    "strategy_changed": ("🔄", "Closed: the strategy changed", ""),
}
_DERIVATIVES = frozenset({"NFO", "BFO", "MCX", "CDS", "BCD", "NCO"})


def is_exit(note: Notification) -> bool:
    return note.kind in EXIT_KINDS and "reason" in note.data and "pnl" in note.data


def is_trip(note: Notification) -> bool:
    return note.kind is AlertKind.LIMIT_HIT and "scope" in note.data


def qty(data: Mapping[str, Any]) -> str:
    """Shares, or for a derivative the lots with the contracts: '2 lots (150)'."""
    n = abs(int(data.get("quantity") or 0))
    lot = int(data.get("lot_size") or 1)
    if lot <= 1 or str(data.get("exchange", "")).upper() not in _DERIVATIVES or n % lot:
        return f"{n:,}"
    lots = n // lot
    return f"{lots} lot{'' if lots == 1 else 's'} ({n:,})"


def held(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def entry_text(note: Notification) -> str | None:
    d = note.data
    if "quantity" not in d or d.get("price") is None:
        return None
    side = str(d.get("side", ""))
    first = (f"{'🟢' if side == 'BUY' else '🔴'} "
             f"{b(f'{side} {qty(d)} {note.symbol}')} @ {price(d['price'])}")
    level = d.get("level")
    if level is None:
        why = str(d.get("reason", ""))
    elif d.get("reason") == "reverse":
        why = f"reverse at stop {price(level)}"
    else:
        why = f"{'above' if side == 'BUY' else 'below'} {price(level)}"
    second = [esc(why)] if why else []
    if d.get("stop") is not None:
        second.append(f"stop {price(d['stop'])}")
    third = [] if d.get("risk") is None else [f"risk {money(d['risk'], sign=False)}"]
    third.append(f"{to_ist(note.time):%H:%M:%S}")
    return "\n".join([first, " · ".join(second), " · ".join(third)] if second
                     else [first, " · ".join(third)])


def _reason(data: Mapping[str, Any]) -> tuple[str, str, str]:
    reason = str(data.get("reason", ""))
    return REASONS.get(reason, ("⏹", f"Closed ({reason})" if reason else "Closed", ""))


def exit_text(note: Notification) -> str:
    d = note.data
    emoji, words, level_name = _reason(d)
    long = "long" if d.get("side") == "BUY" else "short"
    lines = [f"{emoji} {b(f'{words} {note.symbol}')}",
             f"{long} {qty(d)} · {price(d['entry'])} → {price(d['exit'])}"]
    third = []
    if level_name and d.get("level") is not None:
        third.append(f"{level_name} {price(d['level'])}")
    if d.get("held") is not None:
        third.append(f"held {held(int(d['held']))}")
    third.append(f"{to_ist(note.time):%H:%M:%S}")
    lines.append(" · ".join(third))
    net = d.get("net")
    lines.append(f"P&L {b(money(d['pnl']))}" + ("" if net is None else f" · net {b(money(net))}"))
    return "\n".join(lines)


def exits_text(notes: Sequence[Notification]) -> str:
    """Several exits of one kind and reason (a limit, the square-off): one line each."""
    emoji, words, _ = _reason(notes[0].data)
    total = sum((Decimal(str(n.data["pnl"])) for n in notes), Decimal(0))
    lines = [f"{emoji} {b(f'{words}: {len(notes)} positions closed')}",
             f"P&L {b(money(total))} · {to_ist(notes[-1].time):%H:%M:%S}"]
    if all(n.data.get("net") is not None for n in notes):
        net = sum((Decimal(str(n.data["net"])) for n in notes), Decimal(0))
        lines.append(f"net {b(money(net))} (charges {money(total - net, sign=False)})")
    for n in notes:
        d = n.data
        long = "long" if d.get("side") == "BUY" else "short"
        lines.append(f"{esc(n.symbol)} {long} {qty(d)} @ {price(d['exit'])} "
                     f"{money(d['pnl'])}")
    return "\n".join(lines)


def trip_text(note: Notification) -> str:
    d = note.data
    which = str(d.get("which", "")).replace("_", " ")
    scope = str(d.get("scope", ""))
    name = str(d.get("name", ""))
    who = "Daily" if scope == "daily" else f"{scope.capitalize()} {name}"
    lines = [f"⚠️ {b(f'{who} {which} reached')}",
             f"P&L {money(d.get('pnl'))} (limit {money(d.get('limit'), sign=False)})",
             f"halted for the day · {to_ist(note.time):%H:%M:%S}"]
    if d.get("positions"):
        lines[-1] = f"halted; closing {d['positions']} · {to_ist(note.time):%H:%M:%S}"
    return "\n".join(lines)


def moves_text(moves: Sequence[tuple[Notification, Notification]]) -> str:
    """Stop moves, one line per instrument (from its first old stop to its newest)."""
    when = f"{to_ist(max(last.time for _, last in moves)):%H:%M:%S}"
    lines = [f"{esc(first.symbol)} {price(first.data.get('old'))} → "
             f"{price(last.data.get('stop'))}" for first, last in moves]
    if len(lines) == 1:  # the time on the first line: one move fits a phone's 40 columns
        return f"↕️ {b('Stop moved')} · {when}\n{lines[0]}"
    return "\n".join([f"↕️ {b(f'{len(lines)} stops moved')} · {when}", *lines])
