"""`tiktok-capi dlq inspect|replay` against a real broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.fixtures.broker import BrokerHelper
from tiktok_capi.consumer.cli import main
from tiktok_capi.consumer.config.settings import ConfigError, load_kafka_settings
from tiktok_capi.consumer.failures.producer import FailureProducer
from tiktok_capi.consumer.failures.tiers import HEADER_REPLAYED_FROM, FailureInfo, RetryTiers
from tiktok_capi.consumer.kafka.records import SourceRecord

T0 = 1_700_000_000.0
PII = b"jane.doe@example.com"


@pytest.fixture
def kafka_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """An environment with no Kafka/TikTok variables of the caller's."""
    for name in list(os.environ):
        if name.startswith(("KAFKA_", "TIKTOK_")) or name in ("SOURCE_TOPIC", "DLQ_TOPIC"):
            monkeypatch.delenv(name)
    yield monkeypatch


def test_settings_need_no_tiktok_variables() -> None:
    settings = load_kafka_settings(
        {
            "KAFKA_BOOTSTRAP_SERVERS": "k:9092",
            "SOURCE_TOPIC": "events",
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "BATCH_SIZE": "not validated here",
        }
    )
    assert settings.dlq_topic == "events.tiktok-capi.dlq"
    assert settings.properties == {"security.protocol": "SASL_SSL"}
    with pytest.raises(ConfigError, match="KAFKA_BOOTSTRAP_SERVERS"):
        load_kafka_settings({})


def test_missing_bootstrap_is_a_configuration_error(
    kafka_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dlq", "inspect"]) == 2
    assert "KAFKA_BOOTSTRAP_SERVERS" in capsys.readouterr().err


def test_help_lists_both_actions() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tiktok_capi.consumer", "dlq", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "inspect" in result.stdout and "replay" in result.stdout


def test_no_action_prints_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dlq"]) == 2
    assert "inspect" in capsys.readouterr().out


def fill_dlq(broker: BrokerHelper, source: str, dlq: str, count: int) -> None:
    """Dead-letter ``count`` records of ``source`` the way the consumer does."""
    tiers = RetryTiers(f"{source}.retry", [1], dlq)
    producer = FailureProducer({"bootstrap.servers": broker.bootstrap, "linger.ms": 1})
    done: list[str | None] = []
    try:
        for offset in range(count):
            record = SourceRecord(
                source,
                offset % 2,
                offset,
                f"user-{offset}".encode(),
                PII + b"#" + str(offset).encode(),
                [("traceparent", b"00-abc")],
                0,
            )
            if offset % 3 == 0:
                reason, failure = "decode_error", FailureInfo.from_reason("decode_error")
            else:
                reason = "invalid_event"
                failure = FailureInfo("invalid", "invalid field user.email", 40002, f"rq-{offset}")
            producer.send(record, tiers.dead_letter(record, reason, failure, T0), done.append)
        assert producer.flush(20) == 0
    finally:
        producer.close()
    assert done == [None] * count


@pytest.mark.integration
def test_inspect_prints_headers_never_values(
    broker: BrokerHelper, kafka_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = broker.unique_topic("src", 2)
    dlq = broker.create_topic(f"{source}.tiktok-capi.dlq", 2)
    fill_dlq(broker, source, dlq, 5)
    kafka_env.setenv("KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap)
    kafka_env.setenv("SOURCE_TOPIC", source)

    assert main(["dlq", "inspect"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 5
    assert PII.decode() not in out + err
    line = next(line for line in lines if "original=" + source + "/1@1 " in line)
    assert "reason=invalid_event class=invalid code=40002 request_id=rq-1 attempts=1" in line
    assert "first_failure=2023-11-14T22:13:20.000Z" in line
    assert '"invalid field user.email"' in line
    assert "5 dead-letter records" in err and "decode_error=2, invalid_event=3" in err

    assert main(["dlq", "inspect", "--json", "--limit", "2", "--topic", dlq]) == 0
    out, _ = capsys.readouterr()
    objects = [json.loads(line) for line in out.splitlines()]
    assert len(objects) == 2
    assert {o["reason"] for o in objects} <= {"decode_error", "invalid_event"}
    assert PII.decode() not in out


@pytest.mark.integration
def test_replay_is_acknowledged_committed_and_not_repeated(
    broker: BrokerHelper, kafka_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = broker.unique_topic("src", 2)
    dlq = broker.create_topic(f"{source}.tiktok-capi.dlq", 2)
    fill_dlq(broker, source, dlq, 6)
    group = broker.unique_group("replay")
    kafka_env.setenv("KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap)
    kafka_env.setenv("SOURCE_TOPIC", source)

    # A partial replay, then the rest: together exactly once.
    assert main(["dlq", "replay", "--group", group, "--limit", "2", "--batch", "1"]) == 0
    assert "replayed 2 records" in capsys.readouterr().out
    assert main(["dlq", "replay", "--group", group]) == 0
    assert "replayed 4 records" in capsys.readouterr().out
    assert main(["dlq", "replay", "--group", group]) == 0
    assert "replayed 0 records" in capsys.readouterr().out

    messages = broker.read_all(source, 6, min_wait=0.5)
    assert sorted(m.value() or b"" for m in messages) == sorted(
        PII + b"#" + str(n).encode() for n in range(6)
    )
    for msg in messages:
        headers = msg.headers() or []
        value = msg.value() or b""
        offset = int(value.split(b"#")[1])
        assert msg.key() == f"user-{offset}".encode()
        assert msg.partition() == offset % 2  # back to the partition it came from
        names = [k for k, _ in headers]
        assert names == ["traceparent", HEADER_REPLAYED_FROM]
        assert dict(headers)[HEADER_REPLAYED_FROM].startswith(f"{dlq}/".encode())
    dlq_counts: dict[int, int] = {}
    for msg in broker.read_all(dlq, 6):
        partition = msg.partition() or 0
        dlq_counts[partition] = max(dlq_counts.get(partition, 0), (msg.offset() or 0) + 1)
    assert broker.committed(group, dlq) == dlq_counts


@pytest.mark.integration
def test_replay_refuses_missing_topics_and_loops(
    broker: BrokerHelper, kafka_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = broker.unique_topic("src")
    kafka_env.setenv("KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap)
    kafka_env.setenv("SOURCE_TOPIC", source)
    assert main(["dlq", "replay", "--timeout", "5"]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["dlq", "replay", "--to-topic", f"{source}.tiktok-capi.dlq"]) == 2
