"""``/status table``: one aligned ``<pre>`` line per instrument, at most 40 columns.

Columns: SYMBOL, POS (signed shares; F&O in lots, ``+2L``), LAST, SL/TRIG (the stop of a
position, else the armed trigger: ``>x`` buy above x, ``<x`` sell below x), P&L (the
instrument's day P&L in whole rupees); a totals line ends it, halts follow with their
reasons. Columns are as wide as their widest cell; when the line would pass 40 the symbol
column narrows (to 6 at least), then prices drop their decimals.

Symbols drop the exchange; one longer than its column keeps its head and tail around an
ellipsis: options keep the last 6 characters (strike and CE/PE: ``NIF…4500CE``), futures
the last 3 (``RELIAN…FUT``), anything else is cut (``ABCDEFGHI…``). Pure functions, any
thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

from agent.session import LoginState
from agent.status_view import InstrumentStatus, StatusView
from handlers.services import FeedInfo
from handlers.status_format import WIDTH, fit, header, price
from handlers.text import esc, money

BLOCK_ROWS = 40  # rows per <pre> block (each block repeats the column names)


def whole(value: Decimal) -> str:
    """Rupees without paise or the ₹ sign, for table cells: '+1,235'."""
    text = money(value.quantize(Decimal(1), ROUND_HALF_UP)).replace("₹", "")
    return text[:-3] if text.endswith(".00") else text


_HEAD = ("SYMBOL", "POS", "LAST", "SL/TRIG", "P&L")


def short_symbol(tradingsymbol: str, most: int = 10) -> str:
    """The table's symbol: as is when it fits, else head…tail (see the module doc)."""
    if len(tradingsymbol) <= most:
        return tradingsymbol
    tail = 6 if tradingsymbol.endswith(("CE", "PE")) else 3 if tradingsymbol.endswith(
        "FUT") else 0
    if tail and most - 1 - tail >= 2:
        return f"{tradingsymbol[:most - 1 - tail]}…{tradingsymbol[-tail:]}"
    return f"{tradingsymbol[:most - 1]}…"


def _cells(row: InstrumentStatus, decimals: bool) -> tuple[str, str, str, str]:
    tick = row.tick_size if decimals else Decimal(1)

    def px(value: Decimal | None) -> str:
        text = price(value, tick)
        return text if decimals else text.split(".")[0]

    pos = row.position
    if pos is None:
        qty = "-"
        level = ("halted" if row.halted else "no data" if row.last is None else "-")
        if row.alerts and not row.halted:
            a = row.alerts[0]
            level = f"{'>' if a.side.value == 'BUY' else '<'}{px(a.trigger)}"
    else:
        count = row.lots if row.lots is not None else pos.quantity
        qty = f"{'+' if pos.side.value == 'BUY' else '-'}{count}"
        qty += "L" if row.lots is not None else ""
        level = px(pos.stop) if pos.stop is not None else "-"
    return qty, px(row.last) if row.last is not None else "-", level, whole(row.day_pnl)


def _layout(rows: Sequence[InstrumentStatus], total: str
            ) -> tuple[list[tuple[str, str, str, str]], list[int], int]:
    """The cells, the widths of POS, LAST, SL/TRIG and P&L, and the symbol's width."""
    longest = max(6, *(len(r.tradingsymbol) for r in rows))
    for decimals in (True, False):
        cells = [_cells(r, decimals) for r in rows]
        widths = [max(len(_HEAD[i + 1]), *(len(c[i]) for c in cells)) for i in range(4)]
        widths[3] = max(widths[3], len(total))
        symbol = min(10, longest, WIDTH - 4 - sum(widths))
        if symbol >= 6:
            return cells, widths, symbol
    widths[3] = max(1, WIDTH - 4 - 4 - sum(widths[:3]))  # absurd prices: P&L may elide
    return cells, widths, 4


def table(view: StatusView, feed: FeedInfo | None, login: LoginState | None) -> str:
    """/status table: a short header, then a <pre> table of one line per instrument
    (blocks of ``BLOCK_ROWS``, each with its column names) and a totals line."""
    lines = header(view.header, feed, login, short=True)
    rows = view.instruments
    if not rows:
        return "\n".join([*lines, "No instruments: /add SYMBOL"])
    total = whole(view.header.gross)
    cells, widths, symbol = _layout(rows, total)
    row_width = symbol + 4 + sum(widths)

    def line(name: str, c: Sequence[str]) -> str:
        pnl = c[3] if len(c[3]) <= widths[3] else "…"
        return esc(f"{name:<{symbol}} {c[0]:>{widths[0]}} {c[1]:>{widths[1]}} "
                   f"{c[2]:>{widths[2]}} {pnl:>{widths[3]}}")

    names = [short_symbol(r.tradingsymbol, symbol) for r in rows]
    starts = range(0, len(rows), BLOCK_ROWS)
    for start in starts:
        body = [line(_HEAD[0][:symbol], _HEAD[1:])]
        body += [line(names[i], cells[i]) for i in range(start, min(start + BLOCK_ROWS,
                                                                    len(rows)))]
        if start == starts[-1]:
            label = f"TOTAL {view.header.positions} open"
            body.append(esc(f"{label:<{max(row_width, 20) - 1 - len(total)}} {total}"))
        lines += ["", "<pre>" + "\n".join(body) + "</pre>"]
    legend = ["SL/TRIG: stop, &gt;buy above, &lt;sell below"]
    if any(r.lots is not None for r in rows):
        legend.append("+2L: 2 lots")
    lines += fit(legend)
    halted: dict[str, list[str]] = {}
    for r, name in zip(rows, names, strict=True):
        if r.halted:
            halted.setdefault(r.halted, []).append(name)
    for reason, who in halted.items():
        lines += fit([f"⛔ {esc(', '.join(who))}: {esc(reason)}"])
    return "\n".join(lines)
