"""Splitting long HTML replies, the plain-text twin, and the argument checks."""

from __future__ import annotations

import pytest

from agent.events import AlertKind
from agent.models import TradeSide
from handlers import args
from handlers.args import UsageError, split_command
from handlers.text import TELEGRAM_LIMIT, esc, html_to_plain, split_message


def test_short_text_is_one_chunk() -> None:
    assert split_message("a\nb") == ["a\nb"]


def test_long_text_splits_at_line_boundaries_under_the_limit() -> None:
    lines = [f"line {i:04d} " + "x" * 80 for i in range(200)]
    chunks = split_message("\n".join(lines))
    assert len(chunks) > 1
    assert all(len(c) < TELEGRAM_LIMIT for c in chunks)
    assert "\n".join(chunks).split("\n") == lines  # nothing lost, no line cut


def test_a_pre_block_cut_in_two_is_closed_and_reopened() -> None:
    body = "\n".join(f"log line {i} " + "y" * 60 for i in range(150))
    chunks = split_message(f"<b>logs</b>\n<pre>{body}</pre>\nend")
    assert len(chunks) >= 2
    for chunk in chunks:
        assert chunk.count("<pre>") == chunk.count("</pre>"), chunk[:40]
    assert chunks[1].startswith("<pre>")
    assert html_to_plain("\n".join(chunks)).count("log line") == 150


def test_a_giant_line_is_cut_but_never_inside_an_entity() -> None:
    line = esc("a&" * 5000)  # 'a&amp;' repeated
    chunks = split_message(line, limit=1000)
    assert all(len(c) <= 1000 for c in chunks)
    assert "".join(chunks) == line
    for chunk in chunks:
        assert chunk.count("&") == chunk.count("&amp;")


def test_html_to_plain_strips_tags_and_decodes_entities() -> None:
    assert html_to_plain("<b>P&amp;L</b> &lt;5&gt; <a href=\"x?a=1&amp;b=2\">link</a>") == \
        "P&L <5> link: x?a=1&b=2"


@pytest.mark.parametrize(("text", "expected"), [
    ("/set@fake_bot percentage 0.4 NSE:INFY", ("set", ["percentage", "0.4", "NSE:INFY"])),
    ("  /STATUS  ", ("status", [])),
    ("hello", ("", [])),
    ("/", ("", [])),
])
def test_split_command(text: str, expected: tuple[str, list[str]]) -> None:
    assert split_command(text) == expected


def test_symbol_is_upper_cased_and_checked() -> None:
    assert args.symbol("nse:infy") == "NSE:INFY"
    assert args.symbol("NFO:BANKNIFTY24JAN45000CE") == "NFO:BANKNIFTY24JAN45000CE"
    with pytest.raises(UsageError, match=r"expected EXCHANGE:TRADINGSYMBOL.*'INFY'"):
        args.symbol("INFY")


def test_count_and_arity_name_the_problem() -> None:
    assert args.count([], 10, 50) == 10
    assert args.count(["7"], 10, 50) == 7
    with pytest.raises(UsageError, match=r"n: expected a whole number 1\.\.50, got '0'"):
        args.count(["0"], 10, 50)
    with pytest.raises(UsageError, match="unexpected extra argument"):
        args.count(["1", "2"], 10, 50)
    with pytest.raises(UsageError, match="missing argument"):
        args.arity([], 1, 1)


def test_side_alert_kind_and_mode() -> None:
    assert args.trade_side("sell") is TradeSide.SELL
    with pytest.raises(UsageError, match="BUY, SELL or BOTH, got 'up'"):
        args.trade_side("up")
    assert args.alert_kinds("STOP_MOVED") == [AlertKind.STOP_MOVED]
    assert args.alert_kinds("all") == list(AlertKind)
    with pytest.raises(UsageError, match=r"alert type.*'stops'"):
        args.alert_kinds("stops")
    with pytest.raises(UsageError, match="on, silent or off, got 'loud'"):
        args.alert_mode("loud")
