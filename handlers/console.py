"""The console twin of the Telegram chat (no bot token, ``make demo``).

The same ``CommandCenter`` serves lines typed on stdin and the same alerts are printed on
stdout, as plain text (a chart of /report or /chart as one line saying what it shows). A
confirmation's buttons become numbered choices: typing the number presses the button (with
the same expiry; a button that asks again offers the new choices). When stdin ends (no
terminal, ``< /dev/null``) the chat only prints alerts until the stop. The console is the
owner: it is the one caller the console's ``Authorizer`` allows.

A daemon thread reads stdin and hands lines to the loop; everything else runs on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import TextIO

from agent.events import Notification
from handlers import refresh
from handlers.alerts import Alert, AlertDispatcher, pump_alerts
from handlers.commands import CommandCenter
from handlers.inbox import AlertInbox
from handlers.services import Button, Caller, Response
from handlers.text import html_to_plain

log = logging.getLogger(__name__)

CONSOLE_CHAT_ID = 0
CONSOLE = Caller(CONSOLE_CHAT_ID, CONSOLE_CHAT_ID)


class ConsoleChat:
    def __init__(self, center: CommandCenter, dispatcher: AlertDispatcher, *, stdin: TextIO,
                 stdout: TextIO, inbox: AlertInbox | None = None) -> None:
        self.center = center
        self.dispatcher = dispatcher
        self.stdin = stdin
        self.stdout = stdout
        self.inbox = inbox or AlertInbox()
        self.input_ended = asyncio.Event()  # stdin ended and every line was handled
        self._choices: tuple[Button, ...] = ()

    # ------------------------------------------------------------ any thread

    def notify(self, note: Notification) -> None:
        """The engine's notifier: any thread, never blocks."""
        self.inbox.put(note)

    # ------------------------------------------------------------ loop thread

    async def run_until(self, stop_event: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        self.inbox.bind(loop)
        lines: asyncio.Queue[str | None] = asyncio.Queue()
        reader = threading.Thread(target=self._read_stdin, args=(loop, lines),
                                  name="console-stdin", daemon=True)
        reader.start()
        alerts = asyncio.create_task(pump_alerts(self.inbox, self.dispatcher, self.print_alert),
                                     name="console-alerts")
        self._write("Console chat: type /help for the commands.")
        stop = asyncio.create_task(stop_event.wait())
        try:
            while not stop_event.is_set():
                get = asyncio.create_task(lines.get())
                done, _ = await asyncio.wait({get, stop}, return_when=asyncio.FIRST_COMPLETED)
                if get not in done:
                    get.cancel()
                    break
                line = get.result()
                if line is None:
                    self.input_ended.set()
                    log.info("console input ended: printing alerts only")
                    await stop
                    break
                await self.handle_line(line)
        finally:
            stop.cancel()
            alerts.cancel()
            await asyncio.gather(alerts, stop, return_exceptions=True)
            self._flush_alerts()

    async def handle_line(self, line: str) -> None:
        """One typed line: a numbered choice, a command or a text."""
        text = line.strip()
        if not text:
            return
        if text.isascii() and text.isdigit() and self._choices:  # not '²' (int() refuses it)
            index = int(text) - 1
            if not 0 <= index < len(self._choices):
                self._write(f"choose 1..{len(self._choices)}")
                return
            button, self._choices = self._choices[index], ()
            outcome = await self.center.handle_button(CONSOLE, button.data)
            self._write(html_to_plain(outcome.text) if outcome.text else outcome.answer)
            self._offer(outcome.buttons)  # a follow-up asks again; a Refresh stays
            return
        for response in await self.center.handle_text(CONSOLE, text):
            self.print_response(response)

    def print_response(self, response: Response) -> None:
        if response.text or not response.photos:
            self._write(html_to_plain(response.text))
        for photo in response.photos:  # a terminal shows no pictures: say what was drawn
            self._write(f"[chart] {html_to_plain(photo.caption)} "
                        f"(PNG, {len(photo.png) // 1024 + 1} KB; Telegram shows it)")
        self._offer(response.buttons)

    def _offer(self, buttons: tuple[Button, ...]) -> None:
        """Buttons as numbered choices (a Refresh never expires; a prompt's minute runs
        from now, when it is shown)."""
        if not buttons:
            return
        self._choices = buttons
        for n, button in enumerate(buttons, 1):
            self._write(f"  {n}) {button.label}")
        if all(refresh.is_refresh(button.data) for button in buttons):
            self._write("  (type the number)")
            return
        self.center.confirmations.delivered(buttons[0].data)  # shown now
        seconds = int(self.center.confirmations.ttl.total_seconds())
        self._write(f"  (type the number within {seconds} s)")

    def print_alert(self, alert: Alert) -> None:
        self._write(f"[alert] {html_to_plain(alert.text)}")
        for photo in alert.photos:  # the day report's charts: what each shows
            self._write(f"[chart] {html_to_plain(photo.caption)} "
                        f"(PNG, {len(photo.png) // 1024 + 1} KB; Telegram shows it)")

    def _flush_alerts(self) -> None:
        """Print what the engine queued before the stop (the last alerts of a demo)."""
        batch, dropped = self.inbox.take()
        for alert in self.dispatcher.prepare(batch, dropped):
            self.print_alert(alert)

    def _write(self, text: str) -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def _read_stdin(self, loop: asyncio.AbstractEventLoop,
                    lines: asyncio.Queue[str | None]) -> None:
        """The reader thread: each line to the loop, then None at the end of input."""
        try:
            for line in self.stdin:
                if not _post(loop, lines, line):
                    return
        except (OSError, ValueError) as exc:  # a closed or unreadable stdin
            log.info("console input unreadable: %s", exc)
        _post(loop, lines, None)


def _post(loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[str | None],
          line: str | None) -> bool:
    with contextlib.suppress(RuntimeError):  # the loop closed: the process is ending
        loop.call_soon_threadsafe(lines.put_nowait, line)
        return True
    return False
