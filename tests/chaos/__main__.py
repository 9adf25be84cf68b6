"""``python -m tests.chaos [--seeds N] [--speed S] [--kills K] [--json PATH]``: the crash
test, long form (``make chaos``).

Runs seeds ``--first-seed`` .. ``--first-seed + N - 1`` one after the other, each a whole
session (``--start`` 09:10 to ``--end`` 15:35 on the exchange's clock) of ``bot.py run``
against ``bot.py exchange``, killed ``K`` times and faulted as its seed plans
(``tests.chaos.plan``), then prints the figures per seed and overall (``tests.chaos.report``)
and the findings, with where each run's files are. Progress goes to stderr. Exit 1 when a
run failed (the harness could not finish it); broken promises are the figures, not an
error, unless ``--strict``. Main thread only.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import datetime, time
from pathlib import Path

from tests.chaos.harness import run_seed
from tests.chaos.plan import ROOT, ChaosPlan
from tests.chaos.report import broken, findings, table, to_json
from tests.chaos.result import SeedResult, rejudge


def _hhmm(text: str) -> time:
    try:
        return datetime.strptime(text, "%H:%M").time()
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HH:MM, got {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.chaos",
                                 description="the crash test of issue 12 (orders you can trust)")
    ap.add_argument("--seeds", type=int, default=3, help="how many seeds (default 3)")
    ap.add_argument("--first-seed", type=int, default=1, help="the first seed (default 1)")
    ap.add_argument("--speed", type=float, default=100.0,
                    help="the exchange's clock speed (default 100: a session in ~4 minutes)")
    ap.add_argument("--kills", type=int, default=8, help="kills per seed (default 8)")
    ap.add_argument("--faults", type=int, default=None,
                    help="fault switches per seed (default: as many as kills)")
    ap.add_argument("--start", type=_hhmm, default=time(9, 10), help="exchange time to start")
    ap.add_argument("--end", type=_hhmm, default=time(15, 35), help="exchange time to stop")
    ap.add_argument("--instruments", type=int, default=8, help="instruments traded (6-12)")
    ap.add_argument("--interval", type=int, default=1, help="candle minutes (default 1)")
    ap.add_argument("--percentage", default="0.05", help="band percent (default 0.05)")
    ap.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    ap.add_argument("--redis", default=None, metavar="URL",
                    help="keep the agent's storage on this Redis (storage.backend: redis, "
                    "account chaos; emptied of that account's keys first)")
    ap.add_argument("--workdir", type=Path, default=None,
                    help="where the runs' directories go (default: a new temporary one)")
    ap.add_argument("--root", type=Path, default=ROOT,
                    help="the checkout whose bot.py runs (default: this one), e.g. an "
                         "exported commit to measure it")
    ap.add_argument("--from", dest="source", type=Path, metavar="DIR",
                    help="run nothing: judge again the runs saved in DIR (a --workdir, or "
                         "one run's directory) and print their figures")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a promise is broken")
    args = ap.parse_args(argv)
    if args.seeds < 1 or args.kills < 0 or not 0 < args.speed <= 10_000:
        ap.error("--seeds >= 1, --kills >= 0, 0 < --speed <= 10000")
    if args.source is not None:
        dirs = sorted({p.parent for p in args.source.glob("**/actions.json")})
        results = [rejudge(d) for d in dirs]
        if not results:
            ap.error(f"no run (actions.json) under {args.source}")
        return _report(results, args)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="chaos-"))
    print(f"chaos: runs in {workdir}; agent and exchange from {args.root}", file=sys.stderr)
    results = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        plan = ChaosPlan(seed=seed, speed=args.speed, start=args.start, end=args.end,
                         kills=args.kills, faults=args.faults, instruments=args.instruments,
                         interval=args.interval, percentage=args.percentage,
                         redis_url=args.redis or "")
        print(f"chaos: seed {seed} ...", file=sys.stderr, flush=True)
        result = run_seed(plan, workdir / f"seed-{seed}",
                          say=lambda m: print(f"  {m}", file=sys.stderr, flush=True),
                          root=args.root.resolve())
        results.append(result)
        state = "failed" if result.error else f"{len(broken(result))} promise(s) broken"
        print(f"chaos: seed {seed} done in {result.wall_seconds:.0f} s: {state}",
              file=sys.stderr, flush=True)
    return _report(results, args)


def _report(results: list[SeedResult], args: argparse.Namespace) -> int:
    sys.stdout.write(table(results))
    sys.stdout.write("\n" + findings(results))
    if args.json is not None:
        args.json.write_text(json.dumps(to_json(results), indent=1) + "\n", encoding="utf-8")
        print(f"chaos: figures written to {args.json}", file=sys.stderr)
    failed = any(r.error for r in results)
    return 1 if failed or (args.strict and any(broken(r) for r in results)) else 0


if __name__ == "__main__":
    sys.exit(main())
