"""``python -m bench [--quick] [--markdown] [--only PART,...] [--json PATH] [--from PATH]``.

Runs the parts of issue 6 in order, prints the table (plain, or Markdown for the README)
and writes the results with the machine they came from: ``bench/results.json`` for a full
run; a quick smoke run writes nothing unless ``--json PATH`` is given, so it never
overwrites the real figures. ``--from PATH`` re-renders a saved results file without
running anything. Exit 1 when a part failed. Progress goes to stderr. Main thread only.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from bench import PARTS, NotMeasured
from bench.machine import describe, load_average
from bench.report import markdown, text_table, verdicts

RESULTS = Path(__file__).resolve().parent / "results.json"


def run_parts(quick: bool, parts: tuple[str, ...] = PARTS) -> dict[str, Any]:
    """Run ``parts`` (each ``bench.<part>.run(quick)``); a failure is recorded, not raised."""
    results: dict[str, Any] = {"machine": describe(), "quick": quick, "parts": {},
                               "not_measured": {}, "errors": {}, "seconds": {}}
    for part in parts:
        print(f"bench: {part} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            module = importlib.import_module(f"bench.{part}")
            results["parts"][part] = module.run(quick)
        except NotMeasured as exc:
            results["parts"][part] = None
            results["not_measured"][part] = str(exc)
        except Exception as exc:  # one broken part must not hide the others' figures
            traceback.print_exc(file=sys.stderr)
            results["parts"][part] = None
            results["errors"][part] = f"{type(exc).__name__}: {exc}"
        spent = time.perf_counter() - start
        results["seconds"][part] = round(spent, 1)
        print(f"bench: {part} done in {spent:.1f} s", file=sys.stderr, flush=True)
    results["load_average_at_end"] = load_average()
    results["goals"] = verdicts(results)
    return results


def _parts(text: str | None) -> tuple[str, ...]:
    if not text:
        return PARTS
    chosen = tuple(p.strip() for p in text.split(",") if p.strip())
    unknown = [p for p in chosen if p not in PARTS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown part(s) {', '.join(unknown)}; "
                                         f"the parts are {', '.join(PARTS)}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[2])
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run in seconds; writes no results file unless --json")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    ap.add_argument("--only", type=_parts, default=PARTS, metavar="PART,...",
                    help=f"run only these parts ({', '.join(PARTS)})")
    ap.add_argument("--json", type=Path, metavar="PATH",
                    help=f"write the results here (default for a full run: {RESULTS})")
    ap.add_argument("--from", dest="source", type=Path, metavar="PATH",
                    help="render a saved results file instead of running")
    args = ap.parse_args(argv)
    if args.source is not None:
        try:
            results = json.loads(args.source.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            print(f"error: cannot read results from {args.source}: {exc}", file=sys.stderr)
            return 1
        target = None
    else:
        results = run_parts(args.quick, args.only)
        target = args.json or (None if args.quick else RESULTS)
    sys.stdout.write(markdown(results) if args.markdown else text_table(results))
    if target is not None:
        target.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
        print(f"bench: results written to {target}", file=sys.stderr)
    return 1 if results.get("errors") else 0


if __name__ == "__main__":
    sys.exit(main())
