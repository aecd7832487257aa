"""The benchmark smoke tests run after every other test.

They take minutes (real broker, emulator and connector processes), and fast feedback should come
first. Running them last also keeps them from delaying tests whose module-level clocks are read
at collection time (tests/emulator's ``NOW``: events stamped with the real time are "in the
future" for an emulator frozen at ``NOW`` once more than five minutes have passed).
"""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Move this directory's tests to the end (a stable sort: every other order is kept)."""
    items.sort(key=lambda item: Path(item.path).resolve().is_relative_to(_HERE))
