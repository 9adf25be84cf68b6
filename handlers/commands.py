"""The transport-agnostic command layer: text in, HTML responses out.

``CommandCenter.handle_text(caller, '/set percentage 0.4 NSE:INFY')`` checks who is asking,
parses and checks the arguments (usage help naming what was wrong), turns the command into
engine commands through the runner (awaited with a timeout: a busy engine never freezes the
chat), and formats the reply. ``handle_button`` runs a confirmation prompt's choice. The
Telegram bot and the console chat both drive it. Every method runs on the asyncio loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from agent.commands import Reply
from agent.config_values import hiding, mask
from agent.events import Command
from handlers import funds_cmds, info_cmds, journal_cmds, refresh, report_cmds, trading_cmds
from handlers.alerts import AlertPrefs
from handlers.args import COMMANDS, UsageError, split_command
from handlers.auth import REFUSAL_TEXT, Authorizer
from handlers.confirm import Choice, Confirmations, Refusal
from handlers.phone import WIDTH, columns, wrap, wrap_text
from handlers.services import ButtonOutcome, Caller, Response, Services
from handlers.suggest import unknown_reply
from handlers.text import b, esc, reply_html

log = logging.getLogger(__name__)

Handler = Callable[["CommandCenter", Caller, list[str]], Awaitable[Response]]

HANDLERS: dict[str, Handler] = {**trading_cmds.HANDLERS, **info_cmds.HANDLERS,
                                **report_cmds.HANDLERS, **funds_cmds.HANDLERS,
                                **journal_cmds.HANDLERS}
OPEN_TO_ALL = frozenset({"whoami"})
# Commands that take seconds (charts drawn in a worker thread): the Telegram transport
# answers them in a task of their own, so the next message is handled meanwhile.
LONG_RUNNING = frozenset(report_cmds.HANDLERS)


class EngineBusy(Exception):
    """The engine did not answer in time; ``withdrawn`` when the command never ran."""

    def __init__(self, withdrawn: bool, seconds: float) -> None:
        self.withdrawn = withdrawn
        self.seconds = seconds
        super().__init__(f"engine busy for {seconds:g} s")


class CommandCenter:
    def __init__(self, services: Services, auth: Authorizer, alert_prefs: AlertPrefs, *,
                 confirm_ttl: timedelta = timedelta(seconds=60),
                 login_ttl: timedelta = timedelta(minutes=10),
                 engine_timeout: float = 5.0) -> None:
        self.services = services
        self.auth = auth
        self.alert_prefs = alert_prefs
        self.people = services.human_clock or services.clock  # waits a person sees
        self.confirmations = Confirmations(self.people, confirm_ttl)
        self.login_ttl = login_ttl
        self.engine_timeout = engine_timeout
        self._login_until: dict[int, datetime] = {}  # chat -> the paste is awaited until
        self.drawing = asyncio.Lock()  # /report and /chart draw one at a time

    # ------------------------------------------------------------ entry points

    async def handle_text(self, caller: Caller, text: str) -> list[Response]:
        """The responses to one message (none for an ignored stranger); a secret the
        message held is never echoed, not even upper-cased."""
        return [_fit(dataclasses.replace(r, text=self._mask(r.text)))
                for r in await self._responses(caller, text)]

    async def _responses(self, caller: Caller, text: str) -> list[Response]:
        word, args = split_command(text)
        if not self.auth.allows(caller):
            if word in OPEN_TO_ALL:
                return [await HANDLERS[word](self, caller, args)]
            return [Response(REFUSAL_TEXT)] if self.auth.refuse(caller, text) else []
        if not word:
            if text.startswith("/"):
                return [Response(f"{esc(text.split()[0])}: not a command. /help lists them.")]
            return [await self._plain_text(caller, text)]
        handler = HANDLERS.get(word)
        if handler is None:
            return [Response(unknown_reply(word))]
        try:
            with hiding(self.services.settings.secrets.private()):  # echoes mask them
                return [await handler(self, caller, args)]
        except UsageError as exc:
            return [usage(word, str(exc))]
        except EngineBusy as exc:
            return [busy_response(exc)]
        except Exception as exc:  # a bug must not leave the owner without an answer
            log.exception("/%s failed", word)
            return [Response(f"❌ /{esc(word)} failed ({esc(type(exc).__name__)});\n"
                             "nothing more is known here, see /logs.")]

    async def handle_button(self, caller: Caller, data: str) -> ButtonOutcome:
        """A pressed button: a confirmation runs its choice once, or says why not; a
        Refresh gives the fresh reply. Always an outcome (the transport answers every press
        with it), whatever the data holds; its text fits a phone."""
        outcome = await self._button(caller, data)
        if outcome.text is None:
            return outcome
        return dataclasses.replace(outcome, text=wrap_text(outcome.text))

    async def _button(self, caller: Caller, data: str) -> ButtonOutcome:
        try:
            if not self.auth.allows(caller):
                self.auth.refuse(caller, "<button>")
                return ButtonOutcome("Not authorised: nothing done.")
            if refresh.is_refresh(data):
                return await self._refresh(caller, data)
            choice = self.confirmations.take(caller.chat_id, data)
            if isinstance(choice, Refusal):
                return ButtonOutcome(choice.reason,
                                     esc(choice.reason) if choice.expired else None)
            if choice.then is not None:
                return await choice.then(caller)
            return await self._run_choice(choice)
        except EngineBusy as exc:
            return ButtonOutcome("engine busy", busy_response(exc).text)
        except Exception as exc:
            log.exception("a button press failed")
            return ButtonOutcome(f"failed ({type(exc).__name__}); see /logs")

    def runs_long(self, caller: Caller, text: str) -> bool:
        """True for a command of an allowed caller that takes seconds (/report, /chart)."""
        return split_command(text)[0] in LONG_RUNNING and self.auth.allows(caller)
    async def _refresh(self, caller: Caller, data: str) -> ButtonOutcome:
        try:
            with hiding(self.services.settings.secrets.private()):
                outcome = await refresh.press(self, caller, data)
        except UsageError as exc:
            return ButtonOutcome(str(exc)[:190])
        except EngineBusy as exc:
            return ButtonOutcome(f"engine busy ({exc.seconds:g} s); try again")
        if outcome.text is None:
            return outcome
        return dataclasses.replace(outcome, text=self._mask(outcome.text))

    def _mask(self, text: str) -> str:
        """``text`` without the secrets (a user may paste a token as an argument); not
        without the API key, which the /login link carries."""
        return mask(text, self.services.settings.secrets.private(), pieces=False)

    async def _run_choice(self, choice: Choice) -> ButtonOutcome:
        if choice.command is None:
            return ButtonOutcome("Cancelled", "Cancelled: nothing done.")
        try:
            reply = await self.engine(choice.command)
        except EngineBusy as exc:
            return ButtonOutcome("engine busy", busy_response(exc).text)
        text = f"{esc(choice.label)}: {reply_html(reply)}"
        if columns(text) > WIDTH:  # what was chosen, then what it did
            text = f"{esc(choice.label)}:\n{reply_html(reply)}"
        return ButtonOutcome(reply.text[:190], text)

    # ------------------------------------------------------------ helpers for commands

    async def engine(self, command: Command) -> Reply:
        """Submit to the runner and await its reply; raises EngineBusy after the timeout."""
        future = self.services.runner.submit(command)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.engine_timeout)
        except TimeoutError:
            withdrawn = future.cancelled()
            log.warning("engine did not answer %s within %.1f s (%s)", type(command).__name__,
                        self.engine_timeout, "withdrawn" if withdrawn else "still running")
            raise EngineBusy(withdrawn, self.engine_timeout) from None

    def expect_login(self, chat_id: int) -> None:
        self._login_until[chat_id] = self.people.now() + self.login_ttl

    def cancel_pending(self, chat_id: int) -> bool:
        return self._login_until.pop(chat_id, None) is not None

    async def _plain_text(self, caller: Caller, text: str) -> Response:
        until = self._login_until.get(caller.chat_id)
        if until is None or self.people.now() > until:
            self._login_until.pop(caller.chat_id, None)
            return Response("Send /help for the commands.")
        return await self._complete_login(caller, text)

    async def _complete_login(self, caller: Caller, text: str) -> Response:
        login = self.services.login
        if login is None:
            self._login_until.pop(caller.chat_id, None)
            return Response("/login is not available here.")
        try:
            user_id = await asyncio.to_thread(login.complete, text.strip())
        except ValueError as exc:
            return Response(f"❌ Login failed: {esc(exc)}\nPaste the address again,\n"
                            "/login for a new link, /cancel to stop.")
        except Exception as exc:  # the pasted text is never logged: it holds a token
            log.error("login failed: %s", type(exc).__name__)
            return Response(f"❌ Login failed ({esc(type(exc).__name__)}); see /logs.\n"
                            "/login to try again.")
        self._login_until.pop(caller.chat_id, None)
        log.info("Kite login completed for user %s", user_id)
        return Response(f"✅ Logged in to Kite as {b(user_id)}\nThe session is stored.")


def usage(word: str, problem: str) -> Response:
    info = COMMANDS.get(word)
    line = info.usage if info else f"/{word}"
    return Response("\n".join([*wrap(f"❌ {esc(problem)}"),
                               *wrap(f"usage: <code>{esc(line)}</code>", indent="  ")]))


def busy_response(exc: EngineBusy) -> Response:
    if exc.withdrawn:
        return Response(f"⏳ The engine did not answer in {exc.seconds:g} s:\n"
                        "the command was withdrawn, nothing\nchanged. Try again.")
    return Response(f"⏳ The engine did not answer in {exc.seconds:g} s:\n"
                    "the command is running and may still\napply. Check /status.")


def _fit(response: Response) -> Response:
    """``response`` with every line of its text and captions at most 40 columns: the
    replies drawn for a phone are left as they are, prose is wrapped (``phone``)."""
    photos = tuple(dataclasses.replace(p, caption=wrap_text(p.caption))
                   for p in response.photos)
    return dataclasses.replace(response, text=wrap_text(response.text), photos=photos)
