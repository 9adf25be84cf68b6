"""Trades and journals for the journal tests: closed trades made by hand or from a seed,
and a journal written synchronously (the file format the storage writer writes)."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from agent.journal_stats import INFINITE
from agent.models import Side, Trade
from agent.timeutil import IST
from storage.candles import CandleLog
from storage.journal import JOURNAL_DIR, Journal
from storage.plainjson import dumps_line


class SyncWriter:
    """``append_line`` written at once on the caller's thread (the writer's file format)."""

    def __init__(self) -> None:
        self.lines: list[tuple[Path, dict[str, Any]]] = []

    def append_line(self, path: Path, record: Mapping[str, Any]) -> None:
        self.lines.append((path, dict(record)))
        CandleLog(path.parent).append_lines(path, [dumps_line(dict(record), str(path))])


def trade(day: date, hh: int, mm: int, pnl: Any, charges: Any = "0", *,
          symbol: str = "NSE:AAA", held: int = 600, seq: int = 1, quantity: int = 50,
          side: Side = Side.BUY, token: int = 1, reason: str = "target") -> Trade:
    """A closed trade exiting at ``hh:mm`` IST on ``day`` after ``held`` seconds; its tags
    are agent tags of ``day`` numbered ``seq``."""
    exit_time = datetime.combine(day, time(hh, mm), tzinfo=IST)
    entry_time = exit_time - timedelta(seconds=held)
    pnl, charges = Decimal(str(pnl)), Decimal(str(charges))
    entry = Decimal("1000.00")
    exit_ = entry + pnl / quantity * side.sign
    return Trade(symbol, token, side, quantity, entry_time, entry, "signal", exit_time,
                 exit_.quantize(Decimal("0.0001")), reason, pnl,
                 f"E{day:%y%m%d}123456{seq:05d}", f"X{day:%y%m%d}123456{seq:05d}", charges)


SYMBOLS = ("NSE:INFY", "NSE:TCS", "NSE:SBIN", "NFO:BANKNIFTY26DEC52000CE", "NSE:ITC")


def random_trades(seed: int, first: date, days: int, per_day: int = 6) -> list[Trade]:
    """A seeded mix of wins, losses and a few exact zeros over ``days`` calendar days."""
    rng = random.Random(seed)
    out = []
    seq = 0
    for n in range(days):
        day = first + timedelta(days=n)
        for _ in range(rng.randint(0, per_day)):
            seq += 1
            pnl = Decimal(rng.randint(-400_00, 600_00)) / 100 if rng.random() > 0.05 else \
                Decimal(0)
            charges = Decimal(rng.randint(0, 60_00)) / 100
            out.append(trade(day, rng.randint(9, 15), rng.randint(0, 59), pnl, charges,
                             symbol=rng.choice(SYMBOLS), held=rng.randint(5, 20_000),
                             seq=seq, quantity=rng.choice((1, 15, 50, 75))))
    return out


def journal_with(tmp: Path, trades: Iterable[Trade]) -> Journal:
    """A journal under ``tmp / "journal"`` holding ``trades`` (one line each)."""
    journal = Journal(tmp / JOURNAL_DIR, SyncWriter())
    for t in trades:
        journal.record(t)
    return journal


def paise(value: Decimal) -> int:
    assert value == value.quantize(Decimal("0.01"))
    return int(value * 100)


def recompute(trades: list[Trade]) -> dict[str, object]:
    """Every figure of ``trades`` recomputed plainly, apart from agent/journal_stats.py:
    money in integer paise, the drawdown by brute force over every pair of points."""
    ordered = sorted(trades, key=lambda t: (t.exit_time, t.entry_time, t.exit_tag))
    nets = [paise(t.pnl) - paise(t.charges) for t in ordered]
    cumulative = [0]
    for n in nets:
        cumulative.append(cumulative[-1] + n)
    drawdown = max((cumulative[i] - cumulative[j] for i in range(len(cumulative))
                    for j in range(i, len(cumulative))), default=0)
    won = sum(n for n in nets if n > 0)
    lost = -sum(n for n in nets if n < 0)
    holds = [(t.exit_time - t.entry_time).total_seconds() for t in ordered]
    best = max(range(len(nets)), key=lambda i: (nets[i], -i))
    worst = min(range(len(nets)), key=lambda i: (nets[i], i))
    return {
        "trades": len(nets), "wins": sum(n > 0 for n in nets),
        "losses": sum(n < 0 for n in nets),
        "gross": sum(paise(t.pnl) for t in ordered),
        "charges": sum(paise(t.charges) for t in ordered), "net": sum(nets),
        "win_rate": 100 * sum(n > 0 for n in nets) / len(nets),
        "expectancy": sum(nets) / len(nets) / 100,
        "profit_factor": won / lost if lost else INFINITE if won else None,
        "max_drawdown": drawdown, "won": won, "lost": lost,
        "best": ordered[best], "worst": ordered[worst],
        "hold": sum(holds) / len(holds),
    }
