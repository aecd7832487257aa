"""The one place that commits offsets.

Called only from the poll loop: every ``commit_interval_s`` (:meth:`Committer.maybe_commit`),
from the revoke callback for the revoked partitions, and at shutdown (:meth:`Committer.commit`).
It commits, synchronously, each tracker's
:attr:`~tiktok_capi.consumer.offsets.tracker.PartitionOffsets.committable` offset when it moved
since the last commit. A failed commit is logged and counted and leaves the trackers untouched, so
the next attempt commits the same (or a later) point: offsets are never committed past an unresolved
record, and a failed commit only means more re-delivery.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, Literal

from confluent_kafka import KafkaException, TopicPartition

from tiktok_capi.consumer.offsets.tracker import PartitionOffsets
from tiktok_capi.consumer.telemetry.metrics import COMMIT_DURATION, COMMITTED_OFFSET

__all__ = ["CommitFn", "Committer", "Trigger"]

log = logging.getLogger(__name__)

Trigger = Literal["interval", "revoke", "shutdown"]
# `consumer.commit(offsets=..., asynchronous=False)`: returns the partitions with their errors.
CommitFn = Callable[[list[TopicPartition]], Any]


class Committer:
    """Commits resolved offsets; the only code that calls the consumer's commit.

    Args:
        commit_fn: synchronous commit of explicit offsets (raises ``KafkaException`` on failure).
        interval_s: how often :meth:`maybe_commit` commits.
        clock: monotonic clock (injected by tests).
        on_committed: told of every offset committed (``topic, partition, offset``).
    """

    def __init__(
        self,
        commit_fn: CommitFn,
        interval_s: float,
        clock: Callable[[], float] = time.monotonic,
        on_committed: Callable[[str, int, int], None] | None = None,
    ) -> None:
        self._commit_fn = commit_fn
        self._on_committed = on_committed
        self._interval_s = interval_s
        self._clock = clock
        self._next = clock() + interval_s
        self.commits = 0
        self.failures = 0

    def maybe_commit(self, trackers: Iterable[PartitionOffsets]) -> bool:
        """Commit if the interval has elapsed; returns whether a commit succeeded."""
        now = self._clock()
        if now < self._next:
            return False
        self._next = now + self._interval_s
        return self.commit(trackers, "interval")

    def commit(self, trackers: Iterable[PartitionOffsets], trigger: Trigger) -> bool:
        """Commit every tracker whose committable offset moved; True when nothing failed."""
        todo: list[tuple[PartitionOffsets, int]] = []
        for tracker in trackers:
            offset = tracker.committable
            if tracker.active and offset is not None and offset != tracker.committed:
                todo.append((tracker, offset))
        if not todo:
            return True
        offsets = [TopicPartition(t.topic, t.partition, offset) for t, offset in todo]
        started = self._clock()
        try:
            result = self._commit_fn(offsets)
        except KafkaException as exc:
            self._failed(trigger, started, str(exc.args[0] if exc.args else exc))
            return False
        failed = {
            (tp.topic, tp.partition): tp.error
            for tp in (result or ())
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
