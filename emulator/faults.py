"""Deciding, per request, which fault (if any) the emulator injects.

Decisions are drawn from seeded generators under a lock, the same number of draws for every
request, so the n-th request meets the same fault on every run whatever the rates of the other
faults. The faults added later (latency spike, canned answer, cut answer) draw from a second
generator, so that the first one's sequence — what a given seed did before they existed — is
unchanged. Time comes from injected clocks (wall time for the token-revocation window, a monotonic
clock for the QPS bucket) so tests need no sleeps.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NamedTuple

from tiktok_capi.emulator.config import FaultConfig

__all__ = ["FaultDecision", "FaultInjector", "FaultKind"]

FaultKind = Literal[
    "drop", "hang", "revoked", "qps_limit", "throttle", "error_5xx", "answer", "cut"
]

_5XX_STATUSES = (500, 502, 503, 504)


@dataclass(frozen=True, slots=True)
class FaultDecision:
    """What to do to one request: ``kind`` None means answer normally (after ``latency_s``).

    ``status`` is the HTTP status of a throttling, 5xx or canned answer; ``hang_s``,
    ``retry_after_s`` and the canned ``body``/``content_type`` are copied from the faults in
    force when the decision was drawn. ``spiked`` says ``latency_s`` includes a latency spike.
    """

    kind: FaultKind | None
    latency_s: float
    status: int = 0
    hang_s: float = 0.0
    retry_after_s: int = 0
    spiked: bool = False
    body: str = ""
    content_type: str = ""


class _Draws(NamedTuple):
    """The random values one request draws (``which`` picks the 5xx status)."""

    drop: float
    hang: float
    throttle: float
    error: float
    which: float
    spike: float
    answer: float
    cut: float


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
        self._later = random.Random()  # draws of the faults added later (module docstring)
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
            self._later.seed(f"later-faults:{seed}")
            self._tokens = _bucket_size(faults.qps_limit)
            self._refilled_at = self._monotonic()

    def decide(self) -> FaultDecision:
        """Draw the fault for the next request (call once per request of the track endpoint)."""
        with self._lock:
            faults = self._faults
            draw, later = self._random.random, self._later.random
            draws = _Draws(draw(), draw(), draw(), draw(), draw(), later(), later(), later())
            over_limit = self._over_qps_limit(faults.qps_limit)
        latency = faults.latency_ms / 1000.0
        spiked = draws.spike < faults.spike_rate
        if spiked:
            latency += faults.spike_ms / 1000.0
        return dataclasses.replace(
            self._decision(faults, draws, over_limit, latency), spiked=spiked
        )

    def _decision(
        self, faults: FaultConfig, draws: _Draws, over_limit: bool, latency: float
    ) -> FaultDecision:
        """The fault of one request, the first that fires in the documented order."""
        if draws.drop < faults.drop_rate:
            return FaultDecision("drop", latency)
        if draws.hang < faults.hang_rate:
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
        if draws.throttle < faults.throttle_rate:
            return FaultDecision(
                "throttle", latency, faults.throttle_http_status, retry_after_s=faults.retry_after_s
            )
        if draws.error < faults.error_5xx_rate:
            status = _5XX_STATUSES[int(draws.which * len(_5XX_STATUSES))]
            return FaultDecision("error_5xx", latency, status)
        if draws.answer < faults.answer_rate:
            return FaultDecision(
                "answer",
                latency,
                faults.answer_status,
                body=faults.answer_body,
                content_type=faults.answer_content_type,
            )
        if draws.cut < faults.cut_rate:
            return FaultDecision("cut", latency)
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
