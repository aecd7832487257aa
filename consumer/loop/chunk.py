"""A chunk: consumed records on their way through decoding, index ``i`` of every list.

Parallel lists rather than one object per record: this is the hot path. A chunk is what the
poll loop hands to :mod:`~tiktok_capi.consumer.decode.pool` (it satisfies ``DecodeWork``) and
gets back in a :class:`~tiktok_capi.consumer.loop.events.Decoded` event.
"""

from __future__ import annotations

from collections.abc import Iterable

from tiktok_capi.consumer.kafka.records import KafkaMessage
from tiktok_capi.consumer.offsets.tracker import PartitionOffsets

__all__ = ["Chunk"]


class Chunk:
    """Consumed records on their way through decode + map (index ``i`` of every list).

    Attributes:
        now: wall-clock seconds the mapping runs at (event times are judged against it).
        attempts: how often a decode worker failed on this chunk.
    """

    __slots__ = ("attempts", "messages", "now", "offsets", "trackers", "values")

    def __init__(self, now: float) -> None:
        self.now = now
        self.attempts = 0
        self.trackers: list[PartitionOffsets] = []
        self.offsets: list[int] = []
        self.messages: list[KafkaMessage] = []
        self.values: list[bytes | None] = []

    def __len__(self) -> int:
        return len(self.values)

    def subset(self, indexes: Iterable[int]) -> Chunk:
        """A new chunk of the records at ``indexes`` (same ``now`` and ``attempts``)."""
        part = Chunk(self.now)
        part.attempts = self.attempts
        for i in indexes:
            part.trackers.append(self.trackers[i])
            part.offsets.append(self.offsets[i])
            part.messages.append(self.messages[i])
            part.values.append(self.values[i])
        return part

    def split(self) -> list[Chunk]:
        """One chunk per record."""
        return [self.subset((i,)) for i in range(len(self.values))]
