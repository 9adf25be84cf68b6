"""'Did you mean': the commands traders bring from other bots, and typos of ours.

``FOREIGN`` maps a command of freqtrade, OpenAlgo and similar bots to this bot's equivalent,
with a few words saying what that is: ``/balance`` -> ``/funds`` (margins). Only commands
with a real equivalent here are listed (``/forcelong`` is not: this bot takes no manual
entries). ``unknown_reply('balance')`` is the whole answer to an unknown command: the
foreign equivalent, else up to three close matches among our commands (difflib), else the
pointer to /help. ``suggestion`` is the same hint for the config's keyboard check. A target
that is not (yet) one of ``COMMANDS`` is never suggested. Pure functions, any thread.
"""

from __future__ import annotations

import difflib

from handlers.args import COMMANDS
from handlers.text import esc

# foreign word -> (our word, what it does here)
FOREIGN: dict[str, tuple[str, str]] = {
    # freqtrade
    "profit_long": ("profit", "results across days"),
    "profit_short": ("profit", "results across days"),
    "balance": ("funds", "margins"),
    "forceexit": ("squareoff", "close a position"),
    "forcesell": ("squareoff", "close a position"),
    "fx": ("squareoff", "close a position"),
    "stopentry": ("pause", "no new entries"),
    "stopbuy": ("pause", "no new entries"),
    "count": ("positions", "open positions"),
    "stats": ("report", "today's report"),
    "reload_config": ("set", "change a setting now"),
    "reload_conf": ("set", "change a setting now"),
    "show_config": ("status", "settings"),
    "whitelist": ("instruments", "what is traded"),
    "blacklist": ("remove", "stop trading one"),
    "locks": ("status", "halts and their reasons"),
    "unlock": ("unhalt", "lift a halt"),
    "health": ("status", "state and feed"),
    # OpenAlgo and broker apps
    "margin": ("funds", "margins"),
    "margins": ("funds", "margins"),
    "orderbook": ("orders", "today's orders"),
    "tradebook": ("trades", "today's trades"),
    "holdings": ("positions", "intraday positions"),
    "menu": ("help", "the commands"),
    "commands": ("help", "the commands"),
    # habits
    "pl": ("pnl", "today's P&L"),
    "pos": ("positions", "open positions"),
    "square_off": ("squareoff", "close a position"),
    "exitall": ("squareoff", "close positions"),
    "closeall": ("squareoff", "close positions"),
    "killswitch": ("stop", "stop trading"),
    "unpause": ("resume", "entries again"),
    "summary": ("report", "today's report"),
    "journal": ("profit", "results across days"),
    "history": ("daily", "net P&L per day"),
}


def suggestion(word: str) -> str | None:
    """'/funds (margins)' for a foreign word with an equivalent here, else '/status' or
    '/status or /stop' for a near miss of ours; None when nothing is close."""
    word = word.lower().lstrip("/")
    return _foreign(word) or _close(word)


def _foreign(word: str) -> str | None:
    known = FOREIGN.get(word)
    if known is None or known[0] not in COMMANDS:
        return None
    return f"/{known[0]} ({known[1]})"


def _close(word: str) -> str | None:
    close = difflib.get_close_matches(word, list(COMMANDS), n=3, cutoff=0.7)
    return " or ".join(f"/{c}" for c in close) if close else None


def unknown_reply(word: str) -> str:
    """The HTML answer to ``/word`` that is not a command here (lines of a phone's width
    but for a long word or suggestion, which the command layer wraps)."""
    word = word[:40]  # nothing longer is close to a command
    shown = esc(word)
    foreign = _foreign(word.lower())
    if foreign is not None:
        return f"/{shown} is not a command here;\ndid you mean {esc(foreign)}?"
    close = _close(word.lower())
    if close is not None:
        return f"/{shown}: unknown command;\ndid you mean {esc(close)}?\n/help lists them."
    return f"/{shown}: unknown command.\n/help lists them."
