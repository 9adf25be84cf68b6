"""Shared fixtures for the storage tests."""

from __future__ import annotations

from typing import Any

import pytest

from tests.storage.snapshots import make_snapshot


@pytest.fixture
def snapshot() -> dict[str, Any]:
    return make_snapshot()
