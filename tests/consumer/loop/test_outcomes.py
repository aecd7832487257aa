"""Outcomes alone: what a finished delivery resolves, routes and holds."""

from __future__ import annotations

from concurrent.futures import Future

import orjson
import pytest

from tests.consumer.loop.support import FakeRouter, Msg
from tiktok_capi.consumer.delivery.base import BatchOutcome, ErrorInfo
from tiktok_capi.consumer.loop.batcher import Batch
from tiktok_capi.consumer.loop.outcomes import Outcomes, Pause
from tiktok_capi.consumer.offsets.tracker import PartitionOffsets
from tiktok_capi.consumer.telemetry.stats import StatsRecorder

NOW = 1_700_000_000.0


def _batch(tracker: PartitionOffsets, offsets: range) -> Batch:
    batch = Batch(0.0)
    for offset in offsets:
        tracker.track(offset)
        event = orjson.dumps({"event": "Pageview", "event_id": f"e-{offset}"})
        batch.events.append(event)
        batch.trackers.append(tracker)
        batch.offsets.append(offset)
        batch.messages.append(Msg(tracker.topic, tracker.partition, offset))
        batch.names.append("Pageview")
    return batch


# The compiled build (mypyc) compiles the tracker: Python classes cannot subclass it there.
COMPILED_TRACKER = not hasattr(PartitionOffsets.resolve, "__code__")


class Recording(PartitionOffsets if not COMPILED_TRACKER else object):  # type: ignore[misc]
    """A tracker that records what it was asked to resolve."""

    def __init__(self, topic: str, partition: int) -> None:
        super().__init__(topic, partition)
        self.resolved: list[int] = []

    def resolve(self, offset: int) -> None:
        self.resolved.append(offset)
        super().resolve(offset)


def _done(outcome: BatchOutcome) -> Future[BatchOutcome]:
    future: Future[BatchOutcome] = Future()
    future.set_result(outcome)
    return future


def _outcomes(batch_size: int = 1000) -> tuple[Outcomes, FakeRouter, StatsRecorder]:
    router, stats = FakeRouter(), StatsRecorder()
    return Outcomes(router, stats, batch_size, lambda: NOW), router, stats  # type: ignore[arg-type]


def test_delivered_events_resolve_and_count() -> None:
    outcomes, router, stats = _outcomes()
    tracker = PartitionOffsets("src", 0)
    batch = _batch(tracker, range(3))
    assert (
        outcomes.on_delivered(batch, _done(BatchOutcome(delivered=(0, 1, 2), requests=1))) is None
    )
    assert tracker.unresolved == 0 and tracker.committable == 3
    assert stats.snapshot().delivered == {"Pageview": 3}
    assert router.dead == router.retried == []


def test_invalid_events_are_dead_lettered_and_failed_ones_suspected() -> None:
    outcomes, router, _ = _outcomes()
    tracker = PartitionOffsets("src", 0)
    invalid = ErrorInfo("invalid", "data.1: bad", code=40002)
    failure = ErrorInfo("transient", "HTTP 503", http_status=503)
    outcome = BatchOutcome(delivered=(2,), invalid=((1, invalid),), failed=(0,), failure=failure)
    pause = outcomes.on_delivered(_batch(tracker, range(3)), _done(outcome))
    assert [(o, r, f.code) for o, r, f in router.dead] == [(1, "invalid_event", 40002)]
    # Issue 12, defect 2: a failure past the budget is first the destination's (the breaker).
    assert pause == Pause(failure, refused=False)
    assert router.retried == [] and outcomes.held == 1
    assert tracker.unresolved == 2  # resolved once the router's writes are acknowledged


def test_suspect_events_go_to_the_retry_tier_when_tiktok_answered_the_probe_at_once() -> None:
    outcomes, router, _ = _outcomes()
    tracker = PartitionOffsets("src", 0)
    failure = ErrorInfo("transient", "HTTP 503", http_status=503)
    outcome = BatchOutcome(delivered=(2,), failed=(0, 1), failure=failure)
    outcomes.on_delivered(_batch(tracker, range(3)), _done(outcome))
    assert outcomes.release_held(outage=False) == []
    assert [(o, f.message) for o, f in router.retried] == [(0, "HTTP 503"), (1, "HTTP 503")]
    assert outcomes.held == 0


def test_suspect_events_are_sent_again_after_an_outage() -> None:
    outcomes, router, _ = _outcomes()
    tracker = PartitionOffsets("src", 0)
    failure = ErrorInfo("transient", "connection refused")
    outcomes.on_delivered(
        _batch(tracker, range(3)), _done(BatchOutcome(failed=(0, 1, 2), failure=failure))
    )
    [again] = outcomes.release_held(outage=True)
    assert again.offsets == [0, 1, 2] and router.retried == [] and router.dead == []


def test_a_sender_that_raised_holds_the_whole_batch_for_the_breaker() -> None:
    outcomes, router, _ = _outcomes()
    future: Future[BatchOutcome] = Future()
    future.set_exception(RuntimeError("bug"))
    pause = outcomes.on_delivered(_batch(PartitionOffsets("src", 0), range(2)), future)
    assert pause is not None and not pause.refused
    outcomes.release_held(outage=False)
    assert [o for o, _ in router.retried] == [0, 1]


def test_held_events_wait_and_come_back_rebatched() -> None:
    outcomes, router, _ = _outcomes(batch_size=2)
    tracker = PartitionOffsets("src", 0)
    down = ErrorInfo("auth", "token revoked", code=40105)
    refused = outcomes.on_delivered(
        _batch(tracker, range(3)), _done(BatchOutcome(held=(0, 1, 2), destination_down=down))
    )
    assert refused == Pause(down, refused=True) and outcomes.held == 3 and router.dead == []
    batches = outcomes.release_held(outage=True)
    assert [b.offsets for b in batches] == [[0, 1], [2]]
    assert outcomes.held == 0 and tracker.unresolved == 3


def test_held_events_of_revoked_partitions_are_forgotten() -> None:
    outcomes, _, _ = _outcomes()
    kept, revoked = PartitionOffsets("src", 0), PartitionOffsets("src", 1)
    down = ErrorInfo("auth", "no permission", code=40001)
    outcomes.on_delivered(
        _batch(kept, range(2)), _done(BatchOutcome(held=(0, 1), destination_down=down))
    )
    outcomes.on_delivered(
        _batch(revoked, range(2)), _done(BatchOutcome(held=(0, 1), destination_down=down))
    )
    revoked.retire()
    outcomes.forget_revoked()
    assert outcomes.held == 2


def test_at_shutdown_held_means_the_sender_was_closed_not_that_tiktok_refused() -> None:
    outcomes, _, _ = _outcomes()
    outcomes.closing = True
    assert (
        outcomes.on_delivered(
            _batch(PartitionOffsets("src", 0), range(2)), _done(BatchOutcome(held=(0, 1)))
        )
        is None
    )
    assert outcomes.held == 0


@pytest.mark.skipif(COMPILED_TRACKER, reason="spies on a subclass of the compiled tracker")
def test_a_whole_delivered_batch_resolves_only_the_partitions_still_ours() -> None:
    outcomes, _router, stats = _outcomes()
    kept, revoked = PartitionOffsets("src", 0), Recording("src", 1)
    batch = _batch(kept, range(2))
    other = _batch(revoked, range(2))
    batch.extend(other, (0, 1))
    revoked.retire()
    outcome = BatchOutcome(delivered=(0, 1, 2, 3), requests=1)
    assert outcomes.on_delivered(batch, _done(outcome)) is None
    assert kept.committable == 2 and kept.unresolved == 0
    assert revoked.resolved == []  # the new owner reads them again
    assert stats.snapshot().delivered == {"Pageview": 4}


def test_batches_of_interleaved_runs_delivered_out_of_order_commit_only_what_is_done() -> None:
    # A delivered batch resolves by runs of one partition; a later batch that comes back first
    # must not move the committable point past the earlier one still in flight.
    outcomes, _router, _stats = _outcomes()
    p0, p1 = PartitionOffsets("src", 0), PartitionOffsets("src", 1)
    first = _batch(p0, range(0, 3))
    first.extend(_batch(p1, range(0, 2)), (0, 1))
    second = _batch(p0, range(3, 5))
    second.extend(_batch(p1, range(2, 4)), (0, 1))
    second.extend(_batch(p0, range(5, 6)), (0,))
    outcomes.on_delivered(second, _done(BatchOutcome(delivered=tuple(range(5)), requests=1)))
    assert (p0.committable, p0.unresolved, p1.committable, p1.unresolved) == (0, 3, 0, 2)
    outcomes.on_delivered(first, _done(BatchOutcome(delivered=tuple(range(5)), requests=1)))
    assert (p0.committable, p0.unresolved, p1.committable, p1.unresolved) == (6, 0, 4, 0)
