"""Stand-ins for the loop's collaborators in tests of one step: messages, a router, a source."""

from __future__ import annotations

from typing import Any

from tiktok_capi.consumer.failures.tiers import FailureInfo
from tiktok_capi.consumer.kafka.source import PartitionKey
from tiktok_capi.consumer.offsets.tracker import PartitionOffsets


class Msg:
    """A consumed message (the KafkaMessage seam)."""

    def __init__(
        self,
        topic: str,
        partition: int,
        offset: int,
        value: bytes | None = b"v",
        headers: list[tuple[str, bytes]] | None = None,
        error: Any = None,
    ) -> None:
        self._topic, self._partition, self._offset = topic, partition, offset
        self._value, self._headers, self._error = value, headers, error

    def error(self) -> Any:
        return self._error

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return None

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> list[tuple[str, bytes]] | None:
        return self._headers

    def timestamp(self) -> tuple[int, int]:
        return (1, 0)


class FakeRouter:
    """Records what a step hands to the failure router."""

    def __init__(self) -> None:
        self.dead: list[tuple[int, str, FailureInfo]] = []
        self.retried: list[tuple[int, FailureInfo]] = []

    def dead_letter(
        self,
        tracker: PartitionOffsets,
        offset: int,
        message: Any,
        reason: str,
        failure: FailureInfo,
        now: float,
    ) -> None:
        self.dead.append((offset, reason, failure))

    def retry(
        self, tracker: PartitionOffsets, offset: int, message: Any, failure: FailureInfo, now: float
    ) -> None:
        self.retried.append((offset, failure))


class FakeSource:
    """Records pauses, resumes and seeks (the flow-control seam)."""

    def __init__(self) -> None:
        self.paused: set[str] = set()
        self.seeks: list[tuple[str, int, int]] = []
        self.timed: dict[PartitionKey, float] = {}

    def pause_all(self, reason: str) -> None:
        self.paused.add(reason)

    def resume_all(self, reason: str) -> None:
        self.paused.discard(reason)

    def is_paused_for(self, reason: str) -> bool:
        return reason in self.paused

    def seek(self, topic: str, partition: int, offset: int) -> None:
        self.seeks.append((topic, partition, offset))

    def pause_until(self, key: PartitionKey, resume_at: float) -> None:
        self.timed[key] = resume_at
