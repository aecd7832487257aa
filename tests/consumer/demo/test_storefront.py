"""The sample storefront dataset: deterministic, realistic, covering every mapped event."""

from __future__ import annotations

import gzip
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from tests.fixtures.broker import BrokerHelper
from tiktok_capi.consumer.cli import main
from tiktok_capi.consumer.decode.codec import BundledDecoder, encode_event
from tiktok_capi.consumer.demo.storefront import (
    DATASET_NOW,
    MAPPED_EVENTS,
    SAMPLE_PATH,
    SAMPLE_SEED,
    SAMPLE_SIZE,
    UNMAPPED_EVENTS,
    generate,
    load_events,
    load_sample,
    rebase_timestamps,
    write_jsonl,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def sample() -> list[dict[str, object]]:
    return load_sample(NOW)


def _kind(event: dict[str, object]) -> object:
    return event.get("event", event["type"])


def test_generate_is_deterministic() -> None:
    assert list(generate(200, 1, NOW)) == list(generate(200, 1, NOW))
    assert list(generate(200, 1, NOW)) != list(generate(200, 2, NOW))


def test_shipped_file_is_what_the_generator_makes(tmp_path: Path) -> None:
    assert SAMPLE_PATH.stat().st_size < 3_000_000
    with gzip.open(SAMPLE_PATH, "rb") as f:
        shipped = [orjson.loads(line) for line in f]
    assert len(shipped) == SAMPLE_SIZE
    assert shipped == list(generate(SAMPLE_SIZE, SAMPLE_SEED, DATASET_NOW, switches=True))
    regenerated = tmp_path / "again.jsonl.gz"
    write_jsonl(generate(SAMPLE_SIZE, SAMPLE_SEED, DATASET_NOW, switches=True), regenerated)
    assert regenerated.read_bytes() == SAMPLE_PATH.read_bytes()


def test_every_kind_of_event_is_present(sample: list[dict[str, object]]) -> None:
    kinds = Counter(_kind(e) for e in sample)
    for name in (*MAPPED_EVENTS, *UNMAPPED_EVENTS, "page", "identify"):
        assert kinds[name] > 0, name
    assert kinds["page"] > kinds["Order Completed"]


def test_every_phone_number_is_a_valid_one(sample: list[dict[str, object]]) -> None:
    """The mapping sends only valid numbers: a sample phone it drops would show nothing."""
    import phonenumbers

    phones = [
        str(holder["phone"])
        for event in sample
        for holder in (event.get("properties"), (event.get("context") or {}).get("traits"))  # type: ignore[union-attr]
        if isinstance(holder, dict) and holder.get("phone")
    ]
    assert len(phones) > 1000
    invalid = [p for p in phones if not phonenumbers.is_valid_number(phonenumbers.parse(p, "US"))]
    assert invalid == []


def test_the_dataset_carries_the_sources_switches(sample: list[dict[str, object]]) -> None:
    from mapping import MappingSettings, Skipped, map_event

    settings = MappingSettings(consent_categories=("Advertising",))
    reasons = Counter(
        result.reason
        for result in (map_event(event, settings, NOW.timestamp()) for event in sample)
        if isinstance(result, Skipped)
    )
    # A few of each, so that the demo's summary shows both reasons.
    assert 50 < reasons["disabled_by_integrations"] < 250
    assert 50 < reasons["no_consent"] < 250
    consented = [e for e in sample if "consent" in e["context"]]  # type: ignore[operator]
    assert 0 < len(consented) < len(sample)
    named = [e for e in sample if e["integrations"].get("All") is False]  # type: ignore[attr-defined]
    assert any("TikTok Conversions" in e["integrations"] for e in named)  # type: ignore[operator]


def test_switches_leave_every_other_field_as_it_was() -> None:
    plain = list(generate(300, 3, NOW))
    switched = list(generate(300, 3, NOW, switches=True))
    assert plain != switched
    for before, after in zip(plain, switched, strict=True):
        after = {**after, "context": dict(after["context"])}
        after["context"].pop("consent", None)
        assert {k: v for k, v in after.items() if k != "integrations"} == {
            k: v for k, v in before.items() if k != "integrations"
        }


def test_message_ids_are_unique(sample: list[dict[str, object]]) -> None:
    assert len({e["messageId"] for e in sample}) == len(sample)


def test_load_sample_ends_at_now_within_the_last_hours(sample: list[dict[str, object]]) -> None:
    moments = [datetime.fromisoformat(str(e["timestamp"])) for e in sample]
    assert max(moments) == NOW
    assert min(moments) > NOW - timedelta(hours=2)
    for event in sample:
        for name in ("sentAt", "receivedAt", "originalTimestamp"):
            moment = datetime.fromisoformat(str(event[name]))
            assert abs(moment - datetime.fromisoformat(str(event["timestamp"]))) < timedelta(1)


def test_users_look_real(sample: list[dict[str, object]]) -> None:
    blob = orjson.dumps(sample).decode()
    assert "ttclid=E.C.P." in blob
    assert '"ttclid":"E.C.P.' in blob
    phones = {
        str(e["context"]["traits"]["phone"])  # type: ignore[index]
        for e in sample
        if isinstance(e.get("context"), dict) and "phone" in e["context"].get("traits", {})  # type: ignore[union-attr]
    }
    assert any(p.startswith("+1 ") for p in phones)
    assert any(p.startswith("(") for p in phones)
    assert any(p.isdigit() for p in phones)
    assert any(p.startswith("+44") for p in phones)
    anonymous = [e for e in sample if "userId" not in e]
    assert 0 < len(anonymous) < len(sample)
    orders = [e for e in sample if e.get("event") == "Order Completed"]
    assert all(e["properties"]["products"] for e in orders)  # type: ignore[index]


def test_every_sample_event_round_trips_through_the_codec(
    sample: list[dict[str, object]],
) -> None:
    decoder = BundledDecoder()
    for event in sample:
        assert decoder.decode(encode_event(event)) == event


def test_rebase_timestamps_keeps_spacing_and_inputs() -> None:
    events = [
        {"timestamp": "2020-01-01T00:00:00Z", "sentAt": "2020-01-01T00:00:01Z"},
        {"timestamp": "2020-01-01T00:10:00+02:00"},
        {"timestamp": "not a time", "receivedAt": 5},
        {"type": "identify"},
    ]
    rebased = rebase_timestamps(events, NOW)
    assert events[0]["timestamp"] == "2020-01-01T00:00:00Z"
    assert rebased[0]["timestamp"] == "2026-03-01T12:00:00.000Z"  # the latest (in UTC)
    assert rebased[0]["sentAt"] == "2026-03-01T12:00:01.000Z"
    assert rebased[1]["timestamp"] == "2026-03-01T10:10:00.000Z"  # 22:10Z the day before
    assert rebased[2] == events[2]
    assert rebased[3] == {"type": "identify"}
    assert rebase_timestamps([{"type": "page"}], NOW) == [{"type": "page"}]


@pytest.mark.integration
def test_the_demo_dataset_produces_and_decodes(
    broker: BrokerHelper, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = broker.unique_topic("storefront", partitions=4)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap)
    monkeypatch.delenv("SCHEMA_REGISTRY_URL", raising=False)
    args = ["produce", "--topic", topic, "--rebase-timestamps", str(SAMPLE_PATH)]
    assert main(args) == 0
    assert f"produced {SAMPLE_SIZE} events" in capsys.readouterr().out

    values = broker.read_values(topic, expected=SAMPLE_SIZE)
    assert len(values) == SAMPLE_SIZE
    decoded = [BundledDecoder().decode(v) for v in values]
    latest = max(datetime.fromisoformat(str(e["timestamp"])) for e in decoded)
    assert abs(datetime.now(UTC) - latest) < timedelta(minutes=5)


def test_load_events_is_the_file_as_stored() -> None:
    events = load_events()
    assert len(events) == SAMPLE_SIZE
    latest = max(datetime.fromisoformat(str(e["timestamp"])) for e in events)
    assert DATASET_NOW - timedelta(seconds=2) < latest < DATASET_NOW
