"""How the storage writer treats a store that fails for a while (``storage/writer.py``).

The files' policy (the default) is the writer's original one: a failing file is told once
per file, its lines kept and retried when more work arrives or on ``flush``. A Redis store
(``storage/redis_lines.py``) is one target that is down or up as a whole: it is told once
(lost) and once again (back, through ``on_recovered``); what failed is retried on a timer
with an exponential backoff, and the queue is bounded (``max_lines``): beyond it the oldest
candle and mark lines are dropped, never a journal line, and the owner is told. Pure; any
thread.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class WriterPolicy:
    """``backoff``: (first, most) seconds between attempts after failed cycles (None: the
    files' way); ``max_lines``: the queue's bound (None: none); ``target``: the one store
    every path belongs to, named in messages (None: each file is its own);
    ``on_recovered(message)``: told when that target works again (writer thread)."""

    backoff: tuple[float, float] | None = None
    max_lines: int | None = None
    target: str | None = None
    on_recovered: Callable[[str], None] | None = None

    def delay(self, failures: int) -> float | None:
        """Seconds before the next attempt after ``failures`` failed cycles in a row."""
        if self.backoff is None:
            return None
        first, most = self.backoff
        return min(most, first * 2 ** min(failures - 1, 30))


def drop_oldest(pending: dict[Path, list[str]], limit: int, keep: Collection[Path]) -> int:
    """Drop the oldest lines of the paths not in ``keep`` until at most ``limit`` lines are
    queued (or only kept ones are left); how many were dropped. ``pending`` lists each
    path's lines oldest first; the path with the most lines loses first."""
    excess = sum(map(len, pending.values())) - limit
    dropped = 0
    while excess > 0:
        candidates = [p for p, lines in pending.items() if p not in keep and lines]
        if not candidates:
            break
        path = max(candidates, key=lambda p: len(pending[p]))
        cut = min(excess, max(1, len(pending[path]) // 2))
        del pending[path][:cut]
        if not pending[path]:
            del pending[path]
        excess -= cut
        dropped += cut
    return dropped
