"""Retry policy math (exact, with injected randomness) and the interruptible waiter."""

from __future__ import annotations

import threading

import pytest

from tiktok_capi.consumer.config.settings import SecretStr, TikTokSettings
from tiktok_capi.consumer.delivery.backoff import RetryPolicy, Waiter


def test_full_jitter_doubles_and_caps() -> None:
    policy = RetryPolicy(attempts=10, base_delay_s=0.5, max_delay_s=3.0)
    top = [policy.delay(n, rand=lambda: 0.999999) for n in range(1, 6)]
    assert top == pytest.approx([0.5, 1.0, 2.0, 3.0, 3.0], rel=1e-5)
    assert [policy.delay(n, rand=lambda: 0.5) for n in (1, 2, 3)] == [0.25, 0.5, 1.0]
    assert policy.delay(4, rand=lambda: 0.0) == 0.0


def test_huge_retry_numbers_do_not_overflow() -> None:
    policy = RetryPolicy(attempts=2, base_delay_s=1.0, max_delay_s=30.0)
    assert policy.delay(5000, rand=lambda: 0.5) == 15.0


def test_retry_after_wins_but_is_capped() -> None:
    policy = RetryPolicy(attempts=3, base_delay_s=0.5, max_delay_s=30.0)
    assert policy.delay(1, retry_after_s=7.0, rand=lambda: 0.0) == 7.0
    assert policy.delay(1, retry_after_s=120.0) == 30.0
    assert policy.delay(1, retry_after_s=0.0) == 0.0


def test_from_settings() -> None:
    settings = TikTokSettings(
        access_token=SecretStr("t"),
        pixel_code="P",
        send_retry_attempts=4,
        send_retry_backoff_s=0.2,
        send_retry_max_backoff_s=9.0,
    )
    policy = RetryPolicy.from_settings(settings)
    assert policy == RetryPolicy(attempts=4, base_delay_s=0.2, max_delay_s=9.0)
    assert policy.retries == 3


@pytest.mark.parametrize(("attempts", "base", "top"), [(0, 1.0, 1.0), (1, -1.0, 1.0)])
def test_rejects_nonsense(attempts: int, base: float, top: float) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(attempts=attempts, base_delay_s=base, max_delay_s=top)


def test_waiter_with_injected_sleep() -> None:
    slept: list[float] = []
    waiter = Waiter(slept.append)
    assert waiter.wait(1.5) is True
    assert waiter.wait(0.0) is True
    assert slept == [1.5]
    waiter.interrupt()
    assert waiter.wait(2.0) is False
    assert slept == [1.5]
    assert waiter.interrupted


def test_interrupt_during_an_injected_sleep_is_seen_when_it_returns() -> None:
    waiter = Waiter(lambda _s: waiter.interrupt())
    assert waiter.wait(1.0) is False


def test_interrupt_ends_a_real_wait_at_once() -> None:
    waiter = Waiter()
    results: list[bool] = []
    thread = threading.Thread(target=lambda: results.append(waiter.wait(600.0)))
    thread.start()
    waiter.interrupt()
    thread.join(10.0)
    assert not thread.is_alive()
    assert results == [False]
