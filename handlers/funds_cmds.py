"""``/funds``: the available margin, the used margin and the MIS exposure.

Live, a fresh read of Kite's ``margins()`` through the broker adapter's reader pool
(``Services.funds``; awaited here, so neither the loop nor the engine thread waits on
HTTP); when Kite does not answer, the last periodic read with its time. In paper mode the
paper account (``paper.capital`` and the day's P&L, less what positions block). The
engine adds the MIS exposure (the open MIS positions at their last price) and the margin
the costliest next entry needs.

Loop thread only; the reply fits a phone (40 columns).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from agent.events import Query, QueryKind
from agent.margins import Funds, SegmentFunds
from agent.timeutil import to_ist
from handlers.args import arity, shorten
from handlers.phone import wrap
from handlers.services import Caller, Response
from handlers.text import b, esc, money

if TYPE_CHECKING:
    from handlers.commands import CommandCenter


async def funds(center: CommandCenter, caller: Caller, args: list[str]) -> Response:
    arity(args, 0, 0)
    reply = await center.engine(Query(QueryKind.FUNDS))
    view: Mapping[str, Any] = reply.data
    known: Funds | None = view.get("funds")
    problem = ""
    read = center.services.funds
    if read is not None:
        try:
            known = await asyncio.wait_for(asyncio.wrap_future(read()), center.engine_timeout)
        except TimeoutError:
            problem = f"no answer in {center.engine_timeout:g} s"
        except Exception as exc:
            problem = f"{type(exc).__name__}: {exc}"
    return Response(render(known, view, problem))


def _segment(seg: SegmentFunds, view: Mapping[str, Any]) -> list[str]:
    lines = [f"{b(seg.segment)}: available {money(seg.available, sign=False)}",
             f"  used {money(seg.used, sign=False)}"]
    if seg.segment == "equity":
        n = view.get("mis_open", 0)
        lines.append(f"  MIS exposure {money(view.get('mis_exposure', 0), sign=False)}"
                     f" ({n} open)")
    lines.append(f"  opening balance {money(seg.opening, sign=False)}")
    return lines


def render(known: Funds | None, view: Mapping[str, Any], problem: str = "") -> str:
    """The /funds reply (HTML) from the funds, the engine's view and what went wrong."""
    if known is None:
        why = f"Kite's margins could not be read ({problem})" if problem else \
            "no read of Kite's margins yet"
        return "\n".join(wrap(f"❌ Funds unknown: {esc(why)}. See /logs."))
    source = "paper account" if known.source == "paper" else "Kite"
    head = f"{b('Funds')} ({source}, {to_ist(known.time):%H:%M:%S} IST)"
    if problem:
        head += f"\n⚠️ the last read; Kite now:\n  {esc(shorten(problem, 38))}"
    lines = [head]
    for seg in known.segments:
        if seg.segment == "commodity" and not (seg.available or seg.used or seg.opening):
            continue  # an empty commodity account says nothing
        lines += _segment(seg, view)
    nxt = view.get("next_entry")
    if nxt:
        need = Decimal(nxt["needed"])
        lines.append(f"next entry needs up to {money(need, sign=False)}")
        lines.append(f"  ({esc(nxt['symbol'])}, {esc(view.get('product', ''))})")
        segment = known.segment(nxt.get("segment", "equity"))
        if segment is not None and segment.available < need:
            lines.append("⚠️ not enough: the broker may refuse it")
    return "\n".join(lines)


HANDLERS = {"funds": funds}
