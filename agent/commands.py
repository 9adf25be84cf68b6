"""The engine's answers to commands (from Telegram, the console or scheduled jobs).

``handle_command(engine, command) -> Reply`` runs on the engine thread. Replies carry
plain data (``data``) for formatters and a short plain-text ``text``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from agent.config import check_param
from agent.contract_note import ApplyNote, NoteOrders, apply_note, note_orders
from agent.engine import Engine
from agent.events import (
    AddInstrument,
    AlertKind,
    Command,
    Job,
    Notification,
    PauseEntries,
    Query,
    RemoveInstrument,
    ResumeEntries,
    RunJob,
    SetLimit,
    SetParam,
    SetTradeSide,
    SquareOff,
    StartTrading,
    StopTrading,
    Unhalt,
)
from agent.models import ExitReason
from agent.money import money
from agent.recovery import CandleGaps, RebuildCandles, day_gaps, rebuild_all
from agent.risk import Scope
from agent.strategy import choice as strategies
from agent.strategy.params import ENGINE_PARAMS
from agent.views import query

log = logging.getLogger(__name__)

# Keys whose change applies from the next trading day (a candle grid cannot change mid-day).
NEXT_DAY_KEYS = frozenset({"interval"})


@dataclass(frozen=True, slots=True)
class Reply:
    ok: bool
    text: str
    data: Any = field(default=None)


def handle_command(engine: Engine, cmd: Command) -> Reply:
    handler = _HANDLERS.get(type(cmd))
    if handler is None:
        return Reply(False, f"unknown command {type(cmd).__name__}")
    reply = handler(engine, cmd)
    if reply.ok and not isinstance(cmd, Query):
        engine.dirty = True
        log.info("command %s: %s", type(cmd).__name__, reply.text)
    return reply


def _start(engine: Engine, cmd: StartTrading) -> Reply:
    engine.running, engine.paused = True, False
    return Reply(True, "trading started", {"running": True})


def _stop(engine: Engine, cmd: StopTrading) -> Reply:
    engine.running = False
    if cmd.square_off:
        n = engine.square_off_all(ExitReason.MANUAL, engine.now())
        return Reply(True, f"stopped; squaring off {n} open position(s)")
    return Reply(True, "stopped: no new entries; open positions still managed")


def _pause(engine: Engine, cmd: PauseEntries) -> Reply:
    engine.paused = True
    return Reply(True, "paused: no new entries; open positions still managed")


def _resume(engine: Engine, cmd: ResumeEntries) -> Reply:
    """``/resume``: entries again (the pause, and every instrument held after a manual
    close); ``/resume SYMBOL``: that instrument's hold only (docs/strategy.md 9.7)."""
    if cmd.symbol is not None:
        rt = engine.by_symbol.get(cmd.symbol.upper())
        if rt is None:
            return Reply(False, f"{cmd.symbol}: not one of the agent's instruments")
        if not rt.orders.hold:
            return Reply(False, f"{rt.symbol}: entries are not held")
        rt.orders.hold = ""
        return Reply(True, f"{rt.symbol}: no longer held", {"running": engine.running,
                                                              "paused": engine.paused})
    engine.paused = False
    held = [rt for rt in engine.runtimes.values() if rt.orders.hold]
    for rt in held:
        rt.orders.hold = ""
    also = f" (also {len(held)} instrument(s) closed by hand)" if held else ""
    return Reply(True, f"resumed{also}" if engine.running
                 else "resumed, but the agent is stopped: /start to trade",
                 {"running": engine.running})


def _square_off(engine: Engine, cmd: SquareOff) -> Reply:
    now = engine.now()
    if cmd.symbol is None:
        n = engine.square_off_all(ExitReason.MANUAL, now)
        return Reply(True, f"squaring off {n} open position(s)")
    rt = engine.by_symbol.get(cmd.symbol.upper())
    if rt is None:
        return Reply(False, f"{cmd.symbol}: not one of the agent's instruments")
    if not engine._has_position(rt):
        return Reply(False, f"{rt.symbol}: no open position")
    rt.orders.hold = "closed by /squareoff"
    engine.exec.close(rt, ExitReason.MANUAL, now)
    return Reply(True, f"{rt.symbol}: squaring off; no new entries until /resume "
                 f"{rt.symbol} or the next day")


def _unhalt(engine: Engine, cmd: Unhalt) -> Reply:
    """docs/strategy.md 9.7: refused while a limit covering the instrument is reached;
    otherwise clears the halt and re-arms those limits (instrument, groups, daily)."""
    rt = engine.by_symbol.get(cmd.symbol.upper())
    if rt is None:
        return Reply(False, f"{cmd.symbol}: not one of the agent's instruments")
    if not rt.halted and not rt.error:
        return Reply(False, f"{rt.symbol}: not halted")
    scopes = engine.risk.scopes_of(rt.token)
    for scope, name in scopes:
        which, pnl = engine.risk.reached(scope, name)
        if which:
            return Reply(False, f"{rt.symbol}: {_scope_text(scope, name)} {which} is still "
                         f"reached (P&L {money(pnl)}); raise it with "
                         f"{_raise_hint(scope, name, which)} first")
    rt.halted, rt.error = "", ""
    engine.risk.rearm(scopes)
    return Reply(True, f"{rt.symbol}: unhalted, entries allowed again")


def _scope_text(scope: Scope, name: str) -> str:
    return {Scope.INSTRUMENT: "its", Scope.GROUP: f"group {name}'s"}.get(scope, "the daily")


def _raise_hint(scope: Scope, name: str, which: str) -> str:
    if scope is Scope.INSTRUMENT:
        return f"/set {which} VALUE {name}"
    return f"/limits {name} {which} VALUE"


def _limits_changed(engine: Engine) -> None:
    """Re-read the limits; tripped scopes no longer at their limit are armed again."""
    engine.load_limits()
    engine.risk.rearm_unreached()


def _targets(engine: Engine, symbol: str | None) -> list[Any] | Reply:
    if symbol is None:
        return list(engine.runtimes.values())
    rt = engine.by_symbol.get(symbol.upper())
    if rt is None:
        return Reply(False, f"{symbol}: not one of the agent's instruments")
    return [rt]


def _set_param(engine: Engine, cmd: SetParam) -> Reply:
    """The value is checked again by the config's rules (``check_param``): whatever sent
    it, a value out of range is never applied, and so never stored."""
    targets = _targets(engine, cmd.symbol)
    if isinstance(targets, Reply):
        return targets
    declared = strategies.keys_for(rt.params.strategy for rt in targets)
    if cmd.key not in ENGINE_PARAMS and cmd.key not in declared:
        names = sorted({rt.strategy.name for rt in targets})
        return Reply(False, f"{cmd.key}: not a setting of {' or '.join(names)} (settable: "
                            f"{', '.join(sorted(ENGINE_PARAMS | set(declared)))})")
    try:
        value = check_param(cmd.key, cmd.value, declared)
    except ValueError as exc:
        return Reply(False, str(exc))
    if cmd.symbol is None:
        engine.overrides["defaults"][cmd.key] = value
    else:
        engine.overrides["instruments"].setdefault(targets[0].symbol.upper(), {})[cmd.key] = (
            value)
    for rt in targets:
        _refresh_params(engine, rt, cmd.key)
    if cmd.key in ("profit_target", "loss_limit"):
        _limits_changed(engine)
    where = cmd.symbol.upper() if cmd.symbol else "all instruments"
    when = "from the next trading day" if cmd.key in NEXT_DAY_KEYS else "now"
    return Reply(True, f"{cmd.key} = {value} for {where}, effective {when}")


def _refresh_params(engine: Engine, rt: Any, key: str) -> None:
    """The instrument's params after a /set of ``key`` (engine thread). Keys that wait for
    the next trading day keep today's values, whichever key was set: a /set percentage
    after a /set interval must not switch today's candles' interval."""
    new = engine.params_for(rt.symbol)
    new = new.with_overrides({k: getattr(rt.params, k) for k in NEXT_DAY_KEYS})
    rt.params = new
    intents = rt.strategy.set_params(rt.state, new)
    if intents:
        engine.exec.apply(rt, intents, engine.now())


def _set_side(engine: Engine, cmd: SetTradeSide) -> Reply:
    reply = _set_param(engine, SetParam("trade_side", cmd.side, cmd.symbol))
    if reply.ok:
        reply = Reply(True, reply.text + "; alerts of sides no longer allowed are cleared")
    return reply


def _set_limit(engine: Engine, cmd: SetLimit) -> Reply:
    if cmd.key not in ("profit_target", "loss_limit"):
        return Reply(False, f"{cmd.key}: expected profit_target or loss_limit")
    try:  # a group or daily limit has the range of an instrument's (``agent.config.MONEY``)
        value = check_param(cmd.key, cmd.value)
    except ValueError as exc:
        return Reply(False, str(exc))
    if cmd.scope == "daily":
        engine.overrides["daily"][cmd.key] = value
    elif cmd.scope in engine.risk.group_limits:
        engine.overrides["groups"].setdefault(cmd.scope, {})[cmd.key] = value
    else:
        return Reply(False, f"{cmd.scope}: expected 'daily' or a group "
                     f"({', '.join(engine.risk.group_limits) or 'none configured'})")
    _limits_changed(engine)
    return Reply(True, f"{cmd.scope} {cmd.key} = {value}, effective now")


def _add(engine: Engine, cmd: AddInstrument) -> Reply:
    """``/add``, or a configured symbol resolved after a login (``configured``: not stored
    as the owner's addition, and skipped when the owner removed it)."""
    ins = cmd.instrument
    if ins.token in engine.runtimes:
        return Reply(False, f"{ins.symbol}: already traded")
    if cmd.configured and ins.symbol.upper() in engine.overrides.get("removed", ()):
        return Reply(False, f"{ins.symbol}: removed by /remove; /add {ins.symbol} to trade it")
    engine.add_instrument(ins)
    engine.load_limits()
    if cmd.configured:
        return Reply(True, f"{ins.symbol}: trading from its next tick")
    engine.overrides.setdefault("added", {})[ins.symbol.upper()] = ins
    engine.overrides.setdefault("removed", set()).discard(ins.symbol.upper())
    return Reply(True, f"{ins.symbol}: added, trading from its next tick")


def _remove(engine: Engine, cmd: RemoveInstrument) -> Reply:
    rt = engine.by_symbol.get(cmd.symbol.upper())
    if rt is None:
        return Reply(False, f"{cmd.symbol}: not one of the agent's instruments")
    if engine._has_position(rt) or rt.orders.busy:
        return Reply(False, f"{rt.symbol}: a position is open; /squareoff {rt.symbol} first")
    engine.remove_instrument(rt)
    engine.overrides.setdefault("added", {}).pop(rt.symbol.upper(), None)
    engine.overrides.setdefault("removed", set()).add(rt.symbol.upper())
    return Reply(True, f"{rt.symbol}: removed", rt.instrument)  # the feed drops its token


def _run_job(engine: Engine, cmd: RunJob) -> Reply:
    now = cmd.at or engine.now()
    if cmd.job is Job.SESSION_START:
        resumed = engine.session_day == now.date()  # a restart within the day
        engine.start_day(now.date())
        engine.session_day = now.date()
        engine.running = cmd.trading
        state = "trading" if cmd.trading else "stopped for today by the owner"
        if not resumed:
            engine.notify(Notification(AlertKind.SESSION_STARTED,
                                       f"session {now.date()} started: {state}", now))
        return Reply(True, f"session {'resumed' if resumed else 'started'}: {state}")
    if cmd.job is Job.ENTRY_CUTOFF:
        return Reply(True, "entry cutoff: no new entries today")
    if cmd.job is Job.SQUARE_OFF:
        n = engine.square_off_all(ExitReason.SQUARE_OFF, now)
        return Reply(True, f"square-off: closing {n} position(s)")
    if cmd.job is Job.SESSION_END:
        engine.running = False
        realized = sum((b.realized for b in engine.pnl.books.values()), Decimal(0))
        charges = sum((t.charges for t in engine.trades), Decimal(0))
        net = f", net {money(realized - charges)} after charges" if charges else ""
        n = len(engine.trades)
        engine.notify(Notification(AlertKind.SESSION_ENDED, f"session ended: {n} trade"
                                   f"{'' if n == 1 else 's'}, realized P&L {money(realized)}"
                                   f"{net}", now))
        return Reply(True, "session ended")
    return Reply(True, f"{cmd.job}: nothing for the engine to do")


_HANDLERS: dict[type, Any] = {
    StartTrading: _start,
    StopTrading: _stop,
    PauseEntries: _pause,
    ResumeEntries: _resume,
    SquareOff: _square_off,
    Unhalt: _unhalt,
    SetParam: _set_param,
    SetTradeSide: _set_side,
    SetLimit: _set_limit,
    AddInstrument: _add,
    RemoveInstrument: _remove,
    RunJob: _run_job,
    Query: lambda engine, cmd: query(engine, cmd),
    CandleGaps: lambda engine, cmd: Reply(True, "candle gaps", day_gaps(engine, cmd)),
    RebuildCandles: lambda engine, cmd: Reply(True, "candles rebuilt", rebuild_all(engine, cmd)),
    NoteOrders: note_orders,  # issue 15: Kite's contract note (agent/contract_note.py)
    ApplyNote: apply_note,
}
