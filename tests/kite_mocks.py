"""Zerodha's own sample responses, instrument dumps and ticker packets, vendored.

They live in ``tests/data/kite-mocks`` (origin and licence in its README). A missing sample
is a failing test, never a skip: the repository carries every sample its tests read.
Plain functions; any thread may call them.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

MOCKS = Path(__file__).resolve().parent / "data" / "kite-mocks"


def mock_text(name: str) -> str:
    """The sample file ``name`` as text (FileNotFoundError names the path when absent)."""
    return (MOCKS / name).read_text(encoding="utf-8")


def mock_json(name: str) -> Any:
    """A JSON sample, whole (Kite's ``{"status", "data"}`` envelope included)."""
    return json.loads(mock_text(name))


def mock_packet(name: str) -> bytes:
    """A ``.packet`` sample: one bare binary ticker packet, base64 in the file."""
    return base64.b64decode(mock_text(name).strip())
