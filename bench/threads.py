"""CPU time by thread of this process, from /proc/self/task (Linux), for the live benchmarks.

``ThreadCpu()`` reads every thread's user + system time now; ``spent()`` returns, by Python
thread name, what each has used since (clock-tick resolution, usually 10 ms). Threads that
Python does not know (none in the agent) are summed as "other". Elsewhere than Linux it
returns an empty dict. Any one thread.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

_TASKS = Path("/proc/self/task")


def _ticks(tid: str) -> int | None:
    try:
        text = (_TASKS / tid / "stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()  # after "pid (comm)": state is fields[0]
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)


def _all() -> dict[str, int]:
    try:
        tids = os.listdir(_TASKS)
    except OSError:
        return {}
    out = {}
    for tid in tids:
        ticks = _ticks(tid)
        if ticks is not None:
            out[tid] = ticks
    return out


class ThreadCpu:
    def __init__(self) -> None:
        self._hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._start = _all()

    def spent(self) -> dict[str, float]:
        """CPU seconds by thread name since this object was made."""
        now = _all()
        names = {str(t.native_id): t.name for t in threading.enumerate()
                 if t.native_id is not None}
        out: dict[str, float] = {}
        for tid, ticks in now.items():
            name = names.get(tid, "other")
            used = (ticks - self._start.get(tid, 0)) / self._hz
            out[name] = round(out.get(name, 0.0) + used, 2)
        return out
