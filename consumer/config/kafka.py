"""librdkafka configuration dictionaries built from :class:`.settings.KafkaSettings`.

The only place that turns settings into dotted librdkafka keys. User-supplied ``KAFKA_*``
properties apply to every client; the connector's guarantees (manual commits, ordered
idempotent writes to retry and dead-letter topics) are set last so they cannot be overridden.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from tiktok_capi.consumer.config.settings import KafkaSettings

__all__ = [
    "CONSUMER_DEFAULTS",
    "PRODUCER_DEFAULTS",
    "admin_config",
    "consumer_config",
    "producer_config",
]

# Properties that make sense only for one kind of client; librdkafka warns about the others.
_CONSUMER_ONLY = (
    "session.",
    "heartbeat.",
    "max.poll.",
    "auto.offset.reset",
    "fetch.",
    "partition.assignment.strategy",
    "group.",
    "isolation.level",
    "queued.",
    "check.crcs",
    "enable.partition.eof",
)
_PRODUCER_ONLY = (
    "acks",
    "linger.",
    "batch.",
    "compression.",
    "enable.idempotence",
    "message.timeout.",
    "delivery.timeout.",
    "queue.buffering.",
    "retries",
    "request.required.acks",
    "max.in.flight",
)


def _common(settings: KafkaSettings, skip: tuple[str, ...]) -> dict[str, Any]:
    conf: dict[str, Any] = {"bootstrap.servers": settings.bootstrap_servers}
    conf.update({k: v for k, v in settings.properties.items() if not k.startswith(skip)})
    return conf


# Defaults that differ from librdkafka's; a KAFKA_* variable overrides any of them.
CONSUMER_DEFAULTS: Final[Mapping[str, Any]] = {
    "auto.offset.reset": "earliest",
    "partition.assignment.strategy": "cooperative-sticky",
    "statistics.interval.ms": 15000,
    "client.id": "tiktok-capi",
    # librdkafka pre-fetches up to 64 MiB by default; 16 MiB keeps the same throughput
    # (measured with bench/e2e.py) at a lower peak RSS.
    "queued.max.messages.kbytes": 16384,
    # When that queue is full (backpressure holds consumption at MAX_IN_FLIGHT_EVENTS),
    # librdkafka postpones the next fetch by fetch.queue.backoff.ms, 1 s by default: the
    # queue drains in a fraction of that and the loop then waits, idle, for the rest.
    # 20 ms keeps the pipeline fed (bench/e2e.py: ~0.5 s idle gaps gone, +39% records/s).
    "fetch.queue.backoff.ms": 20,
}
PRODUCER_DEFAULTS: Final[Mapping[str, Any]] = {
    "linger.ms": 20,
    "client.id": "tiktok-capi-outcomes",
}


def consumer_config(settings: KafkaSettings, *, group_id: str | None = None) -> dict[str, Any]:
    """Consumer: manual commits from the poll loop, cooperative rebalancing, statistics for lag."""
    conf: dict[str, Any] = dict(CONSUMER_DEFAULTS)
    conf.update(_common(settings, _PRODUCER_ONLY))
    conf.update(
        {
            "group.id": group_id or settings.group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
        }
    )
    return conf


def producer_config(settings: KafkaSettings) -> dict[str, Any]:
    """Producer of retry and dead-letter records: acknowledged by all in-sync replicas."""
    conf: dict[str, Any] = dict(PRODUCER_DEFAULTS)
    conf.update(_common(settings, _CONSUMER_ONLY))
    conf.update({"acks": "all", "enable.idempotence": True})
    return conf


def admin_config(settings: KafkaSettings) -> dict[str, Any]:
    """Admin client (topic creation, lag inspection)."""
    conf = _common(settings, _CONSUMER_ONLY + _PRODUCER_ONLY)
    conf.setdefault("client.id", "tiktok-capi-admin")
    return conf
