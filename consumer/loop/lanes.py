"""The partitions this member owns, as the poll loop sees them: one lane per assignment.

A :class:`Lane` carries the partition's offset tracker for the current assignment and, for a
retry tier topic, its tier number. :class:`Lanes` is the loop's table of them, updated only by
the rebalance callbacks (on the poll loop), and the one source of the in-flight load: the
records tracked and not resolved yet and their value bytes, summed over the lanes (so no step
keeps a counter of its own that could drift), plus the *orphans*: records of partitions revoked
meanwhile that a request or a decode worker still holds. Those no longer count for their
partition, but they still take memory until their request or chunk comes back; without them a
rebalance storm would let the loop take a fresh ``MAX_IN_FLIGHT_*`` on top of them each time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from tiktok_capi.consumer.kafka.source import PartitionKey
from tiktok_capi.consumer.offsets.tracker import PartitionOffsets

__all__ = ["Lane", "Lanes"]


class Lane:
    """One assigned partition: its key, its retry tier (``None`` for the source) and tracker.

    ``delay_s`` is the retry tier's delay (0 for the source).
    """

    __slots__ = ("delay_s", "key", "tier", "tracker")

    def __init__(self, key: PartitionKey, tier: int | None, delay_s: float = 0.0) -> None:
        self.key = key
        self.tier = tier
        self.delay_s = delay_s
        self.tracker = PartitionOffsets(key[0], key[1])


class Lanes:
    """The assigned partitions by topic and partition (read on the hot path by intake)."""

    __slots__ = ("_by_key", "_orphan_bytes", "_orphan_records", "_orphans", "by_topic")

    def __init__(self) -> None:
        self._by_key: dict[PartitionKey, Lane] = {}
        self._orphans: dict[int, tuple[int, int]] = {}  # id(holder) -> (records, bytes)
        self._orphan_records = 0
        self._orphan_bytes = 0
        self.by_topic: dict[str, dict[int, Lane]] = {}
        """``topic -> partition -> lane``: two dict lookups per consumed record."""

    def add(self, key: PartitionKey, tier: int | None, delay_s: float = 0.0) -> Lane:
        """A new assignment of ``key`` (a fresh tracker); ``delay_s``: its retry tier's delay."""
        lane = Lane(key, tier, delay_s)
        self._by_key[key] = lane
        self.by_topic.setdefault(key[0], {})[key[1]] = lane
        return lane

    def pick(self, keys: Iterable[PartitionKey]) -> list[Lane]:
        """The lanes of ``keys`` that are assigned."""
        return [self._by_key[key] for key in keys if key in self._by_key]

    def remove(self, lanes: Sequence[Lane]) -> None:
        """Forget ``lanes`` and retire their trackers (late results must not resolve anything)."""
        for lane in lanes:
            self._by_key.pop(lane.key, None)
            self.by_topic.get(lane.key[0], {}).pop(lane.key[1], None)
            lane.tracker.retire()

    def trackers(self) -> Iterator[PartitionOffsets]:
        """Every assigned partition's tracker."""
        return (lane.tracker for lane in self._by_key.values())

    def keys(self) -> tuple[PartitionKey, ...]:
        """The assigned partitions, sorted."""
        return tuple(sorted(self._by_key))

    def in_flight(self) -> int:
        """Records tracked and not resolved yet, over every assigned partition, and orphans."""
        return sum(lane.tracker.unresolved for lane in self._by_key.values()) + self._orphan_records

    def in_flight_bytes(self) -> int:
        """Value bytes of the records :meth:`in_flight` counts."""
        return sum(lane.tracker.bytes for lane in self._by_key.values()) + self._orphan_bytes

    def orphan(self, holder: object, records: int, size: int) -> None:
        """``holder`` (a batch in a request, a chunk in a worker) still holds ``records``
        records of ``size`` bytes of partitions revoked meanwhile; counted until
        :meth:`release`."""
        if records <= 0:
            return
        key = id(holder)
        old_records, old_bytes = self._orphans.get(key, (0, 0))
        self._orphans[key] = (old_records + records, old_bytes + size)
        self._orphan_records += records
        self._orphan_bytes += size

    def release(self, holder: object) -> None:
        """``holder`` came back: its orphans no longer take memory."""
        if self._orphans:
            records, size = self._orphans.pop(id(holder), (0, 0))
            self._orphan_records -= records
            self._orphan_bytes -= size
