"""Telegram HTML helpers: escaping, long replies split under 4,096 characters, and the
plain-text twin of an HTML reply (console, and Telegram's "can't parse entities").
Money, prices, quantities and contracts are written by ``agent.money`` (re-exported here):
``money`` ₹ with lakh/crore grouping, ``price``, ``quantity`` in lots for F&O, ``contract``
with the expiry.

Pure functions, any thread.
"""

from __future__ import annotations

import html
import re
from typing import Any

from agent.money import contract, money, price, quantity

__all__ = ["SPLIT_AT", "TELEGRAM_LIMIT", "b", "code", "contract", "esc", "html_to_plain",
           "money", "price", "quantity", "reply_html", "split_message"]

TELEGRAM_LIMIT = 4096
SPLIT_AT = 4000  # headroom for a closing tag added at a cut

_TAG = re.compile(r"<[^>]+>")
_LINK = re.compile(r'<a href="([^"]*)">(.*?)</a>', re.DOTALL)


def esc(value: Any) -> str:
    """HTML-escape anything for Telegram (``<``, ``>``, ``&`` and quotes)."""
    return html.escape(str(value), quote=False)


def b(value: Any) -> str:
    return f"<b>{esc(value)}</b>"


def code(value: Any) -> str:
    return f"<code>{esc(value)}</code>"


def reply_html(reply: Any) -> str:
    """An engine ``Reply`` as one line: a tick or a cross, then its text."""
    return f"{'✅' if reply.ok else '❌'} {esc(reply.text)}"


def html_to_plain(text: str) -> str:
    """The text without tags, entities decoded; a link keeps its address ("text: URL"),
    or the console's /login would have no link to open."""
    return html.unescape(_TAG.sub("", _LINK.sub(r"\2: \1", text)))


def split_message(text: str, limit: int = SPLIT_AT) -> list[str]:
    """Cut ``text`` into chunks of at most ``limit`` characters at line boundaries.

    A ``<pre>`` block cut in two is closed at the end of one chunk and reopened at the
    start of the next, so each chunk is valid HTML on its own. A single line longer than
    the limit is cut inside, never in the middle of an ``&...;`` entity.
    """
    if len(text) <= limit:
        return [text]
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    in_pre = False
    pre_at_start = False

    def flush() -> None:
        nonlocal current, size, pre_at_start
        if not current:
            return
        body = "\n".join(current)
        if in_pre:
            body += "</pre>"
        chunks.append(body)
        current, size = [], 0
        pre_at_start = in_pre

    budget = limit - len("</pre>") - len("<pre>")
    for line in text.split("\n"):
        for piece in _cut_long(line, budget):
            if current and size + 1 + len(piece) > budget:
                flush()
            if not current and pre_at_start:
                piece = "<pre>" + piece
                pre_at_start = False
            current.append(piece)
            size += len(piece) + 1
            opens, closes = piece.count("<pre>"), piece.count("</pre>")
            if opens != closes:
                in_pre = opens > closes
    if current:
        in_pre = False
        flush()
    return chunks


def _cut_long(line: str, limit: int) -> list[str]:
    pieces = []
    while len(line) > limit:
        cut = limit
        amp = line.rfind("&", max(0, cut - 10), cut)
        if amp != -1 and ";" not in line[amp:cut]:
            cut = amp
        pieces.append(line[:cut])
        line = line[cut:]
    pieces.append(line)
    return pieces
