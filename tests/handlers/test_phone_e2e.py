"""Issue 14: every reply a trader reads fits a phone screen 40 columns wide.

Each command (and each usage error, prompt and button outcome) is asked of the real
CommandCenter over a real engine in the middle of a day (``tests/handlers/phone.py``:
open positions, an F&O option in lots, a trade, a halt, a group, pending symbols, a log
with long lines), and every line of every message it sends is measured on its own: tags
dropped, entities decoded, emoji as two columns.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.handlers.harness import run
from tests.handlers.phone import Day, assert_response_fits, day

COMMANDS = [
    # what it is doing, and its books
    "/status", "/status table", "/status NIFTY24JAN21500CE", "/status NSE:BBB",
    "/positions", "/orders", "/orders 50", "/trades", "/trades 5", "/pnl", "/limits",
    "/instruments", "/funds", "/report", "/chart NSE:AAA",
    # steering
    "/start", "/stop", "/pause", "/resume", "/resume NSE:AAA", "/side sell NSE:AAA",
    "/set percentage 0.4 NFO:NIFTY24JAN21500CE", "/set interval 15",
    "/set loss_limit 2500 NFO:NIFTY24JAN21500CE", "/limits daily loss_limit 6000",
    "/limits banks profit_target 100000000", "/squareoff", "/squareoff all",
    "/squareoff NFO:NIFTY24JAN21500CE", "/unhalt all", "/unhalt NSE:BBB", "/unhalt NSE:AAA",
    "/add NSE:ZZZ", "/remove NSE:AAA", "/remove NSE:ZZZ",
    # daily, alerts, diagnostics
    "/schedule", "/alerts", "/alerts all silent", "/alerts stop_moved on", "/help",
    "/version", "/whoami", "/login", "/cancel", "/logs", "/logs 200",
    # usage errors and what is not a command
    "/set lots x", "/set nope 1", "/set trade_side BUY", "/side up", "/orders 0",
    "/trades many", "/limits daily nope 5", "/limits nope loss_limit 5",
    "/limits daily loss_limit 1e888888", "/alerts nope on", "/alerts error loud",
    "/status nope", "/unhalt", "/squareoff NSE:AAA now", "/chart NSE:AAA 3",
    "/chart NSE:AAA 7", "/logs " + "9" * 40, "/set lots 2 " + "X" * 60,
    "/profit", "/forceexit", "/staus", "/frobnicate", "/", "hello",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_reply_fits_forty_columns(tmp_path: Path, command: str) -> None:
    async def body() -> None:
        async with day(tmp_path) as d:
            responses = await d.ask(command)
            assert responses, command
            for response in responses:
                assert response.text or response.photos, command
                assert_response_fits(response, command)

    run(body())


async def _flow(d: Day, first: str, *labels: str) -> list[str]:
    """``first``, then the buttons ``labels`` pressed in turn (each on the newest
    prompt); every text on the way is checked."""
    (response,) = await d.ask(first)
    assert_response_fits(response, first)
    said = [response.text]
    for label in labels:
        response = await d.press(response.buttons, label)
        assert_response_fits(response, f"{first} / {label}")
        said.append(response.text)
    return said


@pytest.mark.parametrize(("first", "labels"), [
    ("/stop", ("Square off and stop",)),
    ("/stop", ("Stop, keep managing",)),
    ("/stop", ("Cancel",)),
    ("/squareoff", ("SELL 2 lots NIFTY24JAN21500CE ₹0.00", "Square off")),
    ("/squareoff", ("SELL 50 AAA ₹0.00", "Cancel")),
    ("/squareoff", ("All", "Square off all")),
    ("/squareoff NSE:AAA", ("Square off",)),
    ("/status table", ("🔄 Refresh",)),
])
def test_prompts_and_what_their_buttons_say_fit(tmp_path: Path, first: str,
                                                labels: tuple[str, ...]) -> None:
    async def body() -> None:
        async with day(tmp_path) as d:
            said = await _flow(d, first, *labels)
            assert len(said) == len(labels) + 1

    run(body())


def test_an_expired_prompt_and_the_login_flow_fit(tmp_path: Path) -> None:
    async def body() -> None:
        async with day(tmp_path) as d:
            (prompt,) = await d.ask("/squareoff all")
            d.center.people.advance(timedelta(seconds=61))  # type: ignore[attr-defined]
            expired = await d.press(prompt.buttons, "Square off all")
            assert "expired" in expired.text
            assert_response_fits(expired, "expired")
            for text in ("/login", "https://example.com/?request_token=WRONG",
                         "https://example.com/?action=login&request_token=GOOD",
                         "request_token=GOOD"):
                for response in await d.ask(text):
                    assert_response_fits(response, text)

    run(body())


def test_a_secret_in_a_long_log_line_is_masked_before_the_line_is_cut(tmp_path: Path) -> None:
    from tests.fakes.telegram_api import TOKEN

    async def body() -> None:
        async with day(tmp_path) as d:
            log = tmp_path / "logs" / "agent.log"
            with log.open("a") as out:  # as a careless library might log a URL
                out.write("2024-01-15 09:30:00,000 IST INFO    httpx: GET https://api.telegram"
                          f".org/bot{TOKEN}/getUpdates?offset=12345678 200\n")
            (reply,) = await d.ask("/logs 3")
            flat = reply.text.replace("\n  ", "")  # the cut line joined again
            assert "09:30:00 INF GET" in reply.text and "/bot***/getUpdates" in flat
            assert TOKEN not in flat and TOKEN[:20] not in reply.text
            assert TOKEN[-20:] not in reply.text
            assert_response_fits(reply, "/logs")

    run(body())
