"""The sender threads: batches go out to TikTok concurrently, their outcomes come back by callback.

:class:`DeliveryPool` owns ``MAX_IN_FLIGHT_REQUESTS`` threads that each run
:meth:`~tiktok_capi.consumer.delivery.base.Sender.deliver` on one batch, and posts every finished
delivery back with the callback it was given (from the sender thread; the poll loop turns it into
an event on its queue). It knows nothing of Kafka: a batch is whatever the caller keys it by.

A batch is handed to a thread only when one is free; until then it waits in :attr:`waiting`,
on the caller's side, where the caller can still drop events from it (records of partitions
revoked meanwhile: sending them would only duplicate what their new owner sends). The events
are read from the key (``events_of``) when the batch starts, not when it was submitted, and the
request body is built then, on the caller's thread (:meth:`~.base.Sender.encode`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Generic, TypeVar

from tiktok_capi.consumer.delivery.base import BatchOutcome, Sender

__all__ = ["DeliveryPool"]

K = TypeVar("K")


class DeliveryPool(Generic[K]):
    """Delivers batches on ``threads`` sender threads; one callback per batch when it is done.

    Args:
        sender: delivers one batch (thread-safe).
        threads: ``MAX_IN_FLIGHT_REQUESTS``.
        post: called with ``(key, future)`` from the sender thread once a delivery finished.
        events_of: the events of a batch, read when a thread takes it.
    """

    def __init__(
        self,
        sender: Sender,
        threads: int,
        post: Callable[[K, Future[BatchOutcome]], None],
        events_of: Callable[[K], Sequence[bytes]],
    ) -> None:
        self._sender = sender
        self._post = post
        self._events_of = events_of
        self._threads = threads
        self._executor = ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="tiktok-capi-send"
        )
        self.running: set[K] = set()
        """Batches on a sender thread whose outcome the caller has not taken yet."""
        self.waiting: deque[tuple[K, Sequence[Any]]] = deque()
        """Batches (with their span links) waiting for a free thread, in order."""
        self.closed = False

    @property
    def busy(self) -> bool:
        """Whether any batch is running or waiting (O(1): the poll loop asks every iteration)."""
        return bool(self.running or self.waiting)

    @property
    def in_flight(self) -> list[K]:
        """Batches submitted whose outcome the caller has not taken yet (running or waiting)."""
        return [*self.running, *(key for key, _ in self.waiting)]

    def submit(self, key: K, links: Sequence[Any] = ()) -> None:
        """Deliver ``key``'s events on a sender thread (now, or when one is free); then
        ``post(key, future)``."""
        if self.closed:
            return
        self.waiting.append((key, links))
        self._start()

    def done(self, key: K) -> None:
        """The caller took ``key``'s outcome: it no longer counts; the next batch may start."""
        self.running.discard(key)
        self._start()

    def drop_waiting(self, empty: Callable[[K], bool]) -> None:
        """Forget waiting batches for which ``empty(key)`` (the caller emptied them)."""
        self.waiting = deque(item for item in self.waiting if not empty(item[0]))

    def close_sender(self) -> None:
        """Abort the sender's backoffs: deliveries still running return at once (``held``).

        Batches still waiting are never sent (their records stay unresolved).
        """
        if not self.closed:
            self.closed = True
            self.waiting.clear()
            self._sender.close()

    def shutdown(self) -> None:
        """Wait for the sender threads to end (call :meth:`close_sender` first)."""
        self.close_sender()
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _start(self) -> None:
        while self.waiting and len(self.running) < self._threads and not self.closed:
            key, links = self.waiting.popleft()
            events = self._events_of(key)
            if not events:
                continue
            self.running.add(key)
            body = self._sender.encode(events)  # here, where the events are in cache
            future = self._executor.submit(self._sender.deliver, events, links, body)
            future.add_done_callback(self._poster(key))

    def _poster(self, key: K) -> Callable[[Future[BatchOutcome]], None]:
        post = self._post

        def posted(future: Future[BatchOutcome]) -> None:
            post(key, future)

        return posted
