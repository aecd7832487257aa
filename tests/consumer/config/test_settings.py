"""Settings: defaults, validation messages naming the variable, Kafka passthrough, secrets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tiktok_capi.consumer.config.kafka import admin_config, consumer_config, producer_config
from tiktok_capi.consumer.config.reference import render_reference
from tiktok_capi.consumer.config.settings import (
    OPTIONS,
    ConfigError,
    KafkaSettings,
    SecretStr,
    Settings,
    TikTokSettings,
    load_kafka_settings,
    load_settings,
    parse_duration,
)
from tiktok_capi.consumer.config.values import byte_size
from tiktok_capi.consumer.failures.tiers import RetryTiers

REQUIRED = {
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
    "TIKTOK_ACCESS_TOKEN": "tok-secret-123",
    "TIKTOK_PIXEL_CODE": "PIXEL1",
}


def test_defaults() -> None:
    s = load_settings(REQUIRED)
    assert s.kafka.group_id == "tiktok-capi"
    assert s.kafka.source_topic == "cdp-events"
    assert s.kafka.retry_topic == "cdp-events.tiktok-capi.retry"
    assert s.kafka.dlq_topic == "cdp-events.tiktok-capi.dlq"
    assert s.kafka.retry_delays == (30.0, 300.0, 1800.0)
    assert RetryTiers.from_settings(s.kafka).topics == (
        "cdp-events.tiktok-capi.retry.1",
        "cdp-events.tiktok-capi.retry.2",
        "cdp-events.tiktok-capi.retry.3",
    )
    assert s.tiktok.track_url == "https://business-api.tiktok.com/open_api/v1.3/event/track/"
    assert s.tiktok.batch_size == 1000
    assert s.tiktok.test_event_code is None
    assert s.process.health_port == 8080


def test_topic_defaults_follow_source_topic_and_group() -> None:
    s = load_settings({**REQUIRED, "SOURCE_TOPIC": "events"})
    assert s.kafka.retry_topic == "events.tiktok-capi.retry"
    assert s.kafka.dlq_topic == "events.tiktok-capi.dlq"


def test_two_groups_on_one_source_topic_share_no_retry_or_dead_letter_topic() -> None:
    """A second deployment (another pixel, a staging copy) must not read the first's retries."""
    eu = load_settings({**REQUIRED, "KAFKA_GROUP_ID": "shop-eu"}).kafka
    us = load_settings({**REQUIRED, "KAFKA_GROUP_ID": "shop-us"}).kafka
    assert (eu.retry_topic, eu.dlq_topic) == ("cdp-events.shop-eu.retry", "cdp-events.shop-eu.dlq")
    assert not set(RetryTiers.from_settings(eu).all_topics) & set(
        RetryTiers.from_settings(us).all_topics
    )
    kept = load_settings({**REQUIRED, "RETRY_TOPIC": "cdp-events.tiktok.retry"}).kafka
    assert kept.retry_topic == "cdp-events.tiktok.retry"  # the old names, kept on purpose


def test_a_group_id_that_cannot_name_a_topic_needs_explicit_topics() -> None:
    with pytest.raises(ConfigError, match=re.escape("RETRY_TOPIC='cdp-events.shop eu.retry'")):
        load_settings({**REQUIRED, "KAFKA_GROUP_ID": "shop eu"})
    explicit = {"RETRY_TOPIC": "cdp.shop-eu.retry", "DLQ_TOPIC": "cdp.shop-eu.dlq"}
    assert load_settings({**REQUIRED, "KAFKA_GROUP_ID": "shop eu", **explicit})


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_required_variables_are_named(missing: str) -> None:
    env = {k: v for k, v in REQUIRED.items() if k != missing}
    with pytest.raises(ConfigError, match=missing):
        load_settings(env)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BATCH_SIZE", "1001"),
        ("BATCH_SIZE", "zero"),
        ("BATCH_LINGER", "soon"),
        ("RETRY_DELAYS", "0s"),
        ("RETRY_DELAYS", "30s,,x"),
        ("TIKTOK_API_URL", "ftp://x"),
        ("CREATE_TOPICS", "maybe"),
        ("LOG_FORMAT", "xml"),
        ("HEALTH_PORT", "70000"),
        ("TIKTOK_RATE_LIMIT_RPS", "-1"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings({**REQUIRED, name: value})


def test_durations() -> None:
    assert parse_duration("500ms") == 0.5
    assert parse_duration("5m") == 300.0
    assert parse_duration("2") == 2.0
    assert parse_duration("1h") == 3600.0
    s = load_settings({**REQUIRED, "RETRY_DELAYS": "1s, 2s"})
    assert s.kafka.retry_delays == (1.0, 2.0)


def test_kafka_passthrough_and_reserved() -> None:
    s = load_settings(
        {**REQUIRED, "KAFKA_SESSION_TIMEOUT_MS": "6000", "KAFKA_SASL_PASSWORD": "pw-secret"}
    )
    assert s.kafka.properties == {"session.timeout.ms": "6000", "sasl.password": "pw-secret"}
    assert "pw-secret" not in repr(s.kafka.redacted_properties())
    with pytest.raises(ConfigError, match="KAFKA_ENABLE_AUTO_COMMIT"):
        load_settings({**REQUIRED, "KAFKA_ENABLE_AUTO_COMMIT": "true"})


def test_client_configs_keep_guarantees() -> None:
    s = load_settings({**REQUIRED, "KAFKA_SESSION_TIMEOUT_MS": "6000", "KAFKA_LINGER_MS": "5"})
    c = consumer_config(s.kafka)
    assert c["enable.auto.commit"] is False
    assert c["group.id"] == "tiktok-capi"
    assert c["session.timeout.ms"] == "6000"
    assert "linger.ms" not in c
    p = producer_config(s.kafka)
    assert p["acks"] == "all"
    assert p["linger.ms"] == "5"
    assert "session.timeout.ms" not in p
    assert admin_config(s.kafka)["bootstrap.servers"] == "127.0.0.1:9092"


def test_secrets_never_in_repr_or_errors() -> None:
    s = load_settings(REQUIRED)
    assert "tok-secret-123" not in repr(s)
    assert isinstance(s.tiktok.access_token, SecretStr)
    assert s.tiktok.access_token.get_secret_value() == "tok-secret-123"
    assert str(s.tiktok.access_token) == "**********"


def test_every_option_is_a_settings_field() -> None:
    settings = load_settings(REQUIRED)
    for option in OPTIONS:
        assert hasattr(getattr(settings, option.section), option.attr), option


def test_configuration_reference_is_up_to_date() -> None:
    doc = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"
    assert doc.read_text() == render_reference(), (
        "docs/configuration.md is stale: run "
        "`python -m tiktok_capi.consumer.config.reference > docs/configuration.md`"
    )


def test_consumer_refetches_soon_after_its_queue_was_full() -> None:
    """librdkafka's 1 s fetch.queue.backoff.ms stalls the loop after backpressure; ours is short
    and, like any librdkafka property, the user's KAFKA_* value wins."""
    assert consumer_config(load_settings(REQUIRED).kafka)["fetch.queue.backoff.ms"] <= 50
    tuned = load_settings({**REQUIRED, "KAFKA_FETCH_QUEUE_BACKOFF_MS": "200"})
    assert consumer_config(tuned.kafka)["fetch.queue.backoff.ms"] == "200"


def test_switches_of_the_source_default_and_parse() -> None:
    from mapping import DEFAULT_INTEGRATION_NAMES

    s = load_settings(REQUIRED)
    # One list: the connector's default is the mapping's.
    assert s.mapping.integration_names == DEFAULT_INTEGRATION_NAMES
    assert s.mapping.consent_categories == ()
    assert s.mapping.consent_required is False
    s = load_settings(
        {
            **REQUIRED,
            "INTEGRATION_NAMES": " My TikTok , TikTok Ads,",
            "CONSENT_CATEGORIES": "Advertising, Marketing",
            "CONSENT_REQUIRED": "true",
        }
    )
    assert s.mapping.integration_names == ("My TikTok", "TikTok Ads")
    assert s.mapping.consent_categories == ("Advertising", "Marketing")
    assert s.mapping.consent_required is True


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CONSENT_REQUIRED": "true"}, "CONSENT_REQUIRED=true needs CONSENT_CATEGORIES"),
        ({"CONSENT_REQUIRED": "true", "CONSENT_CATEGORIES": " , "}, "needs CONSENT_CATEGORIES"),
        ({"CONSENT_REQUIRED": "sometimes"}, "CONSENT_REQUIRED='sometimes'"),
    ],
)
def test_consent_required_without_categories_is_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings({**REQUIRED, **env})


def test_kafka_settings_alone_need_no_tiktok_variables() -> None:
    kafka = load_kafka_settings({"KAFKA_BOOTSTRAP_SERVERS": "b:9092", "SOURCE_TOPIC": "t"})
    assert (kafka.bootstrap_servers, kafka.dlq_topic) == ("b:9092", "t.tiktok-capi.dlq")
    with pytest.raises(ConfigError, match="KAFKA_BOOTSTRAP_SERVERS"):
        load_kafka_settings({})


def test_each_default_is_stated_once_as_written() -> None:
    """The typed default of every field is its declared default, parsed (docs show the text)."""
    defaults = Settings(
        kafka=KafkaSettings(bootstrap_servers="b"),
        tiktok=TikTokSettings(access_token=SecretStr("tok-secret-123"), pixel_code="P"),
    )
    loaded = load_settings({**REQUIRED, "KAFKA_BOOTSTRAP_SERVERS": "b"})
    for option in OPTIONS:
        if option.required:
            continue
        assert getattr(getattr(defaults, option.section), option.attr) == getattr(
            getattr(loaded, option.section), option.attr
        ), option.env


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1048576", 1_048_576),
        ("64MiB", 64 * 1024**2),
        ("512 KiB", 512 * 1024),
        ("1mb", 1_000_000),
        ("1.5GiB", int(1.5 * 1024**3)),
        ("7B", 7),
    ],
)
def test_byte_sizes(text: str, size: int) -> None:
    assert byte_size(text) == size


@pytest.mark.parametrize("text", ["", "lots", "-1MiB", "0", "1 parsec", "0.1B"])
def test_bad_byte_sizes_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        byte_size(text)


def test_memory_bounds_default_for_a_small_pod() -> None:
    process = load_settings(REQUIRED).process
    assert process.max_in_flight_bytes == 64 * 1024**2
    assert process.max_record_bytes == 1024**2


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://business-api.tiktok.com", True),
        ("http://127.0.0.1:8081", True),
        ("http://127.9.9.9:8081", True),
        ("http://localhost:8081", True),
        ("http://[::1]:8081", True),
        ("http://tiktok-emulator:8081", False),
        ("http://10.0.0.7", False),
        ("http://business-api.tiktok.com", False),
    ],
)
def test_plain_http_to_another_host_is_refused_unless_allowed(url: str, allowed: bool) -> None:
    env = {**REQUIRED, "TIKTOK_API_URL": url}
    if allowed:
        assert load_settings(env).tiktok.api_url == url
        return
    with pytest.raises(ConfigError) as raised:
        load_settings(env)
    assert "TIKTOK_API_URL" in str(raised.value) and "TIKTOK_ALLOW_HTTP" in str(raised.value)
    assert "tok-secret-123" not in str(raised.value)
    assert load_settings({**env, "TIKTOK_ALLOW_HTTP": "true"}).tiktok.allow_http
