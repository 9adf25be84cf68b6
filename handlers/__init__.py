"""The owner's side of the agent: commands in, alerts out, over Telegram or the console.

Wiring (the composition root, main thread)::

    lock = DataDirLock(settings.data_dir); lock.acquire()        # storage/lock.py
    engine = Engine(settings, instruments, clock=clock)           # notify set below
    runner = EngineRunner(engine, clock)
    submitter = OverrideSubmitter(runner, override, clock)       # /start, /stop of the day
    extra = ChatServices(login=session, feed_status=feed.feed_info,  # all optional
                         instruments=index, on_added=feed.subscribe)
    if settings.secrets.telegram_bot_token:
        chat = build_telegram(settings, submitter, clock=clock, services=extra,
                              on_conflict=lambda: log.critical("no Telegram commands"))
    else:
        chat = build_console(settings, submitter, clock=clock, services=extra)
    engine.notify = notify             # AgentProcess._notify -> chat.notify (any thread)
    runner.start()
    stop = asyncio.Event()             # set it from a signal handler or the scheduler
    await chat.run_until(stop)         # on the main thread's loop; returns after stop

Inside: ``commands.CommandCenter`` is the transport-agnostic command layer (auth, argument
checks, engine calls with a timeout, HTML replies, confirmation buttons); ``trading_cmds``,
``info_cmds``, ``funds_cmds`` and ``report_cmds`` hold the commands, ``suggest`` the "did
you mean", ``formatting`` the query replies, ``alerts`` the alert modes (persisted in
``prefs.json``) and the grouping of a batch into few messages, ``alert_text`` their words,
``inbox`` the thread-safe hand-off from the engine thread, ``sender`` the paced per-chat
sending (replies before alerts) with retries, ``telegram_bot`` the python-telegram-bot
transport and ``console`` its stdin/stdout twin.
``services`` has the shared data shapes and the ``LoginService`` protocol that
agent/session.py implements.
"""

from __future__ import annotations

import importlib
from typing import Any

# The package's names, imported when first asked for (PEP 562): a command that needs none
# of them (``bot.py --help``, ``backtest``, ``optimize``) does not load python-telegram-bot.
_FROM = {"ChatOptions": "handlers.build", "ChatServices": "handlers.build",
         "build_console": "handlers.build", "build_telegram": "handlers.build",
         "ConsoleChat": "handlers.console", "FeedInfo": "handlers.services",
         "LoginService": "handlers.services", "TelegramBot": "handlers.telegram_bot"}

__all__ = ["ChatOptions", "ChatServices", "ConsoleChat", "FeedInfo", "LoginService",
           "TelegramBot", "build_console", "build_telegram"]


def __getattr__(name: str) -> Any:
    module = _FROM.get(name)
    if module is None:
        raise AttributeError(f"module 'handlers' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
