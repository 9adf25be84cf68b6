"""Owner commands that do not trade: login, schedule, alerts, logs, version, help, whoami.

Each is ``async (center, caller, args) -> Response``. Loop thread only; file reads and the
login service run in a worker thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import asyncio
import platform
from collections import deque
from collections.abc import Awaitable, Callable
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import agent
from agent.calendar import JOB_DESCRIPTIONS, TradingCalendar
from agent.config_values import mask
from handlers import log_view
from handlers.alerts import LABELS
from handlers.args import COMMANDS, alert_kinds, alert_mode, arity, count
from handlers.phone import WIDTH, columns, item, pack, wrap
from handlers.services import Caller, Response
from handlers.text import b, code, esc

if TYPE_CHECKING:
    from handlers.commands import CommandCenter

Handler = Callable[["CommandCenter", Caller, list[str]], Awaitable[Response]]


async def whoami(center: CommandCenter, caller: Caller, args: list[str]) -> Response:
    allowed = "yes" if center.auth.allows(caller) else "no"
    return Response("\n".join([*pack([f"chat id {code(caller.chat_id)}",
                                       f"user id {code(caller.user_id)}"]),
                               f"allowed to act: {allowed}"]))


async def help_(center: CommandCenter, caller: Caller, args: list[str]) -> Response:
    lines = [b("Commands")]
    for info in COMMANDS.values():
        one = f"{esc(info.usage)} - {esc(info.summary)}"
        lines += [one] if columns(one) <= WIDTH else [  # the usage, then what it does
            *wrap(esc(info.usage), indent="  "), *wrap(f"  {esc(info.summary)}")]
    return Response("\n".join(lines), keyboard=True)


async def version(center: CommandCenter, caller: Caller, args: list[str]) -> Response:
    arity(args, 0, 0)
    try:
        ptb = metadata.version("python-telegram-bot")
    except metadata.PackageNotFoundError:
        ptb = "not installed"
    mode = center.services.settings.mode.value
    return Response("\n".join(pack([f"agent {esc(agent.__version__)} ({esc(mode)} mode)",
                                     f"python {esc(platform.python_version())}",
                                     f"python-telegram-bot {esc(ptb)}"])))


async def login(center: CommandCenter, caller: Caller, args: list[str]) -> Response:
    arity(args, 0, 0)
    service = center.services.login
    if service is None:
        return Response("❌ /login is not available here\n(no Kite session service).")
    url = await asyncio.to_thread(service.login_url)
    center.expect_login(caller.chat_id)
    minutes = int(center.login_ttl.total_seconds() // 60)
    steps = [f"1. Open the <a href=\"{esc(url)}\">Kite login</a> and log in.",
             *wrap("2. Paste the address you land on (or just its request_token) here as "
                   f"your next message, within {minutes} min.", indent="   "),
             "/cancel to stop."]
    return Response("\n".join(steps))


async def cancel(center: CommandCenter, caller: Caller, args: list[str]) -> Response:
    arity(args, 0, 0)
    if center.cancel_pending(caller.chat_id):
        return Response("Cancelled the pending login.")
    return Response("Nothing pending.")


async def schedule(center: CommandCenter, caller: Caller, args: list[str]) -> Response:
    arity(args, 0, 0)
    calendar = TradingCalendar(center.services.settings.schedule)
    today = center.services.clock.now().date()
    lines = [f"{b(f'{today:%A} {today.isoformat()}')} (IST)"]
    hours: dict[str, list[str]] = {}  # the day's hours (or why closed) -> its exchanges
    for exchange in calendar.schedule.sessions:
        session = calendar.session(today, exchange)
        said = (f"closed, {calendar.why_closed(today, exchange)}" if session is None
                else f"{session[0]:%H:%M}-{session[1]:%H:%M}")
        hours.setdefault(said, []).append(exchange)
    for said, exchanges in hours.items():
        lines += wrap(esc(f"{', '.join(exchanges)}: {said}"), indent="  ")
    jobs = calendar.timetable(today)
    if not jobs:
        following = calendar.next_trading_day(today)
        lines += ["No jobs today.", f"Next trading day: {following:%a} {following.isoformat()}"]
    for name, at in jobs:
        lines += item(f"{at:%H:%M} {b(name)}", [esc(JOB_DESCRIPTIONS.get(name, ''))])
    return Response("\n".join(lines))


async def alerts(center: CommandCenter, caller: Caller, args: list[str]) -> Response:
    prefs = center.alert_prefs
    if args:
        arity(args, 2, 2)
        kinds = alert_kinds(args[0])
        mode = alert_mode(args[1])
        prefs.set(kinds, mode)
        which = "every alert type" if len(kinds) > 1 else kinds[0].value
        return Response(f"✅ {esc(which)}: {b(mode)}\neffective now (saved)")
    lines = [b("Alerts") + " (on / silent / off)"]
    lines += [f"{esc(kind.value)}: {b(mode) if mode != 'on' else mode}  "
              f"<i>{esc(LABELS.get(kind, ''))}</i>" for kind, mode in prefs.table()]
    lines.append("change: /alerts TYPE|all on|silent|off")
    return Response("\n".join(lines))


async def logs(center: CommandCenter, caller: Caller, args: list[str]) -> Response:
    n = count(args, 20, 200)
    path = center.services.log_file
    if path is None:
        return Response("❌ /logs: no log file in this mode.")
    try:
        lines = await asyncio.to_thread(_tail, path, n)
    except FileNotFoundError:
        return Response(f"No log file yet ({esc(path)}).")
    except OSError as exc:
        return Response(f"❌ cannot read {esc(path)}: {esc(exc.strerror)}")
    if not lines:
        return Response("The log is empty.")
    # masked before a long line is cut in two (the reply's own masking would miss a cut one)
    return Response(log_view.render([mask(line, pieces=False) for line in lines]))


def _tail(path: Path, n: int) -> list[str]:
    """The last ``n`` lines of a text file, reading at most its last megabyte."""
    with path.open("rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - 1_000_000))
        data = handle.read()
    text = data.decode("utf-8", "replace")
    return list(deque(text.splitlines(), maxlen=n))


HANDLERS: dict[str, Handler] = {
    "whoami": whoami, "help": help_, "version": version, "login": login, "cancel": cancel,
    "schedule": schedule, "alerts": alerts, "logs": logs,
}
