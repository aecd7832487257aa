"""Typed configuration of `tiktok-capi`, read once from the environment, a section per boundary.

:class:`Settings` has five sections, each a frozen dataclass whose fields declare their
environment variable, parser, default and meaning once (:func:`~.options.option`):

- :class:`KafkaSettings` (``settings.kafka``): the cluster, group, topics, retry tiers;
- :class:`InputSettings` (``settings.inputs``): value formats, a pinned schema, the registry;
- :class:`TikTokSettings` (``settings.tiktok``): the destination: token, pixel, batching, HTTP;
- :class:`MappingOptions` (``settings.mapping``): what the mapping sends (event map, consent);
- :class:`ProcessSettings` (``settings.process``): workers, memory bound, health port, logs.

:func:`load_settings` reads them all and raises :class:`ConfigError` listing every missing or
invalid variable (one line each); commands that only talk to Kafka (``dlq``, ``produce``) read
:func:`load_kafka_settings` alone. ``docs/configuration.md`` is generated from the declarations
(:mod:`~.reference`) and a test keeps the two in step.

Any librdkafka property can be passed as ``KAFKA_<PROPERTY>`` with dots written as underscores
(``KAFKA_SESSION_TIMEOUT_MS=6000`` -> ``session.timeout.ms``); those land in
:attr:`KafkaSettings.properties`, translated to dotted keys only here, at the edge. Each is checked
against the linked librdkafka (:mod:`.librdkafka`): an unknown property or a refused value is a
configuration error. Variables shaped like Kubernetes service links (``KAFKA_PORT``,
``KAFKA_SERVICE_HOST``, ... which Kubernetes injects for a Service named ``kafka``) are never
properties and are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from tiktok_capi.consumer.config.librdkafka import property_problem
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
    "InputSettings",
    "KafkaSettings",
    "MappingOptions",
    "Option",
    "ProcessSettings",
    "SecretStr",
    "Settings",
    "TikTokSettings",
    "load_input_settings",
    "load_kafka_settings",
    "load_settings",
    "parse_duration",
    "read_token_file",
]

_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
T = TypeVar("T")

_SECRET_KEY = re.compile(r"password|secret|token|key|jaas|credential", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True)
class KafkaSettings:
    """The Kafka side: cluster, consumer group, topics, retry tiers, dead letters."""

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
        "Topic of CDP (Segment-spec) events (formats: VALUE_FORMAT).",
        "cdp-events",
    )
    retry_topic: str = option(
        "RETRY_TOPIC",
        text,
        "Prefix of the retry tier topics `{RETRY_TOPIC}.1`, `{RETRY_TOPIC}.2`, ... Default "
        "`{SOURCE_TOPIC}.{KAFKA_GROUP_ID}.retry`: private to the consumer group, so two groups "
        "on one source topic never consume each other's retries (a connector refuses to start "
        "when its retry topics hold records another group wrote).",
    )
    dlq_topic: str = option(
        "DLQ_TOPIC",
        text,
        "Dead-letter topic. Default `{SOURCE_TOPIC}.{KAFKA_GROUP_ID}.dlq` (private to the "
        "consumer group, like RETRY_TOPIC).",
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
    properties: Mapping[str, str] = field(default_factory=dict)
    """Extra librdkafka properties from ``KAFKA_*`` variables (dotted keys)."""

    def __post_init__(self) -> None:
        # Defaults that depend on other settings: named after the group too, so a second
        # deployment on the same source topic (another pixel, a staging copy) never reads the
        # first one's retry tiers.
        if self.retry_topic is None:
            retry = f"{self.source_topic}.{self.group_id}.retry"
            object.__setattr__(self, "retry_topic", retry)
        if self.dlq_topic is None:
            object.__setattr__(self, "dlq_topic", f"{self.source_topic}.{self.group_id}.dlq")

    def redacted_properties(self) -> dict[str, str]:
        """The extra librdkafka properties with secret-looking values masked, for logs."""
        return {
            k: ("**********" if _SECRET_KEY.search(k) else v) for k, v in self.properties.items()
        }


@dataclass(frozen=True, kw_only=True)
class InputSettings:
    """What the source topic holds: the value format, a pinned schema, the Schema Registry.

    The registry options are named after the Confluent client's properties
    (``SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO`` is ``basic.auth.user.info``); docs/inputs.md.
    """

    value_format: str = option(
        "VALUE_FORMAT",
        choice("avro", "json"),
        "What the values of the source topic are: `avro` (Avro; Confluent-framed with "
        "SCHEMA_REGISTRY_URL, else plain Avro of AVRO_SCHEMA_FILE or the bundled schema) or "
        "`json` (Segment JSON objects; Confluent-framed JSON Schema values too with "
        "SCHEMA_REGISTRY_URL). Records are told apart one by one: a Confluent-framed value "
        "always reads with its registry schema (docs/inputs.md).",
        "avro",
    )
    avro_schema_file: str | None = option(
        "AVRO_SCHEMA_FILE",
        text,
        "Writer schema (`.avsc`) of plain (unframed) Avro values, for a pipeline that pins "
        "its schema; default: the bundled `tiktok_capi.CdpEvent` schema. Checked at start.",
    )
    schema_registry_url: str | None = option(
        "SCHEMA_REGISTRY_URL",
        url,
        "Confluent-compatible Schema Registry (comma-separated URLs are tried in turn). When "
        "set, Confluent-framed values (magic byte 0 + 4-byte schema id) decode with the "
        "writer schema registered under their id.",
    )
    schema_registry_auth: SecretStr | None = option(
        "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO",
        secret,
        "`user:password` for the Schema Registry's basic auth (secret).",
        secret=True,
    )
    schema_registry_bearer_token: SecretStr | None = option(
        "SCHEMA_REGISTRY_BEARER_AUTH_TOKEN",
        secret,
        "A static bearer token for the Schema Registry (secret); needs "
        "SCHEMA_REGISTRY_BEARER_AUTH_LOGICAL_CLUSTER.",
        secret=True,
    )
    schema_registry_bearer_client_id: str | None = option(
        "SCHEMA_REGISTRY_BEARER_AUTH_CLIENT_ID",
        text,
        "OAuth client id: bearer tokens are fetched (client credentials) from "
        "SCHEMA_REGISTRY_BEARER_AUTH_ISSUER_ENDPOINT_URL and renewed before they expire.",
    )
    schema_registry_bearer_client_secret: SecretStr | None = option(
        "SCHEMA_REGISTRY_BEARER_AUTH_CLIENT_SECRET",
        secret,
        "OAuth client secret (secret).",
        secret=True,
    )
    schema_registry_bearer_scope: str = option(
        "SCHEMA_REGISTRY_BEARER_AUTH_SCOPE",
        text,
        "OAuth scope asked for with the client credentials.",
        "",
    )
    schema_registry_bearer_issuer_url: str | None = option(
        "SCHEMA_REGISTRY_BEARER_AUTH_ISSUER_ENDPOINT_URL",
        url,
        "OAuth token endpoint.",
    )
    schema_registry_bearer_logical_cluster: str | None = option(
        "SCHEMA_REGISTRY_BEARER_AUTH_LOGICAL_CLUSTER",
        text,
        "Logical cluster (Confluent Cloud: the `lsrc-...` id) sent with bearer tokens; the "
        "client requires it with either bearer option.",
    )
    schema_registry_bearer_identity_pool: str | None = option(
        "SCHEMA_REGISTRY_BEARER_AUTH_IDENTITY_POOL_ID",
        text,
        "Identity pool id(s) sent with bearer tokens (Confluent Cloud), when the registry "
        "asks for one.",
    )
    schema_registry_ssl_ca: str | None = option(
        "SCHEMA_REGISTRY_SSL_CA_LOCATION",
        text,
        "CA certificate file (or directory) that verifies the registry's TLS certificate; "
        "default: the system's and certifi's.",
    )
    schema_registry_ssl_certificate: str | None = option(
        "SCHEMA_REGISTRY_SSL_CERTIFICATE_LOCATION",
        text,
        "Client certificate (PEM) for registries that require TLS client authentication.",
    )
    schema_registry_ssl_key: str | None = option(
        "SCHEMA_REGISTRY_SSL_KEY_LOCATION",
        text,
        "Private key (PEM) of the client certificate, unless the certificate file holds it.",
    )
    schema_registry_ssl_key_password: SecretStr | None = option(
        "SCHEMA_REGISTRY_SSL_KEY_PASSWORD",
        secret,
        "Password of that private key (secret).",
        secret=True,
    )
    schema_registry_timeout_s: float = option(
        "SCHEMA_REGISTRY_TIMEOUT",
        positive_duration,
        "Timeout of one registry request. While the registry is away, records wait "
        "(uncommitted) and are decoded again with backoff; at most one request is made per "
        "short interval, never one per record.",
        "5s",
    )

    def secrets(self) -> tuple[str, ...]:
        """The secret values set here, for the log redaction (never log them otherwise)."""
        values = (
            self.schema_registry_auth,
            self.schema_registry_bearer_token,
            self.schema_registry_bearer_client_secret,
            self.schema_registry_ssl_key_password,
        )
        return tuple(v.get_secret_value() for v in values if v is not None)


@dataclass(frozen=True, kw_only=True)
class TikTokSettings:
    """The destination: the Events API endpoint, credentials, batching, HTTP and retries."""

    access_token: SecretStr = option(
        "TIKTOK_ACCESS_TOKEN",
        secret,
        "TikTok Events API access token (secret; sent as the Access-Token header only). "
        "Required unless TIKTOK_ACCESS_TOKEN_FILE is set.",
        secret=True,
    )
    access_token_file: str | None = option(
        "TIKTOK_ACCESS_TOKEN_FILE",
        text,
        "File holding the access token instead (a mounted Kubernetes Secret; a trailing newline "
        "is ignored): read at start-up and again whenever it changes, so a rotated token is "
        "used without a restart. Set this or TIKTOK_ACCESS_TOKEN, not both.",
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
        "Most requests in flight at once over the pooled HTTP client; as many are sent as "
        "TikTok's answer time needs, up to MAX_IN_FLIGHT_EVENTS. TikTok is far away: 1,000-event "
        "requests answered in 300 ms allow 32 x 1,000 / 0.3 s, ~100,000 events/s "
        "(docs/performance.md).",
        "32",
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
    source_fields_file: str | None = option(
        "SOURCE_FIELDS_FILE",
        text,
        "JSON or YAML file mapping Segment field paths to the source's own "
        "(`context.traits.email: user.email`), for schemas that name things differently; "
        "checked at start (docs/inputs.md).",
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
        "Processes that decode and map records off the poll loop. 0 (the default) decodes "
        "and maps on the poll loop's thread: one connector process per core, scaled by adding "
        "consumer-group members, gets the most records per CPU-second; workers cost more CPU "
        "per record (records cross a process boundary) but let one member use more cores, for "
        "when the topic has fewer partitions than the cores you want to use "
        "(docs/performance.md#scaling).",
        "0",
    )
    max_in_flight_events: int = option(
        "MAX_IN_FLIGHT_EVENTS",
        int_range(1),
        "Records consumed but not yet resolved before partitions are paused (backpressure; "
        "bounds memory). Each request holds its records for TikTok's answer time, so with slow "
        "answers this bounds throughput to about MAX_IN_FLIGHT_EVENTS / answer time (32,000 "
        "at 1 s: ~30,000 records/s): raise it, and the memory limit, if TikTok answers that "
        "slowly.",
        "32000",
    )
    max_in_flight_bytes: int = option(
        "MAX_IN_FLIGHT_BYTES",
        byte_size,
        "Bytes of record values consumed and not yet committable (one resolved ahead of an "
        "older record still out counts until that one is resolved) before partitions are paused, "
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
    log_repeat_interval_s: float = option(
        "LOG_REPEAT_INTERVAL",
        positive_duration,
        "Like warnings and errors of the Kafka clients (a broker down: one per reconnect "
        "attempt) are logged once, then once per this interval with how many were held back.",
        "30s",
    )
    progress_interval_s: float = option(
        "PROGRESS_INTERVAL",
        positive_duration,
        "How often a progress line is logged at info level: records consumed, delivered, "
        "skipped, retried and dead-lettered since the last line, lag and in flight (totals "
        "at exit).",
        "60s",
    )


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything `tiktok-capi run` needs, by boundary."""

    kafka: KafkaSettings
    tiktok: TikTokSettings
    inputs: InputSettings = field(default_factory=InputSettings)
    mapping: MappingOptions = field(default_factory=MappingOptions)
    process: ProcessSettings = field(default_factory=ProcessSettings)


_SECTIONS: Final = (
    ("kafka", KafkaSettings),
    ("inputs", InputSettings),
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


# Kubernetes injects, for every Service in the namespace (docs: "Environment variables" of
# Services), {NAME}_SERVICE_HOST, {NAME}_SERVICE_PORT, {NAME}_SERVICE_PORT_{PORT NAME},
# {NAME}_PORT and {NAME}_PORT_{N}_{PROTOCOL}[_PROTO|_PORT|_ADDR]: a Service named `kafka` (or
# `kafka-headless`, ...) yields KAFKA_PORT=tcp://10.96.0.12:9092. No librdkafka property ends in
# `.port`, `.service.host` or `.service.port` (tests/consumer/config checks these shapes against
# librdkafka), so ignoring them loses nothing.
_SERVICE_LINK: Final = re.compile(
    r"^KAFKA(?:_[A-Z0-9_]+?)?_(?:SERVICE_HOST|SERVICE_PORT(?:_[A-Z0-9_]+)?"
    r"|PORT(?:_\d+_(?:TCP|UDP|SCTP)(?:_(?:PROTO|PORT|ADDR))?)?)$"
)


def is_service_link(name: str) -> bool:
    """Whether the variable ``name`` has the shape of a Kubernetes service link (ignored)."""
    return _SERVICE_LINK.match(name) is not None


def _kafka_properties(env: Mapping[str, str], problems: list[str]) -> dict[str, str]:
    props: dict[str, str] = {}
    for name, value in env.items():
        if not name.startswith("KAFKA_") or name in _NAMED_KAFKA or is_service_link(name):
            continue
        key = name[len("KAFKA_") :].lower().replace("_", ".")
        if not key:
            continue
        if key in _RESERVED_KAFKA:
            problems.append(f"{name}: {key} is managed by tiktok-capi and cannot be set")
            continue
        problem = property_problem(key, value)
        if problem == "unknown":
            problems.append(
                f"{name}: librdkafka has no property {key!r} (KAFKA_* variables are librdkafka "
                "properties, dots written as underscores: docs/configuration.md)"
            )
            continue
        if problem is not None:
            shown = "(secret value refused)" if _SECRET_KEY.search(key) else problem.strip()
            problems.append(f"{name}: {shown}")
            continue
        props[key] = value
    return props


def _kafka(env: Mapping[str, str], problems: list[str]) -> KafkaSettings | None:
    kafka = load_section(
        KafkaSettings, env, problems, {"properties": _kafka_properties(env, problems)}
    )
    if kafka is None:
        return None
    if kafka.source_topic in (kafka.dlq_topic, kafka.retry_topic):
        problems.append("DLQ_TOPIC/RETRY_TOPIC: must differ from SOURCE_TOPIC")
        return None
    # Room for the tier suffix `.N` within Kafka's 249 characters.
    names = (("RETRY_TOPIC", kafka.retry_topic, 245), ("DLQ_TOPIC", kafka.dlq_topic, 249))
    illegal = [
        f"{name}={topic!r}"
        for name, topic, longest in names
        if not _TOPIC_NAME.match(topic) or len(topic) > longest
    ]
    if illegal:
        problems.append(
            "not a valid Kafka topic name (letters, digits, '.', '_', '-', at most 249 "
            f"characters with the tier suffix): {', '.join(illegal)}; the defaults derive from "
            "SOURCE_TOPIC and KAFKA_GROUP_ID: set RETRY_TOPIC and DLQ_TOPIC explicitly"
        )
        return None
    return kafka


def read_token_file(path: str) -> str:
    """The token in ``path``, surrounding whitespace (the trailing newline) removed.

    Raises:
        ValueError: the file cannot be read or holds no token (the message never quotes it).
    """
    try:
        with open(path, encoding="utf-8") as handle:
            token = handle.read().strip()
    except OSError as exc:
        raise ValueError(f"cannot read the token file: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ValueError("the token file is not UTF-8 text") from None
    if not token:
        raise ValueError("the token file is empty")
    return token


def _token(env: Mapping[str, str], problems: list[str]) -> dict[str, object]:
    """The access token, from TIKTOK_ACCESS_TOKEN or the file TIKTOK_ACCESS_TOKEN_FILE names."""
    direct = env.get("TIKTOK_ACCESS_TOKEN", "").strip()
    path = env.get("TIKTOK_ACCESS_TOKEN_FILE", "").strip()
    if direct and path:
        problems.append(
            "TIKTOK_ACCESS_TOKEN and TIKTOK_ACCESS_TOKEN_FILE are both set: set one, not both"
        )
        return {}
    if not direct and not path:
        declared = next(o for o in OPTIONS if o.env == "TIKTOK_ACCESS_TOKEN")
        problems.append(f"TIKTOK_ACCESS_TOKEN: required — {declared.doc}")
        return {}
    if path:
        try:
            return {"access_token": SecretStr(read_token_file(path))}
        except ValueError as exc:
            problems.append(f"TIKTOK_ACCESS_TOKEN_FILE={path!r}: {exc}")
    return {}


def _mapping(env: Mapping[str, str], problems: list[str]) -> MappingOptions | None:
    mapping = load_section(MappingOptions, env, problems)
    if mapping is not None and mapping.consent_required and not mapping.consent_categories:
        # Without categories nothing would be checked: surely not what was meant.
        problems.append("CONSENT_REQUIRED=true needs CONSENT_CATEGORIES (e.g. Advertising)")
        return None
    return mapping


def _inputs(env: Mapping[str, str], problems: list[str]) -> InputSettings | None:
    # Which SCHEMA_REGISTRY_* options go together (a token or OAuth credentials, not both)
    # involves secrets that Kubernetes injects apart from the rest: the registry client's
    # configuration checks it when it is built (decode.registry.client_config).
    return load_section(InputSettings, env, problems)


def _raise(problems: list[str]) -> None:
    if problems:
        raise ConfigError("\n".join(problems))


def _one(read: Callable[[Mapping[str, str], list[str]], T | None], env: Mapping[str, str]) -> T:
    """One section read by ``read``, or :class:`ConfigError` with every problem it found."""
    problems: list[str] = []
    section = read(env, problems)
    _raise(problems)
    assert section is not None
    return section


def _tiktok(
    env: Mapping[str, str], problems: list[str], extra: Mapping[str, Any] | None = None
) -> TikTokSettings | None:
    tiktok = load_section(TikTokSettings, env, problems, extra)
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
    return _one(_kafka, env)


def load_input_settings(env: Mapping[str, str]) -> InputSettings:
    """Read and validate the inputs section alone (`tiktok-capi map`, `produce`).

    Raises:
        ConfigError: one line per missing or invalid variable, each naming it; never a secret.
    """
    return _one(_inputs, env)


def load_settings(env: Mapping[str, str]) -> Settings:
    """Read and validate every section from ``env`` (usually ``os.environ``).

    Raises:
        ConfigError: one line per missing or invalid variable, each naming it; never a secret.
    """
    problems: list[str] = []
    kafka = _kafka(env, problems)
    inputs = _inputs(env, problems)
    before = len(problems)
    token = _token(env, problems)
    tiktok = _tiktok(env, problems, token)
    if len(problems) > before:
        tiktok = None
    mapping = _mapping(env, problems)
    process = load_section(ProcessSettings, env, problems)
    _raise(problems)
    assert kafka is not None and tiktok is not None and inputs is not None
    assert mapping is not None and process is not None
    assert tiktok.access_token is not None
    return Settings(kafka=kafka, inputs=inputs, tiktok=tiktok, mapping=mapping, process=process)
