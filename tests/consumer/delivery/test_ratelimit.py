"""Token-bucket math with an injected clock; fairness across threads; interruption."""

from __future__ import annotations

import threading

import pytest

from tiktok_capi.consumer.delivery.backoff import Waiter
from tiktok_capi.consumer.delivery.ratelimit import RateLimiter


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_unlimited_never_waits() -> None:
    fake = FakeTime()
    limiter = RateLimiter(0, clock=fake.clock, waiter=Waiter(fake.sleep))
    assert all(limiter.acquire() for _ in range(1000))
    assert fake.slept == []


def test_requests_are_spaced_by_the_rate() -> None:
    fake = FakeTime()
    limiter = RateLimiter(4.0, clock=fake.clock, waiter=Waiter(fake.sleep))
    released = []
    for _ in range(5):
        assert limiter.acquire()
        released.append(fake.now - 100.0)
    assert released == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])


def test_idle_time_is_not_hoarded_beyond_the_burst() -> None:
    fake = FakeTime()
    limiter = RateLimiter(2.0, clock=fake.clock, waiter=Waiter(fake.sleep))
    assert limiter.reserve() == 0.0
    fake.now += 60.0  # a long idle spell
    assert limiter.reserve() == 0.0
    assert limiter.reserve() == pytest.approx(0.5)


def test_burst() -> None:
    fake = FakeTime()
    limiter = RateLimiter(10.0, burst=3, clock=fake.clock, waiter=Waiter(fake.sleep))
    waits = [limiter.reserve() for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.0, 0.0, 0.1, 0.2])


def test_concurrent_callers_get_distinct_slots() -> None:
    fake = FakeTime()  # frozen: nobody advances it, so waits are the reserved offsets
    limiter = RateLimiter(10.0, clock=fake.clock, waiter=Waiter(lambda _s: None))
    waits: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait()
        for _ in range(25):
            wait_s = limiter.reserve()
            with lock:
                waits.append(wait_s)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30.0)
    assert sorted(round(w, 6) for w in waits) == [round(n * 0.1, 6) for n in range(200)]


def test_interrupted_wait_returns_false() -> None:
    fake = FakeTime()
    waiter = Waiter(fake.sleep)
    limiter = RateLimiter(1.0, clock=fake.clock, waiter=waiter)
    assert limiter.acquire()
    waiter.interrupt()
    assert limiter.acquire() is False
    assert RateLimiter(0, waiter=waiter).acquire() is False


def test_interrupt_ends_a_real_rate_limit_wait() -> None:
    waiter = Waiter()
    limiter = RateLimiter(0.001, waiter=waiter)  # one request per ~17 minutes
    assert limiter.acquire()
    results: list[bool] = []
    thread = threading.Thread(target=lambda: results.append(limiter.acquire()))
    thread.start()
    waiter.interrupt()
    thread.join(10.0)
    assert results == [False]


@pytest.mark.parametrize(("rate", "burst"), [(-1.0, 1), (1.0, 0)])
def test_rejects_nonsense(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate, burst=burst)
