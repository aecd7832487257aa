"""KAFKA_* passthrough: only librdkafka properties get through, never Kubernetes service links."""

from __future__ import annotations

import pytest

from tiktok_capi.consumer.config.kafka import admin_config, consumer_config, producer_config
from tiktok_capi.consumer.config.librdkafka import property_problem
from tiktok_capi.consumer.config.settings import ConfigError, is_service_link, load_settings

REQUIRED = {
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
    "TIKTOK_ACCESS_TOKEN": "tok-secret-123",
    "TIKTOK_PIXEL_CODE": "PIXEL1",
}

# What Kubernetes injects for Services named `kafka` (port 9092, named `broker`) and
# `kafka-headless` in the pod's namespace.
SERVICE_LINKS = {
    "KAFKA_PORT": "tcp://10.96.0.12:9092",
    "KAFKA_SERVICE_HOST": "10.96.0.12",
    "KAFKA_SERVICE_PORT": "9092",
    "KAFKA_SERVICE_PORT_BROKER": "9092",
    "KAFKA_PORT_9092_TCP": "tcp://10.96.0.12:9092",
    "KAFKA_PORT_9092_TCP_PROTO": "tcp",
    "KAFKA_PORT_9092_TCP_PORT": "9092",
    "KAFKA_PORT_9092_TCP_ADDR": "10.96.0.12",
    "KAFKA_HEADLESS_SERVICE_HOST": "10.96.0.13",
    "KAFKA_HEADLESS_PORT_9093_UDP_ADDR": "10.96.0.13",
}


def test_service_links_never_become_client_properties() -> None:
    settings = load_settings({**REQUIRED, **SERVICE_LINKS, "KAFKA_SESSION_TIMEOUT_MS": "6000"})
    assert settings.kafka.properties == {"session.timeout.ms": "6000"}
    for conf in (
        consumer_config(settings.kafka),
        producer_config(settings.kafka),
        admin_config(settings.kafka),
    ):
        assert not {"port", "service.host", "service.port"} & set(conf)


@pytest.mark.parametrize("name", sorted(SERVICE_LINKS))
def test_service_link_shapes_are_no_librdkafka_property(name: str) -> None:
    """Ignoring these shapes hides nothing a user could mean."""
    assert is_service_link(name)
    key = name[len("KAFKA_") :].lower().replace("_", ".")
    assert property_problem(key, SERVICE_LINKS[name]) == "unknown"


@pytest.mark.parametrize(
    "name", ["KAFKA_SESSION_TIMEOUT_MS", "KAFKA_SSL_KEY_PASSWORD", "KAFKA_SASL_USERNAME"]
)
def test_properties_are_not_mistaken_for_service_links(name: str) -> None:
    assert not is_service_link(name)


def test_unknown_property_is_a_configuration_error_naming_it() -> None:
    with pytest.raises(ConfigError) as excinfo:
        load_settings({**REQUIRED, "KAFKA_NOT_A_REAL_PROPERTY": "1", "KAFKA_HEAP_OPTS": "-Xmx1G"})
    lines = str(excinfo.value).splitlines()
    assert len(lines) == 2
    assert any(
        "KAFKA_NOT_A_REAL_PROPERTY" in line and "not.a.real.property" in line for line in lines
    )
    assert any("KAFKA_HEAP_OPTS" in line for line in lines)


def test_invalid_value_is_a_configuration_error_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="KAFKA_SESSION_TIMEOUT_MS: Invalid value"):
        load_settings({**REQUIRED, "KAFKA_SESSION_TIMEOUT_MS": "soon"})
    with pytest.raises(ConfigError, match="KAFKA_ENABLE_IDEMPOTENCE"):
        load_settings({**REQUIRED, "KAFKA_ENABLE_IDEMPOTENCE": "maybe"})


def test_a_refused_secret_value_is_not_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    # librdkafka quotes some refused values; for a secret-looking key the message never does.
    from tiktok_capi.consumer.config import settings

    def refuse(name: str, value: str) -> str:
        return f'Invalid value "{value}" for configuration property "{name}"'

    monkeypatch.setattr(settings, "property_problem", refuse)
    with pytest.raises(ConfigError) as excinfo:
        load_settings({**REQUIRED, "KAFKA_SASL_PASSWORD": "hunter2-secret"})
    assert "KAFKA_SASL_PASSWORD" in str(excinfo.value)
    assert "hunter2-secret" not in str(excinfo.value)


def test_property_problem_asks_librdkafka() -> None:
    assert property_problem("session.timeout.ms", "6000") is None
    assert property_problem("acks", "all") is None  # topic-level properties too
    assert property_problem("security.protocol", "SASL_SSL") is None
    assert property_problem("no.such.thing", "1") == "unknown"
    problem = property_problem("security.protocol", "SSL_PLEASE")
    assert problem is not None and "security.protocol" in problem
