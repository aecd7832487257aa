"""Batching: JSON-encoded TikTok events -> requests of at most ``batch_size`` events.

A batch closes when it is full or when its first event has waited ``linger_s`` (the poll loop
asks :meth:`Batcher.due` every iteration). Alongside each event the batch keeps what the poll loop
needs to resolve its record later: the partition tracker, the offset, the consumed message (its
bytes go to a retry or dead-letter topic when the event fails) and the TikTok event name (for the
delivered metric). Parallel lists, not one object per event: this is the hot path.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tiktok_capi.consumer.kafka.records import KafkaMessage
from tiktok_capi.consumer.offsets.tracker import PartitionOffsets

__all__ = ["Batch", "Batcher"]


class Batch:
    """Events of one request and the records they came from (index ``i`` of every list)."""

    __slots__ = ("events", "messages", "names", "offsets", "started", "trackers")

    def __init__(self, started: float) -> None:
        self.started = started
        self.events: list[bytes] = []
        self.trackers: list[PartitionOffsets] = []
        self.offsets: list[int] = []
        self.messages: list[KafkaMessage] = []
        self.names: list[str] = []

    def __len__(self) -> int:
        return len(self.events)

    def keep(self, predicate: Callable[[PartitionOffsets], bool]) -> int:
        """Drop the events whose tracker fails ``predicate``; returns how many were dropped."""
        keep = [i for i, tracker in enumerate(self.trackers) if predicate(tracker)]
        dropped = len(self.events) - len(keep)
        if dropped:
            self.events = [self.events[i] for i in keep]
            self.trackers = [self.trackers[i] for i in keep]
            self.offsets = [self.offsets[i] for i in keep]
            self.messages = [self.messages[i] for i in keep]
            self.names = [self.names[i] for i in keep]
        return dropped

    def extend(self, other: Batch, indexes: list[int] | tuple[int, ...]) -> None:
        """Append the events of ``other`` at ``indexes`` (used to re-send held events)."""
        for i in indexes:
            self.events.append(other.events[i])
            self.trackers.append(other.trackers[i])
            self.offsets.append(other.offsets[i])
            self.messages.append(other.messages[i])
            self.names.append(other.names[i])


class Batcher:
    """Accumulates events into batches of at most ``batch_size``; closes them after ``linger_s``.

    Args:
        batch_size: events per request (1..1000).
        linger_s: longest time the first event of a partial batch waits.
        clock: monotonic clock (injected by tests).
    """

    def __init__(
        self, batch_size: int, linger_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.batch_size = batch_size
        self.linger_s = linger_s
        self._clock = clock
        self._current: Batch | None = None

    def add(
        self, event: bytes, tracker: PartitionOffsets, offset: int, message: KafkaMessage, name: str
    ) -> Batch | None:
        """Add one event; returns the batch it completed, if it is now full."""
        full = self.add_many([event], [tracker], [offset], [message], [name])
        return full[0] if full else None

    def add_many(
        self,
        events: list[bytes],
        trackers: list[PartitionOffsets],
        offsets: list[int],
        messages: list[KafkaMessage],
        names: list[str],
    ) -> list[Batch]:
        """Add events in order (parallel lists, as :meth:`add`); returns the batches filled.

        The same batches as one :meth:`add` per event, built by slices: the poll loop adds a
        decoded chunk at a time, and per-event calls were a tenth of its own CPU.
        """
        full: list[Batch] = []
        start, count, size = 0, len(events), self.batch_size
        while start < count:
            batch = self._current
            if batch is None:
                batch = self._current = Batch(self._clock())
            end = min(count, start + size - len(batch.events))
            batch.events += events[start:end]
            batch.trackers += trackers[start:end]
            batch.offsets += offsets[start:end]
            batch.messages += messages[start:end]
            batch.names += names[start:end]
            if len(batch.events) >= size:
                self._current = None
                full.append(batch)
            start = end
        return full

    def due(self, now: float | None = None) -> Batch | None:
        """Return the partial batch if its first event has lingered long enough."""
        batch = self._current
        if batch is None:
            return None
        if (self._clock() if now is None else now) - batch.started >= self.linger_s:
            self._current = None
            return batch
        return None

    def flush(self) -> Batch | None:
        """Return the partial batch now, whatever its age (shutdown, revocation)."""
        batch, self._current = self._current, None
        return batch if batch is not None and batch.events else None

    def discard(self, predicate: Callable[[PartitionOffsets], bool]) -> int:
        """Drop pending events whose tracker fails ``predicate`` (revoked partitions)."""
        if self._current is None:
            return 0
        dropped = self._current.keep(predicate)
        if not self._current.events:
            self._current = None
        return dropped

    @property
    def pending(self) -> int:
        """Events waiting in the partial batch."""
        return 0 if self._current is None else len(self._current.events)
