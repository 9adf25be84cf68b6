"""The crash test of issue 12 ("orders you can trust"): the agent killed and restarted, the
exchange faulted, and the promises measured on the exchange's truth.

- ``plan``: a run's seeded plan (day, instruments, kills, faults);
- ``logwatch``: the agent's log lines the kills follow (``EVENTS``: the one place to update
  when the wording changes), and the tail that reads them;
- ``procs``: ``bot.py exchange`` and ``bot.py run`` as processes, the exchange's clock;
- ``harness``: one run (``run_seed``); ``result``: its record (``SeedResult``) and
  ``rejudge`` (a saved run judged again);
- ``collect``, ``truth``: the exchange's rows and the agent's state as typed data;
- ``verdict``: the figures (a)-(f), defined exactly in its docstring;
- ``report``: the table and JSON; ``__main__``: ``python -m tests.chaos`` (``make chaos``).

Tests: ``test_verdict.py`` (the verdict on crafted order books), ``test_harness_parts.py``
(the log events, the tail, the plan, the bound) and ``test_chaos_short.py`` (one short run
inside ``make test``).

The exchange counts Kite's rate windows (10 order requests a second, 400 a minute) on its
own clock (``--rate-clock exchange``), and the agent, following that clock, paces itself
alike: a day run at speed 100 then sees the request rates of the day itself. On real
seconds it would see a hundred times them (the whole day's 1,100 order requests in four
minutes, a restarted process meeting the dead one's requests still in Kite's minute), a
load no real day has; 429s are still tested, by the ``rate_limit_burst`` fault.
"""
