"""Replies that fit a phone screen 40 columns wide.

- ``columns``: the columns a line of Telegram HTML takes on screen: tags dropped,
  entities decoded, a link as its text, wide characters (emoji, CJK) as two.
- ``wrap`` / ``wrap_text``: prose cut at spaces into the fewest lines, and among those
  the most ending after a clause (``;``, ``.``, ``,`` past a line's first third); no
  short word alone on the last line; a word wider than a line is cut inside (never in a
  tag or an entity). Every line keeps its tags balanced (a ``<b>`` cut in two is closed
  and reopened), so ``split_message`` may cut between any two lines. Lines inside a
  ``<pre>`` are left alone: a table is laid out to fit by whoever draws it.
- ``item``, ``pack``: a head and its detail on one line when they fit, else the detail
  below, indented; parts joined with " · " into lines that fit.
- ``short_names``: symbols without the exchange where no other symbol shares the name.
- ``blocks``: the rows of a ``<pre>`` table in blocks of at most ``BLOCK_CHARS``
  characters, each with the column names, separated by blank lines: ``split_message``
  cuts a long reply between two blocks, never inside one.

Pure functions, any thread.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable, Sequence

WIDTH = 40
SEP = " · "
BLOCK_CHARS = 1500  # under half of split_message's chunk: a cut always finds a blank line

_ATOM = re.compile(r"<[^<>]*>|&(?:#\d+|#x[0-9a-fA-F]+|[A-Za-z]\w*);|.", re.DOTALL)
_TAG_NAME = re.compile(r"</?\s*([A-Za-z][\w-]*)")
_CLAUSE_END = (";", ".", ",")


def _is_tag(atom: str) -> bool:
    return len(atom) > 1 and atom[0] == "<"


def _width(atom: str) -> int:
    if _is_tag(atom):
        return 0
    text = html.unescape(atom) if atom[0] == "&" and len(atom) > 1 else atom
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def columns(line: str) -> int:
    """Columns ``line`` (HTML) takes on a phone; a link counts as its text."""
    return sum(_width(atom) for atom in _ATOM.findall(line))


def _words(line: str) -> list[list[str]]:
    """The atoms of ``line`` in words (split at the spaces outside tags)."""
    words: list[list[str]] = [[]]
    for atom in _ATOM.findall(line):
        if atom == " ":
            words.append([])
        else:
            words[-1].append(atom)
    return words


def _cut(word: list[str], most: int) -> list[list[str]]:
    """A word wider than ``most`` in pieces of at most ``most`` columns."""
    pieces: list[list[str]] = [[]]
    used = 0
    for atom in word:
        w = _width(atom)
        if used + w > most and used:
            pieces.append([])
            used = 0
        pieces[-1].append(atom)
        used += w
    return pieces


def _plain_end(word: list[str]) -> str:
    text = [a for a in word if not _is_tag(a)]
    return text[-1] if text else ""


def _breaks(words: list[list[str]], widths: list[int], first: int, rest: int
            ) -> list[tuple[int, int]]:
    """(start, end) word indices of each line: the fewest lines, and among those the most
    that end at a clause (a line ends as late as it can, or after a clause end past its
    first third); a short last word does not stand alone."""
    n = len(words)
    clause = [_plain_end(w).endswith(_CLAUSE_END) for w in words]
    best: dict[int, tuple[int, int, int]] = {n: (0, 0, n)}  # i -> (lines, -clauses, end)
    for i in range(n - 1, -1, -1):
        room = first if i == 0 else rest
        ends: list[int] = []
        used = 0
        for j in range(i, n):
            used += widths[j] + (1 if j > i else 0)
            if j > i and used > room:
                break
            if clause[j] and used >= room // 3:
                ends.append(j + 1)
            last = j + 1
        ends.append(last)
        options = []
        for end in set(ends):
            lines, clauses, _ = best[end]
            options.append((lines + 1, clauses - (clause[end - 1] and end < n), -end))
        lines, clauses, end = min(options)
        best[i] = (lines, clauses, -end)
    out: list[tuple[int, int]] = []
    i = 0
    while i < n:
        out.append((i, best[i][2]))
        i = best[i][2]
    if len(out) > 1:  # no short word alone on the last line: it takes one more along
        (a, b), (c, d) = out[-2], out[-1]
        if (d - c == 1 and widths[c] < rest // 4 and b - a > 2
                and widths[b - 1] + 1 + widths[c] <= rest):
            out[-2:] = [(a, b - 1), (b - 1, d)]
    return out


def wrap(line: str, most: int = WIDTH, indent: str = "") -> list[str]:
    """``line`` (HTML) as lines of at most ``most`` columns; continuation lines start with
    the line's own leading spaces and ``indent``; tags are closed at the end of a line
    and reopened on the next."""
    if columns(line) <= most:
        return [line]
    body = line.lstrip(" ")
    lead = " " * (len(line) - len(body)) + indent
    room = max(most - len(lead), 8)
    words: list[list[str]] = []
    for word in _words(body):
        words += _cut(word, room) if sum(map(_width, word)) > room else [word]
    widths = [sum(map(_width, w)) for w in words]
    first = most - (len(line) - len(body))
    out: list[str] = []
    stack: list[tuple[str, str]] = []  # (tag name, its opening text)
    for n, (start, end) in enumerate(_breaks(words, widths, first, room)):
        text = (line[:len(line) - len(body)] if n == 0 else lead)
        text += "".join(opening for _, opening in stack)
        for k in range(start, end):
            if k > start:
                text += " "
            for atom in words[k]:
                text += atom
                if _is_tag(atom):
                    _track(stack, atom)
        text += "".join(f"</{name}>" for name, _ in reversed(stack))
        out.append(text)
    return out


def _track(stack: list[tuple[str, str]], tag: str) -> None:
    match = _TAG_NAME.match(tag)
    if match is None or tag.endswith("/>"):
        return
    name = match.group(1).lower()
    if tag.startswith("</"):
        for i in range(len(stack) - 1, -1, -1):
            if stack[i][0] == name:
                del stack[i]
                break
    else:
        stack.append((name, tag))


def wrap_text(text: str, most: int = WIDTH) -> str:
    """Every line of ``text`` outside a ``<pre>`` that is too wide, wrapped."""
    out: list[str] = []
    in_pre = False
    for line in text.split("\n"):
        opens, closes = line.count("<pre>"), line.count("</pre>")
        if in_pre or opens or closes:
            out.append(line)
        else:
            out += wrap(line, most)
        if opens != closes:
            in_pre = opens > closes
    return "\n".join(out)


def pack(parts: Iterable[str], most: int = WIDTH, indent: str = "") -> list[str]:
    """``parts`` joined with " · " into lines of at most ``most`` columns, each starting
    with ``indent``; a part too wide for a line is wrapped on its own."""
    lines: list[str] = []
    room = most - len(indent)
    for part in (p for p in parts if p):
        for piece in wrap(part, room):
            if lines and columns(lines[-1] + SEP + piece) <= most:
                lines[-1] += SEP + piece
            else:
                lines.append(indent + piece)
    return lines


def item(head: str, detail: Sequence[str], most: int = WIDTH, indent: str = "  "
         ) -> list[str]:
    """``head`` and its ``detail`` parts on one line when they fit, else the head (wrapped)
    and the detail packed below it, indented."""
    parts = [p for p in detail if p]
    one = f"{head} {SEP.join(parts)}" if parts else head
    if columns(one) <= most:
        return [one]
    return wrap(head, most, indent) + pack(parts, most, indent)


def short_names(symbols: Iterable[str]) -> dict[str, str]:
    """'NSE:INFY' -> 'INFY', unless another of ``symbols`` has that name too (then the
    symbol stays whole)."""
    symbols = list(dict.fromkeys(symbols))
    names = [s.split(":", 1)[-1] for s in symbols]
    return {s: (n if names.count(n) == 1 else s) for s, n in zip(symbols, names, strict=True)}


def blocks(head: str, rows: Sequence[Sequence[str]], most: int = BLOCK_CHARS) -> list[str]:
    """``<pre>`` blocks of the column names ``head`` (escaped text; '' for none) and the
    ``rows`` (each a few escaped lines kept together), at most ``most`` characters each."""
    out: list[list[str]] = []
    size = most + 1
    for row in rows:
        length = sum(len(line) + 1 for line in row)
        if size + length > most:
            out.append([head] if head else [])
            size = len(head) + 1
        out[-1] += row
        size += length
    return ["<pre>" + "\n".join(lines) + "</pre>" for lines in out]
