"""Start-up errors name each bootstrap address and the likely cause (real sockets, loopback)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.fixtures.broker import BrokerHelper
from tiktok_capi.consumer.demo.broker import free_port
from tiktok_capi.consumer.kafka.reach import diagnose, split_bootstrap
from tiktok_capi.consumer.kafka.topics import StartupCancelled, TopicSetupError, ensure_topics


@pytest.fixture
def http_port() -> Iterator[int]:
    """A loopback port answering like an HTTP server (not Kafka)."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    conn.recv(1024)
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        server.close()


def test_bootstrap_lists_are_split() -> None:
    assert split_bootstrap("b-1:9092, PLAINTEXT://b-2:9093,[::1]:9094,nohost") == [
        ("b-1", 9092),
        ("b-2", 9093),
        ("::1", 9094),
        ("nohost", None),
    ]


def test_a_refused_port_is_named_as_such() -> None:
    port = free_port()
    assert diagnose(f"127.0.0.1:{port}") == (
        f"127.0.0.1:{port}: connection refused: nothing listens on that port (a wrong port, "
        "or the broker is not running)"
    )


def test_a_name_that_does_not_resolve_is_named_as_such() -> None:
    text = diagnose("kafka.does-not-exist.invalid:9092")
    assert text.startswith("kafka.does-not-exist.invalid:9092: the host name does not resolve")
    assert "KAFKA_BOOTSTRAP_SERVERS" in text


def test_a_port_that_is_not_kafka_is_named_as_such(http_port: int) -> None:
    text = diagnose(f"127.0.0.1:{http_port}")
    assert text.startswith(f"127.0.0.1:{http_port}: accepts connections but does not answer as a")
    assert "KAFKA_SECURITY_PROTOCOL=SSL" in text
    # Over TLS the plaintext probe would mislead: the message says what is known.
    assert "TLS handshake or authentication" in diagnose(f"127.0.0.1:{http_port}", "SASL_SSL")


@pytest.mark.integration
def test_a_kafka_broker_is_recognised(broker: BrokerHelper) -> None:
    assert "answers as a Kafka broker" in diagnose(broker.bootstrap)


def test_each_address_gets_its_own_cause(http_port: int) -> None:
    refused = free_port()
    text = diagnose(f"127.0.0.1:{refused},127.0.0.1:{http_port},b-3")
    parts = text.split("; ")
    assert [p.split(": ", 1)[0] for p in parts] == [
        f"127.0.0.1:{refused}",
        f"127.0.0.1:{http_port}",
        "b-3",
    ]
    assert "connection refused" in parts[0] and "not answer as a Kafka" in parts[1]
    assert "no port" in parts[2]


def test_start_up_error_names_the_address_and_the_cause(http_port: int) -> None:
    conf = {"bootstrap.servers": f"127.0.0.1:{http_port}"}
    with pytest.raises(TopicSetupError) as excinfo:
        ensure_topics(conf, "src", ["src.g.dlq"], timeout=1)
    message = str(excinfo.value)
    assert message.startswith("cannot reach the Kafka cluster within 1s")
    assert f"127.0.0.1:{http_port}: accepts connections but does not answer as a Kafka" in message


def test_a_stop_request_ends_the_wait_for_the_cluster() -> None:
    """SIGTERM during start-up must act at once, not after the metadata timeout."""
    conf = {"bootstrap.servers": f"127.0.0.1:{free_port()}"}
    asked = time.monotonic() + 0.3
    with pytest.raises(StartupCancelled):
        ensure_topics(
            conf, "src", ["src.g.dlq"], timeout=30, stopping=lambda: time.monotonic() > asked
        )
    assert time.monotonic() - asked < 10  # far below the 30 s timeout (the bug's symptom)
