"""``python -m bench.alert_count [--speed N] [--until HH:MM] [--json PATH] [--show]``.

Runs the demo day (``bot.py demo``: the simulated exchange, the agent live against it, the
console chat) and counts the alert messages the chat delivered, per hour of the trading day
(the notification's IST time) and per alert kind; prints a Markdown table (the README's
"Alerts" figures). ``--show`` also prints each message. Not a test: the day's market is
seeded, but which candle an order lands in depends on thread timing, so two runs differ by
a few messages. Main thread only.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from handlers.alerts import Alert
from handlers.text import html_to_plain

ROOT = Path(__file__).resolve().parent.parent


def tally(alerts: Iterable[tuple[str, datetime]]) -> dict[int, Counter[str]]:
    """(kind, time) of each delivered message -> hour -> kind -> messages."""
    hours: dict[int, Counter[str]] = {}
    for kind, at in alerts:
        hours.setdefault(at.hour, Counter())[kind] += 1
    return dict(sorted(hours.items()))


def markdown(hours: dict[int, Counter[str]]) -> str:
    """One row per hour, one column per kind seen (most frequent first), and the total."""
    kinds = Counter[str]()
    for counts in hours.values():
        kinds.update(counts)
    names = [k for k, _ in kinds.most_common()]
    lines = ["| hour | " + " | ".join(names) + " | total |",
             "|---|" + "---:|" * (len(names) + 1)]
    for hour, counts in hours.items():
        cells = [str(counts.get(k, 0) or "") for k in names]
        lines.append(f"| {hour:02d}:00 | " + " | ".join(cells)
                     + f" | {sum(counts.values())} |")
    total = sum(kinds.values())
    lines.append("| day | " + " | ".join(str(kinds[k]) for k in names) + f" | {total} |")
    return "\n".join(lines)


def kind_and_time(alert: Alert) -> tuple[str, datetime] | None:
    """What a message is about and when; None for one without a time (the warning that
    alerts were dropped)."""
    if alert.time is None:
        return None
    return alert.kind.value if alert.kind is not None else "other", alert.time


def run_demo(speed: float | None, until: str | None, show: bool) -> list[Alert]:
    """The demo day in this process; every alert message the console delivered."""
    from handlers import console
    from handlers.run_cli import demo_command

    seen: list[Alert] = []
    original = console.ConsoleChat.print_alert

    def record(self: console.ConsoleChat, alert: Alert) -> None:
        seen.append(alert)
        original(self, alert)

    console.ConsoleChat.print_alert = record  # type: ignore[method-assign]
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(sys.stdout if show else out):
            status = demo_command(speed, until, ROOT / "schedules.yaml")
    finally:
        console.ConsoleChat.print_alert = original  # type: ignore[method-assign]
    if status != 0:
        raise SystemExit(f"the demo failed (exit {status}):\n{out.getvalue()[-2000:]}")
    return seen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.alert_count",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--speed", type=float, default=None)
    parser.add_argument("--until", default=None, help="HH:MM: stop the day early")
    parser.add_argument("--json", type=Path, default=None, help="write the counts here")
    parser.add_argument("--show", action="store_true", help="print the chat as it runs")
    parser.add_argument("--texts", type=Path, default=None,
                        help="write every message (plain text) here")
    args = parser.parse_args(argv)
    alerts = run_demo(args.speed, args.until, args.show)
    hours = tally(row for a in alerts if (row := kind_and_time(a)) is not None)
    print(markdown(hours))
    if args.texts is not None:
        args.texts.write_text("\n\n".join(html_to_plain(a.text) for a in alerts) + "\n",
                              encoding="utf-8")
    if args.json is not None:
        data: dict[str, Any] = {f"{h:02d}": dict(c) for h, c in hours.items()}
        args.json.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
