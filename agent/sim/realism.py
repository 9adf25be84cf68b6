"""The simulated exchange's realism rules, by name: each on by default, each switchable.

Kite in 2026 is harsher than a toy exchange (the README's "Kite Connect in 2026"); the
simulator is as harsh by default so tests see what costs a live trader money. A test that
needs the kind behaviour of one rule switches that rule off by name, never all of them:

    SimExchange(..., realism=Realism.all_but("partial_fills"))
    sim.realism.disable("interim_statuses")        # at runtime, any thread

Names (``RULES``):

- ``market_protection``: a protected MARKET (or triggered SL-M) order becomes a LIMIT at the
  protection price (row: ``order_type`` LIMIT, the price, ``tags`` ``mktp``/``mktp:<pct>``);
  what the book cannot fill at that price rests OPEN until cancelled. The price is the LTP
  moved by the percentage, -1 taking Zerodha's automatic bands (``agent.sim.protection``:
  0.5 % to 2 % for equity and futures, 1 % to 5 % for options, by price).
- ``partial_fills``: an order fills from the depth at its price, in several trades, with an
  UPDATE order message for each partial fill (and for each modification); the depth
  refills every second (``agent.sim.matching``).
- ``interim_statuses``: PUT ORDER REQ RECEIVED, VALIDATION PENDING, OPEN PENDING before
  OPEN; MODIFY VALIDATION PENDING, MODIFY PENDING; CANCEL PENDING, each for a seeded delay
  on the exchange's clock (15 to 400 ms, one in 50 from 1 to 5 s; the fault
  ``hold_pending`` holds OPEN PENDING longer), each an order message
  (``agent.sim.lifecycle``).
- ``transient_refusals``: a modify or cancel during an interim status is refused ("being
  processed", InputException 400); a modify within 5 ms of the placement (exchange clock)
  gets "does not exist" (OrderException 400).
- ``option_rules``: MARKET orders on options refused, option LIMIT orders far from the LTP
  refused (SL-M on options is always refused, as the exchanges do). Illiquid: every stock
  option, and an index option more than 10 listed strikes from the money (or whose index
  the market does not list); far: a buy above 250 % of the LTP, a sell below 50 %, unless
  the LTP is under 100 rupees (``agent.sim.rules``, with the texts' sources).
- ``circuit_limits``: LIMIT and SL prices outside the circuit band (the quote's lower and
  upper circuit limits, both allowed) refused at request time (``agent.sim.rules``); an SL
  that triggers outside the LPP range is cancelled by the exchange (F&O only: futures
  +/- 3 %, options +/- 40 % above a premium of 50, +/- 20 rupees below;
  ``agent.sim.protection``).
- ``sl_checks``: an SL trigger on the wrong side of the LTP, or a limit price on the wrong
  side of the trigger, is refused (``agent.sim.rules``).
- ``mis_square_off``: the broker squares off MIS positions itself (15:20 equity, 15:25 F&O)
  with untagged orders and refuses fresh MIS orders after that: at that time, on the
  exchange's clock, it cancels the segment's open MIS orders, then closes each position
  with marketable LIMIT orders (``agent.sim.squareoff``); an order that only reduces a
  position stays allowed (``agent.sim.rules.check_place``).
- ``rate_limits``: Kite's request rates (orders 10/s, 400/min, 5,000/day; quotes 1/s;
  historical 3/s with its range caps; the rest 10/s): 429 with Kite's text. On wall time,
  per calendar second (longer windows slide), whatever the clock's speed; a test that
  accelerates its clock may crowd its requests into a wall second (``agent.sim.rates``).

Locked: any thread may read or switch.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

RULES = ("market_protection", "partial_fills", "interim_statuses", "transient_refusals",
         "option_rules", "circuit_limits", "sl_checks", "mis_square_off", "rate_limits")


class Realism:
    def __init__(self, enabled: Iterable[str] = RULES) -> None:
        self._lock = threading.Lock()
        self._on = frozenset(_checked(enabled))

    @classmethod
    def all_but(cls, *names: str) -> Realism:
        """Every rule except ``names`` (raises ValueError naming an unknown rule)."""
        off = set(_checked(names))
        return cls(r for r in RULES if r not in off)

    @classmethod
    def none(cls) -> Realism:
        return cls(())

    def on(self, name: str) -> bool:
        """Is rule ``name`` in force? (an unknown name is a bug: ValueError)."""
        _checked((name,))
        with self._lock:
            return name in self._on

    def disable(self, *names: str) -> None:
        with self._lock:
            self._on = self._on - set(_checked(names))

    def enable(self, *names: str) -> None:
        with self._lock:
            self._on = self._on | set(_checked(names))

    def names(self) -> tuple[str, ...]:
        """The rules in force, in ``RULES`` order."""
        with self._lock:
            return tuple(r for r in RULES if r in self._on)


def _checked(names: Iterable[str]) -> list[str]:
    out = list(names)
    unknown = [n for n in out if n not in RULES]
    if unknown:
        raise ValueError(f"unknown realism rule(s) {', '.join(unknown)}; known: "
                         f"{', '.join(RULES)}")
    return out
