"""The dead-letter limit: insurance against a bad deploy dead-lettering a whole stream.

Modelled on arroyo's ``DlqLimit``: past ``DLQ_MAX_PER_MINUTE`` dead letters in a sliding minute,
the :class:`~tiktok_capi.consumer.failures.router.FailureRouter` stops the destination (and the
connector exits with :attr:`~tiktok_capi.consumer.status.ExitStatus.STOPPED`) instead of writing
the record that crossed the limit.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Final

__all__ = ["DlqLimiter"]


class DlqLimiter:
    """Counts dead letters in a sliding minute; :meth:`record` is False past the limit.

    Args:
        max_per_minute: ``DLQ_MAX_PER_MINUTE``; 0 means no limit.
        clock: monotonic seconds (injected in tests).
    """

    WINDOW_S: Final = 60.0

    def __init__(self, max_per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        if max_per_minute < 0:
            raise ValueError("max_per_minute must not be negative")
        self.max_per_minute = max_per_minute
        self._clock = clock
        # Only the newest max+1 times matter to decide "more than max in a minute".
        self._times: deque[float] = deque(maxlen=max_per_minute + 1 if max_per_minute else 1)

    def record(self) -> bool:
        """Count one dead letter now; False when more than the limit fell in the last minute."""
        if not self.max_per_minute:
            return True
        now = self._clock()
        self._times.append(now)
        while self._times and self._times[0] <= now - self.WINDOW_S:
            self._times.popleft()
        return len(self._times) <= self.max_per_minute
