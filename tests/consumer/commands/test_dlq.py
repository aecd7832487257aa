"""`tiktok-capi dlq inspect|replay` against a real broker."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from tests.fixtures.broker import BrokerHelper
from tiktok_capi.consumer.cli import main
from tiktok_capi.consumer.config.settings import ConfigError, load_kafka_settings
from tiktok_capi.consumer.demo.broker import free_port
from tiktok_capi.consumer.failures.producer import FailureProducer
from tiktok_capi.consumer.failures.tiers import (
    HEADER_DUE_AT,
    HEADER_GROUP,
    HEADER_ORIGINAL_OFFSET,
    HEADER_ORIGINAL_TOPIC,
    HEADER_REASON,
    HEADER_REPLAYED_FROM,
    FailureInfo,
    RetryTiers,
)
from tiktok_capi.consumer.kafka.records import SourceRecord

T0 = 1_700_000_000.0
PII = b"jane.doe@example.com"


@pytest.fixture
def kafka_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """An environment with no Kafka/TikTok variables of the caller's; logging restored after."""
    for name in list(os.environ):
        if name.startswith(("KAFKA_", "TIKTOK_")) or name in (
            "SOURCE_TOPIC",
            "DLQ_TOPIC",
            "RETRY_TOPIC",
        ):
            monkeypatch.delenv(name)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield monkeypatch
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


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


def fill_dlq(broker: BrokerHelper, source: str, dlq: str, count: int, now: float = T0) -> None:
    """Dead-letter ``count`` records of ``source`` the way the consumer does: every third one
    ``decode_error``, the others ``invalid_event`` (TikTok code 40002); original partition
    ``offset % 2``."""
    tiers = RetryTiers(f"{source}.retry", [1], dlq, group="tiktok-capi")
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
            producer.send(record, tiers.dead_letter(record, reason, failure, now), done.append)
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
    assert "first_failure=2023-11-14T22:13:20.000Z group=tiktok-capi" in line
    assert '"invalid field user.email"' in line
    assert "5 dead-letter records" in err and "decode_error=2, invalid_event=3" in err

    assert main(["dlq", "inspect", "--json", "--limit", "2", "--topic", dlq]) == 0
    out, _ = capsys.readouterr()
    objects = [json.loads(line) for line in out.splitlines()]
    assert len(objects) == 2
    assert {o["reason"] for o in objects} <= {"decode_error", "invalid_event"}
    assert PII.decode() not in out


def _topics(
    broker: BrokerHelper, kafka_env: pytest.MonkeyPatch, count: int
) -> tuple[str, str, str]:
    """A source topic, its (default-named) first retry tier and a dead-letter topic holding
    ``count`` records; the environment points at them."""
    source = broker.unique_topic("src", 2)
    tier = broker.create_topic(f"{source}.tiktok-capi.retry.1", 2)
    dlq = broker.create_topic(f"{source}.tiktok-capi.dlq", 2)
    fill_dlq(broker, source, dlq, count, now=time.time() - 3600)
    kafka_env.setenv("KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap)
    kafka_env.setenv("SOURCE_TOPIC", source)
    return source, tier, dlq


def _values(messages: list[Any]) -> list[bytes]:
    return sorted(m.value() or b"" for m in messages)


def _dead(numbers: Iterable[int]) -> list[bytes]:
    return sorted(PII + b"#" + str(n).encode() for n in numbers)


@pytest.mark.integration
def test_replay_without_execute_only_counts(
    broker: BrokerHelper, kafka_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _, tier, dlq = _topics(broker, kafka_env, 6)
    group = broker.unique_group("replay")
    assert main(["dlq", "replay", "--group", group]) == 0
    out = capsys.readouterr().out
    assert f"6 of 6 dead-letter records in {dlq} not replayed yet" in out
    assert "(decode_error=2, invalid_event=4)" in out
    assert f"dry run: add --execute to replay 6 of them to {tier}" in out
    assert broker.read_all(tier, 1, timeout=1) == []
    assert broker.committed(group, dlq) == {}


@pytest.mark.integration
def test_replay_goes_to_this_groups_first_retry_tier_once(
    broker: BrokerHelper, kafka_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not to the source topic, which other consumers share: they would all get duplicates."""
    source, tier, dlq = _topics(broker, kafka_env, 6)
    group = broker.unique_group("replay")

    # A partial replay, then the rest: together exactly once.
    assert (
        main(["dlq", "replay", "--group", group, "--limit", "2", "--batch", "1", "--execute"]) == 0
    )
    assert "replayed 2 records" in capsys.readouterr().out
    assert main(["dlq", "replay", "--group", group, "--execute"]) == 0
    out = capsys.readouterr().out
    assert "4 of 4 dead-letter records" in out and f"replayed 4 records from {dlq} to {tier}" in out
    assert main(["dlq", "replay", "--group", group, "--execute"]) == 0
    assert "replayed 0 records" in capsys.readouterr().out

    messages = broker.read_all(tier, 6, min_wait=0.5)
    assert _values(messages) == _dead(range(6))
    assert broker.read_all(source, 1, timeout=1) == []  # the source topic is left alone
    for msg in messages:
        headers = dict(msg.headers() or [])
        offset = int((msg.value() or b"").split(b"#")[1])
        assert msg.key() == f"user-{offset}".encode()
        assert headers["traceparent"] == b"00-abc"
        # This group's record, due at once, still saying where the event came from.
        assert headers[HEADER_GROUP] == b"tiktok-capi"
        assert headers[HEADER_ORIGINAL_TOPIC] == source.encode()
        assert headers[HEADER_ORIGINAL_OFFSET] == str(offset).encode()
        assert HEADER_DUE_AT not in headers and HEADER_REASON not in headers
        assert headers[HEADER_REPLAYED_FROM].startswith(f"{dlq}/".encode())
    dlq_counts: dict[int, int] = {}
    for msg in broker.read_all(dlq, 6):
        partition = msg.partition() or 0
        dlq_counts[partition] = max(dlq_counts.get(partition, 0), (msg.offset() or 0) + 1)
    assert broker.committed(group, dlq) == dlq_counts


@pytest.mark.integration
def test_replay_to_the_source_topic_only_when_asked(
    broker: BrokerHelper, kafka_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source, tier, dlq = _topics(broker, kafka_env, 4)
    group = broker.unique_group("replay")
    assert main(["dlq", "replay", "--group", group, "--to-source", "--execute"]) == 0
    assert f"replayed 4 records from {dlq} to {source}" in capsys.readouterr().out
    messages = broker.read_all(source, 4, min_wait=0.5)
    assert _values(messages) == _dead(range(4))
    for msg in messages:
        offset = int((msg.value() or b"").split(b"#")[1])
        assert msg.partition() == offset % 2  # back to the partition it came from
        assert [k for k, _ in msg.headers() or []] == ["traceparent", HEADER_REPLAYED_FROM]
    assert broker.read_all(tier, 1, timeout=1) == []


@pytest.mark.integration
def test_replay_selects_by_reason_code_origin_and_time(
    broker: BrokerHelper, kafka_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source, tier, _ = _topics(broker, kafka_env, 9)  # decode_error: 0, 3, 6
    assert main(["dlq", "replay", "--reason", "invalid_event", "--since", "2h"]) == 0
    out = capsys.readouterr().out
    assert "6 of 9 dead-letter records matching reason=invalid_event since=2h" in out
    assert main(["dlq", "replay", "--reason", "invalid_event", "--since", "2h", "--execute"]) == 0
    assert "replayed 6 records" in capsys.readouterr().out
    assert _values(broker.read_all(tier, 6, min_wait=0.5)) == _dead([1, 2, 4, 5, 7, 8])
    # The same selection again: nothing left; progress is the selection's own.
    assert main(["dlq", "replay", "--reason", "invalid_event", "--since", "2h", "--execute"]) == 0
    assert "replayed 0 records" in capsys.readouterr().out
    # Nothing was dead-lettered in the last 30 minutes (they are an hour old).
    assert main(["dlq", "replay", "--since", "30m"]) == 0
    assert "0 of 9 dead-letter records matching since=30m" in capsys.readouterr().out
    # Original partition 0, offsets 2..6, TikTok code 40002: offsets 2 and 4.
    args = ["--partition", "0", "--offsets", "2-6", "--code", "40002"]
    assert main(["dlq", "replay", *args, "--to-topic", source, "--execute"]) == 0
    assert "replayed 2 records" in capsys.readouterr().out
    assert _values(broker.read_all(source, 2, min_wait=0.5)) == _dead([2, 4])
    assert main(["dlq", "inspect", *args]) == 0
    _, err = capsys.readouterr()
    assert "2 dead-letter records matching code=40002 partition=0 offsets=2-6" in err


def test_bad_selection_is_a_usage_error(
    kafka_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kafka_env.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9")
    assert main(["dlq", "replay", "--since", "yesterday-ish"]) == 2
    assert "not a time: 'yesterday-ish'" in capsys.readouterr().err
    assert main(["dlq", "inspect", "--offsets", "9-1"]) == 2


@pytest.mark.integration
def test_an_interrupted_replay_commits_what_it_sent_and_never_doubles(
    broker: BrokerHelper,
    kafka_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ctrl-C mid-batch: what was produced is acknowledged and committed, so running the same
    command again replays only the rest (before, the records sent were flushed on the way out
    but not committed, and the next run sent them again)."""
    from tiktok_capi.consumer.kafka import produce

    _, tier, dlq = _topics(broker, kafka_env, 6)
    group = broker.unique_group("replay")
    real = produce.produce_waiting
    calls = 0

    def interrupted(*args: Any, **kwargs: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 4:
            raise KeyboardInterrupt
        real(*args, **kwargs)

    monkeypatch.setattr(produce, "produce_waiting", interrupted)
    assert main(["dlq", "replay", "--group", group, "--execute"]) == 130
    assert "interrupted after 3 records" in capsys.readouterr().err
    monkeypatch.setattr(produce, "produce_waiting", real)
    assert sum(broker.committed(group, dlq).values()) == 3
    assert main(["dlq", "replay", "--group", group, "--execute"]) == 0
    assert "replayed 3 records" in capsys.readouterr().out
    assert _values(broker.read_all(tier, 6, min_wait=1.0)) == _dead(range(6))  # once each


def test_replay_against_a_dead_broker_is_quiet_and_says_why() -> None:
    """librdkafka printed a raw line per reconnect attempt, every 50 ms, then a _TRANSPORT line."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "TIKTOK_"))}
    env["KAFKA_BOOTSTRAP_SERVERS"] = f"127.0.0.1:{port}"
    result = subprocess.run(
        [sys.executable, "-m", "tiktok_capi.consumer", "dlq", "replay", "--timeout", "3"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) <= 4, lines  # before: ~60 lines in 3 s
    assert lines[-1] == (
        "tiktok-capi dlq replay: cannot reach the Kafka cluster within 3s: "
        f"127.0.0.1:{port}: connection refused: nothing listens on that port (a wrong port, or "
        "the broker is not running)"
    )


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
