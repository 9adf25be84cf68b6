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

    A chunk ends at its last blank line outside a ``<pre>`` (between paragraphs, between
    tables) when that keeps it at least half full; else at the last line that fits. A
    ``<pre>`` block cut in two is closed at the end of one chunk and reopened at the start
    of the next, so each chunk is valid HTML on its own. A single line longer than the
    limit is cut inside, never in the middle of an ``&...;`` entity.
    """
    if len(text) <= limit:
        return [text]
    chunks: list[str] = []
    current: list[str] = []
    inside: list[bool] = []  # after each line of ``current``: within a <pre>?
    in_pre = False
    reopen = False  # the next chunk starts inside a <pre> cut in two

    def size() -> int:
        return sum(len(line) + 1 for line in current)

    def flush(budget: int) -> None:
        nonlocal current, inside, reopen
        cut = _paragraph_end(current, inside, budget)
        body = "\n".join(current[:cut])
        if inside[cut - 1]:
            body += "</pre>"
        chunks.append(body)
        reopen = inside[cut - 1] and cut == len(current)
        current, inside = current[cut + 1:], inside[cut + 1:]

    budget = limit - len("</pre>") - len("<pre>")
    for line in text.split("\n"):
        for piece in _cut_long(line, budget):
            while current and size() + len(piece) > budget:
                flush(budget)
            if not current and reopen:
                piece = "<pre>" + piece
                reopen = False
            current.append(piece)
            opens, closes = piece.count("<pre>"), piece.count("</pre>")
            if opens != closes:
                in_pre = opens > closes
            inside.append(in_pre)
    if current:
        chunks.append("\n".join(current))
    return chunks


def _paragraph_end(lines: list[str], inside: list[bool], budget: int) -> int:
    """Where a full chunk of ``lines`` ends: at its last blank line outside a <pre> that
    keeps half the budget, else after its last line."""
    kept = sum(len(line) + 1 for line in lines)
    for j in range(len(lines) - 1, 0, -1):
        kept -= len(lines[j]) + 1
        if kept < budget // 2:
            break
        if not lines[j] and not inside[j]:
            return j
    return len(lines)


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
