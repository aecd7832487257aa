"""In-process retry policy and the interruptible wait every pause of the sender goes through.

:class:`RetryPolicy` is the explicit budget of one delivery: how many attempts, and how long to
wait before each retry — exponential with full jitter (a uniform draw between 0 and
``base * 2**(retry-1)``, capped at ``max``), so that several senders hit by the same outage do not
come back in lock-step. A server's ``Retry-After`` wins over the drawn delay, but is capped at
``max`` too: a long wait belongs in the retry tiers (Kafka), not in a sender thread.

:class:`Waiter` is the one place the sender sleeps (backoffs and rate-limit waits). ``interrupt``
ends every current and future wait at once, which is what makes ``Sender.close`` fast.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass

from tiktok_capi.consumer.config.settings import TikTokSettings

__all__ = ["RetryPolicy", "Waiter"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Attempts and delays of one request in-process.

    Attributes:
        attempts: requests made at most (the first one included); ``1`` means no retry.
        base_delay_s: ceiling of the first retry's jittered delay; doubles per retry.
        max_delay_s: longest wait before one retry, ``Retry-After`` included.
    """

    attempts: int
    base_delay_s: float
    max_delay_s: float

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.base_delay_s < 0 or self.max_delay_s < 0:
            raise ValueError("delays must not be negative")

    @classmethod
    def from_settings(cls, settings: TikTokSettings) -> RetryPolicy:
        """The policy of the ``SEND_RETRY_ATTEMPTS`` and ``SEND_RETRY_*BACKOFF`` settings."""
        return cls(
            attempts=settings.send_retry_attempts,
            base_delay_s=settings.send_retry_backoff_s,
            max_delay_s=settings.send_retry_max_backoff_s,
        )

    @property
    def retries(self) -> int:
        """Retries allowed after the first attempt."""
        return self.attempts - 1

    def delay(
        self,
        retry: int,
        *,
        retry_after_s: float | None = None,
        rand: Callable[[], float] = random.random,
    ) -> float:
        """Seconds to wait before retry number ``retry`` (1-based).

        ``rand`` returns a float in [0, 1) (injected by tests for exact delays).
        """
        if retry_after_s is not None:
            return min(max(retry_after_s, 0.0), self.max_delay_s)
        ceiling = self.base_delay_s * 2.0 ** min(max(retry - 1, 0), 62)
        return min(ceiling, self.max_delay_s) * rand()


class Waiter:
    """Interruptible sleeping shared by the sender's threads.

    Args:
        sleep: waits the given seconds; tests inject one that advances a fake clock. By default
            waits on an internal event, so :meth:`interrupt` ends a wait at once. With an
            injected ``sleep`` the interruption is seen when the sleep returns.
    """

    def __init__(self, sleep: Callable[[float], object] | None = None) -> None:
        self._interrupted = threading.Event()
        self._sleep = sleep

    def wait(self, seconds: float) -> bool:
        """Wait ``seconds``; ``True`` when the whole wait passed, ``False`` when interrupted."""
        if self._interrupted.is_set():
            return False
        if seconds > 0:
            if self._sleep is None:
                return not self._interrupted.wait(seconds)
            self._sleep(seconds)
        return not self._interrupted.is_set()

    def interrupt(self) -> None:
        """End every current and future wait (irreversible)."""
        self._interrupted.set()

    @property
    def interrupted(self) -> bool:
        """Whether :meth:`interrupt` was called."""
        return self._interrupted.is_set()
