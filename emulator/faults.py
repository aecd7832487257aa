"""Deciding, per request, which fault (if any) the emulator injects.

Decisions are drawn from one seeded generator under a lock, the same number of draws for every
request, so the n-th request meets the same fault on every run whatever the rates of the other
faults. Time comes from injected clocks (wall time for the token-revocation window, a monotonic
clock for the QPS bucket) so tests need no sleeps.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from tiktok_capi.emulator.config import FaultConfig

__all__ = ["FaultDecision", "FaultInjector", "FaultKind"]

FaultKind = Literal["drop", "hang", "revoked", "qps_limit", "throttle", "error_5xx"]

_5XX_STATUSES = (500, 502, 503, 504)


@dataclass(frozen=True, slots=True)
class FaultDecision:
    """What to do to one request: ``kind`` None means answer normally (after ``latency_s``).

    ``status`` is the HTTP status of a throttling or 5xx answer; ``hang_s`` and
    ``retry_after_s`` are copied from the faults in force when the decision was drawn.
    """

    kind: FaultKind | None
    latency_s: float
    status: int = 0
    hang_s: float = 0.0
    retry_after_s: int = 0


class FaultInjector:
    """Thread-safe fault decisions for the track endpoint.

    Args:
        faults: the faults active at first.
        default_seed: seed used when ``faults.seed`` is None.
        wall_clock: Unix time in seconds (for ``token_revoked_until``).
        monotonic: a monotonic clock in seconds (for ``qps_limit``).
    """

    def __init__(
        self,
        faults: FaultConfig,
        default_seed: int,
        *,
        wall_clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self._default_seed = default_seed
        self._wall_clock = wall_clock
        self._monotonic = monotonic
        self._faults = faults
        self._random = random.Random()
        self._tokens = 0.0
        self._refilled_at = 0.0
        self.configure(faults)

    @property
    def faults(self) -> FaultConfig:
        """The faults in force."""
        return self._faults

    def configure(self, faults: FaultConfig) -> None:
        """Replace the faults; reseeds the generator and refills the QPS bucket."""
        with self._lock:
            self._faults = faults
            seed = self._default_seed if faults.seed is None else faults.seed
            self._random.seed(seed)
            self._tokens = _bucket_size(faults.qps_limit)
            self._refilled_at = self._monotonic()

    def decide(self) -> FaultDecision:
        """Draw the fault for the next request (call once per request of the track endpoint)."""
        with self._lock:
            faults = self._faults
            draw = self._random.random
            drop, hang, throttle, error, which = draw(), draw(), draw(), draw(), draw()
            over_limit = self._over_qps_limit(faults.qps_limit)
        latency = faults.latency_ms / 1000.0
        if drop < faults.drop_rate:
            return FaultDecision("drop", latency)
        if hang < faults.hang_rate:
            return FaultDecision("hang", latency, hang_s=faults.hang_s)
        revoked_until = faults.token_revoked_until
        if revoked_until is not None and self._wall_clock() < revoked_until:
            return FaultDecision("revoked", latency)
        if over_limit:
            return FaultDecision(
                "qps_limit",
                latency,
                faults.throttle_http_status,
                retry_after_s=faults.retry_after_s,
            )
        if throttle < faults.throttle_rate:
            return FaultDecision(
                "throttle", latency, faults.throttle_http_status, retry_after_s=faults.retry_after_s
            )
        if error < faults.error_5xx_rate:
            status = _5XX_STATUSES[int(which * len(_5XX_STATUSES))]
            return FaultDecision("error_5xx", latency, status)
        return FaultDecision(None, latency)

    def _over_qps_limit(self, limit: float | None) -> bool:
        """Token bucket of ``max(limit, 1)`` requests, refilled at ``limit`` per second."""
        if limit is None:
            return False
        now = self._monotonic()
        refilled = self._tokens + (now - self._refilled_at) * limit
        self._tokens = min(_bucket_size(limit), refilled)
        self._refilled_at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return False
        return True


def _bucket_size(limit: float | None) -> float:
    return 0.0 if limit is None else max(limit, 1.0)
