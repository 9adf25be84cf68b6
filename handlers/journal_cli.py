"""``python bot.py report [--from D] [--to D] [--json] [--chart DIR] [--config C]``: the
trade journal's figures on the command line, the same tables as ``/profit``, ``/daily``,
``/weekly``, ``/monthly`` and ``/performance`` (net of charges), or one JSON object.

The range is ``--from``..``--to`` (IST dates, inclusive); by default the last 30 days to
today. Only the periods and symbols that have trades are listed. ``--chart DIR`` writes
the journal chart (``agent.charts_pnl.journal_chart``: daily net bars, cumulative curve) as
``DIR/journal_<from>_<to>.png``. Journal lines that cannot be read are listed on stderr.
The data directory is the config's ``data_dir``. Main thread only.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, TextIO

from agent.journal_stats import (
    INFINITE,
    Period,
    Stats,
    by_period,
    by_symbol,
    stats,
    sum_days,
)
from agent.models import Trade
from agent.settings import StorageBackend
from agent.timeutil import IST
from handlers.journal_text import (
    factor,
    footer,
    period_blocks,
    profit_lines,
    span,
    symbol_blocks,
)
from storage.backends import open_stores
from storage.errors import DataFileError
from storage.journal import (
    JournalEntry,
    JournalRead,
    trade_key,
    trade_record,
)

DEFAULT_DAYS = 30


def parse_day(text: str) -> date:
    """``--from``/``--to``: YYYY-MM-DD in digits 0-9 (argparse reports the ValueError)."""
    if not (len(text) == 10 and text.isascii() and text[4] == text[7] == "-"
            and (text[:4] + text[5:7] + text[8:]).isdigit()):
        raise ValueError(f"expected a date YYYY-MM-DD, got {text[:40]!r}")
    return date.fromisoformat(text)


def report_command(config: Path, schedules: Path, *, start: date | None, end: date | None,
                   as_json: bool, chart_dir: str | None, out: TextIO | None = None) -> int:
    """``bot.py report``: 0, or 1 after one line on stderr saying what is wrong."""
    from agent.backtest import chart_dir_arg
    from agent.config import settings_or_report

    out = out or sys.stdout
    settings = settings_or_report(config, schedules)
    if settings is None:
        return 1
    end = end or datetime.now(IST).date()
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        print(f"error: --from {start} is after --to {end}", file=sys.stderr)
        return 1
    charts, usable = chart_dir_arg(chart_dir)
    if not usable:
        return 1
    try:  # the journal of the configured backend (files, or Redis: issue 16)
        stores = open_stores(settings)
    except DataFileError as exc:  # RedisUnavailable among them: one line
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        read = stores.journal().read(start, end)
    finally:
        stores.close()
    where = stores.where if settings.storage.backend is StorageBackend.REDIS else (
        str(settings.data_dir))
    for problem in read.problems:
        print(f"{where}/{problem} (skipped)", file=sys.stderr)
    chart = None
    if charts is not None:
        from agent.charts_pnl import journal_chart

        chart = charts / f"journal_{start.isoformat()}_{end.isoformat()}.png"
        chart.write_bytes(journal_chart(read.days()))
    if as_json:
        data = report_json(read, start, end)
        if chart is not None:
            data["chart"] = str(chart)
        json.dump(data, out, indent=1, ensure_ascii=False)
        out.write("\n")
    else:
        out.write(report_text(read, start, end))
        if chart is not None:
            out.write(f"\nchart: {chart}\n")
    return 0


def report_text(read: JournalRead, start: date, end: date) -> str:
    """The tables of the chat's commands for ``start``..``end``, as plain text."""
    lines = [f"Journal {span(start, end)}", "net of charges", ""]
    if not read.trades and not read.stored_days:
        return "\n".join([*lines, "No closed trades in these days."]) + "\n"
    total = stats(read.trades)
    lines += ["Profit", *profit_lines(total), ""]
    summaries = read.days()
    days: list[tuple[date, Any]] = [(d.date, d) for d in reversed(summaries)]
    sections = [("Daily", Period.DAY, days, sum_days(start, summaries)),
                ("Weekly", Period.WEEK, _periods(read, Period.WEEK), total),
                ("Monthly", Period.MONTH, _periods(read, Period.MONTH), total)]
    for title, period, rows, sums in sections:
        lines.append(title)
        for block in period_blocks(rows, sums, period):
            lines += [*block, ""]
    lines.append("Per symbol")
    for block in symbol_blocks(by_symbol(read.trades), total):
        lines += [*block, ""]
    lines += footer(total)
    return "\n".join(lines) + "\n"


def _periods(read: JournalRead, period: Period) -> list[tuple[date, Any]]:
    return [(p.start, p.stats) for p in reversed(by_period(read.trades, period))]


def _num(value: Decimal) -> int | float:
    """Money for JSON (like ``backtest --json``): rounded to the paisa, an int when whole."""
    value = value.quantize(Decimal("0.01"), ROUND_HALF_UP)
    return int(value) if value == value.to_integral_value() else float(value)


def stats_json(s: Stats, entries: Mapping[str, JournalEntry] | None = None
               ) -> dict[str, Any]:
    """Every figure of ``s``; ``profit_factor`` is null when there is no loss
    (``profit_factor_text`` then says "∞" or "n/a"). ``entries`` (by trade key) give the
    best and worst trades their segment."""
    def line(t: Trade) -> dict[str, Any]:
        e = (entries or {}).get(trade_key(t))
        return trade_record(t) if e is None else trade_record(t, e.segment, e.instrument_type)

    pf = s.profit_factor
    return {
        "trades": s.trades, "wins": s.wins, "losses": s.losses, "even": s.even,
        "gross": _num(s.gross), "charges": _num(s.charges), "net": _num(s.net),
        "win_rate": None if s.win_rate is None else _num(s.win_rate),
        "expectancy": None if s.expectancy is None else _num(s.expectancy),
        "profit_factor": None if pf is None or pf == INFINITE else _num(pf),
        "profit_factor_text": factor(pf),
        "max_drawdown": _num(s.max_drawdown),
        "average_hold_s": None if s.average_hold is None else round(
            s.average_hold.total_seconds()),
        "best": None if s.best is None else line(s.best),
        "worst": None if s.worst is None else line(s.worst),
    }


def report_json(read: JournalRead, start: date, end: date) -> dict[str, Any]:
    """One object: the range, the summary, days, weeks, months, symbols, the trades, and
    the journal lines skipped."""
    entries = {trade_key(e.trade): e for e in read.entries}

    def period(p: Period) -> list[dict[str, Any]]:
        return [{"start": x.start.isoformat(), **stats_json(x.stats, entries)}
                for x in by_period(read.trades, p)]

    return {
        "from": start.isoformat(), "to": end.isoformat(), "net_of_charges": True,
        "summary": stats_json(stats(read.trades), entries),
        "days": [{"date": d.date.isoformat(), "trades": d.trades, "wins": d.wins,
                  "losses": d.losses, "gross": _num(d.gross), "charges": _num(d.charges),
                  "net": _num(d.net)} for d in read.days()],
        "weeks": period(Period.WEEK),
        "months": period(Period.MONTH),
        "symbols": [{"symbol": symbol, **stats_json(s, entries)}
                    for symbol, s in by_symbol(read.trades)],
        "trades": [trade_record(e.trade, e.segment, e.instrument_type) for e in read.entries],
        "skipped": list(read.problems),
    }
