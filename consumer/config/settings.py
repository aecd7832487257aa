"""Typed configuration of `tiktok-capi run`, read once from the environment.

Every option is declared once in :data:`OPTIONS` with its environment variable, default and
meaning; `docs/configuration.md` is generated from that table (``python -m
tiktok_capi.consumer.config.settings``) and a test keeps the two in step. Validation happens at
start-up: :func:`load_settings` raises :class:`ConfigError` naming the offending variable.

Any librdkafka property can be passed as ``KAFKA_<PROPERTY>`` with dots written as underscores
(``KAFKA_SESSION_TIMEOUT_MS=6000`` -> ``session.timeout.ms``); those land in
:attr:`Settings.kafka_properties`, translated to dotted keys only here, at the edge.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = [
    "OPTIONS",
    "ConfigError",
    "Option",
    "SecretStr",
    "Settings",
    "load_settings",
    "parse_duration",
    "render_reference",
]


class ConfigError(ValueError):
    """A configuration value is missing or invalid; the message names the variable."""


class SecretStr:
    """A string whose repr and str never show the value (tokens, passwords)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        """Return the secret itself; call only where it is sent on the wire."""
        return self._value

    def __repr__(self) -> str:
        return "SecretStr('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretStr) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str) -> float:
    """Parse ``500ms``, ``30s``, ``5m``, ``1h`` or a bare number of seconds into seconds."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"not a duration: {text!r} (use e.g. 500ms, 30s, 5m, 1h)")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _durations(text: str) -> tuple[float, ...]:
    parts = [p for p in text.split(",") if p.strip()]
    if not parts:
        raise ValueError("at least one delay is needed (e.g. 30s,5m,30m)")
    delays = tuple(parse_duration(p) for p in parts)
    if any(d <= 0 for d in delays):
        raise ValueError("delays must be positive")
    return delays


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {text!r} (use true or false)")


def _int_range(low: int, high: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text.strip())
        if value < low or (high is not None and value > high):
            upper = "" if high is None else f" and at most {high}"
            raise ValueError(f"must be at least {low}{upper}, got {value}")
        return value

    return parse


def _positive_duration(text: str) -> float:
    value = parse_duration(text)
    if value <= 0:
        raise ValueError("must be positive")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise ValueError("must not be negative")
    return value


def _url(text: str) -> str:
    value = text.strip().rstrip("/")
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {value!r}")
    return value


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {text!r}")
        return value

    return parse


def _text(text: str) -> str:
    return text.strip()


def _names(text: str) -> tuple[str, ...]:
    """A comma-separated list of names: trimmed, empty entries left out."""
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _secret(text: str) -> SecretStr:
    return SecretStr(text.strip())


@dataclass(frozen=True)
class Option:
    """One environment variable: where it goes, how it parses, its default and meaning."""

    env: str
    attr: str
    parse: Callable[[str], Any]
    doc: str
    default: str | None = None
    required: bool = False
    secret: bool = False


# The table every other place derives from (docs, compose and Helm tests).
OPTIONS: Final[tuple[Option, ...]] = (
    # Kafka
    Option(
        "KAFKA_BOOTSTRAP_SERVERS",
        "kafka_bootstrap_servers",
        _text,
        "Kafka bootstrap servers, comma-separated host:port.",
        required=True,
    ),
    Option(
        "KAFKA_GROUP_ID",
        "kafka_group_id",
        _text,
        "Consumer group id; one group per TikTok pixel.",
        "tiktok-capi",
    ),
    Option(
        "SOURCE_TOPIC",
        "source_topic",
        _text,
        "Topic of Avro-encoded CDP (Segment-spec) events.",
        "cdp-events",
    ),
    Option(
        "RETRY_TOPIC",
        "retry_topic",
        _text,
        "Prefix of the retry tier topics `{RETRY_TOPIC}.1`, `{RETRY_TOPIC}.2`, ... "
        "Default `{SOURCE_TOPIC}.tiktok.retry`.",
        None,
    ),
    Option(
        "DLQ_TOPIC",
        "dlq_topic",
        _text,
        "Dead-letter topic. Default `{SOURCE_TOPIC}.tiktok.dlq`.",
        None,
    ),
    Option(
        "RETRY_DELAYS",
        "retry_delays",
        _durations,
        "Delay of each retry tier, comma-separated (one topic per delay); after the last "
        "tier a record goes to the dead-letter topic.",
        "30s,5m,30m",
    ),
    Option(
        "CREATE_TOPICS",
        "create_topics",
        _bool,
        "Create missing retry and dead-letter topics at start-up with the source topic's "
        "partition count.",
        "true",
    ),
    Option(
        "SCHEMA_REGISTRY_URL",
        "schema_registry_url",
        _url,
        "Confluent-compatible Schema Registry. When set, values are in the Confluent wire "
        "format (magic byte 0 + 4-byte schema id); when unset, plain Avro binary written with "
        "the bundled schema.",
        None,
    ),
    Option(
        "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO",
        "schema_registry_auth",
        _secret,
        "`user:password` for the Schema Registry's basic auth (secret).",
        None,
        secret=True,
    ),
    Option(
        "COMMIT_INTERVAL",
        "commit_interval_s",
        _positive_duration,
        "How often resolved offsets are committed (also on revocation and shutdown).",
        "5s",
    ),
    Option(
        "MAX_IN_FLIGHT_EVENTS",
        "max_in_flight_events",
        _int_range(1),
        "Records consumed but not yet resolved before partitions are paused (backpressure; "
        "bounds memory).",
        "20000",
    ),
    # TikTok
    Option(
        "TIKTOK_ACCESS_TOKEN",
        "tiktok_access_token",
        _secret,
        "TikTok Events API access token (secret; sent as the Access-Token header only).",
        required=True,
        secret=True,
    ),
    Option(
        "TIKTOK_PIXEL_CODE",
        "tiktok_pixel_code",
        _text,
        "TikTok pixel code (event_source_id).",
        required=True,
    ),
    Option(
        "TIKTOK_TEST_EVENT_CODE",
        "tiktok_test_event_code",
        _text,
        "When set, events are sent in test mode and appear in TikTok's Test Events "
        "dashboard. Remove before going live.",
        None,
    ),
    Option(
        "TIKTOK_API_URL",
        "tiktok_api_url",
        _url,
        "Base URL; requests go to `{TIKTOK_API_URL}/open_api/v1.3/event/track/`.",
        "https://business-api.tiktok.com",
    ),
    Option(
        "DECODE_WORKERS",
        "decode_workers",
        _int_range(0, 16),
        "Processes that decode and map records off the poll loop (Avro decoding and mapping "
        "cost ~35 µs per event in Python, the bulk of the work); 0 decodes in the poll loop "
        "itself. 2 keeps a 2-CPU pod busy.",
        "2",
    ),
    Option(
        "BATCH_SIZE",
        "batch_size",
        _int_range(1, 1000),
        "Events per request (TikTok accepts at most 1,000).",
        "1000",
    ),
    Option(
        "BATCH_LINGER",
        "batch_linger_s",
        _positive_duration,
        "How long a partial batch waits for more events before it is sent.",
        "200ms",
    ),
    Option(
        "MAX_IN_FLIGHT_REQUESTS",
        "max_in_flight_requests",
        _int_range(1, 64),
        "Requests sent concurrently over the pooled HTTP client.",
        "4",
    ),
    Option(
        "TIKTOK_CONNECT_TIMEOUT",
        "connect_timeout_s",
        _positive_duration,
        "TCP/TLS connect timeout.",
        "5s",
    ),
    Option(
        "TIKTOK_REQUEST_TIMEOUT",
        "request_timeout_s",
        _positive_duration,
        "Timeout of one request (read/write/pool).",
        "30s",
    ),
    Option(
        "SEND_RETRY_ATTEMPTS",
        "send_retry_attempts",
        _int_range(1, 100),
        "Attempts of one request in-process (throttling, 5xx, timeouts) before its events "
        "go to the next retry tier.",
        "5",
    ),
    Option(
        "SEND_RETRY_BACKOFF",
        "send_retry_backoff_s",
        _positive_duration,
        "First in-process backoff; doubles per attempt with jitter; `Retry-After` wins.",
        "500ms",
    ),
    Option(
        "SEND_RETRY_MAX_BACKOFF",
        "send_retry_max_backoff_s",
        _positive_duration,
        "Longest in-process backoff between two attempts.",
        "30s",
    ),
    Option(
        "TIKTOK_RATE_LIMIT_RPS",
        "rate_limit_rps",
        _non_negative_float,
        "Client-side limit of requests per second shared by all in-flight requests "
        "(0 = unlimited).",
        "0",
    ),
    Option(
        "AUTH_PROBE_INTERVAL",
        "auth_probe_interval_s",
        _positive_duration,
        "While the destination is paused for auth, how often the token is probed.",
        "30s",
    ),
    Option(
        "DLQ_MAX_PER_MINUTE",
        "dlq_max_per_minute",
        _int_range(0),
        "Stop consuming (and alert) when more records than this are dead-lettered in a "
        "minute: insurance against a bad deploy dead-lettering the stream (0 = no limit).",
        "0",
    ),
    # Mapping
    Option(
        "EVENT_MAP_FILE",
        "event_map_file",
        _text,
        "JSON file overriding/extending the CDP -> TikTok event-name mapping "
        "(see docs/mapping.md).",
        None,
    ),
    Option(
        "PHONE_DEFAULT_REGION",
        "phone_default_region",
        _text,
        "Region (ISO 3166 alpha-2) for phone numbers written without a country code.",
        "US",
    ),
    Option(
        "INTEGRATION_NAMES",
        "integration_names",
        _names,
        "Comma-separated keys of an event's `integrations` object that mean this destination "
        '(case-insensitive): `{"All": false, "TikTok Ads": true}` sends the event, '
        '`{"TikTok Ads": false}` skips it as `disabled_by_integrations` (docs/mapping.md).',
        "TikTok Conversions,TikTok Conversions API,TikTok Ads,TIKTOK_ADS",
    ),
    Option(
        "CONSENT_CATEGORIES",
        "consent_categories",
        _names,
        "Comma-separated consent categories (e.g. `Advertising,Marketing`) that must all be "
        "`true` in `context.consent.categoryPreferences`, else the event is skipped as "
        "`no_consent`; events without preferences are sent. Empty: consent is not checked.",
        None,
    ),
    Option(
        "CONSENT_REQUIRED",
        "consent_required",
        _bool,
        "With CONSENT_CATEGORIES: also skip events that carry no consent preferences "
        "(`no_consent`).",
        "false",
    ),
    # Process
    Option(
        "SHUTDOWN_GRACE",
        "shutdown_grace_s",
        _positive_duration,
        "On SIGTERM, how long in-flight deliveries may take before the process commits what "
        "is resolved and exits. Keep below Kubernetes' terminationGracePeriodSeconds.",
        "20s",
    ),
    Option(
        "HEALTH_HOST", "health_host", _text, "Address of the health/metrics HTTP port.", "0.0.0.0"
    ),
    Option(
        "HEALTH_PORT",
        "health_port",
        _int_range(0, 65535),
        "Port serving /livez, /readyz and /metrics (0 = pick a free port).",
        "8080",
    ),
    Option(
        "LIVENESS_TIMEOUT",
        "liveness_timeout_s",
        _positive_duration,
        "/livez fails when the poll loop has not ticked for this long.",
        "60s",
    ),
    Option(
        "METRICS_ENABLED", "metrics_enabled", _bool, "Serve Prometheus metrics on /metrics.", "true"
    ),
    Option(
        "LOG_LEVEL", "log_level", _choice("debug", "info", "warning", "error"), "Log level.", "info"
    ),
    Option(
        "LOG_FORMAT",
        "log_format",
        _choice("auto", "json", "text"),
        "`json` (one object per line), `text`, or `auto` (text on a terminal, else JSON).",
        "auto",
    ),
)

_NAMED_KAFKA: Final = frozenset({"KAFKA_BOOTSTRAP_SERVERS", "KAFKA_GROUP_ID"})
# Properties the connector owns: letting users set them would break its guarantees.
_RESERVED_KAFKA: Final = frozenset(
    {"enable.auto.commit", "enable.auto.offset.store", "group.id", "bootstrap.servers"}
)
_SECRET_KEY = re.compile(r"password|secret|token|key|jaas|credential", re.IGNORECASE)


@dataclass(frozen=True)
class Settings:
    """Everything `tiktok-capi run` needs; see :data:`OPTIONS` for each field's meaning."""

    kafka_bootstrap_servers: str
    tiktok_access_token: SecretStr
    tiktok_pixel_code: str
    kafka_group_id: str = "tiktok-capi"
    source_topic: str = "cdp-events"
    retry_topic: str = "cdp-events.tiktok.retry"
    dlq_topic: str = "cdp-events.tiktok.dlq"
    retry_delays: tuple[float, ...] = (30.0, 300.0, 1800.0)
    create_topics: bool = True
    schema_registry_url: str | None = None
    schema_registry_auth: SecretStr | None = None
    commit_interval_s: float = 5.0
    max_in_flight_events: int = 20000
    tiktok_test_event_code: str | None = None
    tiktok_api_url: str = "https://business-api.tiktok.com"
    decode_workers: int = 2
    batch_size: int = 1000
    batch_linger_s: float = 0.2
    max_in_flight_requests: int = 4
    connect_timeout_s: float = 5.0
    request_timeout_s: float = 30.0
    send_retry_attempts: int = 5
    send_retry_backoff_s: float = 0.5
    send_retry_max_backoff_s: float = 30.0
    rate_limit_rps: float = 0.0
    auth_probe_interval_s: float = 30.0
    dlq_max_per_minute: int = 0
    event_map_file: str | None = None
    phone_default_region: str = "US"
    integration_names: tuple[str, ...] = (
        "TikTok Conversions",
        "TikTok Conversions API",
        "TikTok Ads",
        "TIKTOK_ADS",
    )
    consent_categories: tuple[str, ...] = ()
    consent_required: bool = False
    shutdown_grace_s: float = 20.0
    health_host: str = "0.0.0.0"
    health_port: int = 8080
    liveness_timeout_s: float = 60.0
    metrics_enabled: bool = True
    log_level: str = "info"
    log_format: str = "auto"
    kafka_properties: Mapping[str, str] = field(default_factory=dict)

    @property
    def track_url(self) -> str:
        """The Events API endpoint requests are posted to."""
        return f"{self.tiktok_api_url}/open_api/v1.3/event/track/"

    def retry_tier_topic(self, tier: int) -> str:
        """Topic of retry tier ``tier`` (1-based)."""
        return f"{self.retry_topic}.{tier}"

    @property
    def retry_tier_topics(self) -> tuple[str, ...]:
        """All retry tier topics, in order of increasing delay."""
        return tuple(self.retry_tier_topic(n) for n in range(1, len(self.retry_delays) + 1))

    def redacted_kafka_properties(self) -> dict[str, str]:
        """The extra librdkafka properties with secret-looking values masked, for logs."""
        return {
            k: ("**********" if _SECRET_KEY.search(k) else v)
            for k, v in self.kafka_properties.items()
        }


def _kafka_properties(env: Mapping[str, str]) -> dict[str, str]:
    props: dict[str, str] = {}
    for name, value in env.items():
        if not name.startswith("KAFKA_") or name in _NAMED_KAFKA:
            continue
        key = name[len("KAFKA_") :].lower().replace("_", ".")
        if not key:
            continue
        if key in _RESERVED_KAFKA:
            raise ConfigError(f"{name}: {key} is managed by tiktok-capi and cannot be set")
        props[key] = value
    return props


def load_settings(env: Mapping[str, str]) -> Settings:
    """Read and validate settings from ``env`` (usually ``os.environ``).

    Raises:
        ConfigError: a required variable is missing or a value does not parse; the message
            names the variable and never contains a secret value.
    """
    values: dict[str, Any] = {}
    for option in OPTIONS:
        raw = env.get(option.env)
        if raw is None or raw.strip() == "":
            if option.required:
                raise ConfigError(f"{option.env}: required — {option.doc}")
            raw = option.default
        if raw is None:
            continue
        try:
            values[option.attr] = option.parse(raw)
        except ValueError as exc:
            shown = "(secret)" if option.secret else repr(raw)
            raise ConfigError(f"{option.env}={shown}: {exc}") from None
    source = values.get("source_topic", "cdp-events")
    values.setdefault("retry_topic", f"{source}.tiktok.retry")
    values.setdefault("dlq_topic", f"{source}.tiktok.dlq")
    if values["dlq_topic"] == source or values["retry_topic"] == source:
        raise ConfigError("DLQ_TOPIC/RETRY_TOPIC: must differ from SOURCE_TOPIC")
    if values.get("consent_required") and not values.get("consent_categories"):
        # Without categories nothing would be checked: surely not what was meant.
        raise ConfigError("CONSENT_REQUIRED=true needs CONSENT_CATEGORIES (e.g. Advertising)")
    values["kafka_properties"] = _kafka_properties(env)
    return Settings(**values)


def render_reference() -> str:
    """The configuration reference as Markdown (the body of docs/configuration.md)."""
    lines = [
        "# Configuration reference",
        "",
        "`tiktok-capi run` is configured by environment variables, validated at start-up "
        "(a bad value stops the process with a message naming the variable).",
        "Generated from `consumer/config/settings.py` by "
        "`python -m tiktok_capi.consumer.config.settings`; do not edit by hand.",
        "",
        "| variable | default | meaning |",
        "|---|---|---|",
    ]
    for option in OPTIONS:
        default = (
            "**required**"
            if option.required
            else (f"`{option.default}`" if option.default is not None else "—")
        )
        lines.append(f"| `{option.env}` | {default} | {option.doc} |")
    lines += [
        "",
        "## librdkafka properties",
        "",
        "Any librdkafka property can be passed as `KAFKA_<PROPERTY>`, upper-cased with dots "
        "written as underscores: `KAFKA_SESSION_TIMEOUT_MS=6000` sets `session.timeout.ms`, "
        "`KAFKA_SECURITY_PROTOCOL=SASL_SSL`, `KAFKA_SASL_MECHANISM=SCRAM-SHA-512`, "
        "`KAFKA_SASL_USERNAME`, `KAFKA_SASL_PASSWORD`, `KAFKA_SSL_CA_LOCATION`, ... "
        "They apply to the consumer, the producer (retry and dead-letter topics) and the admin "
        "client. Values of keys that look secret (password, secret, token, key) are never "
        "logged. `enable.auto.commit`, `enable.auto.offset.store`, `group.id` and "
        "`bootstrap.servers` are managed by tiktok-capi, and the producer always writes with "
        "`acks=all` and `enable.idempotence=true`.",
        "",
        "Defaults tiktok-capi sets where librdkafka's do not suit it (any `KAFKA_*` variable "
        "overrides them; the reasons are in `consumer/config/kafka.py`):",
        "",
        "| client | property | tiktok-capi default |",
        "|---|---|---|",
    ]
    from tiktok_capi.consumer.config.kafka import (  # (imports settings)
        CONSUMER_DEFAULTS,
        PRODUCER_DEFAULTS,
    )

    for client, defaults in (("consumer", CONSUMER_DEFAULTS), ("producer", PRODUCER_DEFAULTS)):
        lines += [f"| {client} | `{key}` | `{value}` |" for key, value in defaults.items()]
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    sys.stdout.write(render_reference())
