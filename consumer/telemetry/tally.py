"""Counts the poll loop adds to metrics, handed to OpenTelemetry once per interval.

An OpenTelemetry ``add`` is not free: its attribute set is hashed and frozen, matched against
views and folded into each reader's aggregation under a lock. The poll loop made several per
consumed batch and per delivered request (one per topic, event name or skip reason, and the
in-flight counts every iteration), which added up to a visible share of its CPU
(docs/performance.md). A :class:`Tally` sums them in a dict instead and makes one ``add`` per
counter and attribute value when :meth:`Tally.flush_due` finds the interval over: a scrape sees
the loop's counts at most that interval late.

Single-threaded: one tally belongs to the poll loop. With ``interval_s=0`` every add goes
through at once (unit tests of the steps, which read metrics right after a call).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final, Protocol

__all__ = ["STRAIGHT_THROUGH", "Addable", "Tally"]


class Addable(Protocol):
    """An OpenTelemetry counter or up-down counter."""

    def add(self, amount: int, attributes: dict[str, str] | None = None) -> None:
        """Add ``amount`` for ``attributes``."""
        ...


class Tally:
    """Sums adds per (counter, attribute); publishes them every ``interval_s``.

    Args:
        interval_s: longest time a count waits before it reaches its counter (0: never waits).
        clock: monotonic seconds (injected by tests).
    """

    def __init__(
        self, interval_s: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._interval = interval_s
        self._clock = clock
        self._due = clock() + interval_s
        self._pending: dict[tuple[Addable, str, str], int] = {}

    def add(self, counter: Addable, amount: int, key: str = "", value: str = "") -> None:
        """Count ``amount`` for ``counter`` with the attribute ``key=value`` (none when ``key``
        is empty)."""
        if self._interval <= 0:
            counter.add(amount, {key: value} if key else None)
            return
        entry = (counter, key, value)
        self._pending[entry] = self._pending.get(entry, 0) + amount

    def flush_due(self) -> None:
        """Publish the pending counts when the interval is over (the loop asks every iteration)."""
        if self._pending and self._clock() >= self._due:
            self.flush()

    def flush(self) -> None:
        """Publish every pending count now (and at shutdown)."""
        pending, self._pending = self._pending, {}
        self._due = self._clock() + self._interval
        for (counter, key, value), amount in pending.items():
            if amount:
                counter.add(amount, {key: value} if key else None)


STRAIGHT_THROUGH: Final = Tally(0)
"""Every add at once: the steps' default when no loop hands them its tally (it keeps no state)."""
