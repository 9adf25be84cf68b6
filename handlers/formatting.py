"""Query replies (agent/views.py data) as short Telegram HTML (/status: status_format.py).

One function per query; each takes the ``Reply.data`` of its query and returns HTML with
every value escaped. Pure functions, any thread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from handlers.text import b, esc, money


def _time(iso: str | None) -> str:
    if not iso:
        return "-"
    return datetime.fromisoformat(iso).strftime("%H:%M:%S")


def _num(value: Any) -> str:
    return "-" if value is None else esc(value)


def position_line(row: Mapping[str, Any]) -> str:
    qty = row["quantity"]
    if not qty and not row.get("side"):
        return f"flat, last {_num(row.get('last_price'))}"
    side = "LONG" if qty > 0 or row.get("side") == "BUY" else "SHORT"
    parts = [f"{side} {abs(qty)} @ {_num(row.get('entry'))}", f"stop {_num(row.get('stop'))}"]
    if row.get("target"):
        parts.append(f"target {esc(row['target'])}")
    parts.append(f"last {_num(row.get('last_price'))}")
    parts.append(f"unrealized {money(row.get('unrealized'))}")
    return ", ".join(parts)


def positions(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "no open positions"
    return "\n".join(f"{b(r['symbol'])} {position_line(r)}" for r in rows)


def orders(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "no orders today"
    lines = []
    for o in rows:
        price = o.get("average_price") or o.get("trigger_price") or o.get("price") or "market"
        line = (f"{_time(o.get('created_at'))} {b(o['symbol'])} {esc(o['side'])} "
                f"{o['quantity']} {esc(o['order_type'])} {esc(o['purpose'].lower())} "
                f"({esc(o['reason'])}): {esc(o['status'])} @ {esc(price)}")
        if o.get("message") and o["status"] == "REJECTED":
            line += f", {esc(o['message'])}"
        lines.append(line)
    return "\n".join(lines)


def trades(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "no trades today"
    lines = []
    for t in rows:
        lines.append(f"{_time(t['entry_time'])}-{_time(t['exit_time'])} {b(t['symbol'])} "
                     f"{esc(t['side'])} {t['quantity']} {esc(t['entry_price'])} -> "
                     f"{esc(t['exit_price'])} ({esc(t['exit_reason'])}) {money(t['pnl'])}")
    return "\n".join(lines)


def _distances(row: Mapping[str, Any]) -> str:
    parts = []
    if row.get("to_profit_target") is not None:
        parts.append(f"{money(row['to_profit_target'], sign=False)} to target")
    if row.get("to_loss_limit") is not None:
        parts.append(f"{money(row['to_loss_limit'], sign=False)} to loss limit")
    return f" ({', '.join(parts)})" if parts else " (no limits)"


def pnl(data: Mapping[str, Any]) -> str:
    lines = [f"{b('Day P&L')} {money(data['total']['pnl'])}{_distances(data['total'])}"]
    for symbol, row in data.get("instruments", {}).items():
        lines.append(f"{esc(symbol)}: {money(row['pnl'])} (realized {money(row['realized'])}"
                     f", unrealized {money(row['unrealized'])}){_distances(row)}")
    for name, row in data.get("groups", {}).items():
        lines.append(f"group {esc(name)}: {money(row['pnl'])}{_distances(row)}")
    return "\n".join(lines)


def _limit(value: str) -> str:
    return "none" if value in ("0", "0.0", "0.00") else money(value, sign=False)


def limits(data: Mapping[str, Any], status_rows: Sequence[Mapping[str, Any]] = ()) -> str:
    daily = data["daily"]
    lines = [f"{b('daily')}: profit target {_limit(daily['profit_target'])}, "
             f"loss limit {_limit(daily['loss_limit'])}"]
    for name, g in data.get("groups", {}).items():
        members = ", ".join(g.get("instruments", [])) or "no instruments"
        lines.append(f"{b('group ' + name)}: profit target {_limit(g['profit_target'])}, "
                     f"loss limit {_limit(g['loss_limit'])} ({esc(members)})")
    for row in status_rows:
        s = row["settings"]
        lines.append(f"{esc(row['symbol'])}: profit target {_limit(s['profit_target'])}, "
                     f"loss limit {_limit(s['loss_limit'])}")
    lines.append("set: /limits daily|GROUP profit_target|loss_limit VALUE; "
                 "per instrument: /set loss_limit VALUE SYMBOL")
    return "\n".join(lines)


def instruments(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "no instruments"
    return "\n".join(f"{b(r['symbol'])} token {r['token']}, lot {r['lot_size']}, "
                     f"tick {esc(r['tick_size'])}" for r in rows)
