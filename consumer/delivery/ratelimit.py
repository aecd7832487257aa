"""Client-side rate limit of Events API requests, shared by every sender thread.

A token bucket in its virtual-scheduling form (GCRA): each :meth:`RateLimiter.acquire` reserves
the next free slot under a lock and then waits, outside the lock, until that slot comes. So
concurrent callers queue fairly, each waits exactly its share, and the lock is held for a few
arithmetic operations only. ``burst`` requests may go back to back after an idle spell; past that
requests are spaced ``1 / rate`` seconds apart. A rate of 0 means unlimited (no lock, no wait).

Waits go through the sender's :class:`~tiktok_capi.consumer.delivery.backoff.Waiter`, so closing the
sender ends them; each wait is counted in ``THROTTLE_WAITS`` / ``THROTTLE_WAIT_DURATION`` with
``cause=rate_limit``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Final

from tiktok_capi.consumer.delivery.backoff import Waiter
from tiktok_capi.consumer.telemetry.metrics import THROTTLE_WAIT_DURATION, THROTTLE_WAITS

__all__ = ["RateLimiter"]

_CAUSE: Final = {"cause": "rate_limit"}


class RateLimiter:
    """At most ``rate`` acquisitions per second (``burst`` at once), across threads.

    Args:
        rate: acquisitions per second; 0 = unlimited.
        burst: acquisitions allowed back to back after an idle spell (at least 1).
        clock: monotonic seconds (injected by tests).
        waiter: where waits happen (interruptible); a private one by default.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        waiter: Waiter | None = None,
    ) -> None:
        if rate < 0:
            raise ValueError("rate must not be negative")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate = rate
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._tolerance = (burst - 1) * self._interval
        self._clock = clock
        self._waiter = waiter if waiter is not None else Waiter()
        self._lock = threading.Lock()
        self._next_slot = float("-inf")  # the theoretical arrival time of the next request

    def reserve(self) -> float:
        """Claim the next slot; return how many seconds the caller must wait for it."""
        if self._interval == 0.0:
            return 0.0
        with self._lock:
            now = self._clock()
            slot = max(self._next_slot, now)
            self._next_slot = slot + self._interval
        return max(0.0, slot - self._tolerance - now)

    def acquire(self) -> bool:
        """Wait for the next slot; ``False`` when the wait was interrupted (sender closing)."""
        wait_s = self.reserve()
        if wait_s <= 0.0:
            return not self._waiter.interrupted
        THROTTLE_WAITS.add(1, _CAUSE)
        THROTTLE_WAIT_DURATION.add(wait_s, _CAUSE)
        return self._waiter.wait(wait_s)
