"""A large tick file parsed in a child process while the parent's engine runs: the CSV
parser (agent/adapters/replay.py) and the tick cache's builder (agent/cached_ticks.py) share
this. The child sends ``(kind, payload)`` messages on a pipe, its parts, then ``("end",
counts)``, or ``("error", one line)``; the parent reads them in order. Parent: the thread
that iterates; child: its own process.
"""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any


def start_child(target: Callable[..., None], args: tuple[Any, ...], name: str
                ) -> tuple[BaseProcess, Connection] | None:
    """A started child running ``target(*args, send)``, and the parent's receiving end; None
    when no process can be made (the caller parses in its own process then)."""
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=target, name=name, daemon=True, args=(*args, send))
    try:
        child.start()
    except OSError:  # no process to spare
        receive.close()
        send.close()
        return None
    send.close()
    return child, receive


def messages(path: Path, child: BaseProcess, receive: Connection,
             error: type[Exception]) -> Iterator[tuple[str, Any]]:
    """The child's messages in order, its ``end`` the last; an ``error`` message or a child
    that died raises ``error`` with one line. The child is gone when this ends, however it
    ends."""
    try:
        while True:
            try:
                kind, payload = receive.recv()
            except (EOFError, OSError):
                child.join(5)
                raise error(f"{path}: the parser process ended unexpectedly (exit code "
                            f"{child.exitcode})") from None
            if kind == "error":
                raise error(payload)
            yield kind, payload
            if kind == "end":
                return
    finally:
        receive.close()
        child.join(5)
        if child.is_alive():
            child.terminate()
            child.join(5)


def send_quietly(send: Any, message: tuple[str, Any]) -> None:
    """The child's last word, if the parent still listens."""
    with contextlib.suppress(OSError):
        send.send(message)
