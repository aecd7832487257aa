"""FlowControl: retry-tier pauses bounded by the tier's delay, backpressure by records."""

from __future__ import annotations

import pytest

from tests.consumer.loop.test_pipeline import Msg
from tiktok_capi.consumer.failures.tiers import HEADER_DUE_AT
from tiktok_capi.consumer.kafka.source import PartitionKey
from tiktok_capi.consumer.loop.flow import FlowControl
from tiktok_capi.consumer.telemetry.stats import StatsRecorder

NOW = 1_700_000_000.0
KEY = ("src.retry.1", 0)


class PauseRecorder:
    def __init__(self) -> None:
        self.seeks: list[tuple[str, int, int]] = []
        self.timed: list[tuple[PartitionKey, float]] = []
        self.reasons: set[str] = set()

    def pause_all(self, reason: str) -> None:
        self.reasons.add(reason)

    def resume_all(self, reason: str) -> None:
        self.reasons.discard(reason)

    def is_paused_for(self, reason: str) -> bool:
        return reason in self.reasons

    def seek(self, topic: str, partition: int, offset: int) -> None:
        self.seeks.append((topic, partition, offset))

    def pause_until(self, key: PartitionKey, resume_at: float) -> None:
        self.timed.append((key, resume_at))


class StampedMsg(Msg):
    def __init__(self, due_s: float, stamp_s: float) -> None:
        headers = [(HEADER_DUE_AT, str(round(due_s * 1000)).encode())]
        super().__init__(KEY[0], KEY[1], 5, b"v", headers)
        self._stamp = (1, round(stamp_s * 1000))  # CreateTime: the writer's clock

    def timestamp(self) -> tuple[int, int]:
        return self._stamp


def _flow(source: PauseRecorder) -> FlowControl:
    return FlowControl(source, 100, StatsRecorder(), clock=lambda: 500.0)


def test_a_record_due_in_three_days_pauses_its_partition_for_the_tier_delay_only() -> None:
    source = PauseRecorder()
    ahead = NOW + 3 * 86_400  # the writer's clock is three days ahead
    assert _flow(source).not_due(KEY, StampedMsg(ahead + 30, ahead), 5, NOW, 30.0)
    assert source.seeks == [(KEY[0], KEY[1], 5)]
    [(key, resume_at)] = source.timed
    assert key == KEY and resume_at == pytest.approx(530.0)


def test_a_due_record_is_taken() -> None:
    source = PauseRecorder()
    assert not _flow(source).not_due(KEY, StampedMsg(NOW - 1, NOW - 31), 5, NOW, 30.0)
    assert source.timed == [] and source.seeks == []
