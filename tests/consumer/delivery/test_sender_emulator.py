"""HttpSender against the TikTok emulator over real loopback sockets (`emulator` fixture).

The emulator validates bodies as strictly as TikTok documents and injects faults
deterministically (seeded), so these tests check the sender's real bytes, real timeouts and
real connection errors. Backoffs are kept tiny (the budget is what matters, not the delays).
"""

from __future__ import annotations

import dataclasses
import gc
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest

from tests.fixtures.waiting import wait_for
from tiktok_capi.consumer.config.settings import SecretStr, TikTokSettings
from tiktok_capi.consumer.delivery.base import BatchOutcome
from tiktok_capi.consumer.delivery.sender import HttpSender

pytestmark = pytest.mark.integration


def _settings(emulator: Any, **overrides: Any) -> TikTokSettings:
    base = TikTokSettings(
        access_token=SecretStr(emulator.token),
        pixel_code=emulator.pixel_code,
        api_url=emulator.base_url,
        max_in_flight_requests=2,
        connect_timeout_s=2.0,
        request_timeout_s=5.0,
        send_retry_attempts=10,
        send_retry_backoff_s=0.001,
        send_retry_max_backoff_s=0.01,
    )
    return dataclasses.replace(base, **overrides)


@pytest.fixture
def make_sender(emulator: Any) -> Iterator[Callable[..., HttpSender]]:
    senders: list[HttpSender] = []

    def make(**overrides: Any) -> HttpSender:
        sender = HttpSender(_settings(emulator, **overrides))
        senders.append(sender)
        return sender

    yield make
    for sender in senders:
        sender.close()


def web_event(n: int, **changes: Any) -> bytes:
    event: dict[str, Any] = {
        "event": "CompletePayment",
        "event_time": int(time.time()) - 60,
        "event_id": f"evt-{n}",
        "user": {"email": "a" * 64, "ip": "203.0.113.9", "user_agent": "Mozilla/5.0"},
        "properties": {
            "currency": "EUR",
            "value": 12.5,
            "contents": [{"content_id": f"sku-{n}", "price": 12.5, "quantity": 1}],
        },
        "page": {"url": "https://shop.example/checkout"},
    }
    event.update(changes)
    return orjson.dumps(event)


def test_full_batches_arrive_intact(emulator: Any, make_sender: Any) -> None:
    sender = make_sender(test_event_code="TEST123")
    batch = [web_event(n) for n in range(1000)]
    outcome = sender.deliver(batch)
    assert outcome.delivered == tuple(range(1000)) and outcome.requests == 1
    stats = emulator.stats()
    assert stats["accepted_events"] == 1000 and stats["test_events"] == 1000
    received = emulator.events()
    assert [e["event_id"] for e in received] == [f"evt-{n}" for n in range(1000)]
    assert received[0]["request_id"] == outcome.request_ids[0]


def test_a_delivered_request_leaves_no_cycle_holding_its_body(
    emulator: Any, make_sender: Any
) -> None:
    """httpx's Response and its stream refer to each other (encode/httpx#3733): unbroken, each
    request body stays in memory until the collector's next pass over its generation."""
    sender = make_sender()
    batch = [web_event(n) for n in range(100)]
    sender.deliver(batch)  # the connection and the pool's long-lived objects
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(3):
            assert len(sender.deliver(batch).delivered) == 100
        gc.collect()
        left = [type(o).__qualname__ for o in gc.garbage if type(o).__module__.startswith("httpx")]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert left == []


def test_invalid_events_are_isolated_by_the_named_index(emulator: Any, make_sender: Any) -> None:
    batch = [web_event(n) for n in range(500)]
    batch[123] = web_event(123, event_id=123)  # not a string
    batch[400] = web_event(400, user={"email": "someone@example.com"})  # not hashed: 40062
    outcome = make_sender().deliver(batch)
    assert [i for i, _ in outcome.invalid] == [123, 400]
    assert outcome.requests == 3
    reasons = {i: info for i, info in outcome.invalid}
    assert reasons[123].code == 40002 and "event_id" in reasons[123].message
    assert reasons[400].code == 40062
    assert "someone@example.com" not in repr(outcome)
    assert len(outcome.delivered) == 498
    assert emulator.stats()["accepted_events"] == 498


def test_throttling_5xx_and_dropped_connections_are_retried(
    emulator: Any, make_sender: Any
) -> None:
    emulator.set_faults(
        throttle_rate=0.2, error_5xx_rate=0.2, drop_rate=0.1, retry_after_s=0, seed=7
    )
    sender = make_sender(send_retry_attempts=30)
    total = 0
    for k in range(10):
        batch = [web_event(k * 100 + n) for n in range(100)]
        outcome = sender.deliver(batch)
        assert outcome.delivered == tuple(range(100)), outcome
        total += outcome.requests
    stats = emulator.stats()
    assert stats["unique_events"] == 1000
    assert total > 10 and sum(stats["faults"].values()) == total - 10


def test_a_hanging_server_times_out_and_the_request_is_retried(
    emulator: Any, make_sender: Any
) -> None:
    emulator.set_faults(hang_rate=0.5, hang_s=30, seed=4)  # seed 4: the first request hangs
    sender = make_sender(request_timeout_s=0.3, send_retry_attempts=20)
    outcome = sender.deliver([web_event(n) for n in range(10)])
    assert outcome.delivered == tuple(range(10)) and outcome.requests == 2
    assert emulator.stats()["faults"] == {"hang": 1}


def test_close_ends_a_request_in_flight(emulator: Any, make_sender: Any) -> None:
    """A hanging answer does not hold up shutdown until the request timeout (60 s here)."""
    emulator.set_faults(hang_rate=1.0, hang_s=120)
    sender = make_sender(request_timeout_s=60.0)
    outcomes: list[BatchOutcome] = []
    thread = threading.Thread(target=lambda: outcomes.append(sender.deliver([web_event(1)])))
    thread.start()
    wait_for(
        lambda: emulator.stats()["requests"] >= 1, timeout=10, interval=0.005, what="a request"
    )
    sender.close()
    thread.join(10.0)
    assert not thread.is_alive()
    assert outcomes[0].held == (0,) and outcomes[0].requests == 1


def test_exhausted_budget_fails_the_batch(emulator: Any, make_sender: Any) -> None:
    emulator.set_faults(error_5xx_rate=1.0)
    outcome = make_sender(send_retry_attempts=3).deliver([web_event(n) for n in range(5)])
    assert outcome.failed == (0, 1, 2, 3, 4) and outcome.requests == 3
    assert outcome.failure is not None and outcome.failure.error_class == "transient"
    assert outcome.failure.http_status in (500, 502, 503, 504)


def test_revoked_token_stops_and_the_probe_sees_it_come_back(
    emulator: Any, make_sender: Any
) -> None:
    sender = make_sender()
    assert sender.probe() is None
    emulator.set_faults(revoke_for_s=3600)
    outcome = sender.deliver([web_event(n) for n in range(5)])
    assert outcome.held == (0, 1, 2, 3, 4) and outcome.requests == 1
    assert outcome.destination_down is not None and outcome.destination_down.code == 40105
    down = sender.probe()
    assert down is not None and down.error_class == "auth"
    emulator.set_faults()  # the token works again
    assert sender.probe() is None
    assert sender.deliver([web_event(n) for n in range(5)]).delivered == (0, 1, 2, 3, 4)


@pytest.mark.parametrize(
    ("token", "pixel", "code"),
    [("wrong-token", None, 40105), ("", None, 40104), (None, "NOT-MY-PIXEL", 40001)],
)
def test_probe_reports_bad_credentials(
    emulator: Any, make_sender: Any, token: str | None, pixel: str | None, code: int
) -> None:
    overrides: dict[str, Any] = {}
    if token is not None:
        overrides["access_token"] = SecretStr(token)
    if pixel is not None:
        overrides["pixel_code"] = pixel
    sender = make_sender(**overrides)
    info = sender.probe()
    assert info is not None and info.error_class == "auth" and info.code == code
    outcome = sender.deliver([web_event(1)])
    assert outcome.held == (0,) and outcome.destination_down is not None
    assert emulator.stats()["accepted_events"] == 0


def test_unreachable_destination_fails_and_the_probe_says_down(emulator: Any) -> None:
    with socket.socket() as probe:  # a port nobody listens on: bound, then released
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    settings = _settings(emulator, api_url=url, send_retry_attempts=2)
    with HttpSender(settings) as sender:
        outcome = sender.deliver([web_event(1)])
        assert outcome.failed == (0,) and outcome.failure is not None
        assert outcome.failure.message.startswith("connection error")
        # The circuit breaker asks the probe: nothing answers, so the destination is down.
        down = sender.probe()
        assert down is not None and down.error_class == "transient"
