"""The poll loop and its steps: the one thread that owns the consumer, the offsets and commits.

``pipeline`` is the loop: it consumes, dispatches the typed ``events`` other threads post, and
alone sends batches, pauses partitions and commits. Its steps return what should happen next:
``intake`` (records to chunks, decode results to batches, skips and failures), ``batcher``,
``outcomes`` (delivery results to resolutions and failure routes) and ``flow``
(backpressure, retry tiers not due); ``chunk`` and ``lanes`` are their values.
"""

__all__ = ["batcher", "chunk", "events", "flow", "intake", "lanes", "outcomes", "pipeline"]
