"""Counters of a running connector, readable from any thread (`Connector.stats()`).

The poll loop writes them once per consumed batch or delivery result (not per event), under a
lock; readers get a frozen :class:`ConnectorStats` copy. Metrics (OpenTelemetry) are recorded
separately; these numbers are for the demo, the benchmark and tests.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["ConnectorStats", "StatsRecorder"]


@dataclass(frozen=True)
class ConnectorStats:
    """A snapshot of what the connector has done since it started.

    Attributes:
        consumed: records read from Kafka (source and retry tiers).
        mapped: events mapped to a TikTok event.
        skipped: events skipped by the mapping, by reason.
        delivered: events accepted by TikTok, by TikTok event name.
        retried: records written to a retry tier, by tier number.
        dead_lettered: records written to the dead-letter topic, by reason.
        requests: HTTP requests made (retries and splits included).
        in_flight: records consumed and not yet resolved.
        committed: last committed offset by (topic, partition).
        started_at: epoch seconds when the connector started.
        assigned: partitions currently assigned, as (topic, partition), sorted.
        lag: records behind the high watermark by (topic, partition), for the assigned
            partitions whose statistics arrived (see ``tiktok_capi.consumer.kafka.source``).
    """

    consumed: int = 0
    mapped: int = 0
    skipped: Mapping[str, int] = field(default_factory=dict)
    delivered: Mapping[str, int] = field(default_factory=dict)
    retried: Mapping[int, int] = field(default_factory=dict)
    dead_lettered: Mapping[str, int] = field(default_factory=dict)
    requests: int = 0
    in_flight: int = 0
    committed: Mapping[tuple[str, int], int] = field(default_factory=dict)
    started_at: float = 0.0
    assigned: tuple[tuple[str, int], ...] = ()
    lag: Mapping[tuple[str, int], int] = field(default_factory=dict)

    @property
    def delivered_total(self) -> int:
        """Events accepted by TikTok, all names together."""
        return sum(self.delivered.values())

    @property
    def skipped_total(self) -> int:
        """Events skipped by the mapping, all reasons together."""
        return sum(self.skipped.values())

    @property
    def dead_lettered_total(self) -> int:
        """Records dead-lettered, all reasons together."""
        return sum(self.dead_lettered.values())

    @property
    def retried_total(self) -> int:
        """Records written to retry tiers, all tiers together."""
        return sum(self.retried.values())


class StatsRecorder:
    """The mutable counters behind :class:`ConnectorStats` (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started_at = time.time()
        self._consumed = 0
        self._mapped = 0
        self._requests = 0
        self._in_flight = 0
        self._skipped: Counter[str] = Counter()
        self._delivered: Counter[str] = Counter()
        self._retried: Counter[int] = Counter()
        self._dead: Counter[str] = Counter()
        self._committed: dict[tuple[str, int], int] = {}
        self._assigned: tuple[tuple[str, int], ...] = ()
        self._lag: dict[tuple[str, int], int] = {}

    def consumed(self, records: int, mapped: int, skipped: Mapping[str, int]) -> None:
        """Count one consumed batch."""
        with self._lock:
            self._consumed += records
            self._mapped += mapped
            if skipped:
                self._skipped.update(skipped)

    def delivered(self, by_name: Mapping[str, int], requests: int) -> None:
        """Count one delivery result."""
        with self._lock:
            self._delivered.update(by_name)
            self._requests += requests

    def written(self, tier: int | None, reason: str | None) -> None:
        """Count one acknowledged retry (``tier``) or dead-letter (``reason``) write."""
        with self._lock:
            if tier is None:
                self._dead[reason or "unknown"] += 1
            else:
                self._retried[tier] += 1

    def set_in_flight(self, in_flight: int) -> None:
        """Record the number of unresolved records."""
        self._in_flight = in_flight

    def set_committed(self, topic: str, partition: int, offset: int) -> None:
        """Record a committed offset."""
        with self._lock:
            self._committed[(topic, partition)] = offset

    def set_assigned(self, partitions: tuple[tuple[str, int], ...]) -> None:
        """Record the current assignment."""
        with self._lock:
            self._assigned = partitions

    def set_lag(self, topic: str, partition: int, lag: int | None) -> None:
        """Record a partition's lag; ``None`` forgets it (the partition left this member)."""
        with self._lock:
            if lag is None:
                self._lag.pop((topic, partition), None)
            else:
                self._lag[(topic, partition)] = lag

    def snapshot(self) -> ConnectorStats:
        """A consistent copy."""
        with self._lock:
            return ConnectorStats(
                consumed=self._consumed,
                mapped=self._mapped,
                skipped=MappingProxyType(dict(self._skipped)),
                delivered=MappingProxyType(dict(self._delivered)),
                retried=MappingProxyType(dict(self._retried)),
                dead_lettered=MappingProxyType(dict(self._dead)),
                requests=self._requests,
                in_flight=self._in_flight,
                committed=MappingProxyType(dict(self._committed)),
                started_at=self.started_at,
                assigned=self._assigned,
                lag=MappingProxyType(dict(self._lag)),
            )
