"""Committer: commits each partition's resolved point, on interval, revoke and shutdown."""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from tiktok_capi.consumer.offsets.commit import Committer
from tiktok_capi.consumer.offsets.tracker import PartitionOffsets


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeCommit:
    def __init__(self) -> None:
        self.calls: list[list[tuple[str, int, int]]] = []
        self.fail_with: KafkaException | None = None
        self.partition_error: KafkaError | None = None

    def __call__(self, offsets: list[TopicPartition]) -> Any:
        if self.fail_with is not None:
            raise self.fail_with
        self.calls.append([(tp.topic, tp.partition, tp.offset) for tp in offsets])
        if self.partition_error is not None:
            return [Failed(tp.topic, tp.partition, self.partition_error) for tp in offsets]
        return offsets


class Failed:
    def __init__(self, topic: str, partition: int, error: KafkaError) -> None:
        self.topic, self.partition, self.error = topic, partition, error


def tracked(topic: str, partition: int, offsets: range) -> PartitionOffsets:
    tracker = PartitionOffsets(topic, partition)
    for offset in offsets:
        tracker.track(offset)
    return tracker


def test_commits_only_resolved_points_and_only_when_they_moved() -> None:
    fake = FakeCommit()
    committed: list[tuple[str, int, int]] = []
    committer = Committer(fake, 5.0, Clock(), on_committed=lambda *a: committed.append(a))
    a = tracked("t", 0, range(0, 5))
    b = tracked("t", 1, range(0, 3))
    for offset in (0, 1, 3):
        a.resolve(offset)
    assert committer.commit([a, b], "shutdown")
    assert fake.calls == [[("t", 0, 2), ("t", 1, 0)]]  # b: nothing resolved yet
    assert committed == [("t", 0, 2), ("t", 1, 0)]
    assert a.committed == 2
    assert committer.commit([a, b], "shutdown")
    assert len(fake.calls) == 1  # nothing moved: no call at all


def test_nothing_resolved_commits_the_first_offset_once() -> None:
    fake = FakeCommit()
    tracker = tracked("t", 0, range(7, 9))
    committer = Committer(fake, 5.0, Clock())
    committer.commit([tracker], "interval")
    assert fake.calls == [[("t", 0, 7)]]


def test_interval_is_respected() -> None:
    fake = FakeCommit()
    clock = Clock()
    committer = Committer(fake, 5.0, clock)
    tracker = tracked("t", 0, range(0, 2))
    tracker.resolve(0)
    assert not committer.maybe_commit([tracker])
    clock.now = 5.0
    assert committer.maybe_commit([tracker])
    tracker.resolve(1)
    clock.now = 6.0
    assert not committer.maybe_commit([tracker])
    clock.now = 10.0
    assert committer.maybe_commit([tracker])
    assert fake.calls == [[("t", 0, 1)], [("t", 0, 2)]]


def test_retired_trackers_are_never_committed() -> None:
    fake = FakeCommit()
    tracker = tracked("t", 0, range(0, 2))
    tracker.resolve(0)
    tracker.retire()
    assert Committer(fake, 1.0, Clock()).commit([tracker], "revoke")
    assert fake.calls == []


def test_failed_commit_is_retried_next_time() -> None:
    fake = FakeCommit()
    fake.fail_with = KafkaException(KafkaError(KafkaError.REBALANCE_IN_PROGRESS))
    committer = Committer(fake, 1.0, Clock())
    tracker = tracked("t", 0, range(0, 1))
    tracker.resolve(0)
    assert not committer.commit([tracker], "interval")
    assert tracker.committed is None
    fake.fail_with = None
    assert committer.commit([tracker], "interval")
    assert fake.calls == [[("t", 0, 1)]]


def test_partition_error_leaves_that_partition_uncommitted() -> None:
    fake = FakeCommit()
    fake.partition_error = KafkaError(KafkaError.UNKNOWN_MEMBER_ID)
    committer = Committer(fake, 1.0, Clock())
    tracker = tracked("t", 0, range(0, 1))
    tracker.resolve(0)
    assert not committer.commit([tracker], "interval")
    assert tracker.committed is None


class AsyncCommit:
    """Records asynchronous commits; the test answers them through ``Committer.on_result``."""

    def __init__(self) -> None:
        self.sent: list[list[TopicPartition]] = []

    def __call__(self, offsets: list[TopicPartition]) -> None:
        self.sent.append(offsets)


def test_interval_commits_are_asynchronous_and_one_at_a_time() -> None:
    # Issue 12, defect 12: a synchronous interval commit held the poll loop for as long as the
    # coordinator did not answer (minutes with a stalled broker).
    sync, sent, clock = FakeCommit(), AsyncCommit(), Clock()
    committed: list[tuple[str, int, int]] = []
    committer = Committer(
        sync, 1.0, clock, on_committed=lambda *a: committed.append(a), commit_async=sent
    )
    a = tracked("t", 0, range(0, 4))
    a.resolve(0)
    clock.now = 1.0
    assert committer.maybe_commit([a]) is True
    assert sync.calls == [] and [[tp.offset for tp in o] for o in sent.sent] == [[1]]
    assert committer.waiting and a.committed is None  # not before the coordinator said so
    a.resolve(1)
    clock.now = 2.0
    assert committer.maybe_commit([a]) is False  # the last one is unanswered: nothing piles up
    committer.on_result(None, sent.sent[0])
    assert not committer.waiting and a.committed == 1 and committed == [("t", 0, 1)]
    clock.now = 3.0
    assert committer.maybe_commit([a]) is True
    assert [tp.offset for tp in sent.sent[1]] == [2]


def test_a_failed_asynchronous_commit_is_sent_again_later() -> None:
    sent, clock = AsyncCommit(), Clock()
    committer = Committer(FakeCommit(), 1.0, clock, commit_async=sent)
    a = tracked("t", 0, range(0, 2))
    a.resolve(0)
    clock.now = 1.0
    committer.maybe_commit([a])
    committer.on_result(KafkaError(KafkaError.REQUEST_TIMED_OUT), sent.sent[0])
    assert committer.failures == 1 and a.committed is None and not committer.waiting
    clock.now = 2.0
    assert committer.maybe_commit([a]) is True and len(sent.sent) == 2


def test_the_echo_of_a_synchronous_commit_is_ignored() -> None:
    sync, sent, clock = FakeCommit(), AsyncCommit(), Clock()
    committer = Committer(sync, 1.0, clock, commit_async=sent)
    a = tracked("t", 0, range(0, 3))
    a.resolve(0)
    clock.now = 1.0
    committer.maybe_commit([a])  # async, offset 1
    a.resolve(1)
    assert committer.commit([a], "revoke")  # sync, offset 2
    committer.on_result(None, [TopicPartition("t", 0, 2)])  # librdkafka reports that one too
    assert committer.waiting and a.committed == 2
    committer.on_result(None, sent.sent[0])
    assert not committer.waiting and a.committed == 2  # the late answer does not go back
