"""The dead-letter rate limit (arroyo's DlqLimit): a sliding minute, injected clock."""

from __future__ import annotations

import pytest

from tiktok_capi.consumer.failures.limit import DlqLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_zero_means_unlimited() -> None:
    limiter = DlqLimiter(0, clock=Clock())
    assert all(limiter.record() for _ in range(10_000))


def test_more_than_the_limit_in_a_minute_trips() -> None:
    clock = Clock()
    limiter = DlqLimiter(3, clock=clock)
    assert [limiter.record() for _ in range(3)] == [True, True, True]
    assert limiter.record() is False
    assert limiter.record() is False


def test_the_window_slides() -> None:
    clock = Clock()
    limiter = DlqLimiter(2, clock=clock)
    assert limiter.record()
    clock.now += 30
    assert limiter.record()
    clock.now += 29.9
    assert limiter.record() is False  # three within 59.9 s
    clock.now += 60
    assert limiter.record() and limiter.record()  # the window is empty again
    assert limiter.record() is False


def test_steady_rate_at_the_limit_never_trips() -> None:
    clock = Clock()
    limiter = DlqLimiter(60, clock=clock)
    for _ in range(600):
        clock.now += 1.0
        assert limiter.record()


def test_memory_is_bounded_by_the_limit() -> None:
    limiter = DlqLimiter(5, clock=Clock())
    for _ in range(1000):
        limiter.record()
    assert len(limiter._times) == 6


def test_negative_limit_is_refused() -> None:
    with pytest.raises(ValueError):
        DlqLimiter(-1)
