"""`tiktok-capi produce`: Segment JSON lines -> Avro records on a real broker, and back."""

from __future__ import annotations

import gzip
import io
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.broker import BrokerHelper
from tests.fixtures.registry import FakeSchemaRegistry
from tiktok_capi.consumer.cli import main
from tiktok_capi.consumer.commands.produce import event_key, produce_events, producer_config
from tiktok_capi.consumer.config.settings import ConfigError, InputSettings
from tiktok_capi.consumer.decode.codec import BundledDecoder
from tiktok_capi.consumer.decode.formats import RecordDecoder
from tiktok_capi.consumer.decode.registry import SchemaRegistry
from tiktok_capi.schemas.loader import EXAMPLES_DIR

pytestmark = pytest.mark.integration

EVENTS: list[dict[str, Any]] = [
    json.loads(p.read_text(encoding="utf-8")) for p in sorted(EXAMPLES_DIR.glob("*.json"))
]


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _by_message_id(events: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    return {e["messageId"]: e for e in events}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, broker: BrokerHelper) -> BrokerHelper:
    for name in ("SCHEMA_REGISTRY_URL", "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap)
    return broker


def test_produced_events_decode_to_the_original_json(
    env: BrokerHelper, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = env.unique_topic("produce", partitions=3)
    path = _write_lines(tmp_path / "events.jsonl", [json.dumps(e) for e in EVENTS])

    assert main(["produce", "--topic", topic, str(path)]) == 0

    out = capsys.readouterr().out
    assert f"produced {len(EVENTS)} events to {topic}" in out
    messages = env.read_all(topic, expected=len(EVENTS))
    decoded = [BundledDecoder().decode(m.value()) for m in messages]
    assert _by_message_id(decoded) == _by_message_id(EVENTS)
    keys = {m.key() for m in messages}
    assert keys == {event_key(e) for e in EVENTS}


def test_keys_keep_one_users_events_on_one_partition(env: BrokerHelper) -> None:
    topic = env.unique_topic("keys", partitions=4)
    events = [{"type": "track", "userId": f"u{i % 3}", "messageId": str(i)} for i in range(30)]
    summary = produce_events(events, topic=topic, config=producer_config(env.bootstrap, {}))
    assert summary.ok and summary.produced == 30
    by_user: dict[bytes | None, set[int]] = {}
    for m in env.read_all(topic, expected=30):
        by_user.setdefault(m.key(), set()).add(m.partition() or 0)
    assert set(by_user) == {b"u0", b"u1", b"u2"}
    assert all(len(parts) == 1 for parts in by_user.values())


def test_event_key_prefers_user_id() -> None:
    assert event_key({"userId": "u", "anonymousId": "a"}) == b"u"
    assert event_key({"userId": "", "anonymousId": "a"}) == b"a"
    assert event_key({"userId": None, "anonymousId": "a"}) == b"a"
    assert event_key({"userId": 42}) == b"42"
    assert event_key({}) is None


def test_bad_lines_are_reported_by_number_without_content(
    env: BrokerHelper, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = env.unique_topic("bad")
    lines = [
        json.dumps(EVENTS[0]),
        '{"email": "leaky.person@example.com", broken',
        "[1, 2]",
        "",
        '{"type": "track", "properties": {"email": "big.int@example.com", '
        '"n": 123456789012345678901234}}',
        json.dumps(EVENTS[1]),
    ]
    assert main(["produce", "--topic", topic, str(_write_lines(tmp_path / "e.jsonl", lines))]) == 1

    captured = capsys.readouterr()
    assert "line 2: not valid JSON" in captured.err
    assert "line 3: not a JSON object" in captured.err
    assert "line 5:" in captured.err
    assert "leaky.person" not in captured.err + captured.out
    assert "big.int" not in captured.err + captured.out
    assert "produced 2 events" in captured.out
    assert "3 bad lines" in captured.out
    assert len(env.read_all(topic, expected=2)) == 2


def test_gzip_file_and_stdin(
    env: BrokerHelper,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    topic = env.unique_topic("gz")
    path = tmp_path / "events.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("\n".join(json.dumps(e) for e in EVENTS[:2]))
    assert main(["produce", "--topic", topic, str(path)]) == 0

    stdin = io.TextIOWrapper(io.BytesIO(json.dumps(EVENTS[2]).encode()), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", stdin)
    assert main(["produce", "--topic", topic]) == 0
    assert len(env.read_all(topic, expected=3)) == 3


def test_rebase_timestamps_moves_the_latest_event_to_now(env: BrokerHelper, tmp_path: Path) -> None:
    topic = env.unique_topic("rebase")
    events = [
        {"type": "track", "messageId": "a", "timestamp": "2020-01-01T00:00:00.000Z"},
        {"type": "track", "messageId": "b", "timestamp": "2020-01-01T00:01:00.000Z"},
    ]
    path = _write_lines(tmp_path / "e.jsonl", [json.dumps(e) for e in events])
    before = datetime.now(UTC)
    assert main(["produce", "--topic", topic, "--rebase-timestamps", str(path)]) == 0
    decoded = _by_message_id(
        [BundledDecoder().decode(m.value()) for m in env.read_all(topic, expected=2)]
    )
    latest = datetime.fromisoformat(decoded["b"]["timestamp"])
    earliest = datetime.fromisoformat(decoded["a"]["timestamp"])
    assert latest >= before.replace(microsecond=0)
    assert (latest - earliest).total_seconds() == 60


def test_registry_framing(
    env: BrokerHelper,
    schema_registry: FakeSchemaRegistry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    topic = env.unique_topic("framed")
    path = _write_lines(tmp_path / "e.jsonl", [json.dumps(e) for e in EVENTS])
    args = ["produce", "--topic", topic, "--schema-registry-url", schema_registry.url, str(path)]
    assert main(args) == 0

    assert list(schema_registry.subjects) == [f"{topic}-value"]
    schema_id = schema_registry.subjects[f"{topic}-value"][0]
    messages = env.read_all(topic, expected=len(EVENTS))
    assert all((m.value() or b"")[:5] == b"\x00" + schema_id.to_bytes(4, "big") for m in messages)
    with SchemaRegistry.from_settings(InputSettings(schema_registry_url=schema_registry.url)) as r:
        decoded = [RecordDecoder(registry=r).decode(m.value()) for m in messages]
    assert _by_message_id(decoded) == _by_message_id(EVENTS)


def test_registry_down_is_a_clear_error(
    env: BrokerHelper,
    schema_registry: FakeSchemaRegistry,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    schema_registry.fail_status = 503
    path = _write_lines(tmp_path / "e.jsonl", [json.dumps(EVENTS[0])])
    args = ["produce", "--topic", "x", "--schema-registry-url", schema_registry.url, str(path)]
    assert main(args) == 2
    assert "schema registration failed" in capsys.readouterr().err


def test_usage_errors(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    assert main(["produce", "--topic", "t", str(tmp_path / "empty.jsonl")]) == 2
    assert "KAFKA_BOOTSTRAP_SERVERS" in capsys.readouterr().err

    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    assert main(["produce", "--topic", "t", str(tmp_path / "missing.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err

    monkeypatch.setenv("KAFKA_ENABLE_AUTO_COMMIT", "true")
    assert main(["produce", "--topic", "t", str(tmp_path / "empty.jsonl")]) == 2
    assert "KAFKA_ENABLE_AUTO_COMMIT" in capsys.readouterr().err


def test_producer_config_takes_kafka_properties_from_the_environment() -> None:
    conf = producer_config(
        "b:9092",
        {
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SESSION_TIMEOUT_MS": "6000",  # consumer-only: left out
            "KAFKA_BOOTSTRAP_SERVERS": "ignored:1",
            "OTHER": "x",
        },
    )
    assert conf["bootstrap.servers"] == "b:9092"
    assert conf["security.protocol"] == "SASL_SSL"
    assert "session.timeout.ms" not in conf
    assert conf["acks"] == "all"
    with pytest.raises(ConfigError):
        producer_config(
            "b:9092",
            {"KAFKA_GROUP_ID_X": "1", "KAFKA_GROUP_ID": "g", "KAFKA_ENABLE_AUTO_COMMIT": "1"},
        )


def test_help_describes_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["produce", "--help"])
    out = capsys.readouterr().out
    assert "--schema-registry-url" in out and "userId" in out
