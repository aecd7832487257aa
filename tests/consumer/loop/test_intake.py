"""Intake alone: what it tracks, what it hands back, where failures go (injected clocks)."""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaError

from tests.consumer.loop.support import FakeRouter, FakeSource, Msg
from tests.fixtures.clock import ManualClock
from tiktok_capi.consumer.decode.transform import (
    MAPPED,
    MAPPING_FAILED,
    REGISTRY_DOWN,
    SKIPPED,
    UNDECODABLE,
)
from tiktok_capi.consumer.failures.tiers import HEADER_DUE_AT
from tiktok_capi.consumer.loop.batcher import Batcher
from tiktok_capi.consumer.loop.flow import FlowControl
from tiktok_capi.consumer.loop.intake import REGISTRY_BACKOFF_S, Intake
from tiktok_capi.consumer.loop.lanes import Lanes
from tiktok_capi.consumer.malloc import LARGE_RECORD_BYTES
from tiktok_capi.consumer.telemetry.stats import StatsRecorder

NOW = 1_700_000_000.0


class Setup:
    def __init__(self, batch_size: int = 3, max_record_bytes: int = 0) -> None:
        self.large_records = 0
        self.lanes = Lanes()
        self.lanes.add(("src", 0), None)
        self.lanes.add(("src", 1), None)
        self.lanes.add(("src.retry.1", 0), 1, 300.0)  # tier 1, its delay
        self.source = FakeSource()
        self.clock = ManualClock()
        self.stats = StatsRecorder()
        self.router = FakeRouter()
        flow = FlowControl(self.source, 1000, self.stats, self.clock)
        self.intake = Intake(
            self.lanes,
            flow,
            Batcher(batch_size, 10.0, clock=self.clock),
            self.router,  # type: ignore[arg-type]
            self.stats,
            clock=self.clock,
            wall_clock=lambda: NOW,
            max_record_bytes=max_record_bytes,
            on_large_record=self._large_record,
        )

    def _large_record(self) -> None:
        self.large_records += 1


class Eof:
    def code(self) -> int:
        return KafkaError._PARTITION_EOF

    def str(self) -> str:
        return "eof"


def mapped(name: str = "Pageview") -> tuple[Any, ...]:
    return (MAPPED, name, b'{"event":"Pageview"}')


def test_take_tracks_what_is_assigned_and_drops_the_rest() -> None:
    s = Setup()
    chunk = s.intake.take(
        [Msg("src", 0, 5), Msg("src", 1, 9), Msg("src", 7, 1), Msg("other", 0, 1),
         Msg("src", 0, 6, error=Eof())]
    )  # fmt: skip
    assert chunk is not None
    assert chunk.offsets == [5, 9] and chunk.now == NOW
    assert s.lanes.in_flight() == 2
    assert s.stats.snapshot().consumed == 2
    assert s.intake.take([Msg("other", 0, 2)]) is None


def test_runs_of_a_partition_are_taken_as_one_record_at_a_time_would_be() -> None:
    # take() tracks a run of one source partition in one step; a run with a tombstone, a record
    # over MAX_RECORD_BYTES or an offset taken already falls back to one record at a time, and
    # a retry tier's run always does. Same chunk, same offsets, same dead letters.
    s = Setup(max_record_bytes=10)
    due = str(int((NOW + 60) * 1000)).encode()
    chunk = s.intake.take(
        [Msg("src", 0, 5), Msg("src", 0, 6), Msg("src", 1, 9),   # two clean runs
         Msg("src", 0, 7, value=None), Msg("src", 0, 8),          # a tombstone
         Msg("src", 1, 10), Msg("src", 1, 9), Msg("src", 1, 11),  # 9 again: dropped
         Msg("src", 0, 9, value=b"x" * 11), Msg("src", 0, 10),    # over the cap
         Msg("src.retry.1", 0, 3, headers=[(HEADER_DUE_AT, due)]), Msg("src.retry.1", 0, 4),
         Msg("other", 0, 1), Msg("src", 7, 1)]                     # not ours
    )  # fmt: skip
    assert chunk is not None
    assert [(m.partition(), m.offset()) for m in chunk.messages] == [
        (0, 5), (0, 6), (1, 9), (0, 7), (0, 8), (1, 10), (1, 11), (0, 10)
    ]  # fmt: skip
    assert chunk.offsets == [m.offset() for m in chunk.messages]
    assert chunk.values == [m.value() for m in chunk.messages]
    assert [t.partition for t in chunk.trackers] == [m.partition() for m in chunk.messages]
    assert [(o, reason) for o, reason, _ in s.router.dead] == [(9, "record_too_large")]
    src0, src1 = s.lanes.by_topic["src"][0].tracker, s.lanes.by_topic["src"][1].tracker
    assert (src0.unresolved, src0.last, src0.bytes) == (6, 10, 4 + 11)
    assert (src1.unresolved, src1.last) == (3, 11)
    assert s.source.seeks == [("src.retry.1", 0, 3)]  # its head is not due: rewound
    assert s.stats.snapshot().consumed == 9


def test_the_first_large_record_is_reported_once_however_it_is_taken() -> None:
    # What fixes the allocator's mmap threshold (consumer/malloc.py): not for ordinary records,
    # then once, whether the large record comes in a run, one at a time or over the size cap.
    s = Setup(max_record_bytes=LARGE_RECORD_BYTES * 2)
    small = b"x" * (LARGE_RECORD_BYTES - 1)
    s.intake.take([Msg("src", 0, 1, value=small), Msg("src", 1, 1, value=small)])
    assert s.large_records == 0
    s.intake.take([Msg("src", 0, 2), Msg("src", 0, 3, value=b"x" * LARGE_RECORD_BYTES)])
    assert s.large_records == 1
    s.intake.take([Msg("src", 0, 4, value=None), Msg("src", 0, 5, value=b"x" * 10**6)])
    assert s.large_records == 1
    for take_each in (True, False):  # a tombstone in the run: one record at a time
        fresh = Setup(max_record_bytes=LARGE_RECORD_BYTES * 2)
        run = [Msg("src", 0, 1, value=b"x" * (LARGE_RECORD_BYTES * 3))]
        fresh.intake.take([Msg("src", 0, 0, value=None), *run] if take_each else run)
        assert fresh.large_records == 1
        assert [reason for _, reason, _ in fresh.router.dead] == ["record_too_large"]


def test_a_tier_record_not_due_blocks_the_rest_of_its_partition_in_the_batch() -> None:
    s = Setup()
    due = str(int((NOW + 60) * 1000)).encode()
    chunk = s.intake.take(
        [Msg("src.retry.1", 0, 3, headers=[(HEADER_DUE_AT, due)]), Msg("src.retry.1", 0, 4),
         Msg("src", 0, 1)]
    )  # fmt: skip
    assert chunk is not None and chunk.offsets == [1]
    assert s.source.seeks == [("src.retry.1", 0, 3)]


def test_apply_batches_mapped_events_and_returns_the_full_batches() -> None:
    s = Setup(batch_size=2)
    chunk = s.intake.take([Msg("src", 0, i) for i in range(3)])
    assert chunk is not None
    full = s.intake.apply(chunk, [mapped(), mapped(), mapped()])
    assert [batch.offsets for batch in full] == [[0, 1]]
    assert s.lanes.in_flight() == 3  # batched is not resolved
    assert s.stats.snapshot().mapped == 3


def test_skips_resolve_at_once_and_failures_go_to_the_router() -> None:
    s = Setup()
    chunk = s.intake.take([Msg("src", 0, i) for i in range(4)])
    assert chunk is not None
    s.intake.apply(
        chunk,
        [(SKIPPED, "unmapped_event"), (UNDECODABLE, "garbage", "not Avro"),
         (MAPPING_FAILED, "mapping failed: TypeError"), mapped()],
    )  # fmt: skip
    tracker = next(iter(s.lanes.trackers()))
    assert tracker.committable == 1  # offset 0 skipped; 1 waits for its dead letter's ack
    assert [(o, r) for o, r, _ in s.router.dead] == [(1, "decode_error"), (2, "mapping_error")]
    assert "garbage" in s.router.dead[0][2].message
    assert s.stats.snapshot().skipped == {"unmapped_event": 1}


def test_results_of_a_revoked_partition_are_ignored() -> None:
    s = Setup()
    chunk = s.intake.take([Msg("src", 1, 0)])
    assert chunk is not None
    s.lanes.remove(s.lanes.pick([("src", 1)]))
    assert s.intake.apply(chunk, [(UNDECODABLE, "garbage", "x")]) == []
    assert s.router.dead == []


def test_registry_down_keeps_the_records_and_decodes_them_again_after_a_backoff() -> None:
    s = Setup()
    chunk = s.intake.take([Msg("src", 0, 0), Msg("src", 0, 1)])
    assert chunk is not None
    s.intake.apply(chunk, [(REGISTRY_DOWN, "503"), (SKIPPED, "unmapped_event")])
    assert s.lanes.in_flight() == 1 and s.router.dead == []
    assert s.intake.redo_due() == []
    s.clock.advance(REGISTRY_BACKOFF_S[0])
    [again] = s.intake.redo_due()
    assert again.offsets == [0]
    s.intake.apply(again, [(REGISTRY_DOWN, "503")])  # still down: the backoff grows
    s.clock.advance(REGISTRY_BACKOFF_S[0])
    assert s.intake.redo_due() == []
    s.clock.advance(REGISTRY_BACKOFF_S[1] - REGISTRY_BACKOFF_S[0])
    assert len(s.intake.redo_due()) == 1


def test_a_mixed_chunk_batches_in_order_and_ignores_a_partition_revoked_meanwhile() -> None:
    s = Setup(batch_size=2)
    chunk = s.intake.take([Msg("src", 0, i) for i in range(4)] + [Msg("src", 1, 0)])
    assert chunk is not None
    s.lanes.remove(s.lanes.pick([("src", 1)]))
    full = s.intake.apply(
        chunk,
        [mapped("A"), (SKIPPED, "unmapped_event"), mapped("B"), mapped("C"), mapped("D")],
    )
    assert [(batch.offsets, batch.names) for batch in full] == [([0, 2], ["A", "B"])]
    assert s.intake.apply(chunk.subset([]), []) == []
    tracker = next(iter(s.lanes.trackers()))
    assert tracker.committable == 0 and tracker.unresolved == 3  # 1 skipped; 0, 2, 3 batched
    assert s.stats.snapshot().mapped == 3 and s.stats.snapshot().skipped == {"unmapped_event": 1}
