"""A local fake of the Telegram Bot API for end-to-end tests of the real PTB client.

An aiohttp server on 127.0.0.1 (ephemeral port) on the test's own asyncio loop, serving
``/bot<token>/<method>``: getMe, getUpdates (long polling fed from a queue the test
controls; ``offset`` confirms updates), sendMessage, sendPhoto, editMessageText,
editMessageReplyMarkup, answerCallbackQuery, deleteWebhook, setMyCommands, getMyCommands,
deleteMyCommands. As Telegram does, an editMessageText that changes neither the text nor
the buttons of a message it sent is refused ("message is not modified"). Every call is
recorded (method, decoded parameters, loop time, the fault applied, the result).
``fail_next`` makes the next call(s) of a method answer with a fault: 429 with
retry_after, a dropped connection, 400 "can't parse entities", or 409 Conflict. Tests wait
on recorded calls with ``wait_for`` (a Condition, with a timeout), never with sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from aiohttp import web

TOKEN = "123456789:AAFakeTokenForTheLocalFakeBotApi_000000"
BOT_USER = {"id": 123456789, "is_bot": True, "first_name": "Fake", "username": "fake_bot"}
JSON_PARAMS = frozenset({"chat_id", "message_id", "offset", "limit", "timeout",
                         "disable_notification", "reply_markup", "allowed_updates", "commands",
                         "drop_pending_updates", "show_alert", "cache_time",
                         "link_preview_options", "reply_parameters", "protect_content"})


class Fault(StrEnum):
    RETRY_AFTER = "retry_after"  # 429 with parameters.retry_after
    DROP = "drop"  # close the connection without an answer
    BAD_HTML = "bad_html"  # 400 can't parse entities
    CONFLICT = "conflict"  # 409, as when another process polls with the token


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float  # loop time when it arrived
    fault: Fault | None = None
    result: Any = None


@dataclass
class _Pending:
    fault: Fault
    count: int
    retry_after: int


@dataclass
class FakeBotAPI:
    token: str = TOKEN
    max_poll: float = 1.0  # longest a getUpdates waits, whatever timeout it asks
    calls: list[Call] = field(default_factory=list)
    _updates: list[dict[str, Any]] = field(default_factory=list)
    _faults: dict[str, list[_Pending]] = field(default_factory=dict)
    _next_update: int = 1
    _next_message: int = 1000
    _runner: web.AppRunner | None = None
    _last_retry_after: int = 1
    _closing: bool = False
    commands: Any = None
    port: int = 0
    # (chat, message id) -> (text, reply_markup) of the messages sent and edited
    contents: dict[tuple[Any, Any], tuple[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._changed = asyncio.Condition()
        self._new_update = asyncio.Event()

    # ------------------------------------------------------------ life cycle

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        self._closing = True
        self._new_update.set()  # end a long poll in progress
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    # ------------------------------------------------------------ what the test controls

    def push_update(self, update: dict[str, Any]) -> int:
        update = {"update_id": self._next_update, **update}
        self._next_update += 1
        self._updates.append(update)
        self._new_update.set()
        return update["update_id"]

    def push_message(self, chat_id: int, user_id: int | None, text: str) -> int:
        message: dict[str, Any] = {"message_id": self._message_id(), "date": int(time.time()),
                                   "chat": {"id": chat_id, "type": "private"}, "text": text}
        if user_id is not None:
            message["from"] = {"id": user_id, "is_bot": False, "first_name": "U"}
        if text.startswith("/"):
            word = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(word)}]
        return self.push_update({"message": message})

    def push_button(self, chat_id: int, user_id: int, data: str, message_id: int,
                    text: str = "prompt") -> int:
        return self.push_update({"callback_query": {
            "id": f"cq{self._next_update}", "from": {"id": user_id, "is_bot": False,
                                                      "first_name": "U"},
            "chat_instance": "ci", "data": data,
            "message": {"message_id": message_id, "date": int(time.time()), "text": text,
                        "chat": {"id": chat_id, "type": "private"}, "from": BOT_USER}}})

    def fail_next(self, method: str, fault: Fault, count: int = 1, retry_after: int = 1) -> None:
        self._faults.setdefault(method, []).append(_Pending(fault, count, retry_after))

    def calls_of(self, method: str, pred: Callable[[Call], bool] = lambda c: True
                 ) -> list[Call]:
        return [c for c in self.calls if c.method == method and pred(c)]

    def sent(self, chat_id: int | None = None) -> list[Call]:
        """Successful sendMessage calls (to ``chat_id``)."""
        return self.calls_of("sendMessage", lambda c: c.fault is None and (
            chat_id is None or c.params.get("chat_id") == chat_id))

    async def wait_for(self, method: str, pred: Callable[[Call], bool] = lambda c: True, *,
                       count: int = 1, timeout: float = 5.0) -> list[Call]:
        """The first ``count`` recorded calls of ``method`` matching ``pred``; raises
        TimeoutError naming what was missing."""
        def found() -> list[Call]:
            return self.calls_of(method, pred)

        try:
            async with self._changed:
                await asyncio.wait_for(self._changed.wait_for(lambda: len(found()) >= count),
                                       timeout)
        except TimeoutError:
            seen = [(c.method, c.params.get("text", "")) for c in self.calls[-8:]]
            raise TimeoutError(f"{method}: {len(found())} of {count} matching call(s) after "
                               f"{timeout} s; last calls: {seen}") from None
        return found()[:count]

    # ------------------------------------------------------------ the server

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        params = await _params(request)
        call = Call(method, params, asyncio.get_running_loop().time())
        fault = self._take_fault(method)
        call.fault = fault
        await self._record(call)
        if fault is Fault.DROP:
            assert request.transport is not None
            request.transport.abort()
            return web.Response()
        if fault is Fault.RETRY_AFTER:
            seconds = self._last_retry_after
            return _error(429, f"Too Many Requests: retry after {seconds}",
                          {"retry_after": seconds})
        if fault is Fault.BAD_HTML:
            return _error(400, "Bad Request: can't parse entities: unsupported start tag")
        if fault is Fault.CONFLICT:
            return _error(409, "Conflict: terminated by other getUpdates request; make sure "
                          "that only one bot instance is running")
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return _error(404, f"Not Found: method {method} is not in the fake")
        result = await handler(params)
        if isinstance(result, web.Response):  # the method refused
            return result
        call.result = result
        return web.json_response({"ok": True, "result": result})

    async def _record(self, call: Call) -> None:
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    def _take_fault(self, method: str) -> Fault | None:
        queue = self._faults.get(method)
        if not queue:
            return None
        pending = queue[0]
        pending.count -= 1
        if pending.count <= 0:
            queue.pop(0)
        self._last_retry_after = pending.retry_after
        return pending.fault

    def _message_id(self) -> int:
        self._next_message += 1
        return self._next_message

    def _message(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"message_id": params.get("message_id") or self._message_id(),
                "date": int(time.time()), "from": BOT_USER,
                "chat": {"id": params["chat_id"], "type": "private"},
                "text": str(params.get("text", ""))}

    # ------------------------------------------------------------ methods

    async def _m_getMe(self, params: dict[str, Any]) -> Any:
        return BOT_USER

    async def _m_getUpdates(self, params: dict[str, Any]) -> Any:
        offset = int(params.get("offset") or 0)
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        wait = min(float(params.get("timeout") or 0), self.max_poll)
        if not self._updates and wait > 0 and not self._closing:
            self._new_update.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_update.wait(), wait)
        limit = int(params.get("limit") or 100)
        return self._updates[:limit]

    async def _m_deleteWebhook(self, params: dict[str, Any]) -> Any:
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _m_sendMessage(self, params: dict[str, Any]) -> Any:
        message = self._message(params)
        self.contents[params["chat_id"], message["message_id"]] = (
            message["text"], params.get("reply_markup"))
        return message

    async def _m_sendPhoto(self, params: dict[str, Any]) -> Any:
        message = self._message(params)
        message.pop("text")
        message["caption"] = str(params.get("caption", ""))
        message["photo"] = [{"file_id": f"photo{message['message_id']}", "file_unique_id": "u",
                             "width": 1, "height": 1}]
        return message

    async def _m_editMessageText(self, params: dict[str, Any]) -> Any:
        key = (params["chat_id"], params.get("message_id"))
        content = (str(params.get("text", "")), params.get("reply_markup"))
        if self.contents.get(key) == content:
            return _error(400, "Bad Request: message is not modified: specified new message "
                          "content and reply markup of the message are exactly the same as a "
                          "current content and reply markup of the message")
        self.contents[key] = content
        return self._message(params)

    async def _m_editMessageReplyMarkup(self, params: dict[str, Any]) -> Any:
        return self._message(params)

    async def _m_answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        return True

    async def _m_setMyCommands(self, params: dict[str, Any]) -> Any:
        self.commands = params.get("commands", [])
        return True

    async def _m_getMyCommands(self, params: dict[str, Any]) -> Any:
        return self.commands or []

    async def _m_deleteMyCommands(self, params: dict[str, Any]) -> Any:
        self.commands = []
        return True


async def _params(request: web.Request) -> dict[str, Any]:
    """PTB posts form fields with non-string values JSON-encoded; JSON bodies also work."""
    if request.content_type == "application/json":
        return dict(await request.json())
    form = await request.post()
    out: dict[str, Any] = {}
    for key, value in form.items():
        if hasattr(value, "file"):  # an uploaded file (sendPhoto): keep its bytes
            out[key] = value.file.read()
            continue
        text = value if isinstance(value, str) else str(value)
        if key in JSON_PARAMS:
            try:
                out[key] = json.loads(text)
                continue
            except ValueError:
                pass
        out[key] = text
    out.update({k: v for k, v in request.query.items() if k not in out})
    return out


def _error(status: int, description: str, parameters: dict[str, Any] | None = None
           ) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)
