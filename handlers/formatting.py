"""Query replies (agent/views.py data) as short Telegram HTML (/status: status_format.py).

One function per query; each takes the ``Reply.data`` of its query and returns HTML with
every value escaped. Money is ``money`` (₹, lakh/crore), prices ``price``, quantities
``quantity`` (lots for F&O), a derivative's symbol carries its expiry (``contract``), and
the product is named where it matters (``product``: always for F&O, for equity when not
MIS). Times are IST whatever the machine's zone. Pure functions, any thread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from agent.money import is_derivative
from agent.timeutil import to_ist
from handlers.text import b, contract, esc, money, price, quantity


def _time(iso: str | None) -> str:
    """'09:25:10' in IST from an ISO time of any zone ('-' for none)."""
    if not iso:
        return "-"
    return to_ist(datetime.fromisoformat(iso)).strftime("%H:%M:%S")


def _num(value: Any) -> str:
    return esc(price(value))


def label(row: Mapping[str, Any]) -> str:
    """The row's symbol, with the expiry of a derivative (escaped, not bold)."""
    return esc(contract(row["symbol"], row.get("expiry")))


def product(row: Mapping[str, Any]) -> str:
    """' NRML' where the product matters: always for F&O (carried or not), for equity
    when it is not MIS (CNC or NRML equity is not squared off by the broker); '' else."""
    name = row.get("product") or ""
    if not name or (name == "MIS" and not is_derivative(row)):
        return ""
    return f" {esc(name)}"


def position_line(row: Mapping[str, Any]) -> str:
    qty = row["quantity"]
    if not qty and not row.get("side"):
        return f"flat, last {_num(row.get('last_price'))}"
    side = "LONG" if qty > 0 or row.get("side") == "BUY" else "SHORT"
    parts = [f"{side} {esc(quantity(qty, row))}{product(row)} @ {_num(row.get('entry'))}",
             f"stop {_num(row.get('stop'))}"]
    if row.get("target"):
        parts.append(f"target {_num(row['target'])}")
    parts.append(f"last {_num(row.get('last_price'))}")
    parts.append(f"unrealized {money(row.get('unrealized'))}")
    return ", ".join(parts)


def positions(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "no open positions"
    return "\n".join(f"<b>{label(r)}</b> {position_line(r)}" for r in rows)


def orders(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "no orders today"
    lines = []
    for o in rows:
        at = o.get("average_price") or o.get("trigger_price") or o.get("price") or "market"
        line = (f"{_time(o.get('created_at'))} <b>{label(o)}</b> {esc(o['side'])} "
                f"{esc(quantity(o['quantity'], o))}{product(o)} {esc(o['order_type'])} "
                f"{esc(o['purpose'].lower())} ({esc(o['reason'])}): {esc(o['status'])} @ "
                f"{_num(at)}")
        if o.get("message") and o["status"] == "REJECTED":
            line += f", {esc(o['message'])}"
        lines.append(line)
    return "\n".join(lines)


def trades(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "no trades today"
    lines = []
    for t in rows:
        lines.append(f"{_time(t['entry_time'])}-{_time(t['exit_time'])} <b>{label(t)}</b> "
                     f"{esc(t['side'])} {esc(quantity(t['quantity'], t))} "
                     f"{_num(t['entry_price'])} -> {_num(t['exit_price'])} "
                     f"({esc(t['exit_reason'])}) {money(t['pnl'])}"
                     + (f", net {money(t['net_pnl'])}" if "net_pnl" in t else ""))
    return "\n".join(lines)


def _distances(row: Mapping[str, Any]) -> str:
    parts = []
    if row.get("to_profit_target") is not None:
        parts.append(f"{money(row['to_profit_target'], sign=False)} to target")
    if row.get("to_loss_limit") is not None:
        parts.append(f"{money(row['to_loss_limit'], sign=False)} to loss limit")
    return f" ({', '.join(parts)})" if parts else " (no limits)"


def _net(row: Mapping[str, Any]) -> str:
    """'charges ₹38.84 · net -₹73.84' (gross, charges, net: issue 15)."""
    if "net" not in row:
        return ""
    return f"\n  charges {money(row['charges'], sign=False)} · net {money(row['net'])}"


def pnl(data: Mapping[str, Any]) -> str:
    lines = [f"{b('Day P&L')} {money(data['total']['pnl'])}{_distances(data['total'])}"
             + _net(data["total"])]
    for symbol, row in data.get("instruments", {}).items():
        lines.append(f"{esc(symbol)}: {money(row['pnl'])} (realized {money(row['realized'])}"
                     f", unrealized {money(row['unrealized'])}){_distances(row)}{_net(row)}")
    for name, row in data.get("groups", {}).items():
        lines.append(f"group {esc(name)}: {money(row['pnl'])}{_distances(row)}{_net(row)}")
    if data.get("limits_on") == "net":
        lines.append(esc("limits on net P&L, after charges"))
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
    net = data.get("limits_on") == "net"  # risk.limits_on
    lines.append(esc("limits on net P&L, after charges" if net
                     else "limits on gross P&L, before charges"))
    lines.append("set: /limits daily|GROUP profit_target|loss_limit VALUE; "
                 "per instrument: /set loss_limit VALUE SYMBOL")
    return "\n".join(lines)


def instruments(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "no instruments"
    return "\n".join(f"<b>{label(r)}</b> token {r['token']}, lot {r['lot_size']}, "
                     f"tick {esc(r['tick_size'])}" for r in rows)
