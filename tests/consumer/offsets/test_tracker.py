"""PartitionOffsets: the committable point is the first unresolved offset, whatever the order."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tiktok_capi.consumer.offsets.tracker import PartitionOffsets


def test_nothing_tracked_has_no_committable_offset() -> None:
    tracker = PartitionOffsets("t", 0)
    assert tracker.committable is None
    assert tracker.unresolved == 0


def test_in_order_resolution_advances_one_past_the_last() -> None:
    tracker = PartitionOffsets("t", 0)
    for offset in range(10, 15):
        tracker.track(offset)
    assert tracker.committable == 10
    for offset in range(10, 15):
        tracker.resolve(offset)
    assert tracker.committable == 15
    assert tracker.unresolved == 0


def test_out_of_order_resolution_waits_for_the_gap() -> None:
    tracker = PartitionOffsets("t", 3)
    for offset in (0, 1, 2, 3):
        tracker.track(offset)
    tracker.resolve(2)
    tracker.resolve(3)
    assert tracker.committable == 0
    assert tracker.unresolved == 2
    tracker.resolve(1)
    assert tracker.committable == 0
    tracker.resolve(0)
    assert tracker.committable == 4
    assert tracker.unresolved == 0


def test_offsets_with_gaps_compaction_or_transaction_markers() -> None:
    tracker = PartitionOffsets("t", 0)
    for offset in (5, 9, 20):
        tracker.track(offset)
    tracker.resolve(9)
    assert tracker.committable == 5
    tracker.resolve(5)
    assert tracker.committable == 20
    tracker.resolve(20)
    assert tracker.committable == 21


def test_retire_forgets_and_marks_inactive() -> None:
    tracker = PartitionOffsets("t", 0)
    tracker.track(0)
    tracker.track(1)
    tracker.resolve(1)
    assert tracker.retire() == 1
    assert not tracker.active
    assert tracker.unresolved == 0


@given(st.integers(min_value=1, max_value=200), st.randoms(use_true_random=False))
def test_committable_is_first_unresolved_for_any_order(n: int, rnd: random.Random) -> None:
    tracker = PartitionOffsets("t", 0)
    offsets = list(range(100, 100 + 2 * n, 2))
    for offset in offsets:
        tracker.track(offset)
    order = offsets[:]
    rnd.shuffle(order)
    resolved: set[int] = set()
    for offset in order:
        tracker.resolve(offset)
        resolved.add(offset)
        first_open = next((o for o in offsets if o not in resolved), offsets[-1] + 1)
        assert tracker.committable == first_open
        assert tracker.unresolved == len(offsets) - len(resolved)


@pytest.mark.parametrize("count", [100_000])
def test_many_records_stay_cheap(count: int) -> None:
    tracker = PartitionOffsets("t", 0)
    for offset in range(count):
        tracker.track(offset)
    for offset in range(count - 1, -1, -1):  # worst case: reverse order
        tracker.resolve(offset)
    assert tracker.committable == count


def test_a_non_increasing_offset_is_refused_and_changes_nothing() -> None:
    # Issue 12, defect 12: track() accepted any offset; a record consumed twice was queued twice
    # and the committable point stalled behind the copy (or went back to it).
    tracker = PartitionOffsets("t", 0)
    assert tracker.track(5) and tracker.track(6)
    assert not tracker.track(6)
    assert not tracker.track(3)
    assert tracker.unresolved == 2 and tracker.committable == 5 and tracker.last == 6
    tracker.resolve(5)
    tracker.resolve(6)
    assert tracker.unresolved == 0 and tracker.committable == 7


def test_resolving_an_offset_that_is_not_pending_changes_nothing() -> None:
    tracker = PartitionOffsets("t", 0)
    for offset in (1, 2, 3):
        tracker.track(offset)
    tracker.resolve(1)
    tracker.resolve(1)  # again
    tracker.resolve(0)  # never tracked, before the first
    tracker.resolve(9)  # never tracked, past the last
    assert tracker.unresolved == 2 and tracker.committable == 2
    tracker.resolve(3)
    tracker.resolve(3)
    tracker.resolve(2)
    assert tracker.unresolved == 0 and tracker.committable == 4


def test_bytes_follow_the_committable_point() -> None:
    tracker = PartitionOffsets("t", 0)
    for offset, size in ((0, 100), (1, 250), (2, 0), (3, 50)):
        tracker.track(offset, size)
    assert tracker.bytes == 400
    tracker.resolve(1)  # out of order: counted until offset 0 is resolved too
    tracker.resolve(1)
    assert tracker.bytes == 400
    tracker.resolve(0)
    assert tracker.bytes == 50 and tracker.committable == 2
    tracker.resolve(2)
    assert tracker.bytes == 50
    assert not tracker.track(3, 999)  # a repeat adds nothing
    assert tracker.bytes == 50
    tracker.retire()
    assert tracker.bytes == 0


def _state(tracker: PartitionOffsets) -> tuple[object, ...]:
    return (tracker.committable, tracker.unresolved, tracker.bytes, tracker.last)


@given(st.randoms(use_true_random=False), st.integers(min_value=1, max_value=120))
def test_runs_do_what_one_record_at_a_time_does(rnd: random.Random, count: int) -> None:
    # The poll loop tracks consumed runs and resolves delivered runs in one call each: the same
    # state as one track()/resolve() per record, whatever the runs — refused runs (not new, not
    # increasing) change nothing, runs that are not the oldest pending fall back per record.
    runs, each = PartitionOffsets("t", 0), PartitionOffsets("t", 0)
    offsets = sorted(rnd.sample(range(3 * count), count))
    sizes = [rnd.choice((0, 10, 700)) for _ in offsets]
    tracked: list[int] = []
    start = 0
    while start < len(offsets):
        end = start + rnd.randint(1, 8)
        run, run_sizes = offsets[start:end], sizes[start:end]
        if rnd.random() < 0.15:  # a glitch: a run starting behind what was taken, or reordered
            behind = [max(0, run[0] - rnd.randint(0, 3)), *run[1:]]
            run = behind if rnd.random() < 0.5 else run[::-1]
        accepted = runs.track_run(run, run_sizes)
        new = (each.last is None or run[0] > each.last) and run == sorted(set(run))
        assert accepted is new
        if accepted:
            for offset, size in zip(run, run_sizes, strict=True):
                assert each.track(offset, size)
            tracked += run
        assert _state(runs) == _state(each)
        start = end
    pending = list(tracked)
    while pending:
        if rnd.random() < 0.6:  # the oldest ones, in order (a batch delivered in order)
            part = pending[: rnd.randint(1, 10)]
        else:  # any increasing subset, some resolved already
            part = sorted(rnd.sample(tracked, min(len(tracked), rnd.randint(1, 5))))
        runs.resolve_run(part)
        for offset in part:
            each.resolve(offset)
        assert _state(runs) == _state(each)
        resolved = set(part)
        pending = [o for o in pending if o not in resolved]
    assert runs.unresolved == 0 and runs.bytes == 0


def test_an_empty_run_is_accepted_and_changes_nothing() -> None:
    tracker = PartitionOffsets("t", 0)
    assert tracker.track_run([], [])
    tracker.resolve_run([])
    assert tracker.committable is None and tracker.unresolved == 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_long_runs_past_the_lists_cut_keep_the_state_exact(seed: int) -> None:
    # Thousands of records: the passed part of the tracker's lists is cut off now and then;
    # the state must be the one a plain model gives, whatever the resolution order around it.
    rnd = random.Random(seed)
    tracker = PartitionOffsets("t", 0)
    sizes: dict[int, int] = {}
    unresolved: set[int] = set()
    offset = 0
    for _ in range(60):
        run = list(range(offset, offset + 100))
        offset += 100 + rnd.randint(0, 2)  # gaps, as compaction leaves
        run_sizes = [rnd.randint(1, 900) for _ in run]
        assert tracker.track_run(run, run_sizes)
        sizes.update(zip(run, run_sizes, strict=True))
        unresolved.update(run)
        oldest = sorted(unresolved)
        if rnd.random() < 0.7:
            tracker.resolve_run(oldest[:100])
            unresolved.difference_update(oldest[:100])
        for one in rnd.sample(oldest, min(len(oldest), 5)):  # out of order, some twice
            tracker.resolve(one)
            unresolved.discard(one)
        committable = min(unresolved) if unresolved else max(sizes) + 1
        assert tracker.committable == committable
        assert tracker.unresolved == len(unresolved)
        assert tracker.bytes == sum(size for at, size in sizes.items() if at >= committable)
