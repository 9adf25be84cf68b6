"""On-demand reports: ``/report`` (today's day report so far) and ``/chart SYMBOL [interval]``.

The engine is asked only for a snapshot of plain data (the trades and the instrument rows,
two queries on the loop with the usual timeout); reading the candle files and drawing the
PNGs run in a worker thread (``asyncio.to_thread``), one build at a time, so neither the
loop nor the engine thread waits for matplotlib. A chart takes about 0.2 s; meanwhile the
other threads wait a little for the GIL (the loop's wake-ups: p99 about 40 ms, at most 80
ms over a /report of 10 charts, 150 ms over 31, on two busy cores), so /report draws at
most ``MAX_PHOTOS`` charts. Charts go out as photos with a caption that says what they
show; no server path is ever in a message. Loop thread only.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from agent.calendar import TradingCalendar
from agent.config_values import interval as parse_interval
from agent.events import Query, QueryKind
from agent.models import Candle, Trade
from agent.reports import candle_chart, report_from_views, resample, usable_candles
from agent.serialize import trade_from_dict
from agent.settings import INTERVALS
from agent.timeutil import IST
from handlers.args import UsageError, arity, symbol
from handlers.services import Caller, Photo, Response
from handlers.text import b, esc

if TYPE_CHECKING:
    from handlers.commands import CommandCenter

Handler = Callable[["CommandCenter", Caller, list[str]], Awaitable[Response]]

# Photos of one /report (Telegram sends about one a second to a chat): the P&L curve and the
# instruments traded today first; the others are one /chart away.
MAX_PHOTOS = 10


async def _data(center: CommandCenter, kind: QueryKind) -> Any:
    reply = await center.engine(Query(kind))
    if not reply.ok:
        raise UsageError(reply.text)
    return reply.data


async def report(center: CommandCenter, caller: Caller, args: list[str]) -> Response:
    """Today's day report again: the 15:40 report's text and charts, for the day so far."""
    arity(args, 0, 0)
    reader = center.services.candles
    if reader is None:
        return Response("❌ /report is not available here: no candle store.")
    day = center.services.clock.now().date()
    trades = await _data(center, QueryKind.TRADES)
    rows = (await _data(center, QueryKind.STATUS))["instruments"]
    traded = {t["symbol"] for t in trades}
    rows = sorted(rows, key=lambda r: r["symbol"] not in traded)  # traded ones first
    drawn, rest = rows[:MAX_PHOTOS - 1], rows[MAX_PHOTOS - 1:]
    async with center.drawing:
        built = await asyncio.to_thread(report_from_views, day, trades, drawn, reader.read)
    at = center.services.clock.now()
    shown = built.text.replace(f"{center.services.settings.data_dir}{os.sep}", "")  # no paths
    text = f"{b(f'So far, {at:%H:%M} IST')}\n{esc(shown)}"
    photos = tuple(Photo(esc(_caption(name, day)), png) for name, png in built.charts)
    if not photos:
        text += "\nNo charts yet: no completed candles\nor trades today."
    if rest:
        text += f"\nCharts of {len(rest)} more instruments:\n/chart SYMBOL for each."
    return Response(text, photos=photos)


def _caption(name: str, day: date) -> str:
    """'2026-11-23_NSE_INFY.png' -> 'NSE:INFY, 2026-11-23'; the P&L chart says so."""
    stem = name.removesuffix(".png").removeprefix(f"{day.isoformat()}_")
    if stem == "pnl":
        return f"cumulative realized P&L, {day.isoformat()}"
    return f"{stem.replace('_', ':', 1)}, {day.isoformat()}"


async def chart(center: CommandCenter, caller: Caller, args: list[str]) -> Response:
    """One instrument's candles of today, at its own interval or a multiple of it."""
    arity(args, 1, 2)
    name = symbol(args[0])
    wanted = None
    if len(args) > 1:
        try:
            wanted = parse_interval(args[1])
        except ValueError as exc:
            raise UsageError(f"interval: {exc}") from None
    reader = center.services.candles
    if reader is None:
        return Response("❌ /chart is not available here: no candle store.")
    rows = (await _data(center, QueryKind.STATUS))["instruments"]
    row = next((r for r in rows if r["symbol"].upper() == name), None)
    if row is None:
        return Response(f"❌ {esc(name)} is not traded here; /instruments lists them.")
    own = int(row["settings"]["interval"])
    minutes = wanted or own
    if minutes % own:
        fits = ", ".join(str(i) for i in INTERVALS if i % own == 0)
        return Response(f"❌ {esc(name)} has {own}-minute candles today, so a chart of "
                        f"{minutes} minutes cannot be drawn; intervals: {fits}.")
    trades = [trade_from_dict(t) for t in await _data(center, QueryKind.TRADES)
              if t["symbol"].upper() == name]
    day = center.services.clock.now().date()
    anchor = _session_open(center, day, name.split(":", 1)[0])
    async with center.drawing:
        drawn = await asyncio.to_thread(_draw, reader.read, day, row, minutes, anchor, trades)
    if drawn is None:
        return Response(f"No completed candles of {esc(name)}\nyet today.")
    candles, png = drawn
    caption = (f"{name}, {minutes}-minute candles\n{day.isoformat()} "
               f"{candles[0].start:%H:%M}-{candles[-1].end:%H:%M} IST\n"
               f"{_count(len(candles), 'candle')}, {_count(len(trades), 'trade')}")
    return Response("", photos=(Photo(esc(caption), png),))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _draw(read: Any, day: date, row: Mapping[str, Any], minutes: int, anchor: datetime,
          trades: Sequence[Trade]) -> tuple[list[Candle], bytes] | None:
    """Worker thread: the stored candles, merged to ``minutes``, drawn; None without any."""
    candles, _skipped = usable_candles(read(day, row["token"], int(row["settings"]["interval"])))
    if not candles:
        return None
    merged = resample(candles, minutes, anchor)
    title = f"{row['symbol']} {minutes}m {day.isoformat()}"
    return merged, candle_chart(title, merged, trades)


def _session_open(center: CommandCenter, day: date, exchange: str) -> datetime:
    """Where the day's candle grid starts: the session open (a special session's too)."""
    schedule = center.services.settings.schedule
    hours = TradingCalendar(schedule).session(day, exchange)
    if hours is not None:
        return hours[0]
    return datetime.combine(day, schedule.session_for(exchange).open, tzinfo=IST)


HANDLERS: dict[str, Handler] = {"report": report, "chart": chart}
