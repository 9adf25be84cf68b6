"""Read-only views of the engine for queries (/status, /positions, /pnl, ...).

Run on the engine thread; they return plain data (strings for Decimals) that any thread
may format. The ``Reply`` text is a compact plain-text rendering. The STATUS query also
carries ``view``: the typed, frozen ``agent.status_view.StatusView`` that /status renders.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from agent.events import Query, QueryKind
from agent.margins import entry_margin, segment_of
from agent.models import Instrument, Side
from agent.money import money
from agent.serialize import order_to_dict, trade_to_dict
from agent.status_view import status_view

if TYPE_CHECKING:
    from agent.commands import Reply
    from agent.engine import Engine


def _s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def contract_fields(ins: Instrument | None) -> dict[str, Any]:
    """What the chat needs to write a quantity in lots and a derivative's expiry."""
    if ins is None:
        return {}
    return {"exchange": ins.exchange, "lot_size": ins.lot_size,
            "expiry": ins.expiry.isoformat() if ins.expiry else None}


def _with_contract(engine: Engine, row: dict[str, Any], token: int) -> dict[str, Any]:
    rt = engine.runtimes.get(token)
    return {**contract_fields(rt.instrument if rt else None), **row}


def instrument_rows(engine: Engine) -> list[dict[str, Any]]:
    rows = []
    for rt in engine.runtimes.values():
        book = engine.pnl.books[rt.token]
        pos = rt.strategy.position(rt.state)
        p = rt.params
        rows.append({
            "symbol": rt.symbol,
            "token": rt.token,
            "settings": {"interval": p.interval, "percentage": str(p.percentage),
                         "lots": p.lots, "trade_side": p.trade_side.value,
                         "trailing": p.trailing, "reverse_on_stop": p.reverse_on_stop,
                         "target_multiple": str(p.target_multiple),
                         "max_trades_per_day": p.max_trades_per_day,
                         "profit_target": str(p.profit_target),
                         "loss_limit": str(p.loss_limit)},
            "quantity": book.quantity,
            "side": None if pos is None else pos.side.value,
            "entry": _s(pos.entry_price) if pos else _s(book.average if book.quantity else None),
            "stop": _s(pos.stop) if pos else None,
            "target": _s(pos.target) if pos else None,
            "last_price": _s(rt.last_price),
            "unrealized": str(book.unrealized),
            "realized": str(book.realized),
            "trades_today": rt.trades_today,
            "halted": rt.halted or rt.error,
            "product": engine.exec.product, **contract_fields(rt.instrument),
        })
    return rows


def pnl_view(engine: Engine) -> dict[str, Any]:
    """/pnl: gross P&L, charges and net per instrument, group and in total. ``charges``
    holds today's closed trades' charges and the open position's estimated round trip
    (``open_charges`` of it). The distances to the limits are from the P&L the limits
    compare (``limits_on``: gross, or net)."""
    risk, pnl = engine.risk, engine.pnl
    net = pnl.net
    groups = {}
    for name, limits in risk.group_limits.items():
        gross, after = pnl.fresh_group(name), pnl.fresh_group(name, net=True)
        groups[name] = {"pnl": str(gross), "charges": str(gross - after), "net": str(after),
                        **_distance(after if net else gross, limits)}
    per = {}
    for rt in engine.runtimes.values():
        book = pnl.books[rt.token]
        limits = engine.instrument_limits(rt.token)
        per[rt.symbol] = {"realized": str(book.realized), "unrealized": str(book.unrealized),
                          "pnl": str(book.pnl), "charges": str(book.charges),
                          "open_charges": str(book.open_fees), "net": str(book.net),
                          **_distance(pnl.limit_pnl(book), limits)}
    total, total_net = pnl.fresh_total(), pnl.fresh_total(net=True)
    return {"instruments": per, "groups": groups, "limits_on": "net" if net else "gross",
            "total": {"pnl": str(total), "charges": str(total - total_net),
                      "net": str(total_net), **_distance(total_net if net else total,
                                                         risk.daily)}}


def funds_view(engine: Engine) -> dict[str, Any]:
    """/funds: the latest funds (the paper account, or the broker's last read; None before
    one), the value of the open MIS positions at their last price, and the most margin
    one instrument's next entry needs."""
    watch = engine.margins
    funds = None if watch is None else watch.latest(engine.now())
    product = engine.exec.product
    exposure, open_mis, next_entry = Decimal(0), 0, None
    for rt in engine.runtimes.values():
        book = engine.pnl.books[rt.token]
        mark = rt.last_price if rt.last_price is not None else book.average
        if book.quantity and product == "MIS" and mark is not None:
            exposure += abs(book.quantity) * mark
            open_mis += 1
        need = entry_margin(rt.instrument, product, Side.BUY, rt.quantity, rt.last_price)
        if need is not None and (next_entry is None or need > next_entry[0]):
            next_entry = (need, rt.symbol, segment_of(rt.instrument))
    return {"funds": funds, "product": product, "mis_exposure": str(exposure),
            "mis_open": open_mis,
            "next_entry": None if next_entry is None else {
                "symbol": next_entry[1], "needed": str(next_entry[0]),
                "segment": next_entry[2]}}


def _distance(pnl: Decimal, limits: Any) -> dict[str, str | None]:
    """How far pnl is from each limit (None where there is no limit)."""
    return {
        "to_profit_target": None if not limits.profit_target
        else str(limits.profit_target - pnl),
        "to_loss_limit": None if not limits.loss_limit else str(pnl + limits.loss_limit),
    }


def query(engine: Engine, cmd: Query) -> Reply:
    from agent.commands import Reply

    kind = cmd.kind
    if kind is QueryKind.STATUS:
        state = "running" if engine.running and not engine.paused else (
            "paused" if engine.running else "stopped")
        data = {"state": state, "mode": engine.settings.mode.value, "day": str(engine.day),
                "instruments": instrument_rows(engine), "view": status_view(engine)}
        return Reply(True, f"{state}, {engine.settings.mode.value}, "
                     f"{len(engine.runtimes)} instruments", data)
    if kind is QueryKind.POSITIONS:
        rows = [r for r in instrument_rows(engine) if r["quantity"] or r["side"]]
        return Reply(True, f"{len(rows)} open position(s)", rows)
    if kind is QueryKind.ORDERS:
        orders = [_with_contract(engine, order_to_dict(o), o.instrument_token)
                  for o in engine.book.orders.values()]
        if cmd.limit:
            orders = orders[-cmd.limit:]
        return Reply(True, f"{len(orders)} order(s)", orders)
    if kind is QueryKind.TRADES:
        trades = [_with_contract(engine, trade_to_dict(t), t.instrument_token)
                  for t in engine.trades]
        if cmd.limit:
            trades = trades[-cmd.limit:]
        return Reply(True, f"{len(trades)} trade(s) today", trades)
    if kind is QueryKind.PNL:
        view = pnl_view(engine)
        return Reply(True, f"day P&L {money(view['total']['pnl'])}, net "
                     f"{money(view['total']['net'])}", view)
    if kind is QueryKind.INSTRUMENTS:
        rows = [{**contract_fields(rt.instrument), "symbol": rt.symbol, "token": rt.token,
                 "tick_size": str(rt.instrument.tick_size)} for rt in engine.runtimes.values()]
        return Reply(True, f"{len(rows)} instrument(s)", rows)
    if kind is QueryKind.LIMITS:
        risk = engine.risk
        data = {"limits_on": "net" if engine.pnl.net else "gross",
                "daily": {"profit_target": str(risk.daily.profit_target),
                          "loss_limit": str(risk.daily.loss_limit)},
                "groups": {name: {"profit_target": str(lim.profit_target),
                                  "loss_limit": str(lim.loss_limit),
                                  "instruments": [engine.runtimes[t].symbol
                                                  for t in risk.groups.get(name, ())
                                                  if t in engine.runtimes]}
                           for name, lim in risk.group_limits.items()}}
        return Reply(True, "limits", data)
    if kind is QueryKind.FUNDS:
        return Reply(True, "funds", funds_view(engine))
    return Reply(False, f"unknown query {kind}")
