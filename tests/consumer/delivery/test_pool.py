"""The sender threads: batches wait for a free thread, run, and are posted back once each."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from typing import Any

import pytest

from tests.fixtures.waiting import wait_for
from tiktok_capi.consumer.delivery.base import BatchOutcome, ErrorInfo
from tiktok_capi.consumer.delivery.pool import DeliveryPool


class GatedSender:
    """Delivers every event, but only once the test opens the gate."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.sent: list[list[bytes]] = []
        self.closed = False

    def encode(self, events: Sequence[bytes]) -> bytes:
        return b",".join(events)

    def deliver(
        self, events: Sequence[bytes], links: Sequence[Any] = (), body: bytes | None = None
    ) -> BatchOutcome:
        assert body == b",".join(events)  # built by the submitting thread
        self.gate.wait(10)
        self.sent.append(list(events))
        return BatchOutcome(delivered=tuple(range(len(events))), requests=1)

    def probe(self) -> ErrorInfo | None:
        return None

    def close(self) -> None:
        self.closed = True


class Job:
    """A batch as the pool sees it: hashable by identity, like the poll loop's ``Batch``."""

    def __init__(self, *events: bytes) -> None:
        self.events = list(events)


Posted = queue.Queue[tuple[Job, Future[BatchOutcome]]]


@pytest.fixture
def sender() -> Iterator[GatedSender]:
    sender = GatedSender()
    yield sender
    sender.gate.set()


def _pool(sender: GatedSender, threads: int) -> tuple[DeliveryPool[Job], Posted]:
    posted: Posted = queue.Queue()
    pool: DeliveryPool[Job] = DeliveryPool(
        sender, threads, lambda job, future: posted.put((job, future)), lambda job: job.events
    )
    return pool, posted


def test_batches_past_the_thread_count_wait_in_order(sender: GatedSender) -> None:
    pool, posted = _pool(sender, threads=1)
    assert not pool.busy
    for n in range(3):
        pool.submit(Job(f"e{n}".encode()))
    assert pool.busy
    assert len(pool.running) == 1 and len(pool.waiting) == 2 and len(pool.in_flight) == 3
    sender.gate.set()
    for n in range(3):
        key, future = posted.get(timeout=10)
        assert key.events == [f"e{n}".encode()] and future.result().delivered == (0,)
        pool.done(key)
    assert not pool.busy and pool.in_flight == []
    pool.shutdown()
    assert sender.sent == [[b"e0"], [b"e1"], [b"e2"]]


def test_a_batch_emptied_while_it_waited_is_never_sent(sender: GatedSender) -> None:
    pool, posted = _pool(sender, threads=1)
    first, second = Job(b"a"), Job(b"b")
    pool.submit(first)
    pool.submit(second)
    second.events.clear()  # its records were revoked meanwhile
    pool.drop_waiting(lambda job: not job.events)
    sender.gate.set()
    key, _ = posted.get(timeout=10)
    pool.done(key)
    wait_for(lambda: not pool.busy, timeout=5, what="the pool to be idle")
    pool.shutdown()
    assert sender.sent == [[b"a"]] and posted.empty()


def test_closing_drops_the_waiting_batches_and_closes_the_sender(sender: GatedSender) -> None:
    pool, _ = _pool(sender, threads=1)
    pool.submit(Job(b"a"))
    pool.submit(Job(b"b"))
    pool.close_sender()
    assert sender.closed and not pool.waiting
    pool.submit(Job(b"c"))  # refused once closed
    assert not pool.waiting
    sender.gate.set()
    pool.shutdown()
    assert sender.sent == [[b"a"]]
