"""The order lifecycle: one owner of every instrument's orders, from intent to flat.

- ``state``: ``InstrumentOrders``, one record per instrument with its states named (the
  phase FLAT, ENTERING, OPEN, EXITING; the stop's NONE, WORKING, EXIT, CANCELLING).
- ``executor``: ``Executor``, the front door: intents, forced closes and broker facts in.
- ``steps``: the decision step, level-triggered: from the state as it is now, the next
  thing needed (cancel, exit, stop, entry), with deadlines and back-offs.
- ``announce``: what the owner hears: one notification per entry, one per exit.
- ``orders_out``: the shape of what is sent (MARKET, or marketable LIMIT for options; SL).
- ``book``: the day's orders by tag; updates become fills, each booked once.
- ``tags``: tags that never repeat within a day, whatever the crash timing.
- ``reconciler``: the broker is the truth: a broker snapshot (every order row and the net
  positions) settles, adopts and books what the engine missed, at start-up and all day,
  and notices the owner's own hand.

Engine thread only. docs/architecture.md draws it.
"""
