"""Command words, their usage lines, and argument checks that name what was wrong.

``split_command('/set@bot percentage 0.4 NSE:INFY') -> ('set', ['percentage', '0.4',
'NSE:INFY'])``. The checks raise ``UsageError``; the command layer answers with its message
and the command's usage line; the text they echo is shortened, and masked of the
secrets the caller is ``hiding``. Pure functions, any thread.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.config_values import mask
from agent.events import AlertKind
from agent.models import TradeSide

SETTABLE = ("percentage", "interval", "lots", "trailing", "reverse_on_stop", "target_multiple",
            "max_trades_per_day", "profit_target", "loss_limit")
LIMIT_KEYS = ("profit_target", "loss_limit")
ALERT_MODES = ("on", "silent", "off")

_SYMBOL = re.compile(r"^[A-Z][A-Z0-9]*:[A-Z0-9][A-Z0-9&_.\-]*$")


@dataclass(frozen=True, slots=True)
class CommandInfo:
    usage: str
    summary: str
    everyday: bool = False  # on the default reply keyboard (``telegram.keyboard``)


COMMANDS: dict[str, CommandInfo] = {
    "status": CommandInfo("/status [table|SYMBOL]", "what it is doing now and why "
                          "(table: one line each; SYMBOL: in full)", True),
    "positions": CommandInfo("/positions", "open positions", True),
    "pnl": CommandInfo("/pnl", "day P&L per instrument, group, total and limit distances", True),
    "orders": CommandInfo("/orders [n]", "the last n orders (10)", True),
    "trades": CommandInfo("/trades [n]", "the last n trades today (20)", True),
    "funds": CommandInfo("/funds", "available and used margin, MIS exposure"),
    "start": CommandInfo("/start", "start trading (entries allowed)"),
    "stop": CommandInfo("/stop", "stop trading (asks what to do with open positions)"),
    "pause": CommandInfo("/pause", "no new entries; positions still managed", True),
    "resume": CommandInfo("/resume [SYMBOL]", "allow new entries again (also after a "
                          "manual close of SYMBOL)", True),
    "side": CommandInfo("/side BUY|SELL|BOTH [SYMBOL]", "which entries to take"),
    "set": CommandInfo("/set KEY VALUE [SYMBOL]",
                       "change a setting; keys: " + ", ".join(SETTABLE)
                       + " and the strategy's own"),
    "limits": CommandInfo("/limits [daily|GROUP profit_target|loss_limit VALUE]",
                          "show or set daily and group limits"),
    "instruments": CommandInfo("/instruments", "the traded instruments"),
    "add": CommandInfo("/add EXCHANGE:SYMBOL", "trade one more instrument"),
    "remove": CommandInfo("/remove EXCHANGE:SYMBOL", "stop trading an instrument (flat only)"),
    "squareoff": CommandInfo("/squareoff [SYMBOL|all]", "close positions (asks first; "
                             "alone: pick one)"),
    "unhalt": CommandInfo("/unhalt SYMBOL|all", "allow entries again after a halt"),
    "report": CommandInfo("/report", "today's report so far, with charts", True),
    "chart": CommandInfo("/chart SYMBOL [interval]", "today's candles of SYMBOL"),
    "login": CommandInfo("/login", "the daily Kite login"),
    "schedule": CommandInfo("/schedule", "today's sessions and jobs"),
    "alerts": CommandInfo("/alerts [TYPE|all on|silent|off]", "show or change alert types"),
    "logs": CommandInfo("/logs [n]", "the last n log lines (20)"),
    "version": CommandInfo("/version", "versions"),
    "whoami": CommandInfo("/whoami", "your chat and user ids"),
    "help": CommandInfo("/help", "this list", True),
    "cancel": CommandInfo("/cancel", "drop a pending login or choice"),
    # issue 15: the trade journal (handlers/journal_cmds.py)
    "profit": CommandInfo("/profit [days]", "results of the last days (30), net of charges"),
    "daily": CommandInfo("/daily [n]", "net P&L of the last n trading days (7)"),
    "weekly": CommandInfo("/weekly [n]", "net P&L of the last n weeks (4)"),
    "monthly": CommandInfo("/monthly [n]", "net P&L of the last n months (3)"),
    "performance": CommandInfo("/performance [days]", "net P&L per symbol, last days (30)"),
}


class UsageError(ValueError):
    """Bad arguments; the message says what was wrong."""


def split_command(text: str) -> tuple[str, list[str]]:
    """('word', args) of a '/word@bot args' text; ('', []) when it is not a command."""
    parts = text.strip().split()
    if not parts or not parts[0].startswith("/") or len(parts[0]) < 2:
        return "", []
    word = parts[0][1:].split("@", 1)[0].lower()
    return word, parts[1:]


def arity(args: list[str], low: int, high: int) -> None:
    if len(args) < low:
        raise UsageError("missing argument" if high - low <= 1 and low - len(args) == 1
                         else f"expected {low}-{high} arguments, got {len(args)}")
    if len(args) > high:
        extra = " ".join(args[high:])
        raise UsageError(f"unexpected extra argument(s): {shorten(extra)!r}")


def symbol(text: str) -> str:
    """'nse:infy' -> 'NSE:INFY'; raises naming the bad text."""
    upper = text.strip().upper()
    if not _SYMBOL.match(upper):
        raise UsageError(f"expected EXCHANGE:TRADINGSYMBOL such as NSE:INFY, got {shorten(text)!r}")
    return upper


def count(args: list[str], default: int, maximum: int) -> int:
    """The optional [n] argument: a whole number 1..maximum."""
    arity(args, 0, 1)
    if not args:
        return default
    text = args[0]
    if not ascii_digits(text) or not 1 <= int(text) <= maximum:
        raise UsageError(f"n: expected a whole number 1..{maximum}, got {shorten(text)!r}")
    return int(text)


def ascii_digits(text: str, most: int = 9) -> bool:
    """True for 1..``most`` digits 0-9 only: ``str.isdigit`` also takes '²' (which int()
    refuses) and '٣' (which int() reads as 3)."""
    return 0 < len(text) <= most and text.isascii() and text.isdigit()


def shorten(text: str, most: int = 40) -> str:
    """``text`` for an echo in a usage reply: the secrets of the enclosing
    ``agent.config_values.hiding`` masked first, then cut to ``most`` characters (masking
    after the cut would miss the part of a token left at the cut)."""
    shown = mask(text[:10_000])
    return shown if len(shown) <= most else shown[:most - 3] + "..."


def trade_side(text: str) -> TradeSide:
    try:
        return TradeSide(text.upper())
    except ValueError:
        raise UsageError(f"side: expected BUY, SELL or BOTH, got {shorten(text)!r}") from None


def alert_kinds(text: str) -> list[AlertKind]:
    """An AlertKind by its name ('stop_moved'), or every kind for 'all'."""
    name = text.lower()
    if name == "all":
        return list(AlertKind)
    try:
        return [AlertKind(name)]
    except ValueError:
        kinds = ", ".join(k.value for k in AlertKind)
        raise UsageError(f"alert type: expected 'all' or one of {kinds}, got "
                         f"{shorten(text)!r}") from None


def alert_mode(text: str) -> str:
    mode = text.lower()
    if mode not in ALERT_MODES:
        raise UsageError(f"mode: expected on, silent or off, got {shorten(text)!r}")
    return mode
