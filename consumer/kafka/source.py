"""Where records come off Kafka: group membership, assignment, pause/resume, rebalance callbacks.

:class:`Source` wraps one ``confluent_kafka.Consumer`` subscribed to the source topic and every
retry tier topic (cooperative-sticky). It is used by the poll loop's thread only: rebalance,
statistics and error callbacks all run inside :meth:`Source.consume`, on that thread.

Pausing has several independent reasons, combined here so that one never undoes another:

- *global* reasons pause every assigned partition (``backpressure``, ``destination`` down,
  ``shutdown``), and newly assigned partitions join the pause at the next :meth:`Source.sync`;
- *timed* per-partition pauses end at a monotonic deadline (a retry-tier record not due yet).
  The caller seeks the partition back to the record first, and shortens its consume timeout to
  :attr:`Source.next_timed_resume` so the partition resumes on time.

librdkafka drops the pre-fetched messages of a paused partition and resumes from the last message
handed to the application (+1), so pausing after a consume loses nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

import orjson
from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from tiktok_capi.consumer.telemetry.health_state import HealthState
from tiktok_capi.consumer.telemetry.metrics import CONSUMER_LAG, PARTITIONS_ASSIGNED, REBALANCES

__all__ = ["LagListener", "PartitionKey", "RebalanceListener", "Source"]

log = logging.getLogger(__name__)

PartitionKey = tuple[str, int]

# Connection-level errors librdkafka has already logged (through the `logger`) when it hands
# them to error_cb: logging them again would print every failure twice.
_LOGGED_BY_CLIENT = frozenset(
    {
        KafkaError._TRANSPORT,
        KafkaError._RESOLVE,
        KafkaError._SSL,
        KafkaError._AUTHENTICATION,
    }
)


class RebalanceListener(Protocol):
    """What the poll loop does when partitions come and go (called inside ``consume``)."""

    def on_assigned(self, partitions: Sequence[PartitionKey]) -> None:
        """Partitions were added to this member's assignment."""

    def on_revoked(self, partitions: Sequence[PartitionKey], *, lost: bool) -> None:
        """Partitions are about to leave the assignment (``lost``: already owned by another).

        When not lost, the partitions are still assigned during the call: commit what is
        resolved for them now.
        """


LagListener = Callable[[str, int, "int | None"], None]
"""Receives ``(topic, partition, lag)``; ``None`` when the partition left this member."""


class Source:
    """The consumer of the source topic and the retry tiers.

    Args:
        conf: librdkafka consumer configuration
        (``tiktok_capi.consumer.config.kafka.consumer_config``).
        topics: topics to subscribe to.
        listener: receives assignment changes.
        health: receives broker reachability and assignment facts.
        clock: monotonic seconds (timed pauses).
        on_lag: receives each assigned partition's lag at every statistics callback.

    Lag is computed here, not taken from librdkafka's ``consumer_lag``: that one is -1 until
    the group committed (a new group shows no lag at all), and for partitions it does not fetch
    (paused retry tiers) it may come from ListOffsets answers (wrong on some Kafka-protocol
    brokers). The high watermark is the highest seen in the statistics (fetch responses carry
    it), never lowered within an assignment; the base is the committed offset, or the
    consumer's position before the first commit.
    """

    def __init__(
        self,
        conf: dict[str, Any],
        topics: Sequence[str],
        listener: RebalanceListener,
        health: HealthState,
        clock: Callable[[], float] = time.monotonic,
        on_lag: LagListener | None = None,
    ) -> None:
        self._listener = listener
        self._on_lag = on_lag
        self._high: dict[PartitionKey, int] = {}  # highest watermark seen, per partition
        self._health = health
        self._clock = clock
        self._topics = list(topics)
        conf = dict(conf)
        conf["stats_cb"] = self._on_stats
        conf["error_cb"] = self._on_error
        conf["on_commit"] = self._on_commit
        conf.setdefault("logger", logging.getLogger("librdkafka.consumer"))  # not raw stderr
        self.fatal_error: str | None = None
        self._brokers_down = False
        self.commit_results: Callable[[Any, list[TopicPartition] | None], None] | None = None
        """Receives the result of every :meth:`commit_async` (inside :meth:`consume`)."""
        self.assigned: set[PartitionKey] = set()
        self._paused: set[PartitionKey] = set()  # what librdkafka has paused
        self._global: set[str] = set()  # reasons pausing every partition
        self._timed: dict[PartitionKey, float] = {}  # partition -> resume at (monotonic)
        # Newly assigned: librdkafka may keep a pause flag from an earlier assignment.
        self._fresh: set[PartitionKey] = set()
        self._consumer = Consumer(conf)

    # --- membership -------------------------------------------------------------------------------
    def subscribe(self) -> None:
        """Join the group; assignment arrives through the listener during :meth:`consume`."""
        self._consumer.subscribe(
            self._topics, on_assign=self._on_assign, on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )  # fmt: skip
        self._health.set_assignment(assigned=False, waiting=True)

    def _on_assign(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        keys = [(tp.topic, tp.partition) for tp in partitions]
        self.assigned.update(keys)
        self._fresh.update(keys)
        self._health.set_assignment(assigned=bool(self.assigned), waiting=False)
        self._health.set_broker_reachable(True)
        if keys:
            log.info("partitions assigned: %s", _describe(keys))
            REBALANCES.add(1, {"kind": "assigned"})
            self._count_assigned(keys)
        self._listener.on_assigned(keys)

    def _on_revoke(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        self._drop(partitions, lost=False)

    def _on_lost(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        self._drop(partitions, lost=True)

    def _drop(self, partitions: list[TopicPartition], *, lost: bool) -> None:
        keys = [(tp.topic, tp.partition) for tp in partitions]
        if keys:
            log.log(
                logging.WARNING if lost else logging.INFO,
                "partitions %s: %s",
                "lost" if lost else "revoked",
                _describe(keys),
            )
        try:
            self._listener.on_revoked(keys, lost=lost)
        finally:
            for key in keys:
                self.assigned.discard(key)
                self._paused.discard(key)
                self._timed.pop(key, None)
                self._fresh.discard(key)
                self._high.pop(key, None)
                # This member's view: the partition's lag is now its new owner's to report.
                CONSUMER_LAG.set(0, {"topic": key[0], "partition": key[1]})
                if self._on_lag is not None:
                    self._on_lag(key[0], key[1], None)
            self._health.set_assignment(assigned=bool(self.assigned), waiting=not self.assigned)
            if keys:
                REBALANCES.add(1, {"kind": "lost" if lost else "revoked"})
                self._count_assigned(keys)

    def _count_assigned(self, changed: Sequence[PartitionKey]) -> None:
        for topic in {t for t, _ in changed}:
            count = sum(1 for t, _ in self.assigned if t == topic)
            PARTITIONS_ASSIGNED.set(count, {"topic": topic})

    # --- consuming --------------------------------------------------------------------------------
    def consume(self, num_messages: int, timeout: float) -> list[Message]:
        """Fetch up to ``num_messages`` records (rebalance and stats callbacks run in here)."""
        messages: list[Message] = self._consumer.consume(num_messages, timeout)
        return messages

    def commit(self, offsets: list[TopicPartition]) -> Any:
        """Synchronous commit of explicit offsets (used by the offsets package's ``Committer``)."""
        return self._consumer.commit(offsets=offsets, asynchronous=False)

    def commit_async(self, offsets: list[TopicPartition]) -> None:
        """Asynchronous commit of explicit offsets; the result goes to :attr:`commit_results`."""
        self._consumer.commit(offsets=offsets, asynchronous=True)

    def _on_commit(self, error: Any, partitions: list[TopicPartition] | None) -> None:
        if self.commit_results is not None:
            self.commit_results(error, partitions)

    def seek(self, topic: str, partition: int, offset: int) -> None:
        """Rewind a partition so ``offset`` is consumed again."""
        self._consumer.seek(TopicPartition(topic, partition, offset))

    def close(self) -> None:
        """Leave the group and close the consumer (no commit: the committer did it)."""
        self._consumer.close()
        self._health.set_assignment(assigned=False, waiting=False)

    # --- pausing ----------------------------------------------------------------------------------
    def pause_all(self, reason: str) -> None:
        """Pause every assigned partition for ``reason`` until :meth:`resume_all` (reason)."""
        if reason not in self._global:
            self._global.add(reason)
            log.debug("pausing all partitions: %s", reason)
            self.sync()

    def resume_all(self, reason: str) -> None:
        """Lift the global pause ``reason``; partitions resume unless another reason holds."""
        if reason in self._global:
            self._global.discard(reason)
            log.debug("lifting global pause: %s", reason)
            self.sync()

    def is_paused_for(self, reason: str) -> bool:
        """Whether the global pause ``reason`` is in force."""
        return reason in self._global

    def pause_until(self, key: PartitionKey, resume_at: float) -> None:
        """Pause one partition until the monotonic time ``resume_at``."""
        self._timed[key] = resume_at
        self.sync()

    def sync(self, now: float | None = None) -> None:
        """Apply the pause reasons: expire timed pauses, pause/resume the difference."""
        if self._timed:
            now = self._clock() if now is None else now
            for key in [k for k, at in self._timed.items() if at <= now]:
                del self._timed[key]
        if self._global:
            wanted = set(self.assigned)
        else:
            wanted = {key for key in self._timed if key in self.assigned}
        fresh = self._fresh
        if wanted == self._paused and not fresh:
            return
        to_pause = wanted - self._paused
        to_resume = (self._paused - wanted) | (fresh - wanted)
        fresh.clear()
        if to_pause:
            self._consumer.pause(_tps(to_pause))
        if to_resume:
            self._consumer.resume(_tps(to_resume))
        self._paused = wanted

    @property
    def next_timed_resume(self) -> float | None:
        """The earliest monotonic deadline of a timed pause (to shorten the poll timeout)."""
        return min(self._timed.values()) if self._timed else None

    # --- callbacks --------------------------------------------------------------------------------
    def _on_stats(self, stats_json: str) -> None:
        try:
            stats = orjson.loads(stats_json)
        except orjson.JSONDecodeError:  # pragma: no cover - librdkafka always sends JSON
            return
        if any(b.get("state") == "UP" for b in stats.get("brokers", {}).values()):
            self._health.set_broker_reachable(True)
            if self._brokers_down:
                self._brokers_down = False
                log.warning("Kafka brokers reachable again")
        for topic, tstats in stats.get("topics", {}).items():
            for pid, pstats in tstats.get("partitions", {}).items():
                key = (topic, int(pid))
                if key[1] < 0 or key not in self.assigned:
                    continue
                lag = self._lag(key, pstats)
                if lag is None:
                    continue
                CONSUMER_LAG.set(lag, {"topic": topic, "partition": key[1]})
                if self._on_lag is not None:
                    self._on_lag(topic, key[1], lag)

    def _lag(self, key: PartitionKey, pstats: dict[str, Any]) -> int | None:
        """Committed offset (or position) to the highest watermark seen; ``None`` if unknown."""
        stable, high = _offset(pstats, "ls_offset"), _offset(pstats, "hi_offset")
        seen = max(self._high.get(key, -1), stable if stable >= 0 else high)
        if seen < 0:
            return None
        self._high[key] = seen
        # Before the first commit: the position (app_offset, reset by a seek; then the next
        # offset to fetch), else the start of the log.
        for name in ("committed_offset", "app_offset", "next_offset", "lo_offset"):
            base = _offset(pstats, name)
            if base >= 0:
                return max(0, seen - base)
        return None

    def _on_error(self, error: KafkaError) -> None:
        code = error.code()
        if code == KafkaError._ALL_BROKERS_DOWN:
            self._health.set_broker_reachable(False)
            if not self._brokers_down:  # once per outage; librdkafka logs each attempt
                self._brokers_down = True
                log.error("all Kafka brokers are down: %s", error.str())
        elif error.fatal():
            self.fatal_error = error.str()
            log.error("fatal Kafka consumer error: %s", error.str())
        elif code in _LOGGED_BY_CLIENT:
            log.debug("Kafka consumer error: %s", error.str())
        else:
            log.warning("Kafka consumer error: %s", error.str())


def _offset(pstats: dict[str, Any], name: str) -> int:
    value = pstats.get(name, -1)
    return value if isinstance(value, int) else -1


def _tps(keys: Iterable[PartitionKey]) -> list[TopicPartition]:
    return [TopicPartition(topic, partition) for topic, partition in sorted(keys)]


def _describe(keys: Iterable[PartitionKey]) -> str:
    return ", ".join(f"{topic}[{partition}]" for topic, partition in sorted(keys))
