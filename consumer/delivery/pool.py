"""The sender threads: batches go out to TikTok concurrently, their outcomes come back by callback.

:class:`DeliveryPool` owns ``MAX_IN_FLIGHT_REQUESTS`` threads that each run
:meth:`~tiktok_capi.consumer.delivery.base.Sender.deliver` on one batch, and posts every finished
delivery back with the callback it was given (from the sender thread; the poll loop turns it into
an event on its queue). It knows nothing of Kafka: a batch is whatever the caller keys it by.
"""

from __future__ import annotations

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
    """

    def __init__(
        self, sender: Sender, threads: int, post: Callable[[K, Future[BatchOutcome]], None]
    ) -> None:
        self._sender = sender
        self._post = post
        self._executor = ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="tiktok-capi-send"
        )
        self.in_flight: set[K] = set()
        """Batches submitted whose outcome the caller has not taken yet (see :meth:`done`)."""
        self.closed = False

    def submit(self, key: K, events: Sequence[bytes], links: Sequence[Any] = ()) -> None:
        """Deliver ``events`` on a sender thread; ``post(key, future)`` follows."""
        self.in_flight.add(key)
        future = self._executor.submit(self._sender.deliver, events, links)
        post = self._post
        future.add_done_callback(lambda f: post(key, f))

    def done(self, key: K) -> None:
        """The caller took ``key``'s outcome: it no longer counts as in flight."""
        self.in_flight.discard(key)

    def close_sender(self) -> None:
        """Abort the sender's backoffs: deliveries still running return at once (``held``)."""
        if not self.closed:
            self.closed = True
            self._sender.close()

    def shutdown(self) -> None:
        """Wait for the sender threads to end (call :meth:`close_sender` first)."""
        self._executor.shutdown(wait=True, cancel_futures=True)
