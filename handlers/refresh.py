"""Refresh buttons: a reply that can be asked again in place (``/status table``).

A refresh is not a confirmation: its data is ``r:<view>`` (``r:status:table``), it never
expires and never changes anything; a press by an allowed caller edits the message with
fresh data and keeps the button. ``CommandCenter.handle_button`` routes presses here after
the caller's check. Loop thread only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from handlers.services import Button, ButtonOutcome, Caller, Response
from handlers.text import split_message

if TYPE_CHECKING:
    from handlers.commands import CommandCenter

PREFIX = "r:"
LABEL = "🔄 Refresh"

View = Callable[["CommandCenter", Caller], Awaitable[Response]]


def button(view: str) -> Button:
    return Button(LABEL, f"{PREFIX}{view}")


def is_refresh(data: str) -> bool:
    return isinstance(data, str) and data.startswith(PREFIX)


async def _status_table(center: CommandCenter, caller: Caller) -> Response:
    from handlers.trading_cmds import status

    return await status(center, caller, ["table"])


VIEWS: dict[str, View] = {"status:table": _status_table}


async def press(center: CommandCenter, caller: Caller, data: str) -> ButtonOutcome:
    """The fresh reply as the outcome (its text replaces the message's, its buttons stay);
    a reply too long for one message is not put in place."""
    view = VIEWS.get(data[len(PREFIX):])
    if view is None:
        return ButtonOutcome("this button is not one of mine")
    response = await view(center, caller)
    if len(split_message(response.text)) > 1:
        return ButtonOutcome("too long to refresh in place: send /status table again")
    return ButtonOutcome("Refreshed", response.text, response.buttons)
