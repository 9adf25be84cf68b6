"""Query replies (agent/views.py data) as short Telegram HTML for a phone, every line at
most 40 columns (/status: status_format.py; /orders and /trades: book_tables.py).

One function per query; each takes the ``Reply.data`` of its query and returns HTML with
every value escaped. Symbols drop the exchange where no other has the same name (not in
/instruments, whose symbols commands take). Money is ``money`` (₹, lakh/crore), prices
``price``, quantities ``quantity`` (lots for F&O), a derivative carries its expiry, and
the product is named where it matters (``product``: always for F&O, for equity when not
MIS). Times are IST whatever the machine's zone. Pure functions, any thread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from agent.money import expiry_text, is_derivative
from agent.timeutil import to_ist
from handlers.phone import WIDTH, blocks, item, pack, short_names, wrap
from handlers.status_table import short_symbol
from handlers.text import b, esc, money, price, quantity


def _time(iso: str | None) -> str:
    """'09:25:10' in IST from an ISO time of any zone ('-' for none)."""
    if not iso:
        return "-"
    return to_ist(datetime.fromisoformat(iso)).strftime("%H:%M:%S")


def _num(value: Any) -> str:
    return esc(price(value))


def product(row: Mapping[str, Any]) -> str:
    """' NRML' where the product matters: always for F&O (carried or not), for equity
    when it is not MIS (CNC or NRML equity is not squared off by the broker); '' else."""
    name = row.get("product") or ""
    if not name or (name == "MIS" and not is_derivative(row)):
        return ""
    return f" {esc(name)}"


def _name(row: Mapping[str, Any], names: Mapping[str, str] | None = None) -> str:
    """The row's symbol as shown (without the exchange when ``names`` says so), bold,
    with a derivative's expiry: '<b>NIFTY24DECFUT</b> exp 24 Dec'."""
    shown = (names or {}).get(row["symbol"], row["symbol"])
    expiry = expiry_text(row.get("expiry")) if is_derivative(row) else ""
    return b(shown) + (f" exp {expiry}" if expiry else "")


def position_lines(row: Mapping[str, Any], names: Mapping[str, str] | None = None
                   ) -> list[str]:
    """Two lines (three for F&O): '<b>AAA</b> LONG 50 · P&L <b>+₹97.50</b>' and
    '@ 112.65 → 114.60 · SL 99.50 · TGT 125.80'."""
    qty = row["quantity"]
    last = _num(row.get("last_price"))
    if not qty and not row.get("side"):
        return item(_name(row, names), [f"flat, last {last}"], indent="")
    side = "LONG" if qty > 0 or row.get("side") == "BUY" else "SHORT"
    lines = item(_name(row, names), [f"{side} {esc(quantity(qty, row))}{product(row)}",
                                     f"P&amp;L {b(money(row.get('unrealized')))}"],
                 indent="")
    stop = f"SL {_num(row['stop'])}" if row.get("stop") else "SL none"
    target = f"TGT {_num(row['target'])}" if row.get("target") else ""
    return lines + pack([f"@ {_num(row.get('entry'))} → {last}", stop, target])


def positions(rows: Sequence[Mapping[str, Any]]) -> str:
    """/positions (and the /stop and /squareoff prompts): a block per position."""
    if not rows:
        return "no open positions"
    names = short_names(r["symbol"] for r in rows)
    return "\n\n".join("\n".join(position_lines(r, names)) for r in rows)


def _distances(row: Mapping[str, Any]) -> list[str]:
    parts = []
    if row.get("to_profit_target") is not None:
        parts.append(f"{money(row['to_profit_target'], sign=False)} to target")
    if row.get("to_loss_limit") is not None:
        parts.append(f"{money(row['to_loss_limit'], sign=False)} to loss limit")
    return parts


def _pnl_block(head: str, row: Mapping[str, Any], split: bool = False,
               none: str = "no limits") -> list[str]:
    """The P&L of one scope: its total (gross), charges and net, realized and unrealized
    (``split``, when either is not zero) and how far each limit is."""
    distances = _distances(row)
    lines = [head] if distances else pack([head, none])
    if "net" in row and Decimal(row["charges"]):  # gross in the head, then the charges
        # and the net (issue 15), once there are charges
        lines += pack([f"charges {money(row['charges'], sign=False)}",
                       f"net {money(row['net'])}"])
    if split and (Decimal(row["realized"]) or Decimal(row["unrealized"])):
        lines += pack([f"realized {money(row['realized'])}",
                       f"unrealized {money(row['unrealized'])}"])
    return lines + pack(distances)


def pnl(data: Mapping[str, Any]) -> str:
    """/pnl: the day's total, then each instrument and each group (a block each); gross,
    then the charges and the net once there are charges (issue 15)."""
    blocks = [_pnl_block(f"{b('Day P&L')} {b(money(data['total']['pnl']))}",
                         data["total"], none="no daily limits")]
    instruments = data.get("instruments", {})
    names = short_names(instruments)
    for symbol, row in instruments.items():
        blocks.append(_pnl_block(f"{b(names[symbol])} {money(row['pnl'])}", row, split=True))
    for name, row in data.get("groups", {}).items():
        blocks.append(_pnl_block(f"{b('Group ' + name)} {money(row['pnl'])}", row))
    if data.get("limits_on") == "net":
        blocks.append(["limits on net P&amp;L, after charges"])
    return "\n\n".join("\n".join(lines) for lines in blocks)


def _limit(value: str) -> str:
    return "none" if Decimal(value) == 0 else money(value, sign=False)


def limits(data: Mapping[str, Any], status_rows: Sequence[Mapping[str, Any]] = ()) -> str:
    """/limits: a <pre> table of the profit target and loss limit of the day, each group
    and each instrument, the groups' members, and how to change them."""
    names = short_names(r["symbol"] for r in status_rows)
    rows = [("daily", data["daily"])]
    rows += [(f"group {name}", g) for name, g in data.get("groups", {}).items()]
    rows += [(names[r["symbol"]], r["settings"]) for r in status_rows]
    cells = [(name, _limit(v["profit_target"]), _limit(v["loss_limit"])) for name, v in rows]
    target = max(len("TARGET"), *(len(c[1]) for c in cells))
    loss = max(len("LOSS"), *(len(c[2]) for c in cells))
    room = WIDTH - 2 - target - loss
    wide = min(room, max(len(c[0]) for c in cells))
    head = esc(f"{'':<{wide}} {'TARGET':>{target}} {'LOSS':>{loss}}")
    table = [[esc(f"{short_symbol(c[0], wide):<{wide}} {c[1]:>{target}} {c[2]:>{loss}}")]
             for c in cells]
    text = [f"{b('Limits')}: profit target, loss limit", "\n\n".join(blocks(head, table))]
    for name, g in data.get("groups", {}).items():
        members = ", ".join(short_names(g.get("instruments", [])).values())
        text += wrap(f"group {esc(name)}: {esc(members or 'no instruments')}", indent="  ")
    net = data.get("limits_on") == "net"  # risk.limits_on
    text.append(esc("limits on net P&L, after charges" if net
                    else "limits on gross P&L, before charges"))
    text += ["Change: /limits daily|GROUP KEY VALUE", "one instrument: /set KEY VALUE SYMBOL",
             "KEY: profit_target or loss_limit"]
    return "\n".join(text)


def instruments(rows: Sequence[Mapping[str, Any]]) -> str:
    """/instruments: each traded instrument with its exchange (as commands take it),
    token, lot and tick."""
    if not rows:
        return "no instruments"
    lines: list[str] = []
    for r in rows:
        lines += item(_name(r), [f"token {r['token']}", f"lot {r['lot_size']}",
                                 f"tick {esc(r['tick_size'])}"])
    return "\n".join(lines)
