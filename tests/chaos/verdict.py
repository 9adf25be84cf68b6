"""The crash test's verdict: the promises of issue 12 ("orders you can trust") measured on
the exchange's truth and the agent's own books (``tests.chaos.truth``). Pure functions.

The figures, exactly:

(a) ``duplicates``: Kite orders under our tags that are a second order for one decision:
    - same tag: a tag's Kite orders (one instrument, one side; slices and re-placements
      share a tag) filled more than the tag was meant to fill (the agent's quantity for
      the tag, else its first Kite order's); every further order that filled beyond it
      and was placed while an earlier order of the tag was still live counts;
    - stacking: an entry (tag E...) whose fill added to a position of the same
      instrument that was already open in the same direction (the instrument's net under
      our tags, without the entry's own earlier fills): the strategy holds at most one
      position per instrument and a reverse waits until the instrument is flat;
    - a second exit: a stop or exit (S..., X...) whose fill did not reduce the position
      (it found the instrument flat, or open on its own side, or held less than it
      filled): the position had already been closed by another order ("never two exits").
    A Kite order counts once, however many of these it is.
    ``tag_reused``: the same tag on Kite orders of different instruments or sides, or a
    tag's over-filling order placed after the earlier ones were final (a tag given twice).
(b) ``unbooked``: tags whose Kite orders filled more than the agent's final state books
    for the tag (``unbooked_quantity`` in all); a tag the agent does not know at all counts
    with everything it filled. ``phantom``: tags the agent books more fills for than the
    exchange made.
(c) ``unprotected_seconds``: per instrument, exchange-clock seconds during which its net
    position (fills under our tags, and the broker's square-off that closed them) was not
    zero while the working (``truth.WORKING``) stop (S...) and exit (X...) orders on the
    closing side did not cover it (their unfilled quantity below the position). Counted up
    to the close of the market; resolution one second (Kite's timestamps). Also
    ``longest_unprotected``, the longest such spell.
(d) ``left_open``: instruments whose net under our tags is not zero at the end (the
    exchange's position less the fills of untagged orders); ``broker_squared_off``: the
    broker's own MIS square-off orders that filled (they close what the agent left open).
(e) ``pnl_agent`` (the realized P&L of the agent's books) against ``pnl_exchange`` (the
    realized P&L of the fills under our tags, average-cost per instrument as the agent
    books it, which equals sells less buys once flat); equal when within half a paisa.
(f) ``stale_live``: the agent's orders that it still holds live at the end (not COMPLETE,
    CANCELLED or REJECTED) while the exchange has every Kite order of the tag final, or none.
Also ``position_mismatch``: instruments whose position in the agent's books differs from
the net under our tags at the exchange.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from tests.chaos.truth import ENTRY, EXIT, STOP, AgentBooks, Fill, KiteOrder, Truth

HALF_PAISA = Decimal("0.005")

# The budget of (c), per order that must reach the exchange before a position is covered
# again (a stop after its entry fills, a market exit after its stop is confirmed
# cancelled): Kite's timestamps are to the second (1 s); the exchange takes an order through
# three interim statuses of 15-400 ms each (1.2 s; agent/sim/lifecycle.py STEP_SECONDS),
# one step in 50 takes 1-5 s instead (3 x 2 % x 5 s = 0.3 s on average); and the agent's
# own way, in wall time, scaled by the exchange's speed: the fill's order message to the
# agent and one REST call on loopback (50 ms). Nothing else: a 429 on a stop is the
# agent's to avoid (stops before entries), and a stop for less than the position is a gap.
STAMP_SECONDS = 1.0
INTERIM_SECONDS = 1.2 + 0.3
REACTION_WALL_SECONDS = 0.05


def unprotected_bound(orders: int, speed: float, downtime: float) -> float:
    """The exchange seconds of (c) a run may show with every promise kept: ``orders``
    stops and exits that had to reach the exchange (``Verdict.entries + Verdict.exits``)
    at the budget above, plus ``downtime``, the exchange seconds the agent was dead (a kill
    between an entry's fill and its stop leaves that position bare until the agent is back,
    whatever the agent does)."""
    per_order = STAMP_SECONDS + INTERIM_SECONDS + REACTION_WALL_SECONDS * speed
    return orders * per_order + downtime


@dataclass(frozen=True, slots=True)
class Spell:
    """One unprotected spell of one instrument."""

    symbol: str
    start: datetime
    end: datetime
    quantity: int  # the largest uncovered quantity during it

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(slots=True)
class Verdict:
    duplicates: int = 0
    tag_reused: int = 0
    unbooked: int = 0
    unbooked_quantity: int = 0
    phantom: int = 0
    unprotected_seconds: float = 0.0
    longest_unprotected: float = 0.0
    left_open: int = 0
    broker_squared_off: int = 0
    pnl_agent: Decimal = Decimal(0)
    pnl_exchange: Decimal = Decimal(0)
    stale_live: int = 0
    position_mismatch: int = 0
    orders: int = 0  # Kite orders under our tags
    fills: int = 0  # trades of those orders
    entries: int = 0  # entry orders that filled
    exits: int = 0  # exit orders (X...) that filled
    agent_trades: int = 0
    state_found: bool = True
    spells: list[Spell] = field(default_factory=list)
    details: list[str] = field(default_factory=list)

    @property
    def pnl_difference(self) -> Decimal:
        return self.pnl_agent - self.pnl_exchange

    @property
    def pnl_equal(self) -> bool:
        return abs(self.pnl_difference) < HALF_PAISA

    def broken(self, unprotected_bound: float) -> list[str]:
        """The promises this run broke, one line each (empty: all kept)."""
        out = []
        if self.duplicates:
            out.append(f"(a) {self.duplicates} duplicate order(s)")
        if self.tag_reused:
            out.append(f"(a) {self.tag_reused} tag(s) given to two orders")
        if self.unbooked or self.phantom:
            out.append(f"(b) {self.unbooked} tag(s) with fills the agent never booked "
                       f"({self.unbooked_quantity} qty), {self.phantom} booked but not filled")
        if self.unprotected_seconds > unprotected_bound:
            out.append(f"(c) {self.unprotected_seconds:.0f} s unprotected (bound "
                       f"{unprotected_bound:.0f} s; longest {self.longest_unprotected:.0f} s)")
        if self.left_open:
            out.append(f"(d) {self.left_open} instrument(s) not flat under our tags after the "
                       "close")
        if not self.pnl_equal:
            out.append(f"(e) P&L: agent {self.pnl_agent} vs exchange {self.pnl_exchange}")
        if self.stale_live:
            out.append(f"(f) {self.stale_live} order(s) the agent holds live that the exchange "
                       "has final")
        return out

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["spells"] = [{"symbol": s.symbol, "start": s.start.isoformat(),
                           "end": s.end.isoformat(), "seconds": s.seconds,
                           "quantity": s.quantity} for s in self.spells]
        for key in ("pnl_agent", "pnl_exchange"):
            data[key] = str(data[key])
        data["pnl_difference"] = str(self.pnl_difference)
        data["pnl_equal"] = self.pnl_equal
        return data


def judge(truth: Truth, books: AgentBooks) -> Verdict:
    v = Verdict(state_found=books.found, agent_trades=books.trades)
    ours = [o for o in truth.orders if o.ours]
    by_id = truth.by_id()
    our_fills = [f for f in truth.fills if f.order_id in by_id and by_id[f.order_id].ours]
    v.orders, v.fills = len(ours), len(our_fills)
    v.entries = sum(1 for o in ours if o.kind == ENTRY and o.filled)
    v.exits = sum(1 for o in ours if o.kind == EXIT and o.filled)
    if not books.found:
        v.details.append("no agent books: no state.json, or one without the orders and "
                         "positions sections (tests/chaos/truth.py books_from_state)")
    flagged: set[str] = set()  # Kite order ids counted as duplicates (each counts once)
    _tags(v, ours, books, flagged)
    _stacking(v, truth, by_id, flagged)
    _booking(v, ours, books)
    _exposure(v, truth, by_id, books)
    _pnl(v, our_fills, books)
    _stale(v, ours, books)
    return v


# ------------------------------------------------------------------ (a) same tag


def _tags(v: Verdict, ours: list[KiteOrder], books: AgentBooks, flagged: set[str]) -> None:
    groups: dict[str, list[KiteOrder]] = defaultdict(list)
    for o in ours:
        groups[o.tag].append(o)
    for tag, orders in groups.items():
        if len(orders) < 2:
            continue
        orders.sort(key=lambda o: (o.placed_at or datetime.min, o.order_id))
        first = orders[0]
        known = books.orders.get(tag)
        intended = known.quantity if known is not None else first.quantity
        filled = 0
        for i, o in enumerate(orders):
            if (o.token, o.side) != (first.token, first.side):
                v.tag_reused += 1
                v.details.append(f"tag {tag} on two instruments or sides: {first.symbol} "
                                 f"{first.side} and {o.symbol} {o.side} ({o.order_id})")
                continue
            filled += o.filled
            if i == 0 or not o.filled or filled <= intended:
                continue
            live_before = [p for p in orders[:i] if (p.token, p.side) == (o.token, o.side)
                           and _live_at(p, o.placed_at)]
            if live_before:
                flagged.add(o.order_id)
                v.duplicates += 1
                v.details.append(f"duplicate: {tag} {o.symbol} {o.side} placed again as "
                                 f"{o.order_id} while {live_before[0].order_id} was live; "
                                 f"{filled} filled for {intended}")
            else:
                v.tag_reused += 1
                v.details.append(f"tag reused: {tag} {o.symbol} {o.side} placed again as "
                                 f"{o.order_id} after its earlier orders were final; "
                                 f"{filled} filled for {intended}")


def _live_at(order: KiteOrder, when: datetime | None) -> bool:
    final = order.final_at
    start = order.placed_at
    if when is None or start is None:
        return False
    return start <= when and (final is None or when < final)


# ------------------------------------------------------------------ (a) stacking


def _stacking(v: Verdict, truth: Truth, by_id: dict[str, KiteOrder],
              flagged: set[str]) -> None:
    """Entries onto an open position and exits beyond it, from the fills in order."""
    net: dict[int, int] = defaultdict(int)
    own: dict[str, int] = defaultdict(int)  # signed fills of each entry order so far
    for f in truth.fills:
        o = by_id.get(f.order_id)
        if o is None or not (o.ours or o.broker_square_off):
            continue
        before = net[f.token] - own[f.order_id]
        if (o.kind == ENTRY and before and (before > 0) == (f.signed > 0)
                and f.order_id not in flagged):
            flagged.add(f.order_id)
            v.duplicates += 1
            v.details.append(f"stacked entry: {o.tag} {o.symbol} {o.side} {o.quantity} "
                             f"({o.order_id}) filled at {f.at:%H:%M:%S} onto a position of "
                             f"{before:+d}")
        held = net[f.token]
        if (o.kind in (EXIT, STOP) and f.order_id not in flagged
                and (not held or (held > 0) == (f.signed > 0) or f.quantity > abs(held))):
            flagged.add(f.order_id)
            v.duplicates += 1
            v.details.append(f"second exit: {o.tag} {o.symbol} {o.side} {f.quantity} "
                             f"({o.order_id}) filled at {f.at:%H:%M:%S} against a position of "
                             f"{held:+d}")
        net[f.token] += f.signed
        if o.kind == ENTRY:
            own[f.order_id] += f.signed


# ------------------------------------------------------------------ (b) booking


def _booking(v: Verdict, ours: list[KiteOrder], books: AgentBooks) -> None:
    filled: dict[str, int] = defaultdict(int)
    symbols: dict[str, str] = {}
    for o in ours:
        filled[o.tag] += o.filled
        symbols[o.tag] = o.symbol
    for tag in sorted(set(filled) | set(books.orders)):
        at_exchange = filled.get(tag, 0)
        known = books.orders.get(tag)
        booked = known.filled if known is not None else 0
        if at_exchange > booked:
            v.unbooked += 1
            v.unbooked_quantity += at_exchange - booked
            what = "unknown to the agent" if known is None else f"the agent books {booked}"
            v.details.append(f"unbooked: {tag} {symbols.get(tag, '')} filled {at_exchange} at "
                             f"the exchange, {what}")
        elif booked > at_exchange:
            v.phantom += 1
            v.details.append(f"phantom: {tag} {known.symbol if known else ''} booked "
                             f"{booked} by the agent, filled {at_exchange} at the exchange")


# ------------------------------------------------------------------ (c), (d) exposure


def _exposure(v: Verdict, truth: Truth, by_id: dict[str, KiteOrder],
              books: AgentBooks) -> None:
    tokens = {o.token for o in truth.orders if o.ours} | {
        f.token for f in truth.fills if by_id.get(f.order_id) is not None
        and by_id[f.order_id].ours}
    symbols = {o.token: o.symbol for o in truth.orders}
    positions = {_int_of(r.get("instrument_token")): r for r in truth.net_positions
                 if str(r.get("product", "MIS")) == "MIS"}
    v.broker_squared_off = sum(1 for o in truth.orders if o.broker_square_off and o.filled)
    for o in truth.orders:
        if o.broker_square_off and o.filled:
            v.details.append(f"broker square-off: {o.symbol} {o.side} {o.filled} ({o.order_id})")
    for token in sorted(tokens):
        fills = [f for f in truth.fills if f.token == token]
        guards = [o for o in truth.orders if o.token == token and o.kind in (STOP, EXIT)]
        spells = unprotected_spells(symbols.get(token, str(token)), fills, by_id, guards,
                                    truth.close)
        v.spells.extend(spells)
        ours_net = sum(f.signed for f in fills if by_id.get(f.order_id) is not None
                       and by_id[f.order_id].ours)
        row = positions.get(token)
        if row is not None:  # (d) as the brief puts it: the position less the foreign fills
            foreign = sum(f.signed for f in fills if f.order_id not in by_id
                          or not by_id[f.order_id].ours)
            if _int_of(row.get("quantity")) - foreign != ours_net:
                v.details.append(f"the exchange's position of {symbols.get(token)} "
                                 f"({row.get('quantity')}) disagrees with its trades")
        if ours_net:
            v.left_open += 1
            v.details.append(f"left open: {symbols.get(token)} {ours_net:+d} under our tags at "
                             "the end")
        agent = books.positions.get(token)
        agent_qty = agent.quantity if agent is not None else 0
        if agent_qty != ours_net:
            v.position_mismatch += 1
            v.details.append(f"position: {symbols.get(token)} the agent holds {agent_qty:+d}, "
                             f"the exchange {ours_net:+d} under our tags")
    v.unprotected_seconds = sum(s.seconds for s in v.spells)
    v.longest_unprotected = max((s.seconds for s in v.spells), default=0.0)
    for s in sorted(v.spells, key=lambda s: -s.seconds)[:10]:
        v.details.append(f"unprotected: {s.symbol} {s.quantity} for {s.seconds:.0f} s from "
                         f"{s.start:%H:%M:%S}")


def _int_of(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def unprotected_spells(symbol: str, fills: Iterable[Fill], by_id: dict[str, KiteOrder],
                       guards: Iterable[KiteOrder], close: datetime) -> list[Spell]:
    """One instrument's unprotected spells (see (c) in the module docstring). ``fills``:
    the instrument's trades; those of orders neither ours nor the broker's square-off are
    left out. ``guards``: its stop and exit orders under our tags."""
    events: dict[datetime, list[tuple[str, Any]]] = defaultdict(list)
    for f in fills:
        o = by_id.get(f.order_id)
        if o is not None and (o.ours or o.broker_square_off):
            events[f.at].append(("fill", f.signed))
    for o in guards:
        for snap in o.history:
            events[snap.at].append(("snap", (o.order_id, o.side, snap)))
    net = 0
    state: dict[str, tuple[str, bool, int]] = {}  # order id -> (side, working, pending)
    spells: list[Spell] = []
    open_spell: tuple[datetime, int] | None = None
    times = sorted(events)
    for i, at in enumerate(times):
        if at >= close:
            break
        for kind, payload in events[at]:
            if kind == "fill":
                net += payload
            else:
                order_id, side, snap = payload
                state[order_id] = (side, snap.working, snap.pending)
        closing = "SELL" if net > 0 else "BUY"
        cover = sum(p for side, working, p in state.values() if working and side == closing)
        uncovered = abs(net) - cover if net else 0
        end = min(times[i + 1], close) if i + 1 < len(times) else close
        if uncovered > 0:
            if open_spell is None:
                open_spell = (at, uncovered)
            else:
                open_spell = (open_spell[0], max(open_spell[1], uncovered))
        elif open_spell is not None:
            spells.append(Spell(symbol, open_spell[0], at, open_spell[1]))
            open_spell = None
        if end >= close and open_spell is not None:
            spells.append(Spell(symbol, open_spell[0], close, open_spell[1]))
            open_spell = None
    return [s for s in spells if s.seconds > 0]


# ------------------------------------------------------------------ (e) P&L


def realized_average_cost(fills: Iterable[Fill]) -> Decimal:
    """Realized P&L of fills of one instrument in time order, average-cost (as the agent's
    PnlBook books it: a closing fill realizes against the open quantity's average)."""
    qty, avg, realized = 0, Decimal(0), Decimal(0)
    for f in fills:
        signed = f.signed
        if qty == 0 or (qty > 0) == (signed > 0):
            held = abs(qty)
            avg = (avg * held + f.price * f.quantity) / (held + f.quantity)
            qty += signed
            continue
        closing = min(f.quantity, abs(qty))
        realized += (f.price - avg) * closing * (1 if qty > 0 else -1)
        qty += closing if signed > 0 else -closing
        rest = f.quantity - closing
        if rest:
            avg, qty = f.price, rest if signed > 0 else -rest
    return realized


def _pnl(v: Verdict, our_fills: list[Fill], books: AgentBooks) -> None:
    by_token: dict[int, list[Fill]] = defaultdict(list)
    for f in our_fills:
        by_token[f.token].append(f)
    exchange = {t: realized_average_cost(fs) for t, fs in by_token.items()}
    v.pnl_exchange = sum(exchange.values(), Decimal(0)).quantize(Decimal("0.01"))
    v.pnl_agent = books.realized.quantize(Decimal("0.01"))
    for token in sorted(set(exchange) | set(books.positions)):
        ex = exchange.get(token, Decimal(0))
        pos = books.positions.get(token)
        ag = pos.realized if pos is not None else Decimal(0)
        if abs(ex - ag) >= HALF_PAISA:
            name = pos.symbol if pos is not None else str(token)
            v.details.append(f"P&L: {name} agent {ag:.2f}, exchange {ex:.2f}")


# ------------------------------------------------------------------ (f) stale


def _stale(v: Verdict, ours: list[KiteOrder], books: AgentBooks) -> None:
    by_tag: dict[str, list[KiteOrder]] = defaultdict(list)
    for o in ours:
        by_tag[o.tag].append(o)
    for tag, order in sorted(books.orders.items()):
        if not order.live:
            continue
        at_exchange = by_tag.get(tag, [])
        if all(o.final_at is not None or o.status in ("COMPLETE", "CANCELLED", "REJECTED")
               for o in at_exchange):
            v.stale_live += 1
            there = ", ".join(f"{o.order_id} {o.status}" for o in at_exchange) or "no order"
            v.details.append(f"stale: {tag} {order.symbol} {order.status} in the agent's "
                             f"books; the exchange: {there}")
