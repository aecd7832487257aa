"""Batcher: batches close when full or after the linger, and keep their records' references."""

from __future__ import annotations

from tiktok_capi.consumer.loop.batcher import Batch, Batcher
from tiktok_capi.consumer.offsets.tracker import PartitionOffsets


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_full_batch_is_returned_by_add() -> None:
    tracker = PartitionOffsets("t", 0)
    batcher = Batcher(3, 1.0, Clock())
    assert batcher.add(b"a", tracker, 0, "m0", "Pageview") is None
    assert batcher.add(b"b", tracker, 1, "m1", "Pageview") is None
    batch = batcher.add(b"c", tracker, 2, "m2", "Purchase")
    assert batch is not None
    assert batch.events == [b"a", b"b", b"c"]
    assert batch.offsets == [0, 1, 2]
    assert batch.messages == ["m0", "m1", "m2"]
    assert batch.names == ["Pageview", "Pageview", "Purchase"]
    assert batcher.pending == 0


def test_partial_batch_lingers_then_is_due() -> None:
    clock = Clock()
    tracker = PartitionOffsets("t", 0)
    batcher = Batcher(1000, 0.2, clock)
    assert batcher.due() is None
    batcher.add(b"a", tracker, 0, None, "X")
    clock.now += 0.125
    batcher.add(b"b", tracker, 1, None, "X")
    assert batcher.due() is None
    clock.now += 0.125
    batch = batcher.due()
    assert batch is not None and len(batch) == 2
    assert batcher.due() is None


def test_flush_returns_whatever_is_pending() -> None:
    batcher = Batcher(10, 5.0, Clock())
    assert batcher.flush() is None
    batcher.add(b"a", PartitionOffsets("t", 0), 0, None, "X")
    batch = batcher.flush()
    assert batch is not None and batch.events == [b"a"]
    assert batcher.flush() is None


def test_discard_drops_events_of_revoked_partitions() -> None:
    kept, revoked = PartitionOffsets("t", 0), PartitionOffsets("t", 1)
    batcher = Batcher(10, 5.0, Clock())
    batcher.add(b"a", kept, 0, None, "X")
    batcher.add(b"b", revoked, 0, None, "Y")
    batcher.add(b"c", kept, 1, None, "Z")
    revoked.retire()
    assert batcher.discard(lambda t: t.active) == 1
    batch = batcher.flush()
    assert batch is not None
    assert batch.events == [b"a", b"c"]
    assert batch.names == ["X", "Z"]
    assert batch.offsets == [0, 1]


def test_extend_copies_selected_events() -> None:
    tracker = PartitionOffsets("t", 0)
    source = Batch(0.0)
    for i in range(4):
        source.events.append(bytes([65 + i]))
        source.trackers.append(tracker)
        source.offsets.append(i)
        source.messages.append(i)
        source.names.append("X")
    target = Batch(0.0)
    target.extend(source, (1, 3))
    assert target.events == [b"B", b"D"]
    assert target.offsets == [1, 3]


def test_add_many_makes_the_batches_one_add_per_event_makes() -> None:
    clock = Clock()
    trackers = [PartitionOffsets("t", 0), PartitionOffsets("t", 1)]
    one, many = Batcher(4, 1.0, clock), Batcher(4, 1.0, clock)
    single: list[Batch] = []
    bulk: list[Batch] = []
    offset = 0
    for size in (3, 6, 1, 0, 9):  # fills the partial batch first, then whole ones
        clock.now += 1
        rows = [
            (b"e%d" % o, trackers[o % 2], o, f"m{o}", "Pageview" if o % 3 else "Purchase")
            for o in range(offset, offset + size)
        ]
        offset += size
        for row in rows:
            if (batch := one.add(*row)) is not None:
                single.append(batch)
        events, trackers_, offsets, messages, names = ([row[k] for row in rows] for k in range(5))
        bulk.extend(many.add_many(events, trackers_, offsets, messages, names))
    assert [b.events for b in bulk] == [b.events for b in single] and len(bulk) == 4
    for got, want in zip(bulk, single, strict=True):
        assert got.trackers == want.trackers and got.offsets == want.offsets
        assert got.messages == want.messages and got.names == want.names
        assert got.started == want.started  # when its first event came
    assert many.pending == one.pending == 3
