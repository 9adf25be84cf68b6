"""On-demand reports: ``/report`` (today's day report so far) and ``/chart SYMBOL [interval]``.

The engine is asked only for a snapshot of plain data (the trades and the instrument rows,
two queries on the loop with the usual timeout); reading the candle files and drawing the
PNGs run in a worker thread (``asyncio.to_thread``), one build at a time, so neither the
loop nor the engine thread waits for matplotlib. A chart takes about 0.15 s; meanwhile the
other threads wait a little for the GIL (the loop's wake-ups: p99 about 40 ms, at most 80
ms over a /report of 10 charts, 150 ms over 31, on two busy cores), so /report draws at
most ``MAX_PHOTOS`` charts. Charts go out as photos with a caption that says what they
show; no server path is ever in a message. Loop thread only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from agent.calendar import TradingCalendar
from agent.charts import candle_title, count
from agent.config_values import interval as parse_interval
from agent.events import Query, QueryKind
from agent.models import Candle, Trade
from agent.reports import (
    candle_chart,
    report_from_views,
    resample,
    usable_candles,
    usable_marks,
)
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
        built = await asyncio.to_thread(report_from_views, day, trades, drawn, reader.read,
                                        getattr(reader, "read_marks", None))
    at = center.services.clock.now()
    text = f"{b(f'So far, {at:%H:%M} IST')}\n{esc(built.text)}"
    photos = tuple(Photo(esc(c.caption), c.png) for c in built.charts)
    if not photos:
        text += "\nNo charts yet: no completed candles\nor trades today."
    if rest:
        text += f"\nCharts of {len(rest)} more instruments:\n/chart SYMBOL for each."
    return Response(text, photos=photos)


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
        drawn = await asyncio.to_thread(_draw, reader, day, row, minutes, anchor, trades)
    if drawn is None:
        return Response(f"No completed candles of {esc(name)}\nyet today.")
    candles, png = drawn
    caption = (f"{candle_title(row['symbol'], candles, trades)}\n"
               f"{candles[0].start:%H:%M}-{candles[-1].end:%H:%M} IST, "
               f"{count(len(candles), 'candle')}")
    return Response("", photos=(Photo(esc(caption), png),))


def _draw(reader: Any, day: date, row: Mapping[str, Any], minutes: int, anchor: datetime,
          trades: Sequence[Trade]) -> tuple[list[Candle], bytes] | None:
    """Worker thread: the stored candles, merged to ``minutes``, drawn with the day's marks
    (alert bands, stop, target); None without any candle."""
    symbol, own = row["symbol"], int(row["settings"]["interval"])
    candles, _skipped = usable_candles(reader.read(day, row["token"], own),
                                       f"{symbol} {own}-minute candles")
    if not candles:
        return None
    read_marks = getattr(reader, "read_marks", None)
    marks = usable_marks(read_marks(day, row["token"]), f"{symbol} chart marks")[0] \
        if read_marks is not None else []
    merged = resample(candles, minutes, anchor)
    return merged, candle_chart(symbol, merged, trades, marks, base=candles)


def _session_open(center: CommandCenter, day: date, exchange: str) -> datetime:
    """Where the day's candle grid starts: the session open (a special session's too)."""
    schedule = center.services.settings.schedule
    hours = TradingCalendar(schedule).session(day, exchange)
    if hours is not None:
        return hours[0]
    return datetime.combine(day, schedule.session_for(exchange).open, tzinfo=IST)


HANDLERS: dict[str, Handler] = {"report": report, "chart": chart}
