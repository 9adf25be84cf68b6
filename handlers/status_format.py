"""/status as Telegram HTML for a phone: every line at most 40 columns wide.

``status`` (the default: a header, then two or three lines per instrument) and ``detail``
(``/status SYMBOL``: one instrument in full) render an ``agent.status_view.StatusView``
with the feed and login as the chat layer sees them; ``/status table`` is
handlers/status_table.py. Money goes through ``handlers.text.money``; prices keep their
tick's decimals. Pure functions, any thread.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from agent.session import LoginState
from agent.status_view import InstrumentStatus, Phase, StatusHeader, StatusView
from agent.strategy.base import AlertView
from agent.timeutil import to_ist
from handlers.services import FeedInfo
from handlers.text import b, esc, html_to_plain, money

WIDTH = 40
SEP = " · "
_STATE_ICON = {"running": "🟢", "paused": "🟡", "stopped": "🔴"}


# ---------------------------------------------------------------- measuring and fitting


def width(html: str) -> int:
    """Columns ``html`` takes on screen: tags dropped, entities decoded, wide characters
    (emoji, CJK) counted as two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1
               for c in html_to_plain(html))


def fit(parts: Sequence[str], most: int = WIDTH) -> list[str]:
    """``parts`` joined with " · " into lines of at most ``most`` columns; a part too wide
    on its own is wrapped at spaces (a part keeps its tags within a word)."""
    lines: list[str] = []
    for part in (p for p in parts if p):
        for piece in _wrap(part, most):
            if lines and width(lines[-1] + SEP + piece) <= most:
                lines[-1] += SEP + piece
            else:
                lines.append(piece)
    return lines


def _wrap(part: str, most: int) -> list[str]:
    if width(part) <= most:
        return [part]
    out: list[str] = []
    for word in part.split(" "):
        if out and width(out[-1] + " " + word) <= most:
            out[-1] += " " + word
        else:
            out.append(word)
    return out


# ---------------------------------------------------------------- values


def price(value: Decimal | None, tick: Decimal) -> str:
    """A price with its tick's decimals (at least 2), no grouping: 1573.70."""
    if value is None:
        return "-"
    places = max(2, -tick.normalize().as_tuple().exponent)  # type: ignore[operator]
    return f"{value:.{places}f}"


def _signed(value: Decimal, tick: Decimal) -> str:
    text = price(abs(value), tick)
    return f"-{text}" if value < 0 else f"+{text}"


def _pct(value: Decimal | None) -> str:
    if value is None:
        return ""
    rounded = value.quantize(Decimal("0.01"), ROUND_HALF_UP)
    return f"{'-' if rounded < 0 else '+'}{abs(rounded)}%"


def _clock(t: datetime) -> str:
    return f"{to_ist(t):%H:%M}"


def _day(d: date | None) -> str:
    return "" if d is None else f"{d:%a} {d.day} {d:%b}"


# ---------------------------------------------------------------- the header


def header(h: StatusHeader, feed: FeedInfo | None, login: LoginState | None, *,
           short: bool = False) -> list[str]:
    """State, mode and time; the day's phase; why entries are blocked; feed; login; day
    P&L. ``short``: the first two lines and any warning only (the table's header)."""
    mode = h.mode.upper() if h.mode == "live" else h.mode
    if h.feed == "sim":
        mode += " (sim)"
    lines = fit([f"{_STATE_ICON.get(h.state, '')} {b(h.state.capitalize())}", esc(mode),
                 f"{to_ist(h.now):%H:%M:%S} IST"])
    phase = fit(_phase(h))
    if len(phase) == 1:
        lines += fit([phase[0], _feed(feed)])
    else:
        lines += [*phase, _feed(feed)]
    lines += fit(_blocked(h))
    login_line = _login(h, login)
    if login_line and (not short or login_line.startswith("⚠️")):
        lines += fit([login_line])
    if not short:
        pnl = f"Day P&amp;L {b(money(h.gross))}"
        pnl += f" gross, net {money(h.net)}" if h.net is not None else " gross"
        lines += fit([pnl, f"{h.trades} trade{'s' if h.trades != 1 else ''}"])
    return lines


def _phase(h: StatusHeader) -> list[str]:
    p = h.phase
    if p.phase is Phase.CLOSED:
        return [f"Closed: {esc(p.why_closed)}", f"next trading day {_day(p.next_day)}"]
    times = {"opens": p.opens, "cutoff": p.cutoff, "square_off": p.square_off}
    at = {k: _clock(v) if v else "?" for k, v in times.items()}
    if p.phase is Phase.PRE_OPEN:
        return [f"Pre-open: entries from {at['opens']}"]
    if p.phase is Phase.ENTRIES:
        return [f"Entries until {at['cutoff']}"]
    if p.phase is Phase.CUTOFF:
        return [f"Cutoff {at['cutoff']} passed", f"square-off {at['square_off']}"]
    if p.phase is Phase.SQUARED_OFF:
        return [f"Square-off {at['square_off']} done"]
    return ["Closed for the day", f"next {_day(p.next_day)}"]


def _blocked(h: StatusHeader) -> list[str]:
    if h.state == "stopped":
        return ["Stopped: no new entries (/start)"]
    if h.state == "paused":
        return ["Paused: no new entries (/resume)"]
    if not h.broker_synced:
        return ["Entries wait for the broker's books"]
    return []


def _feed(feed: FeedInfo | None) -> str:
    if feed is None:
        return "feed n/a"
    if not feed.connected:
        return f"feed DOWN ({esc(feed.detail)})" if feed.detail else "feed DOWN"
    return "feed up" if feed.lag_seconds is None else f"feed up, {feed.lag_seconds:.1f} s"


def _login(h: StatusHeader, login: LoginState | None) -> str:
    if h.feed == "sim":
        return "Login: sim, no login needed"
    if h.login_needed:
        return "⚠️ Kite refused the login: /login"
    if login is None:
        return ""
    if login.valid_until is None:
        return "⚠️ Kite login needed: /login"
    until = to_ist(login.valid_until)
    day = "" if until.date() == to_ist(h.now).date() else f" {until:%a}"
    who = f"Kite {esc(login.user_id)}" if login.user_id else "Kite login"
    return f"{who} valid till {until:%H:%M}{day}"


# ---------------------------------------------------------------- one instrument


def _quantity(row: InstrumentStatus) -> str:
    pos = row.position
    assert pos is not None
    lots = row.lots
    if lots is None:
        return str(pos.quantity)
    return f"{lots} lot{'s' if lots != 1 else ''} ({pos.quantity})"


def _alert_parts(row: InstrumentStatus, alert: AlertView, prefix: str = "") -> list[str]:
    tick = row.tick_size
    word = "BUY above" if alert.side.value == "BUY" else "SELL below"
    parts = [f"{prefix}{word} {price(alert.trigger, tick)}"]
    gap = row.alert_gap(alert)
    if gap is not None:
        parts[0] += f" {_signed(gap, tick)} {_pct(row.alert_gap_percent(alert))}"
    parts.append(f"band {price(alert.lower, tick)}–{price(alert.upper, tick)}")
    return parts


def _position_lines(row: InstrumentStatus, name: str) -> list[str]:
    pos = row.position
    assert pos is not None
    tick = row.tick_size
    side = "LONG" if pos.side.value == "BUY" else "SHORT"
    risk = ""
    if row.locked is not None:
        risk = f"locks {money(row.locked)}"
    elif row.at_risk is not None:
        risk = f"risk {money(row.at_risk, sign=False)}"
    lines = fit([f"{name} {side} {_quantity(row)}", risk])
    lines += fit([f"@ {price(pos.entry, tick)} → {price(row.last, tick)}",
                  f"P&amp;L {b(money(pos.unrealized))}"])
    stop = "" if row.working.startswith("exiting") else "SL none"
    if pos.stop is not None:
        stop = f"SL {price(pos.stop, tick)}"
        if row.stop_gap is not None:
            stop += f" {_signed(row.stop_gap, tick)} {_pct(row.stop_gap_percent)}"
    target = f"TGT {price(pos.target, tick)}" if pos.target is not None else ""
    return lines + fit([stop, target])


def _flat_lines(row: InstrumentStatus, name: str) -> list[str]:
    if row.last is None:
        return fit([f"{name} waiting for data"])
    head = [f"{name} flat at {price(row.last, row.tick_size)}"]
    day = f"day {money(row.realized)}" if row.trades_today or row.realized else ""
    if row.halted:  # no entries: its alerts do not matter today
        return fit([*head, day])
    if not row.alerts:
        return fit([*head, "no alert", day])
    lines = fit(head)
    for n, alert in enumerate(row.alerts, 1):
        lines += fit([*_alert_parts(row, alert), day if n == len(row.alerts) else ""])
    return lines


def instrument(row: InstrumentStatus, *, full_name: bool = False) -> list[str]:
    """Two or three lines (more for a halt or an order at work)."""
    name = b(row.symbol if full_name else row.tradingsymbol)
    lines = (_position_lines(row, name) if row.position is not None
             else _flat_lines(row, name))
    if row.working:
        lines += fit([f"⏳ {esc(row.working)}"])
    if row.halted:
        lines += fit([f"⛔ halted: {esc(row.halted)}"])
    return lines


# ---------------------------------------------------------------- the three forms


def status(view: StatusView, feed: FeedInfo | None, login: LoginState | None) -> str:
    """The default /status: the header, then a short block per instrument."""
    lines = header(view.header, feed, login)
    if not view.instruments:
        lines += ["", "No instruments: /add SYMBOL"]
    for row in view.instruments:
        lines += ["", *instrument(row)]
    if len(view.instruments) > 8:
        lines += ["", "The compact form: /status table"]
    return "\n".join(lines)


def detail(view: StatusView, row: InstrumentStatus, feed: FeedInfo | None,
           login: LoginState | None) -> str:
    """/status SYMBOL: the short header, then everything about one instrument."""
    lines = [*header(view.header, feed, login, short=True), ""]
    lines += instrument(row, full_name=True)
    pos = row.position
    if pos is not None:
        if pos.entry_time is not None:
            lines += fit([f"entered {_clock(pos.entry_time)} ({esc(pos.reason)})"])
        for alert in row.alerts:  # only the opposite alert can act: a signal reverse
            if alert.side is not pos.side:
                lines += fit(_alert_parts(row, alert, "reverse: "))
    for alert in row.alerts:
        lines += fit([f"{alert.side.value.lower()} alert: candle of {_clock(alert.since)}"])
    p = row.params
    trades = f"{row.trades_today} entr{'y' if row.trades_today == 1 else 'ies'} today"
    if p.max_trades_per_day:
        trades += f" (max {p.max_trades_per_day})"
    lines += fit([trades, f"realized {money(row.realized)}", f"day {money(row.day_pnl)}"])
    lot = f"lot {row.lot_size}" if row.derivative or row.lot_size > 1 else ""
    flags = [f"{p.interval}m", f"{p.percentage}%", f"lots {p.lots}", lot, p.trade_side.value,
             "trailing" if p.trailing else "no trailing",
             "reverse" if p.reverse_on_stop else "no reverse"]
    if p.target_multiple:
        flags.append(f"target x{p.target_multiple}")
    lines += fit([esc(", ".join(f for f in flags if f))])
    return "\n".join(lines)
