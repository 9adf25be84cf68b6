"""The Telegram transport: python-telegram-bot ``Application`` with long polling.

``TelegramBot.run_until(stop_event)`` runs on the main thread's asyncio loop: it starts the
application (retrying while Telegram is unreachable), polls for updates, turns each into a
``Caller`` and text (or a button press) for the ``CommandCenter``, and sends the responses
through the paced ``ChatSender``. ``notify(notification)`` is what the engine calls, on the
engine thread; alerts reach every allowed chat.

The reply keyboard is ``telegram.keyboard`` (sent with /help and /start). Commands that
take seconds (/report, /chart: charts drawn in a worker thread) are answered in a task of
their own, so the next update is handled meanwhile.

Replies to callers who may act go on the sender's reply lane, ahead of alerts (main lane);
replies to callers who may not (refusals, their /whoami) on its courtesy lane, sent only
when a chat has no alert or owner reply waiting. A confirmation prompt's lifetime starts
when it is delivered (``Confirmations.delivered``), not when it was queued. /whoami is
answered within the ``Authorizer``'s per-user budget (then one "slow down" note, then
silence), refusals within its refusal budget, so a stranger's flood neither delays alerts
nor grows a queue.

Polling survives network errors (PTB retries with backoff). A ``Conflict`` (another process
polling with the same token) is logged loudly, polling stops, ``conflict`` turns True and
``on_conflict()`` is called; trading and alerts carry on. Updates that queued up while the
agent was not running are dropped at start: a stale "/squareoff all" must not fire.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from telegram import (
    BotCommand,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Conflict, InvalidToken, NetworkError, TelegramError
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler

from agent.events import Notification
from handlers.alerts import Alert, AlertDispatcher, pump_alerts
from handlers.args import COMMANDS, split_command
from handlers.auth import Verdict
from handlers.commands import CommandCenter
from handlers.inbox import AlertInbox
from handlers.phone import wrap_text
from handlers.sender import ChatSender, Lane, Outgoing
from handlers.services import Button, Caller, Response
from handlers.text import esc, split_message

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Incoming:
    """What an update asks: a text from a chat, or a button press (``button`` data)."""

    caller: Caller
    text: str = ""
    button: str | None = None


def incoming_from_update(update: Update) -> Incoming | None:
    """The text message or button press of an update; None for anything else (edited
    messages, channel posts, photos). A message without a sender has user id None."""
    query = update.callback_query
    if query is not None:
        chat_id = query.message.chat.id if query.message is not None else query.from_user.id
        return Incoming(Caller(chat_id, query.from_user.id), button=query.data or "")
    message = update.message
    if message is None or not message.text:
        return None
    user = message.from_user.id if message.from_user is not None else None
    return Incoming(Caller(message.chat.id, user), text=message.text)


def reply_keyboard(rows: Sequence[Sequence[str]]) -> ReplyKeyboardMarkup | None:
    """The reply keyboard of ``telegram.keyboard`` (validated at start-up); None: none."""
    if not rows:
        return None
    return ReplyKeyboardMarkup([[KeyboardButton(text) for text in row] for row in rows],
                               resize_keyboard=True, is_persistent=True)


def inline_markup(buttons: Sequence[Button]) -> InlineKeyboardMarkup | None:
    """One button a row; None for none."""
    if not buttons:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(btn.label, callback_data=btn.data)]
                                 for btn in buttons])


def outgoing(response: Response, keyboard: Any = None) -> list[Outgoing]:
    """A response as messages under the size limit (buttons, or else ``keyboard`` when the
    response asks for it, on the last text), then its photos."""
    chunks = split_message(response.text) if response.text or not response.photos else []
    markup: Any = None
    if response.buttons:
        markup = inline_markup(response.buttons)
    elif response.keyboard:
        markup = keyboard
    out = [Outgoing(chunk, markup=markup if i == len(chunks) - 1 else None)
           for i, chunk in enumerate(chunks)]
    return out + [Outgoing(photo.caption, photo=photo.png) for photo in response.photos]


class TelegramBot:
    def __init__(self, center: CommandCenter, dispatcher: AlertDispatcher, *, token: str,
                 base_url: str, alert_chat_ids: Sequence[int], pace: float = 1.0,
                 backoff: Sequence[float] = (1.0, 2.0, 5.0, 10.0, 30.0),
                 poll_timeout: float = 10.0, inbox: AlertInbox | None = None,
                 on_conflict: Callable[[], None] | None = None) -> None:
        self.center = center
        self.dispatcher = dispatcher
        self.alert_chat_ids = tuple(alert_chat_ids)
        self.poll_timeout = poll_timeout
        self.backoff = tuple(backoff)
        self.inbox = inbox or AlertInbox()
        self.on_conflict = on_conflict
        self.conflict = False  # another instance polls with this token: polling stopped
        self.polling_stopped = asyncio.Event()  # set once polling ended after a Conflict
        self.application: Application = (  # type: ignore[type-arg]
            ApplicationBuilder().token(token).base_url(base_url).job_queue(None).build())
        self.application.add_handler(TypeHandler(Update, self._on_update))
        self.application.add_error_handler(self._on_handler_error)
        self.sender = ChatSender(self.application.bot, pace=pace, backoff=backoff)
        self.keyboard = reply_keyboard(center.services.settings.telegram.keyboard)
        self._tasks: set[asyncio.Task[None]] = set()
        self._answers: set[asyncio.Task[None]] = set()  # /report, /chart being built

    # ------------------------------------------------------------ any thread

    def notify(self, note: Notification) -> None:
        """The engine's notifier: any thread, never blocks."""
        self.inbox.put(note)

    # ------------------------------------------------------------ loop thread

    @property
    def polling(self) -> bool:
        updater = self.application.updater
        return updater is not None and updater.running

    async def run_until(self, stop_event: asyncio.Event) -> None:
        """Run until ``stop_event`` is set (main thread's loop). Never raises for Telegram
        trouble: an unreachable Telegram is retried, a refused token disables the bot."""
        self.inbox.bind(asyncio.get_running_loop())
        self.center.auth.warn_if_nobody()
        alerts: asyncio.Task[None] | None = None
        try:
            started = await self._retrying("start", self.application.initialize, stop_event)
            if started:
                # Alerts flow once Telegram answers; until then the inbox holds them.
                alerts = asyncio.create_task(
                    pump_alerts(self.inbox, self.dispatcher, self._alert), name="tg-alerts")
                await self._register_commands()
                await self.application.start()
                started = await self._retrying("polling", self._start_polling, stop_event)
            if started:
                log.info("Telegram bot polling; alerts go to %d chat(s)",
                         len(self.alert_chat_ids))
            elif alerts is None:  # no Telegram at all: keep draining, send nothing
                alerts = asyncio.create_task(
                    pump_alerts(self.inbox, self.dispatcher, lambda alert: None))
            await stop_event.wait()
        finally:
            if alerts is not None:
                alerts.cancel()
                await asyncio.gather(alerts, return_exceptions=True)
            await self._shutdown()

    async def _start_polling(self) -> None:
        updater = self.application.updater
        assert updater is not None
        await updater.start_polling(timeout=self.poll_timeout, drop_pending_updates=True,
                                    error_callback=self._on_poll_error)

    async def _retrying(self, stage: str, action: Callable[[], Awaitable[None]],
                        stop_event: asyncio.Event) -> bool:
        """Run ``action``, retrying with backoff while Telegram is unreachable; False when
        the token is refused or the stop came first."""
        attempt = 0
        while not stop_event.is_set():
            try:
                await action()
                return True
            except InvalidToken:
                log.critical("Telegram refused the bot token (TELEGRAM_BOT_TOKEN): no commands "
                             "or alerts over Telegram; trading carries on")
                return False
            except NetworkError as exc:
                delay = self.backoff[min(attempt, len(self.backoff) - 1)]
                attempt += 1
                log.warning("Telegram unreachable at %s (%s); retrying in %.1f s", stage,
                            exc.message, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop_event.wait(), delay)
        return False

    async def _register_commands(self) -> None:
        commands = [BotCommand(word, info.summary[:256]) for word, info in COMMANDS.items()]
        try:
            await self.application.bot.set_my_commands(commands)
        except TelegramError as exc:
            log.warning("could not register the command list with Telegram: %s", exc)

    async def _shutdown(self) -> None:
        app = self.application
        for task in self._answers:  # a report being drawn is not waited for
            task.cancel()
        if self._answers:
            await asyncio.gather(*self._answers, return_exceptions=True)
        if self._tasks:  # a Conflict's polling stop still finishing
            await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            if self.polling:
                assert app.updater is not None
                await app.updater.stop()
            if app.running:
                await app.stop()
            await self.sender.close()
            await app.shutdown()  # a no-op when it never initialized
        except TelegramError as exc:
            log.warning("Telegram shutdown: %s", exc)

    def _alert(self, alert: Alert) -> None:
        photos = [Outgoing(p.caption, silent=True, photo=p.png) for p in alert.photos]
        for chat_id in self.alert_chat_ids:
            for out in outgoing(Response(wrap_text(alert.text))):  # a phone's 40 columns
                self.sender.enqueue(chat_id, Outgoing(out.text, silent=alert.silent))
            for photo in photos:
                self.sender.enqueue(chat_id, photo)

    def send(self, chat_id: int, response: Response, lane: Lane = Lane.REPLY) -> None:
        messages = outgoing(response, self.keyboard)
        if response.buttons:  # a prompt: its buttons live from its delivery on
            confirmations, data = self.center.confirmations, response.buttons[0].data
            messages[-1] = dataclasses.replace(
                messages[-1], on_sent=lambda: confirmations.delivered(data))
        for out in messages:
            self.sender.enqueue(chat_id, out, lane)

    async def process(self, update: Update) -> None:
        """Handle one update: a command, a plain text, or a button press."""
        incoming = incoming_from_update(update)
        if incoming is None:
            return
        if incoming.button is not None:
            assert update.callback_query is not None
            await self._on_button(update.callback_query, incoming)
            return
        caller = incoming.caller
        auth = self.center.auth
        lane = Lane.REPLY if auth.allows(caller) else Lane.COURTESY
        if split_command(incoming.text)[0] == "whoami":
            verdict = auth.whoami(caller)
            if verdict is Verdict.SILENT:
                return
            if verdict is Verdict.SLOW_DOWN:
                self.send(caller.chat_id, Response(esc(auth.slow_down_text())), lane)
                return
        if self.center.runs_long(caller, incoming.text):  # the next update goes on meanwhile
            task = asyncio.create_task(self._answer(caller, incoming.text, lane),
                                       name="tg-long-answer")
            self._answers.add(task)
            task.add_done_callback(self._answers.discard)
            return
        await self._answer(caller, incoming.text, lane)

    async def _answer(self, caller: Caller, text: str, lane: Lane) -> None:
        for response in await self.center.handle_text(caller, text):
            self.send(caller.chat_id, response, lane)

    async def _on_button(self, query: CallbackQuery, incoming: Incoming) -> None:
        outcome = await self.center.handle_button(incoming.caller, incoming.button or "")
        try:
            await query.answer(outcome.answer[:200])
        except TelegramError as exc:
            log.warning("answering a button press failed: %s", exc)
        message = query.message
        if outcome.text is None or not isinstance(message, Message):
            return
        try:
            await message.edit_text(outcome.text, parse_mode=ParseMode.HTML,
                                    reply_markup=inline_markup(outcome.buttons))
        except TelegramError as exc:
            if isinstance(exc, BadRequest) and "not modified" in exc.message.lower():
                log.debug("button press: the message is unchanged (a Refresh, nothing new)")
                return
            log.warning("editing the prompt failed (%s); sending the outcome instead", exc)
            lane = Lane.REPLY if self.center.auth.allows(incoming.caller) else Lane.COURTESY
            self.send(incoming.caller.chat_id, Response(outcome.text, outcome.buttons), lane)

    async def _on_update(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        if isinstance(update, Update):
            await self.process(update)

    async def _on_handler_error(self, update: object, context: ContextTypes.DEFAULT_TYPE
                                ) -> None:
        log.error("handling a Telegram update failed", exc_info=context.error)

    def _on_poll_error(self, exc: TelegramError) -> None:
        """PTB's polling error callback (sync, loop thread)."""
        if not isinstance(exc, Conflict):
            log.warning("Telegram polling error, retrying: %s", exc.message)
            return
        if self.conflict:
            return
        self.conflict = True
        log.critical("Telegram Conflict: another process polls with this bot token (%s). "
                     "Polling stopped: no Telegram commands from here; trading carries on. "
                     "Stop the other instance and restart this one.", exc.message)
        task = asyncio.get_running_loop().create_task(self._stop_polling())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if self.on_conflict is not None:
            try:
                self.on_conflict()
            except Exception:
                log.exception("on_conflict callback failed")

    async def _stop_polling(self) -> None:
        updater = self.application.updater
        if updater is not None and updater.running:
            await updater.stop()
        self.polling_stopped.set()
