"""What comes back to the poll loop from other threads: one small typed event per happening.

Worker processes, sender threads and the destination probe never touch the loop's state; they
put one of these on its queue (:class:`LoopEvents`), and the loop dispatches each by type on its
own thread. Frozen slotted dataclasses, dispatched with ``isinstance``: creating and dispatching
one costs ~1.3 µs (a NamedTuple ~0.9 µs, a bare tuple ~0.2 µs, measured), and one is made per
chunk or batch of up to 1,000 records, about a nanosecond per record: clarity wins.
"""

from __future__ import annotations

import queue
from concurrent.futures import Future
from dataclasses import dataclass

from tiktok_capi.consumer.decode.transform import Result
from tiktok_capi.consumer.delivery.base import BatchOutcome
from tiktok_capi.consumer.loop.batcher import Batch
from tiktok_capi.consumer.loop.chunk import Chunk

__all__ = ["Decoded", "Delivered", "DestinationRecovered", "LoopEvent", "LoopEvents"]


@dataclass(frozen=True, slots=True)
class Decoded:
    """A chunk's decode + map results are ready (``future`` may hold a worker's failure)."""

    chunk: Chunk
    future: Future[list[Result]]


@dataclass(frozen=True, slots=True)
class Delivered:
    """A batch's delivery finished (``future`` holds its :class:`BatchOutcome`)."""

    batch: Batch
    future: Future[BatchOutcome]


@dataclass(frozen=True, slots=True)
class DestinationRecovered:
    """The destination probe succeeded: held events may be sent again.

    ``outage``: a probe of this pause had failed first (the destination was really down), so
    events that failed past the retry budget are sent again too; otherwise TikTok answered at
    once and their failure was their own (retry tiers).
    """

    outage: bool = True


LoopEvent = Decoded | Delivered | DestinationRecovered

LoopEvents = queue.SimpleQueue[LoopEvent]
"""The loop's queue: any thread puts, only the poll loop gets."""
