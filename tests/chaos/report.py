"""The crash test's figures as a table (per seed and overall) and as JSON. Pure."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.chaos.result import SeedResult
from tests.chaos.verdict import Verdict, unprotected_bound

COLUMNS = ("seed", "day", "kills", "faults", "crashes", "orders", "fills", "(a) dup",
           "(a) tag twice", "(b) unbooked", "(c) unprotected s", "(c) bound s",
           "(d) left open", "broker sq-off", "(e) P&L agent", "(e) P&L exchange",
           "(f) stale", "promises")


def bound_of(result: SeedResult) -> float:
    v = result.verdict
    assert v is not None
    return unprotected_bound(v.entries + v.exits, result.speed, result.downtime_seconds)


def broken(result: SeedResult) -> list[str]:
    """The promises a finished run broke (a failed run: its error's first line)."""
    if result.verdict is None:
        return [f"run failed: {(result.error.strip().splitlines() or ['?'])[-1]}"]
    return result.verdict.broken(bound_of(result))


def _row(result: SeedResult) -> list[str]:
    v = result.verdict
    head = [str(result.seed), str(result.day), str(result.kills), str(result.faults),
            str(result.crashes)]
    if v is None:
        return head + ["-"] * (len(COLUMNS) - len(head) - 1) + ["RUN FAILED"]
    kept = broken(result)
    unbooked = f"{v.unbooked} ({v.unbooked_quantity} qty)" + (
        f" +{v.phantom} phantom" if v.phantom else "")
    return [
        *head, str(v.orders), str(v.fills), str(v.duplicates), str(v.tag_reused),
        unbooked, f"{v.unprotected_seconds:,.0f} (longest {v.longest_unprotected:,.0f})",
        f"{bound_of(result):,.0f}", str(v.left_open), str(v.broker_squared_off),
        f"{v.pnl_agent}", f"{v.pnl_exchange}", str(v.stale_live),
        "kept" if not kept else f"{len(kept)} broken"]


def _overall(results: list[SeedResult]) -> list[str]:
    done = [r for r in results if r.verdict is not None]
    vs: list[Verdict] = [r.verdict for r in done if r.verdict is not None]
    kept = sum(1 for r in done if not broken(r))
    return [
        "all", f"{len(results)} run(s)", str(sum(r.kills for r in results)),
        str(sum(r.faults for r in results)), str(sum(r.crashes for r in results)),
        str(sum(v.orders for v in vs)), str(sum(v.fills for v in vs)),
        str(sum(v.duplicates for v in vs)), str(sum(v.tag_reused for v in vs)),
        f"{sum(v.unbooked for v in vs)} ({sum(v.unbooked_quantity for v in vs)} qty)",
        f"{sum(v.unprotected_seconds for v in vs):,.0f} (longest "
        f"{max((v.longest_unprotected for v in vs), default=0):,.0f})",
        f"{sum(bound_of(r) for r in done):,.0f}", str(sum(v.left_open for v in vs)),
        str(sum(v.broker_squared_off for v in vs)),
        str(sum((v.pnl_agent for v in vs), Decimal(0))),
        str(sum((v.pnl_exchange for v in vs), Decimal(0))), str(sum(v.stale_live for v in vs)),
        f"kept in {kept} of {len(results)}"]


def table(results: list[SeedResult]) -> str:
    rows = [list(COLUMNS)] + [_row(r) for r in results] + [_overall(results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.rjust(w) if i else cell.ljust(w)
                       for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
             for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    lines.insert(len(lines) - 1, "-" * len(lines[0]))
    return "\n".join(lines) + "\n"


def findings(results: list[SeedResult], per_seed: int = 12) -> str:
    """Per run: the promises broken, the first details, and where its files are."""
    out = []
    for r in results:
        out.append(f"seed {r.seed} ({r.day}, {r.kills} kills, {r.faults} faults, "
                   f"{r.crashes} crashes, down {r.downtime_seconds:,.0f} s, "
                   f"{r.wall_seconds:,.0f} s wall):")
        for line in broken(r):
            out.append(f"  BROKEN {line}")
        if r.verdict is not None:
            details = r.verdict.details
            out.extend(f"  - {d}" for d in details[:per_seed])
            if len(details) > per_seed:
                out.append(f"  ... {len(details) - per_seed} more in actions.json")
        else:
            out.append("  " + r.error.strip().replace("\n", "\n  "))
        if broken(r):
            out.append(f"  files: {r.where()}")
    return "\n".join(out) + "\n"


def to_json(results: list[SeedResult]) -> dict[str, Any]:
    return {"runs": [dict(r.to_json(), broken=broken(r),
                          unprotected_bound=None if r.verdict is None else bound_of(r))
                     for r in results],
            "overall": dict(zip(COLUMNS, _overall(results), strict=True))}
