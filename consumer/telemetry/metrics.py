"""Every metric of tiktok-capi, declared once: name, type, unit, meaning and attributes.

Code records through the OpenTelemetry API only; the SDK and exporters are wired once at start-up
(`tiktok_capi.consumer.telemetry.setup`). Until then these instruments are no-op proxies, so
importing this module is always safe (tests, the `map` command). `docs/metrics.md` lists the same
metrics as exported by Prometheus (dots become underscores; counters get `_total`, units a suffix).

Attribute values must be low-cardinality and PII-free: topic, partition, TikTok event name,
reason codes, outcome, TikTok `code` — never event ids, user data or the token.
"""

from __future__ import annotations

from typing import Final

from opentelemetry import metrics

__all__ = [
    "BATCH_SIZE",
    "COMMITTED_OFFSET",
    "COMMIT_DURATION",
    "CONSUMER_LAG",
    "DECODE_FAILURES",
    "DESTINATION_PROBES",
    "DESTINATION_STATE",
    "EVENTS_DEAD_LETTERED",
    "EVENTS_DELIVERED",
    "EVENTS_MAPPED",
    "EVENTS_RETRIED",
    "EVENTS_SKIPPED",
    "IN_FLIGHT_BYTES",
    "IN_FLIGHT_EVENTS",
    "IN_FLIGHT_REQUESTS",
    "METER_NAME",
    "PARTITIONS_ASSIGNED",
    "REBALANCES",
    "RECORDS_CONSUMED",
    "REQUESTS",
    "REQUEST_DURATION",
    "THROTTLE_WAITS",
    "THROTTLE_WAIT_DURATION",
    "WRITES_FAILED",
]

METER_NAME: Final = "tiktok_capi"
_meter = metrics.get_meter(METER_NAME)

# --- Kafka side -----------------------------------------------------------------------------------
RECORDS_CONSUMED: Final = _meter.create_counter(
    "tiktok_capi.records.consumed",
    unit="{record}",
    description="Records read from Kafka (source and retry tiers). Attributes: topic.",
)
DECODE_FAILURES: Final = _meter.create_counter(
    "tiktok_capi.decode.failures",
    unit="{record}",
    description="Records that could not be decoded (sent to the dead-letter topic). "
    "Attributes: reason (garbage, truncated, unknown_schema_id, wrong_magic_byte, ...).",
)
CONSUMER_LAG: Final = _meter.create_gauge(
    "tiktok_capi.consumer.lag",
    unit="{record}",
    description="Records between the group's committed offset (before the first commit: the "
    "consumer's position) and the high watermark seen in fetch responses, per partition "
    "assigned to this member (source and retry tiers; 0 once revoked). Attributes: topic, "
    "partition.",
)
PARTITIONS_ASSIGNED: Final = _meter.create_gauge(
    "tiktok_capi.partitions.assigned",
    unit="{partition}",
    description="Partitions assigned to this member. Attributes: topic (source, retry tiers).",
)
REBALANCES: Final = _meter.create_counter(
    "tiktok_capi.rebalances",
    unit="{rebalance}",
    description="Rebalance callbacks that changed this member's assignment. Attributes: kind "
    "(assigned, revoked, lost).",
)
COMMIT_DURATION: Final = _meter.create_histogram(
    "tiktok_capi.commit.duration",
    unit="s",
    description="Duration of one synchronous offset commit. Attributes: trigger "
    "(interval, revoke, shutdown), outcome (ok, error).",
)
COMMITTED_OFFSET: Final = _meter.create_gauge(
    "tiktok_capi.committed.offset",
    unit="{offset}",
    description="Last committed offset. Attributes: topic, partition.",
)
IN_FLIGHT_EVENTS: Final = _meter.create_up_down_counter(
    "tiktok_capi.in_flight.events",
    unit="{record}",
    description="Records consumed and not yet resolved (bounded by MAX_IN_FLIGHT_EVENTS).",
)
IN_FLIGHT_BYTES: Final = _meter.create_up_down_counter(
    "tiktok_capi.in_flight.bytes",
    unit="By",
    description="Value bytes of the records consumed and not yet resolved (bounded by "
    "MAX_IN_FLIGHT_BYTES).",
)

# --- Mapping --------------------------------------------------------------------------------------
EVENTS_MAPPED: Final = _meter.create_counter(
    "tiktok_capi.events.mapped",
    unit="{event}",
    description="Events mapped to a TikTok event. Attributes: event_name (TikTok name).",
)
EVENTS_SKIPPED: Final = _meter.create_counter(
    "tiktok_capi.events.skipped",
    unit="{event}",
    description="Events skipped by the mapping (offset committed). Attributes: reason.",
)

# --- Outcomes -------------------------------------------------------------------------------------
EVENTS_DELIVERED: Final = _meter.create_counter(
    "tiktok_capi.events.delivered",
    unit="{event}",
    description="Events accepted by TikTok (code 0 or 20001). Attributes: event_name.",
)
EVENTS_RETRIED: Final = _meter.create_counter(
    "tiktok_capi.events.retried",
    unit="{event}",
    description="Records written to a retry tier topic. Attributes: tier, error_class.",
)
EVENTS_DEAD_LETTERED: Final = _meter.create_counter(
    "tiktok_capi.events.dead_lettered",
    unit="{event}",
    description="Records written to the dead-letter topic. Attributes: reason "
    "(decode_error, invalid_event, retries_exhausted, ...).",
)
WRITES_FAILED: Final = _meter.create_counter(
    "tiktok_capi.writes.failed",
    unit="{write}",
    description="Retry-tier and dead-letter writes the broker did not acknowledge; each is sent "
    "again after a backoff (its offset stays uncommitted). Attributes: topic_kind (retry, "
    "dead_letter), code (librdkafka error name).",
)

# --- TikTok requests ------------------------------------------------------------------------------
REQUESTS: Final = _meter.create_counter(
    "tiktok_capi.requests",
    unit="{request}",
    description="HTTP requests to the Events API. Attributes: outcome (ok, throttled, "
    "transient, unclassified, invalid, auth, misconfigured), code (TikTok code or HTTP status).",
)
REQUEST_DURATION: Final = _meter.create_histogram(
    "tiktok_capi.request.duration",
    unit="s",
    description="Duration of one Events API request. Attributes: outcome.",
)
BATCH_SIZE: Final = _meter.create_histogram(
    "tiktok_capi.batch.size",
    unit="{event}",
    description="Events per Events API request.",
)
IN_FLIGHT_REQUESTS: Final = _meter.create_up_down_counter(
    "tiktok_capi.in_flight.requests",
    unit="{request}",
    description="Events API requests currently in flight.",
)
THROTTLE_WAITS: Final = _meter.create_counter(
    "tiktok_capi.throttle.waits",
    unit="{wait}",
    description="Times a request waited: for the client-side rate limit or a backoff. "
    "Attributes: cause (rate_limit, backoff).",
)
THROTTLE_WAIT_DURATION: Final = _meter.create_counter(
    "tiktok_capi.throttle.wait_duration",
    unit="s",
    description="Total time requests spent waiting. Attributes: cause (rate_limit, backoff).",
)

# --- Destination ----------------------------------------------------------------------------------
DESTINATION_STATE: Final = _meter.create_gauge(
    "tiktok_capi.destination.state",
    unit="1",
    description="1 for the current destination state, 0 for the others. Attributes: state "
    "(running, paused_auth, down, stopped).",
)
DESTINATION_PROBES: Final = _meter.create_counter(
    "tiktok_capi.destination.probes",
    unit="{probe}",
    description="Probes of a paused destination (an empty request). Attributes: result (up: "
    "TikTok answered and accepts the token; down: no TikTok answer; refused: auth or "
    "configuration refused).",
)
