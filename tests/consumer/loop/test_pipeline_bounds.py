"""The loop's memory bounds: bytes as well as records, record size, rebalances, shutdown.

Issue 12, defects 9 (memory bounded by record count only; no record size cap) and 12 (queued
batches of revoked partitions still sent and no longer counted; a shutdown drain that raises
left the sender threads waiting out their retry budgets).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import orjson
import pytest

from tests.consumer.loop.test_pipeline import TOPIC, Harness, page_event, values
from tiktok_capi.consumer.failures.router import REASON_TOO_LARGE


def padded(start: int, n: int, pad: int) -> list[bytes | None]:
    """Page events of about ``pad`` bytes each."""
    out: list[bytes | None] = []
    for i in range(start, start + n):
        event: dict[str, Any] = page_event(i)
        event["properties"] = {"pad": "x" * pad}
        out.append(orjson.dumps(event))
    return out


def ids_of(partition: int, h: Harness) -> set[str]:
    """The event ids the sender delivered for ``partition`` (the harness numbers them)."""
    low = 100 if partition else 0
    return {e for e in h.sender.delivered if low <= int(e.split("-")[1]) < low + 100}


def test_in_flight_bytes_hold_consumption_back_like_records() -> None:
    h = Harness(partitions=1, batch_size=5, max_in_flight_events=1000, max_in_flight_bytes=4000)
    h.sender.gate.clear()  # nothing resolves
    h.produce(0, padded(0, 10, 1000))
    h.start()
    h.wait(lambda: h.pipeline.in_flight == 10, "the first records in flight")
    assert h.pipeline.in_flight_bytes >= 10_000
    h.produce(0, padded(10, 10, 1000))
    h.wait(lambda: h.source is not None and "backpressure" in h.source.paused, "the pause")
    # Before the fix only MAX_IN_FLIGHT_EVENTS (1000) counted: all 20 were taken.
    assert h.pipeline.in_flight == 10
    h.sender.gate.set()
    h.wait(lambda: len(h.sender.delivered) == 20, "every delivery")
    # The sender counts a delivery before the loop has resolved it: wait for the loop.
    h.wait(lambda: h.pipeline.in_flight_bytes == 0, "the bytes to be released")
    assert h.stop() == 0


def test_a_record_over_the_size_cap_is_dead_lettered_undecoded() -> None:
    h = Harness(partitions=1, max_record_bytes=2000)
    h.produce(0, [*values(0, 3), *padded(3, 1, 5000), *values(4, 3)])
    h.start()
    h.wait(lambda: len(h.sender.delivered) == 6 and len(h.outcomes.written) == 1, "outcomes")
    h.wait(lambda: h.source is not None and h.source.committed() == {(TOPIC, 0): 7}, "commit")
    assert h.stop() == 0
    [(record, route)] = h.outcomes.written
    assert record.offset == 3 and route.reason == REASON_TOO_LARGE
    assert route.is_dead_letter


def test_batches_waiting_for_a_thread_drop_the_events_of_revoked_partitions() -> None:
    h = Harness(partitions=2, batch_size=2, max_in_flight_requests=1, shutdown_grace_s=0.2)
    h.sender.gate.clear()  # the first request hangs; the other batches wait for its thread
    h.produce(0, values(0, 2))
    h.produce(1, values(100, 6))
    h.start()
    h.wait(lambda: h.pipeline.in_flight == 8, "records in flight")
    assert h.source is not None
    h.source.actions.append(lambda: h.pipeline.on_revoked([(TOPIC, 1)], lost=True))
    h.wait(lambda: h.pipeline.in_flight == 2, "the lost partition to be forgotten")
    h.sender.gate.set()
    h.wait(lambda: len(ids_of(0, h)) == 2, "partition 0's events")
    h.wait(lambda: h.source is not None and h.source.committed().get((TOPIC, 0)) == 2, "commit")
    assert h.stop() == 0
    # Before the fix the queued batches went out all the same: duplicates of the new owner's.
    assert ids_of(1, h) == set()


def test_records_of_revoked_partitions_still_in_a_request_count_until_it_returns() -> None:
    h = Harness(partitions=2, batch_size=4, max_in_flight_requests=1, shutdown_grace_s=0.2)
    h.sender.gate.clear()
    h.produce(0, values(0, 2))
    h.produce(1, values(100, 2))
    h.start()
    h.wait(lambda: h.pipeline.in_flight == 4, "one request of both partitions")
    bytes_before = h.pipeline.in_flight_bytes
    assert h.source is not None
    h.source.actions.append(lambda: h.pipeline.on_revoked([(TOPIC, 1)], lost=True))
    h.wait(lambda: (TOPIC, 1) not in h.stats.snapshot().assigned, "the revocation")
    # Before the fix the revoked half vanished from the count while its bytes were still held.
    assert h.pipeline.in_flight == 4 and h.pipeline.in_flight_bytes == bytes_before
    h.sender.gate.set()
    h.wait(lambda: h.pipeline.in_flight == 0, "the request to return")
    assert h.pipeline.in_flight_bytes == 0
    assert h.stop() == 0


@pytest.mark.parametrize("grace", [0.3])
def test_a_shutdown_drain_that_raises_still_ends_within_the_grace(grace: float) -> None:
    h = Harness(partitions=1, shutdown_grace_s=grace)
    h.sender.gate.clear()  # a request in a long backoff: returns only when the sender closes
    h.produce(0, values(0, 3))
    errors: list[BaseException] = []

    def run() -> None:
        try:
            h.pipeline.run()
        except BaseException as exc:  # what the drain raised comes out of run()
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    h.wait(lambda: h.pipeline.in_flight == 3, "records in flight")
    assert h.source is not None
    source = h.source
    consume = source.consume

    def broken(n: int, timeout: float) -> Any:
        if "shutdown" in source.paused:
            raise RuntimeError("the drain failed")
        return consume(n, timeout)

    source.consume = broken  # type: ignore[method-assign]
    started = time.monotonic()
    h.pipeline.request_stop()
    thread.join(8)
    assert not thread.is_alive(), "the loop waited for the sender threads"
    # Before the fix the executor waited for the request (here up to 10 s, in production a
    # whole retry budget): the sender was closed only on the path that did not raise.
    assert time.monotonic() - started < grace + 5
    assert h.sender.closed
    assert [str(e) for e in errors] == ["the drain failed"]
