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
inside ``make test``, an expected failure until issue 12 is fixed).
"""
