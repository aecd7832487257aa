"""The one place that commits offsets.

Called only from the poll loop: every ``commit_interval_s`` (:meth:`Committer.maybe_commit`),
from the revoke callback for the revoked partitions (:meth:`Committer.commit`), and at shutdown
(:meth:`Committer.commit_async` then :meth:`Committer.waiting`). It commits each tracker's
:attr:`~tiktok_capi.consumer.offsets.tracker.PartitionOffsets.committable` offset when it moved
since the last commit. A failed commit is logged and counted and leaves the trackers untouched, so
the next attempt commits the same (or a later) point: offsets are never committed past an unresolved
record, and a failed commit only means more re-delivery.

Interval and shutdown commits are **asynchronous**: a synchronous commit blocks the poll loop
until the group coordinator answers, which while it is away (a broker stalled or partitioned)
is minutes — measured here, a stalled broker held one for more than four — and the loop then
neither polls, nor heartbeats its liveness, nor serves results. Their results come back through
:meth:`Committer.on_result` (librdkafka's ``on_commit``, inside ``consume``, on the loop); one
interval commit is in flight at a time. Revoke commits stay synchronous: a rebalance is driven by
the coordinator, so it is there, and the partitions must be committed before they move on.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Final, Literal

from confluent_kafka import KafkaException, TopicPartition

from tiktok_capi.consumer.offsets.tracker import PartitionOffsets
from tiktok_capi.consumer.telemetry.metrics import COMMIT_DURATION, COMMITTED_OFFSET

__all__ = ["AsyncCommitFn", "CommitFn", "Committer", "Trigger"]

log = logging.getLogger(__name__)

Trigger = Literal["interval", "revoke", "shutdown"]
_UNANSWERED_S: Final = 120.0  # an asynchronous commit not answered by then is given up on
# `consumer.commit(offsets=..., asynchronous=False)`: returns the partitions with their errors.
CommitFn = Callable[[list[TopicPartition]], Any]
# `consumer.commit(offsets=..., asynchronous=True)`: the result comes to `Committer.on_result`.
AsyncCommitFn = Callable[[list[TopicPartition]], None]


class _Sent:
    """One asynchronous commit waiting for its result."""

    __slots__ = ("started", "todo", "trigger")

    def __init__(
        self, todo: list[tuple[PartitionOffsets, int]], trigger: Trigger, started: float
    ) -> None:
        self.todo = todo
        self.trigger = trigger
        self.started = started


class Committer:
    """Commits resolved offsets; the only code that calls the consumer's commit.

    Args:
        commit_fn: synchronous commit of explicit offsets (raises ``KafkaException`` on failure).
        interval_s: how often :meth:`maybe_commit` commits.
        clock: monotonic clock (injected by tests).
        on_committed: told of every offset committed (``topic, partition, offset``).
        commit_async: asynchronous commit of explicit offsets, its result to :meth:`on_result`;
            without it every commit is synchronous.
    """

    def __init__(
        self,
        commit_fn: CommitFn,
        interval_s: float,
        clock: Callable[[], float] = time.monotonic,
        on_committed: Callable[[str, int, int], None] | None = None,
        commit_async: AsyncCommitFn | None = None,
    ) -> None:
        self._commit_fn = commit_fn
        self._commit_async = commit_async
        self._sent: deque[_Sent] = deque()
        self._on_committed = on_committed
        self._interval_s = interval_s
        self._clock = clock
        self._next = clock() + interval_s
        self.commits = 0
        self.failures = 0

    def maybe_commit(self, trackers: Iterable[PartitionOffsets]) -> bool:
        """Commit if the interval has elapsed (asynchronously when it can; one at a time).

        Returns whether a commit was sent (asynchronous) or succeeded (synchronous).
        """
        now = self._clock()
        if now < self._next:
            return False
        self._next = now + self._interval_s
        if self._commit_async is None:
            return self.commit(trackers, "interval")
        if self._sent and now - self._sent[0].started < _UNANSWERED_S:
            return False  # the coordinator has not answered the last one yet
        if self._sent:
            log.warning("offset commit unanswered for %.0fs; committing again", _UNANSWERED_S)
            self._sent.clear()
        return self.commit_async(trackers, "interval")

    @property
    def waiting(self) -> bool:
        """An asynchronous commit has not been answered yet."""
        return bool(self._sent)

    def commit_async(self, trackers: Iterable[PartitionOffsets], trigger: Trigger) -> bool:
        """Send a commit of every tracker whose committable offset moved, without waiting.

        Returns whether one was sent; its result comes to :meth:`on_result`. Without an
        asynchronous commit function this commits synchronously.
        """
        if self._commit_async is None:
            return self.commit(trackers, trigger)
        todo = self._todo(trackers)
        if not todo:
            return False
        offsets = [TopicPartition(t.topic, t.partition, offset) for t, offset in todo]
        started = self._clock()
        try:
            self._commit_async(offsets)
        except KafkaException as exc:
            self._failed(trigger, started, str(exc.args[0] if exc.args else exc))
            return False
        self._sent.append(_Sent(todo, trigger, started))
        return True

    def on_result(self, error: Any, partitions: list[TopicPartition] | None) -> None:
        """librdkafka's ``on_commit``: the result of one asynchronous commit.

        It is matched to the commit it answers by its offsets (librdkafka also reports the
        synchronous ones here; those were settled already and are ignored).
        """
        result = list(partitions or ())
        answered = {(tp.topic, tp.partition, tp.offset) for tp in result}
        for sent in self._sent:
            if {(t.topic, t.partition, offset) for t, offset in sent.todo} == answered:
                self._sent.remove(sent)
                if error is not None:
                    self._failed(sent.trigger, sent.started, str(error))
                else:
                    self._settle(sent.todo, result, sent.trigger, sent.started)
                return
        if error is not None and not result and self._sent:  # a failure naming no partition
            sent = self._sent.popleft()
            self._failed(sent.trigger, sent.started, str(error))

    def commit(self, trackers: Iterable[PartitionOffsets], trigger: Trigger) -> bool:
        """Commit every tracker whose committable offset moved, synchronously.

        Returns True when nothing failed.
        """
        todo = self._todo(trackers)
        if not todo:
            return True
        offsets = [TopicPartition(t.topic, t.partition, offset) for t, offset in todo]
        started = self._clock()
        try:
            result = self._commit_fn(offsets)
        except KafkaException as exc:
            self._failed(trigger, started, str(exc.args[0] if exc.args else exc))
            return False
        return self._settle(todo, list(result or ()), trigger, started)

    def _todo(self, trackers: Iterable[PartitionOffsets]) -> list[tuple[PartitionOffsets, int]]:
        todo: list[tuple[PartitionOffsets, int]] = []
        for tracker in trackers:
            offset = tracker.committable
            if tracker.active and offset is not None and offset != tracker.committed:
                todo.append((tracker, offset))
        return todo

    def _settle(
        self,
        todo: list[tuple[PartitionOffsets, int]],
        result: list[Any],
        trigger: Trigger,
        started: float,
    ) -> bool:
        failed = {
            (tp.topic, tp.partition): tp.error
            for tp in result
            if getattr(tp, "error", None) is not None
        }
        COMMIT_DURATION.record(
            self._clock() - started,
            {"trigger": trigger, "outcome": "error" if failed else "ok"},
        )
        for tracker, offset in todo:
            error = failed.get((tracker.topic, tracker.partition))
            if error is not None:
                log.warning(
                    "commit of %s[%d] at offset %d failed (%s): %s",
                    tracker.topic,
                    tracker.partition,
                    offset,
                    trigger,
                    error,
                    extra={"topic": tracker.topic, "partition": tracker.partition},
                )
                continue
            if not tracker.active:
                continue  # revoked meanwhile: the new owner reports its own offsets
            if tracker.committed is not None and offset <= tracker.committed:
                continue  # a late answer: a later commit got through first
            tracker.committed = offset
            COMMITTED_OFFSET.set(offset, {"topic": tracker.topic, "partition": tracker.partition})
            if self._on_committed is not None:
                self._on_committed(tracker.topic, tracker.partition, offset)
        if failed:
            self.failures += 1
            return False
        self.commits += 1
        log.debug("committed %d partition(s) (%s)", len(todo), trigger)
        return True

    def _failed(self, trigger: Trigger, started: float, reason: str) -> None:
        self.failures += 1
        COMMIT_DURATION.record(self._clock() - started, {"trigger": trigger, "outcome": "error"})
        log.warning("offset commit failed (%s): %s", trigger, reason)
