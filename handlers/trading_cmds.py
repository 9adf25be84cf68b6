"""Trading commands: start/stop/pause/resume, queries, settings, instruments, square-off.

Each is ``async (center, caller, args) -> Response``; bad arguments raise UsageError. The
engine's reply text says when a change takes effect. Loop thread only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from agent.config import parse_limit, parse_param
from agent.events import (
    AddInstrument,
    PauseEntries,
    Query,
    QueryKind,
    RemoveInstrument,
    ResumeEntries,
    SetLimit,
    SetParam,
    SetTradeSide,
    SquareOff,
    StartTrading,
    StopTrading,
    Unhalt,
)
from agent.instruments import InstrumentsError, NotListed
from agent.money import is_derivative
from agent.session import LoginState
from agent.status_view import StatusView
from agent.strategy.params import PARAM_NAME
from handlers import book_tables, refresh, status_format, status_table
from handlers import formatting as fmt
from handlers.args import (
    LIMIT_KEYS,
    SETTABLE,
    UsageError,
    arity,
    count,
    shorten,
    symbol,
    trade_side,
)
from handlers.confirm import Choice
from handlers.phone import WIDTH, wrap
from handlers.readiness import Readiness, entries_line, pending_lines
from handlers.services import ButtonOutcome, Caller, FeedInfo, Response
from handlers.status_table import short_symbol
from handlers.text import b, esc, money, quantity, reply_html

if TYPE_CHECKING:
    from handlers.commands import CommandCenter

log = logging.getLogger(__name__)

Handler = Callable[["CommandCenter", Caller, list[str]], Awaitable[Response]]


async def _simple(center: CommandCenter, command: Any, keyboard: bool = False) -> Response:
    return Response(reply_html(await center.engine(command)), keyboard=keyboard)


async def _query(center: CommandCenter, kind: QueryKind, limit: int = 0) -> Any:
    reply = await center.engine(Query(kind, limit))
    if not reply.ok:
        raise UsageError(reply.text)
    return reply.data


def _readiness(center: CommandCenter) -> Readiness | None:
    source = center.services.readiness
    if source is None:
        return None
    try:
        return source()
    except Exception:
        log.exception("readiness() failed")
        return None


async def _with_entries(center: CommandCenter, command: Any, keyboard: bool = False
                        ) -> Response:
    """The engine's reply, then when entries can actually happen (calendar, cutoff, login)."""
    reply = await center.engine(command)
    text = reply_html(reply)
    if reply.ok:
        note = entries_line(center.services.settings.schedule, center.services.clock.now(),
                            _readiness(center), reply.data)
        text += f"\n{esc(note)}" if note else ""
    return Response(text, keyboard=keyboard)


async def start(center: CommandCenter, caller: Caller, args: list[str]) -> Response:
    arity(args, 0, 0)
    return await _with_entries(center, StartTrading(), keyboard=True)


async def stop(center: CommandCenter, caller: Caller, args: list[str]) -> Response:
    arity(args, 0, 0)
    open_rows = await _query(center, QueryKind.POSITIONS)
    if not open_rows:
        return await _simple(center, StopTrading(square_off=False))
    buttons = center.confirmations.offer(caller.chat_id, "stop trading", (
        Choice("Square off and stop", StopTrading(square_off=True)),
        Choice("Stop, keep managing", StopTrading(square_off=False)),
        Choice("Cancel", None)))
    return Response(f"{b('Stop trading?')} {_open(len(open_rows))}:\n\n"
                    f"{fmt.positions(open_rows)}", buttons)


async def pause(center: CommandCenter, caller: Caller, args: list[str]) -> Response:
    arity(args, 0, 0)
    return await _simple(center, PauseEntries())


async def resume(center: CommandCenter, caller: Caller, args: list[str]) -> Response:
    arity(args, 0, 1)
    return await _with_entries(center, ResumeEntries(symbol(args[0]) if args else None))


def _feed(center: CommandCenter) -> FeedInfo | None:
    source = center.services.feed_status
    if source is None:
        return None
    try:
        return source()
    except Exception:
        log.exception("feed_status() failed")
        return None


def _login(center: CommandCenter) -> LoginState | None:
    source = center.services.login_state
    if source is None:
        return None
    try:
        return source()
    except Exception:
        log.exception("login_state() failed")
        return None


async def status(center: CommandCenter, caller: Caller, args: list[str]) -> Response:
    """/status, /status table (with a Refresh button), /status SYMBOL; the configured
    symbols not traded yet (waiting for a login) close the first two."""
    arity(args, 0, 1)
    view: StatusView = (await _query(center, QueryKind.STATUS))["view"]
    feed, login = _feed(center), _login(center)
    if not args:
        return Response(_and_pending(center, status_format.status(view, feed, login)))
    if args[0].lower() == "table":
        return Response(_and_pending(center, status_table.table(view, feed, login)),
                        (refresh.button("status:table"),))
    row = view.find(args[0].strip())
    if row is None:
        raise UsageError(f"{shorten(args[0])!r}: expected 'table' or one of the traded "
                         "instruments (/instruments lists them)")
    return Response(status_format.detail(view, row, feed, login))


def _and_pending(center: CommandCenter, text: str) -> str:
    """A reply with the configured symbols that are not traded yet, and why, at its end."""
    ready = _readiness(center)
    lines = pending_lines(ready.pending) if ready is not None else []
    return "\n".join([text, *lines])


async def positions(center: CommandCenter, caller: Caller, args: list[str]) -> Response:
    arity(args, 0, 0)
    return Response(fmt.positions(await _query(center, QueryKind.POSITIONS)))


async def orders(center: CommandCenter, caller: Caller, args: list[str]) -> Response:
    n = count(args, 10, 500)
    return Response(book_tables.orders(await _query(center, QueryKind.ORDERS, n)))


async def trades(center: CommandCenter, caller: Caller, args: list[str]) -> Response:
    n = count(args, 20, 500)
    return Response(book_tables.trades(await _query(center, QueryKind.TRADES, n)))


async def pnl(center: CommandCenter, caller: Caller, args: list[str]) -> Response:
    """Gross, charges and net; live, the charges are first read fresh from Kite's contract
    note (in a worker thread; past ``engine_timeout`` the table's figures are shown)."""
    arity(args, 0, 0)
    refresh = center.services.charges
    if refresh is not None:
        try:
            await asyncio.wait_for(asyncio.to_thread(refresh), center.engine_timeout)
        except Exception as exc:  # the table's charges stand; the log says why
            log.warning("/pnl: the charges could not be refreshed: %s: %s",
                        type(exc).__name__, exc)
    return Response(fmt.pnl(await _query(center, QueryKind.PNL)))


async def instruments(center: CommandCenter, caller: Caller, args: list[str]) -> Response:
    arity(args, 0, 0)
    return Response(_and_pending(center, fmt.instruments(
        await _query(center, QueryKind.INSTRUMENTS))))


async def side(center: CommandCenter, caller: Caller, args: list[str]) -> Response:
    arity(args, 1, 2)
    chosen = trade_side(args[0])
    target = symbol(args[1]) if len(args) > 1 else None
    return await _simple(center, SetTradeSide(chosen, target))


async def set_param(center: CommandCenter, caller: Caller, args: list[str]) -> Response:
    arity(args, 2, 3)
    key = args[0].lower()
    target = symbol(args[2]) if len(args) > 2 else None
    if key not in SETTABLE:
        if key == "trade_side" or not PARAM_NAME.fullmatch(key):
            hint = " (use /side for trade_side)" if key == "trade_side" else ""
            raise UsageError(f"{shorten(args[0])!r}: not a settable key{hint}; keys: "
                             f"{', '.join(SETTABLE)} and the strategy's own")
        # a strategy's own parameter: the engine knows the strategies and checks the text
        return await _simple(center, SetParam(key, args[1], target))
    try:
        value = parse_param(key, args[1])
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return await _simple(center, SetParam(key, value, target))


async def limits(center: CommandCenter, caller: Caller, args: list[str]) -> Response:
    if not args:
        data = await _query(center, QueryKind.LIMITS)
        rows = (await _query(center, QueryKind.STATUS))["instruments"]
        return Response(fmt.limits(data, rows))
    arity(args, 3, 3)
    scope, key = args[0], args[1].lower()
    if scope.lower() == "daily":
        scope = "daily"
    if key not in LIMIT_KEYS:
        raise UsageError(f"{shorten(args[1])!r}: expected profit_target or loss_limit")
    try:
        value = parse_limit(key, args[2])
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return await _simple(center, SetLimit(scope, key, value))


async def add(center: CommandCenter, caller: Caller, args: list[str]) -> Response:
    arity(args, 1, 1)
    name = symbol(args[0])
    index = center.services.instruments
    if index is None:
        return Response("❌ /add is not available:\nno instruments dump is loaded.")
    try:
        instrument = index.resolve(name)
    except InstrumentsError as exc:
        ready = _readiness(center)
        why = ready.not_listed(name) if ready is not None and isinstance(exc, NotListed) \
            else None
        if why is None:
            raise UsageError(str(exc)) from None
        return Response(f"❌ {esc(why)}")
    reply = await center.engine(AddInstrument(instrument))
    if reply.ok and center.services.on_added is not None:
        center.services.on_added(instrument)
    return Response(reply_html(reply))


async def remove(center: CommandCenter, caller: Caller, args: list[str]) -> Response:
    arity(args, 1, 1)
    name = symbol(args[0])
    reply = await center.engine(RemoveInstrument(name))
    if reply.ok and center.services.on_removed is not None:
        center.services.on_removed(reply.data)  # the instrument: e.g. unsubscribe the feed
    return Response(reply_html(reply))


async def squareoff(center: CommandCenter, caller: Caller, args: list[str]) -> Response:
    arity(args, 0, 1)
    if not args:
        return await _squareoff_menu(center, caller)
    return await _squareoff_prompt(center, caller,
                                   None if args[0].lower() == "all" else symbol(args[0]))


async def _squareoff_prompt(center: CommandCenter, caller: Caller, target: str | None
                            ) -> Response:
    """The confirmation of squaring off ``target`` (None: every position)."""
    open_rows = await _query(center, QueryKind.POSITIONS)
    if target is not None:
        open_rows = [r for r in open_rows if r["symbol"].upper() == target]
    if not open_rows:
        where = f" in {esc(target)}" if target else "s"
        return Response(f"Nothing to square off:\nno open position{where}.")
    what = "square off " + (target or "every position")
    buttons = center.confirmations.offer(caller.chat_id, what, (
        Choice("Square off" if target else "Square off all", SquareOff(target)),
        Choice("Cancel", None)))
    return Response(f"{b(what[0].upper() + what[1:] + '?')}\n\n{fmt.positions(open_rows)}",
                    buttons)


async def _squareoff_menu(center: CommandCenter, caller: Caller) -> Response:
    """/squareoff alone: a button per open position (the order that closes it), All and
    Cancel. A position's button (and All) asks once more, like /squareoff SYMBOL."""
    open_rows = await _query(center, QueryKind.POSITIONS)
    if not open_rows:
        return Response("no open positions")

    def ask(target: str | None) -> Callable[[Caller], Awaitable[ButtonOutcome]]:
        async def then(who: Caller) -> ButtonOutcome:
            prompt = await _squareoff_prompt(center, who, target)
            return ButtonOutcome("Confirm below" if prompt.buttons else "Nothing open",
                                 prompt.text, prompt.buttons)
        return then

    choices = [Choice(_exit_label(row), None, then=ask(row["symbol"].upper()))
               for row in open_rows]
    choices += [Choice("All", None, then=ask(None)), Choice("Cancel", None)]
    buttons = center.confirmations.offer(caller.chat_id, "choose a position to square off",
                                         tuple(choices))
    return Response(f"{b('Square off which?')} {_open(len(open_rows))}\nYou confirm next.",
                    buttons)


def _open(n: int) -> str:
    return f"{n} position{'' if n == 1 else 's'} open"


def _exit_label(row: Mapping[str, Any]) -> str:
    """'SELL 150 INFY +₹320.00' ('SELL 2 lots NIFTY24DECFUT ...' for F&O): the order that
    closes the position, and its P&L, within 40 columns (a long symbol keeps its head and
    tail: the prompt it leads to names it whole)."""
    qty = row["quantity"]
    long = qty > 0 or (not qty and row.get("side") == "BUY")
    lot = max(int(row.get("lot_size") or 1), 1)
    size = quantity(qty, row).split(" (")[0] if is_derivative(row) and not qty % lot \
        else quantity(qty, row)
    head = f"{'SELL' if long else 'BUY'} {size}"
    pnl = money(row.get("unrealized"))
    name = row["symbol"].split(":", 1)[-1]
    return f"{head} {short_symbol(name, max(6, WIDTH - len(head) - len(pnl) - 2))} {pnl}"


async def unhalt(center: CommandCenter, caller: Caller, args: list[str]) -> Response:
    arity(args, 1, 1)
    if args[0].lower() != "all":
        return await _simple(center, Unhalt(symbol(args[0])))
    rows = [r for r in (await _query(center, QueryKind.STATUS))["instruments"]
            if r.get("halted")]
    if not rows:
        return Response("Nothing is halted.")
    lines, done = [], 0
    for row in rows:
        name = row["symbol"]
        reply = await center.engine(Unhalt(name))
        done += reply.ok
        said = reply.text.removeprefix(f"{name}: ")
        lines += ["", *wrap(f"{b(name)} halted: {esc(row['halted'])}", indent="  "),
                  *wrap(f"{'✅' if reply.ok else '❌'} {esc(said)}", indent="  ")]
    return Response("\n".join([b(f"Unhalted {done} of {len(rows)}"), *lines]))


HANDLERS: dict[str, Handler] = {
    "start": start, "stop": stop, "pause": pause, "resume": resume, "status": status,
    "positions": positions, "orders": orders, "trades": trades, "pnl": pnl,
    "instruments": instruments, "side": side, "set": set_param, "limits": limits, "add": add,
    "remove": remove, "squareoff": squareoff, "unhalt": unhalt,
}
