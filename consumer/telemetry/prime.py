"""Every metric on `/metrics` from the start, at zero, before the first record arrives.

OpenTelemetry exports a counter series only once something was added to it, so a fresh connector
would show none of its counters, and `rate()`, `absent()`-style alerts and dashboards would see
"no data" instead of 0 until the first event of each kind. :func:`prime_metrics` adds 0 to
each counter (and sets each state gauge) for the attribute values known before any work: the
topics, the retry tiers, the TikTok event names of the event map, the closed lists of reasons,
error classes, outcomes and states. Attributes whose values only the work reveals (TikTok
``code``, librdkafka error names) are left out of these zero series.

Not primed, on purpose: per-partition gauges (``consumer.lag``, ``committed.offset``) appear
with the partition's assignment and first statistics, and histograms with their first
observation (a made-up observation would skew them). Idempotent: adding 0 changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from tiktok_capi.consumer.telemetry import metrics as m
from tiktok_capi.consumer.telemetry.health_state import DestinationState

__all__ = ["KnownValues", "prime_metrics"]

_OUTCOMES: Final = ("ok", "throttled", "transient", "invalid", "auth", "misconfigured")
_CAUSES: Final = ("rate_limit", "backoff")
_TOPIC_KINDS: Final = ("retry", "dead_letter")
_REBALANCE_KINDS: Final = ("assigned", "revoked", "lost")


@dataclass(frozen=True)
class KnownValues:
    """The attribute values a connector knows before it has done anything."""

    source_topic: str
    tier_topics: Sequence[str]
    event_names: Iterable[str]
    skip_reasons: Iterable[str]
    decode_reasons: Iterable[str]
    dead_letter_reasons: Iterable[str]
    error_classes: Iterable[str]


_PROBE_RESULTS: Final = ("up", "down", "refused")


def prime_metrics(known: KnownValues) -> None:
    """Create every counter series with a known attribute set at 0, and the state gauges."""
    topics = (known.source_topic, *known.tier_topics)
    for topic in topics:
        m.RECORDS_CONSUMED.add(0, {"topic": topic})
        m.PARTITIONS_ASSIGNED.set(0, {"topic": topic})
    for reason in known.decode_reasons:
        m.DECODE_FAILURES.add(0, {"reason": reason})
    for name in sorted(set(known.event_names)):
        m.EVENTS_MAPPED.add(0, {"event_name": name})
        m.EVENTS_DELIVERED.add(0, {"event_name": name})
    for reason in known.skip_reasons:
        m.EVENTS_SKIPPED.add(0, {"reason": reason})
    error_classes = tuple(known.error_classes)
    for tier in range(1, len(known.tier_topics) + 1):
        for error_class in error_classes:
            m.EVENTS_RETRIED.add(0, {"tier": str(tier), "error_class": error_class})
    for reason in known.dead_letter_reasons:
        m.EVENTS_DEAD_LETTERED.add(0, {"reason": reason})
    for kind in _TOPIC_KINDS:
        m.WRITES_FAILED.add(0, {"topic_kind": kind})
    for outcome in _OUTCOMES:
        m.REQUESTS.add(0, {"outcome": outcome})
    for cause in _CAUSES:
        m.THROTTLE_WAITS.add(0, {"cause": cause})
        m.THROTTLE_WAIT_DURATION.add(0, {"cause": cause})
    for kind in _REBALANCE_KINDS:
        m.REBALANCES.add(0, {"kind": kind})
    m.IN_FLIGHT_EVENTS.add(0)
    m.IN_FLIGHT_BYTES.add(0)
    m.IN_FLIGHT_REQUESTS.add(0)
    for result in _PROBE_RESULTS:
        m.DESTINATION_PROBES.add(0, {"result": result})
    for state in DestinationState:
        m.DESTINATION_STATE.set(
            1 if state is DestinationState.RUNNING else 0, {"state": state.value}
        )
