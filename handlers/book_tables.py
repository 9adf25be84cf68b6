"""/orders and /trades as aligned ``<pre>`` tables for a phone, 40 columns wide.

Each order or trade is a row of short columns and, under it, indented, what does not fit
a column (the quantity in lots for F&O, the product, the expiry, why, the order type, a
rejection's message):

    TIME     SYMBOL      SIDE   PRICE
    09:25:10 ADANIPORTS  BUY 1,632.10
      150 filled · LIMIT · entry (signal)

    EXIT     SYMBOL     SIDE        P&L
    10:34:40 ADANIPORTS LONG  +₹1,995.00
      150 @ 1,632.10 → 1,645.40
      in 09:52:48 · held 41 min · trailing
      stop hit

Symbols drop the exchange where no other has the same name; one too long for its column
keeps its head and tail (``NIF…4500CE``) and is written whole below. Times are IST. Long
lists come in blocks that ``split_message`` never cuts. Pure functions, any thread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from agent.money import expiry_text, is_derivative
from handlers.alert_text import REASONS, held
from handlers.formatting import _time, product
from handlers.phone import WIDTH, blocks, pack, short_names, wrap
from handlers.status_table import short_symbol
from handlers.text import b, esc, money, price, quantity

INDENT = "  "
# Kite's order statuses as a trader says them (REJECTED stands out)
STATUS_WORDS = {"PENDING": "sent", "OPEN": "open", "TRIGGER_PENDING": "waiting",
                "COMPLETE": "filled", "CANCELLED": "cancelled", "REJECTED": "REJECTED"}


def _names(rows: Sequence[Mapping[str, Any]], room: int) -> tuple[dict[str, str], int]:
    """The shown name of each symbol, and the symbol column's width (6..``room``)."""
    names = short_names(r["symbol"] for r in rows)
    width = max(6, min(room, max(len(n) for n in names.values())))
    return names, width


def _contract(row: Mapping[str, Any], name: str, shown: str) -> str:
    """What the symbol column leaves out: the whole name when it was cut, and the
    expiry of a derivative."""
    expiry = expiry_text(row.get("expiry")) if is_derivative(row) else ""
    parts = [name] if shown != name else []
    if expiry:
        parts.append(f"exp {expiry}")
    return " ".join(parts)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _why(purpose: str, reason: str) -> str:
    purpose = purpose.lower()
    reason = reason.replace("_", " ")
    return f"{purpose} ({reason})" if reason and reason != purpose else purpose


def _order_price(o: Mapping[str, Any]) -> str:
    at = o.get("average_price") or o.get("trigger_price") or o.get("price")
    return price(at) if at else "MKT"


def _order_state(o: Mapping[str, Any]) -> str:
    """'150 filled', '2 lots (150) NRML waiting', '50 of 150 filled, cancelled'."""
    word = STATUS_WORDS.get(o["status"], o["status"].lower())
    qty = f"{quantity(o['quantity'], o)}{product(o)}"
    filled = int(o.get("filled_quantity") or 0)
    if o["status"] == "COMPLETE":
        return f"{qty} filled"
    if 0 < filled < int(o["quantity"]):
        return f"{quantity(filled, o)} of {qty} filled, {word}"
    return f"{qty} {word}"


def orders(rows: Sequence[Mapping[str, Any]]) -> str:
    """/orders [n]: the last orders, oldest first, two lines or more each."""
    if not rows:
        return "no orders today"
    prices = [_order_price(o) for o in rows]
    width = max(len("PRICE"), *(len(p) for p in prices))
    names, sym = _names(rows, WIDTH - 8 - 1 - 1 - 4 - 1 - width)
    head = esc(f"{'TIME':<8} {'SYMBOL':<{sym}} {'SIDE':<4} {'PRICE':>{width}}")
    table = []
    for o, at in zip(rows, prices, strict=True):
        name = names[o["symbol"]]
        shown = short_symbol(name, sym)
        lines = [esc(f"{_time(o.get('created_at')):<8} {shown:<{sym}} {o['side']:<4} "
                     f"{at:>{width}}")]
        lines += pack([esc(_order_state(o)), esc(o["order_type"]),
                       esc(_contract(o, name, shown)),
                       esc(_why(o["purpose"], o.get("reason", "")))], indent=INDENT)
        if o.get("message") and o["status"] == "REJECTED":
            lines += wrap(INDENT + esc(o["message"]))
        table.append(lines)
    title = f"{b('Last ' + _count(len(rows), 'order'))} (IST)"
    done = blocks(head, table)
    return "\n\n".join([title + "\n" + done[0], *done[1:]])


def _held(t: Mapping[str, Any]) -> str:
    try:
        seconds = (datetime.fromisoformat(t["exit_time"])
                   - datetime.fromisoformat(t["entry_time"])).total_seconds()
    except (KeyError, TypeError, ValueError):
        return ""
    return f"held {held(int(seconds))}"


def _exit_words(reason: str) -> str:
    known = REASONS.get(reason)
    if known is None:
        return reason.replace("_", " ")
    words = known[1]
    return words[0].lower() + words[1:]


def _net_parts(t: Mapping[str, Any]) -> list[str]:
    """A trade's charges and net P&L (the table's P&L column is gross), when it has them."""
    if "net_pnl" not in t:
        return []
    return [esc(f"charges {money(t['charges'], sign=False)}"), esc(f"net {money(t['net_pnl'])}")]


def trades(rows: Sequence[Mapping[str, Any]]) -> str:
    """/trades [n]: the last trades, oldest first, with a totals line (gross P&L in the
    column; each trade's charges and net below it, and the totals' under the table)."""
    if not rows:
        return "no trades today"
    pnls = [money(t["pnl"]) for t in rows]
    total = sum((Decimal(t["pnl"]) for t in rows), Decimal(0))
    width = max(len("P&L"), *(len(p) for p in pnls))
    names, sym = _names(rows, WIDTH - 8 - 1 - 1 - 5 - 1 - width)
    head = esc(f"{'EXIT':<8} {'SYMBOL':<{sym}} {'SIDE':<5} {'P&L':>{width}}")
    table = []
    for t, pnl in zip(rows, pnls, strict=True):
        name = names[t["symbol"]]
        shown = short_symbol(name, sym)
        side = "LONG" if t["side"] == "BUY" else "SHORT"
        lines = [esc(f"{_time(t['exit_time']):<8} {shown:<{sym}} {side:<5} {pnl:>{width}}")]
        lines += pack([esc(f"{quantity(t['quantity'], t)} @ {price(t['entry_price'])} → "
                           f"{price(t['exit_price'])}"), esc(_contract(t, name, shown)),
                       f"in {_time(t['entry_time'])}", _held(t),
                       esc(_exit_words(t.get("exit_reason", ""))), *_net_parts(t)],
                      indent=INDENT)
        table.append(lines)
    won = sum(1 for t in rows if Decimal(t["pnl"]) > 0)
    label, summed = f"{_count(len(rows), 'trade')}, {won} won", money(total)
    row_width = 8 + 1 + sym + 1 + 5 + 1 + width
    if len(label) + 1 + len(summed) <= WIDTH:  # the total under the P&L column
        table[-1].append(esc(f"{label:<{max(row_width - len(summed), len(label) + 1)}}"
                             f"{summed}"))
    else:
        table[-1] += [esc(label), esc(f"{summed:>{row_width}}")]
    if all("net_pnl" in t for t in rows):  # the column is gross: the charges and net below
        charges = sum((Decimal(t["charges"]) for t in rows), Decimal(0))
        table[-1] += pack([esc(f"charges {money(charges, sign=False)}"),
                           esc(f"net {money(total - charges)}")])
    title = f"{b('Last ' + _count(len(rows), 'trade'))} (IST)"
    done = blocks(head, table)
    return "\n\n".join([title + "\n" + done[0], *done[1:]])
