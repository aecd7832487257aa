"""FlowControl alone: backpressure in two steps, retry-tier due times, the in-flight gauge."""

from __future__ import annotations

from tests.consumer.loop.support import FakeSource, Msg
from tests.fixtures.clock import ManualClock
from tiktok_capi.consumer.failures.tiers import HEADER_DUE_AT
from tiktok_capi.consumer.loop.flow import BACKPRESSURE, PAUSE_AFTER_S, FlowControl
from tiktok_capi.consumer.telemetry.stats import StatsRecorder

LIMIT = 100


def _flow() -> tuple[FlowControl, FakeSource, ManualClock, StatsRecorder]:
    source, clock, stats = FakeSource(), ManualClock(), StatsRecorder()
    return FlowControl(source, LIMIT, stats, clock), source, clock, stats


def test_below_the_limit_nothing_is_held_back() -> None:
    flow, source, _, _ = _flow()
    assert flow.held_back(LIMIT - 1) is False
    assert flow.room(LIMIT - 1) == 1 and flow.room(LIMIT + 5) == 0
    assert source.paused == set()


def test_a_short_excess_holds_back_a_lasting_one_pauses() -> None:
    flow, source, clock, _ = _flow()
    assert flow.held_back(LIMIT) is True  # step one: only drain results
    clock.advance(PAUSE_AFTER_S / 2)
    assert flow.held_back(LIMIT) is True and source.paused == set()
    clock.advance(PAUSE_AFTER_S / 2)
    assert flow.held_back(LIMIT) is False  # step two: paused, keep polling
    assert source.paused == {BACKPRESSURE}
    assert flow.held_back(LIMIT) is False  # already paused: nothing more to do


def test_the_excess_timer_restarts_once_below_the_limit() -> None:
    flow, source, clock, _ = _flow()
    flow.held_back(LIMIT)
    clock.advance(PAUSE_AFTER_S * 0.9)
    flow.held_back(LIMIT - 1)  # dipped below: a new excess starts from now
    flow.held_back(LIMIT)
    clock.advance(PAUSE_AFTER_S * 0.9)
    assert flow.held_back(LIMIT) is True and source.paused == set()


def test_release_resumes_at_half_the_limit() -> None:
    flow, source, clock, _ = _flow()
    flow.held_back(LIMIT)
    clock.advance(PAUSE_AFTER_S)
    flow.held_back(LIMIT)
    flow.release(LIMIT // 2 + 1)
    assert source.paused == {BACKPRESSURE}
    flow.release(LIMIT // 2)
    assert source.paused == set()


def test_a_tier_record_not_due_rewinds_and_pauses_its_partition() -> None:
    flow, source, clock, _ = _flow()
    now = 1_700_000_000.0
    due_ms = int((now + 30) * 1000)
    msg = Msg("t.retry.1", 2, 41, headers=[(HEADER_DUE_AT, str(due_ms).encode())])
    assert flow.not_due(("t.retry.1", 2), msg, 41, now, 30.0) is True
    assert source.seeks == [("t.retry.1", 2, 41)]
    assert source.timed == {("t.retry.1", 2): clock.now + 30}


def test_a_due_record_or_one_without_the_header_is_taken() -> None:
    flow, source, _, _ = _flow()
    now = 1_700_000_000.0
    past = Msg("t.retry.1", 0, 1, headers=[(HEADER_DUE_AT, str(int(now * 1000) - 1).encode())])
    damaged = Msg("t.retry.1", 0, 2, headers=[(HEADER_DUE_AT, b"soon")])
    assert flow.not_due(("t.retry.1", 0), past, 1, now, 30.0) is False
    assert flow.not_due(("t.retry.1", 0), damaged, 2, now, 30.0) is False
    assert flow.not_due(("t.retry.1", 0), Msg("t.retry.1", 0, 3), 3, now, 30.0) is False
    assert source.seeks == [] and source.timed == {}


def test_the_in_flight_count_is_reported_when_it_changes() -> None:
    flow, _, _, stats = _flow()
    flow.report_in_flight(7)
    assert stats.snapshot().in_flight == 7
    flow.report_in_flight(0)
    assert stats.snapshot().in_flight == 0


class StampedMsg(Msg):
    """A tier record with a producer timestamp (CreateTime: the writer's clock)."""

    def __init__(self, due_s: float, stamp_s: float) -> None:
        super().__init__(
            "t.retry.1", 0, 5, headers=[(HEADER_DUE_AT, str(round(due_s * 1000)).encode())]
        )
        self._stamp = (1, round(stamp_s * 1000))

    def timestamp(self) -> tuple[int, int]:
        return self._stamp


def test_a_record_due_in_three_days_pauses_its_partition_for_the_tier_delay_only() -> None:
    # Issue 12, defect 7: a writer's clock three days ahead paused the partition for three days.
    flow, source, clock, _ = _flow()
    now = 1_700_000_000.0
    ahead = now + 3 * 86_400
    assert flow.not_due(("t.retry.1", 0), StampedMsg(ahead + 30, ahead), 5, now, 30.0) is True
    assert source.seeks == [("t.retry.1", 0, 5)]
    assert source.timed == {("t.retry.1", 0): clock.now + 30}


def test_a_due_stamped_record_is_taken() -> None:
    flow, source, _, _ = _flow()
    now = 1_700_000_000.0
    assert flow.not_due(("t.retry.1", 0), StampedMsg(now - 1, now - 31), 5, now, 30.0) is False
    assert source.timed == {} and source.seeks == []
