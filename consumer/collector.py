"""The cyclic garbage collector and the record stream: fewer collections, none of them useless.

CPython starts a generation-0 collection every 700 net allocations of containers, and a
consumed ``Message`` is a container. A ``consume`` call of 1,000 records therefore set off a
collection that walked the fresh messages and promoted them, every tenth one walked again the
thousands then in flight, and the promotions made full collections come round over the whole
heap — yet the messages, like everything per record, are freed by reference counting the moment
their batch is delivered: the collector never finds garbage among them. That was most of the
collector's time in an end-to-end drain (figures: docs/performance.md).

Two settings, made once per process:

- :func:`tune_collector` raises the generation-0 threshold far above one consumed batch, so
  collections are rare and in-flight records have mostly been freed before one runs;
- :func:`freeze_startup_heap` moves what start-up built (modules, settings, schemas, mapping
  tables) to the permanent generation, which no collection walks again.

Reference cycles are still collected, only later: none is made per record, and the one
``httpx.Client`` makes per request (a response and its stream) is not made at all — the sender
posts through the client's transport, or breaks it when it falls back to the client — so request
bodies are freed at once (:mod:`~tiktok_capi.consumer.delivery.post`).
"""

from __future__ import annotations

import gc
from typing import Final

__all__ = ["THRESHOLDS", "freeze_startup_heap", "tune_collector"]

THRESHOLDS: Final[tuple[int, int, int]] = (10_000, 10, 10)
"""Generation 0 ten consumed batches (of 1,000 messages) apart; generations 1 and 2 as CPython's."""


def tune_collector(thresholds: tuple[int, int, int] = THRESHOLDS) -> None:
    """Set the collector's thresholds (the poll loop's process and decode workers)."""
    gc.set_threshold(*thresholds)


def freeze_startup_heap() -> None:
    """Collect what start-up left behind, then keep every surviving object out of collections."""
    gc.collect()
    gc.freeze()
