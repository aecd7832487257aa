"""Fixtures of the emulator tests (the emulator fixtures themselves: tests/fixtures/emulator.py)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    """A keep-alive HTTP client with a short timeout (every server answer is immediate)."""
    # verify=False: plain HTTP on loopback, and it spares ~35 ms of CA loading per test.
    with httpx.Client(timeout=5.0, verify=False) as http:
        yield http
