"""A crash-test run's record (``SeedResult``: what was done, the verdict, where its files
are) and ``rejudge``, which judges a finished run again from the files it left. Any thread.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from tests.chaos.collect import agent_books, saved_truth
from tests.chaos.plan import MARKET_CLOSE
from tests.chaos.verdict import Verdict, judge


@dataclass(slots=True)
class SeedResult:
    seed: int
    workdir: Path
    speed: float
    day: date | None = None
    instruments: list[tuple[str, int]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    kills: int = 0
    faults: int = 0
    crashes: int = 0
    agent_runs: int = 0
    events: dict[str, int] = field(default_factory=dict)
    downtime_seconds: float = 0.0  # exchange seconds from each kill (or crash) until the
    # agent said it was running again
    session_ended: bool = False
    stop_code: int | None = None
    wall_seconds: float = 0.0
    verdict: Verdict | None = None
    error: str = ""

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def log(self) -> Path:
        return self.data_dir / "logs" / "agent.log"

    def where(self) -> str:
        return (f"run directory {self.workdir}: agent log {self.log}, consoles "
                f"{self.workdir}/agent-*.out, exchange {self.workdir}/exchange.out, "
                f"truth {self.workdir}/truth.json, actions {self.workdir}/actions.json")

    def to_json(self) -> dict[str, Any]:
        return {"seed": self.seed, "workdir": str(self.workdir), "speed": self.speed,
                "day": None if self.day is None else self.day.isoformat(),
                "instruments": self.instruments, "kills": self.kills, "faults": self.faults,
                "crashes": self.crashes, "agent_runs": self.agent_runs, "events": self.events,
                "downtime_seconds": round(self.downtime_seconds, 1),
                "session_ended": self.session_ended, "stop_code": self.stop_code,
                "wall_seconds": round(self.wall_seconds, 1), "error": self.error,
                "verdict": None if self.verdict is None else self.verdict.to_json(),
                "actions": self.actions}


def rejudge(workdir: Path) -> SeedResult:
    """A finished run judged again from the files it left (``actions.json``,
    ``truth.json``, ``data/state.json``): after the verdict's definitions changed."""
    saved = json.loads((workdir / "actions.json").read_text(encoding="utf-8"))
    day = date.fromisoformat(saved["day"])
    result = SeedResult(saved["seed"], workdir, saved["speed"], day,
                        [tuple(i) for i in saved["instruments"]], saved["actions"],
                        saved["kills"], saved["faults"], saved["crashes"], saved["agent_runs"],
                        saved["events"], saved.get("downtime_seconds", 0.0),
                        saved["session_ended"], saved["stop_code"], saved["wall_seconds"])
    try:
        close = datetime.combine(day, MARKET_CLOSE)
        result.verdict = judge(saved_truth(workdir / "truth.json", close),
                               agent_books(result.data_dir))
    except (OSError, ValueError, KeyError) as exc:
        result.error = f"cannot judge {workdir} again: {exc}"
    return result
