"""Failures: where a record goes when it cannot be delivered now or ever.

``router`` is the one place that decides: the next retry tier, the dead-letter topic, or not yet
(the dead-letter limit, a stopped destination, a write that failed and is sent again); ``tiers``
names the topics and writes the headers; ``producer`` writes the records and counts only
acknowledged writes; ``limit`` is the dead-letter rate limit.
"""

__all__ = ["limit", "producer", "router", "tiers"]
