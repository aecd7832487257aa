"""Typed configuration of `tiktok-capi`, read once from the environment, a section per boundary.

:class:`Settings` has four sections, each a frozen dataclass whose fields declare their
environment variable, parser, default and meaning once (:func:`~.options.option`):

- :class:`KafkaSettings` (``settings.kafka``): the cluster, group, topics, retry tiers, registry;
- :class:`TikTokSettings` (``settings.tiktok``): the destination: token, pixel, batching, HTTP;
- :class:`MappingOptions` (``settings.mapping``): what the mapping sends (event map, consent);
- :class:`ProcessSettings` (``settings.process``): workers, memory bound, health port, logs.

:func:`load_settings` reads them all and raises :class:`ConfigError` listing every missing or
invalid variable (one line each); commands that only talk to Kafka (``dlq``, ``produce``) read
:func:`load_kafka_settings` alone. ``docs/configuration.md`` is generated from the declarations
(:mod:`~.reference`) and a test keeps the two in step.

Any librdkafka property can be passed as ``KAFKA_<PROPERTY>`` with dots written as underscores
(``KAFKA_SESSION_TIMEOUT_MS=6000`` -> ``session.timeout.ms``); those land in
:attr:`KafkaSettings.properties`, translated to dotted keys only here, at the edge.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from tiktok_capi.consumer.config.options import Option, load_section, option, options_of
from tiktok_capi.consumer.config.values import (
    ConfigError,
    SecretStr,
    boolean,
    byte_size,
    choice,
    durations,
    int_range,
    is_loopback_url,
    names,
    non_negative_float,
    parse_duration,
    phone_region,
    positive_duration,
    secret,
    text,
    url,
)

__all__ = [
    "OPTIONS",
    "ConfigError",
    "KafkaSettings",
    "MappingOptions",
    "Option",
    "ProcessSettings",
    "SecretStr",
    "Settings",
    "TikTokSettings",
    "load_kafka_settings",
    "load_settings",
    "parse_duration",
]

_SECRET_KEY = re.compile(r"password|secret|token|key|jaas|credential", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True)
class KafkaSettings:
    """The Kafka side: cluster, consumer group, topics, retry tiers, dead letters, registry."""

    bootstrap_servers: str = option(
        "KAFKA_BOOTSTRAP_SERVERS",
        text,
        "Kafka bootstrap servers, comma-separated host:port.",
        required=True,
    )
    group_id: str = option(
        "KAFKA_GROUP_ID",
        text,
        "Consumer group id; one group per TikTok pixel.",
        "tiktok-capi",
    )
    source_topic: str = option(
        "SOURCE_TOPIC",
        text,
        "Topic of Avro-encoded CDP (Segment-spec) events.",
        "cdp-events",
    )
    retry_topic: str = option(
        "RETRY_TOPIC",
        text,
        "Prefix of the retry tier topics `{RETRY_TOPIC}.1`, `{RETRY_TOPIC}.2`, ... Default "
        "`{SOURCE_TOPIC}.tiktok.retry`.",
    )
    dlq_topic: str = option(
        "DLQ_TOPIC",
        text,
        "Dead-letter topic. Default `{SOURCE_TOPIC}.tiktok.dlq`.",
    )
    retry_delays: tuple[float, ...] = option(
        "RETRY_DELAYS",
        durations,
        "Delay of each retry tier, comma-separated (one topic per delay); after the last tier a"
        " record goes to the dead-letter topic.",
        "30s,5m,30m",
    )
    create_topics: bool = option(
        "CREATE_TOPICS",
        boolean,
        "Create missing retry and dead-letter topics at start-up with the source topic's "
        "partition count.",
        "true",
    )
    commit_interval_s: float = option(
        "COMMIT_INTERVAL",
        positive_duration,
        "How often resolved offsets are committed (also on revocation and shutdown).",
        "5s",
    )
    dlq_max_per_minute: int = option(
        "DLQ_MAX_PER_MINUTE",
        int_range(0),
        "Stop consuming (and alert) when more records than this are dead-lettered in a minute: "
        "insurance against a bad deploy dead-lettering the stream (0 = no limit).",
        "1000",
    )
    broker_stall_timeout_s: float = option(
        "BROKER_STALL_TIMEOUT",
        positive_duration,
        "How long the broker may leave a metadata request unanswered (asked every half of this "
        "by a watch of its own) before /readyz turns 503: catches a broker that holds its "
        "connections open and answers nothing.",
        "10s",
    )
    schema_registry_url: str | None = option(
        "SCHEMA_REGISTRY_URL",
        url,
        "Confluent-compatible Schema Registry. When set, values are in the Confluent wire "
        "format (magic byte 0 + 4-byte schema id); when unset, plain Avro binary written with "
        "the bundled schema.",
    )
    schema_registry_auth: SecretStr | None = option(
        "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO",
        secret,
        "`user:password` for the Schema Registry's basic auth (secret).",
        secret=True,
    )
    properties: Mapping[str, str] = field(default_factory=dict)
    """Extra librdkafka properties from ``KAFKA_*`` variables (dotted keys)."""

    def __post_init__(self) -> None:
        # Defaults that depend on another setting.
        if self.retry_topic is None:
            object.__setattr__(self, "retry_topic", f"{self.source_topic}.tiktok.retry")
        if self.dlq_topic is None:
            object.__setattr__(self, "dlq_topic", f"{self.source_topic}.tiktok.dlq")

    def redacted_properties(self) -> dict[str, str]:
        """The extra librdkafka properties with secret-looking values masked, for logs."""
        return {
            k: ("**********" if _SECRET_KEY.search(k) else v) for k, v in self.properties.items()
        }


@dataclass(frozen=True, kw_only=True)
class TikTokSettings:
    """The destination: the Events API endpoint, credentials, batching, HTTP and retries."""

    access_token: SecretStr = option(
        "TIKTOK_ACCESS_TOKEN",
        secret,
        "TikTok Events API access token (secret; sent as the Access-Token header only).",
        required=True,
        secret=True,
    )
    pixel_code: str = option(
        "TIKTOK_PIXEL_CODE",
        text,
        "TikTok pixel code (event_source_id).",
        required=True,
    )
    test_event_code: str | None = option(
        "TIKTOK_TEST_EVENT_CODE",
        text,
        "When set, events are sent in test mode and appear in TikTok's Test Events dashboard. "
        "Remove before going live.",
    )
    api_url: str = option(
        "TIKTOK_API_URL",
        url,
        "Base URL; requests go to `{TIKTOK_API_URL}/open_api/v1.3/event/track/`.",
        "https://business-api.tiktok.com",
    )
    allow_http: bool = option(
        "TIKTOK_ALLOW_HTTP",
        boolean,
        "Allow an `http://` TIKTOK_API_URL on another host (an emulator in another container): "
        "the token and the events would cross the network unencrypted. Loopback URLs are "
        "always allowed; `https://` is always verified against the system's CAs "
        "(`SSL_CERT_FILE` / `SSL_CERT_DIR` name others).",
        "false",
    )
    batch_size: int = option(
        "BATCH_SIZE",
        int_range(1, 1000),
        "Events per request (TikTok accepts at most 1,000).",
        "1000",
    )
    batch_linger_s: float = option(
        "BATCH_LINGER",
        positive_duration,
        "How long a partial batch waits for more events before it is sent.",
        "200ms",
    )
    max_in_flight_requests: int = option(
        "MAX_IN_FLIGHT_REQUESTS",
        int_range(1, 64),
        "Requests sent concurrently over the pooled HTTP client.",
        "4",
    )
    connect_timeout_s: float = option(
        "TIKTOK_CONNECT_TIMEOUT",
        positive_duration,
        "TCP/TLS connect timeout.",
        "5s",
    )
    request_timeout_s: float = option(
        "TIKTOK_REQUEST_TIMEOUT",
        positive_duration,
        "Timeout of one request (read/write/pool).",
        "30s",
    )
    send_retry_attempts: int = option(
        "SEND_RETRY_ATTEMPTS",
        int_range(1, 100),
        "Attempts of one request in-process (throttling, 5xx, timeouts) before its events go to"
        " the next retry tier.",
        "5",
    )
    send_retry_backoff_s: float = option(
        "SEND_RETRY_BACKOFF",
        positive_duration,
        "First in-process backoff; doubles per attempt with jitter; `Retry-After` wins.",
        "500ms",
    )
    send_retry_max_backoff_s: float = option(
        "SEND_RETRY_MAX_BACKOFF",
        positive_duration,
        "Longest in-process backoff between two attempts.",
        "30s",
    )
    rate_limit_rps: float = option(
        "TIKTOK_RATE_LIMIT_RPS",
        non_negative_float,
        "Client-side limit of requests per second shared by all in-flight requests (0 = "
        "unlimited).",
        "0",
    )
    auth_probe_interval_s: float = option(
        "AUTH_PROBE_INTERVAL",
        positive_duration,
        "While the destination is paused for auth, how often the token is probed; while it "
        "is down (TikTok not answering), the longest wait between two probes (the first is "
        "sent at once, then after 1s, 2s, 4s, ...).",
        "30s",
    )

    @property
    def track_url(self) -> str:
        """The Events API endpoint requests are posted to."""
        return f"{self.api_url}/open_api/v1.3/event/track/"


@dataclass(frozen=True, kw_only=True)
class MappingOptions:
    """What the mapping sends: the event map, phone region and the source's own switches."""

    event_map_file: str | None = option(
        "EVENT_MAP_FILE",
        text,
        "JSON file overriding/extending the CDP -> TikTok event-name mapping (see "
        "docs/mapping.md).",
    )
    phone_default_region: str = option(
        "PHONE_DEFAULT_REGION",
        phone_region,
        "Region (ISO 3166 alpha-2) for phone numbers written without a country code.",
        "US",
    )
    integration_names: tuple[str, ...] = option(
        "INTEGRATION_NAMES",
        names,
        "Comma-separated keys of an event's `integrations` object that mean this destination "
        '(case-insensitive): `{"All": false, "TikTok Ads": true}` sends the event, `{"TikTok '
        'Ads": false}` skips it as `disabled_by_integrations` (docs/mapping.md).',
        "TikTok Conversions,TikTok Conversions API,TikTok Ads,TIKTOK_ADS",
    )
    consent_categories: tuple[str, ...] = option(
        "CONSENT_CATEGORIES",
        names,
        "Comma-separated consent categories (e.g. `Advertising,Marketing`) that must all be "
        "`true` in `context.consent.categoryPreferences`, else the event is skipped as "
        "`no_consent`; events without preferences are sent. Empty: consent is not checked.",
        "",
    )
    consent_required: bool = option(
        "CONSENT_REQUIRED",
        boolean,
        "With CONSENT_CATEGORIES: also skip events that carry no consent preferences "
        "(`no_consent`).",
        "false",
    )


@dataclass(frozen=True, kw_only=True)
class ProcessSettings:
    """The process: decode workers, the in-flight bound, shutdown, health port, logs."""

    decode_workers: int = option(
        "DECODE_WORKERS",
        int_range(0, 16),
        "Processes that decode and map records off the poll loop (Avro decoding and mapping "
        "are the bulk of the work: docs/performance.md); 0 decodes in the poll loop "
        "itself. 2 keeps a 2-CPU pod busy.",
        "2",
    )
    max_in_flight_events: int = option(
        "MAX_IN_FLIGHT_EVENTS",
        int_range(1),
        "Records consumed but not yet resolved before partitions are paused (backpressure; "
        "bounds memory).",
        "20000",
    )
    max_in_flight_bytes: int = option(
        "MAX_IN_FLIGHT_BYTES",
        byte_size,
        "Bytes of record values consumed but not yet resolved before partitions are paused, "
        "beside MAX_IN_FLIGHT_EVENTS (whichever is reached first): large records bound memory "
        "by size, not count. The process holds about three times this (the record, the event, "
        "its JSON) plus librdkafka's pre-fetch queue.",
        "64MiB",
    )
    max_record_bytes: int = option(
        "MAX_RECORD_BYTES",
        byte_size,
        "Largest record value taken for delivery; a larger one is dead-lettered as "
        "`record_too_large` without being decoded (written without its value when the "
        "dead-letter topic cannot take it).",
        "1MiB",
    )
    shutdown_grace_s: float = option(
        "SHUTDOWN_GRACE",
        positive_duration,
        "On SIGTERM, how long in-flight deliveries may take before the process commits what is "
        "resolved and exits. Keep below Kubernetes' terminationGracePeriodSeconds.",
        "20s",
    )
    health_host: str = option(
        "HEALTH_HOST",
        text,
        "Address of the health/metrics HTTP port.",
        "0.0.0.0",
    )
    health_port: int = option(
        "HEALTH_PORT",
        int_range(0, 65535),
        "Port serving /livez, /readyz and /metrics (0 = pick a free port).",
        "8080",
    )
    liveness_timeout_s: float = option(
        "LIVENESS_TIMEOUT",
        positive_duration,
        "/livez fails when the poll loop has not ticked for this long.",
        "60s",
    )
    metrics_enabled: bool = option(
        "METRICS_ENABLED",
        boolean,
        "Serve Prometheus metrics on /metrics.",
        "true",
    )
    log_level: str = option(
        "LOG_LEVEL",
        choice("debug", "info", "warning", "error"),
        "Log level.",
        "info",
    )
    log_format: str = option(
        "LOG_FORMAT",
        choice("auto", "json", "text"),
        "`json` (one object per line), `text`, or `auto` (text on a terminal, else JSON).",
        "auto",
    )


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything `tiktok-capi run` needs, by boundary."""

    kafka: KafkaSettings
    tiktok: TikTokSettings
    mapping: MappingOptions = field(default_factory=MappingOptions)
    process: ProcessSettings = field(default_factory=ProcessSettings)


_SECTIONS: Final = (
    ("kafka", KafkaSettings),
    ("tiktok", TikTokSettings),
    ("mapping", MappingOptions),
    ("process", ProcessSettings),
)

OPTIONS: Final[tuple[Option, ...]] = tuple(
    declared for name, section in _SECTIONS for declared in options_of(section, name)
)
"""Every variable, in the order of docs/configuration.md (what docs, compose and Helm check)."""

_NAMED_KAFKA: Final = frozenset(o.env for o in OPTIONS if o.env.startswith("KAFKA_"))
# Properties the connector owns: letting users set them would break its guarantees.
_RESERVED_KAFKA: Final = frozenset(
    {"enable.auto.commit", "enable.auto.offset.store", "group.id", "bootstrap.servers"}
)


def _kafka_properties(env: Mapping[str, str], problems: list[str]) -> dict[str, str]:
    props: dict[str, str] = {}
    for name, value in env.items():
        if not name.startswith("KAFKA_") or name in _NAMED_KAFKA:
            continue
        key = name[len("KAFKA_") :].lower().replace("_", ".")
        if not key:
            continue
        if key in _RESERVED_KAFKA:
            problems.append(f"{name}: {key} is managed by tiktok-capi and cannot be set")
            continue
        props[key] = value
    return props


def _kafka(env: Mapping[str, str], problems: list[str]) -> KafkaSettings | None:
    kafka = load_section(
        KafkaSettings, env, problems, {"properties": _kafka_properties(env, problems)}
    )
    if kafka is not None and kafka.source_topic in (kafka.dlq_topic, kafka.retry_topic):
        problems.append("DLQ_TOPIC/RETRY_TOPIC: must differ from SOURCE_TOPIC")
        return None
    return kafka


def _mapping(env: Mapping[str, str], problems: list[str]) -> MappingOptions | None:
    mapping = load_section(MappingOptions, env, problems)
    if mapping is not None and mapping.consent_required and not mapping.consent_categories:
        # Without categories nothing would be checked: surely not what was meant.
        problems.append("CONSENT_REQUIRED=true needs CONSENT_CATEGORIES (e.g. Advertising)")
        return None
    return mapping


def _raise(problems: list[str]) -> None:
    if problems:
        raise ConfigError("\n".join(problems))


def _tiktok(env: Mapping[str, str], problems: list[str]) -> TikTokSettings | None:
    tiktok = load_section(TikTokSettings, env, problems)
    if (
        tiktok is not None
        and tiktok.api_url.startswith("http://")
        and not (tiktok.allow_http or is_loopback_url(tiktok.api_url))
    ):
        # The access token travels in a header: never in clear text over a network by mistake.
        problems.append(
            f"TIKTOK_API_URL={tiktok.api_url!r}: plain http to another host would send the token "
            "unencrypted; use https://, or set TIKTOK_ALLOW_HTTP=true for a test emulator"
        )
        return None
    return tiktok


def load_kafka_settings(env: Mapping[str, str]) -> KafkaSettings:
    """Read and validate the Kafka section alone (commands that never talk to TikTok).

    Raises:
        ConfigError: one line per missing or invalid variable, each naming it; never a secret.
    """
    problems: list[str] = []
    kafka = _kafka(env, problems)
    _raise(problems)
    assert kafka is not None
    return kafka


def load_settings(env: Mapping[str, str]) -> Settings:
    """Read and validate every section from ``env`` (usually ``os.environ``).

    Raises:
        ConfigError: one line per missing or invalid variable, each naming it; never a secret.
    """
    problems: list[str] = []
    kafka = _kafka(env, problems)
    tiktok = _tiktok(env, problems)
    mapping = _mapping(env, problems)
    process = load_section(ProcessSettings, env, problems)
    _raise(problems)
    assert kafka is not None and tiktok is not None
    assert mapping is not None and process is not None
    return Settings(kafka=kafka, tiktok=tiktok, mapping=mapping, process=process)
