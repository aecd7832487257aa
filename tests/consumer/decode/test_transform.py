"""Transformer and PoolDecoding: one compact result per value, the same inline and in a process."""

from __future__ import annotations

import queue
import time
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

import orjson

from tiktok_capi.consumer.config.settings import load_settings
from tiktok_capi.consumer.decode.codec import BundledDecoder, encode_event
from tiktok_capi.consumer.decode.pool import PoolDecoding
from tiktok_capi.consumer.decode.transform import (
    MAPPED,
    MAPPING_FAILED,
    SKIPPED,
    UNDECODABLE,
    Result,
    Transformer,
    mapping_settings,
)
from tiktok_capi.consumer.demo.storefront import generate
from tiktok_capi.consumer.loop.chunk import Chunk
from tiktok_capi.mapping import Mapped, MappingSettings, map_event


def _values() -> tuple[list[bytes | None], list[dict[str, object]]]:
    events = list(generate(60, seed=5, now=datetime.now(UTC)))
    return [encode_event(e) for e in events] + [b"\x01nope", None], events


def test_results_follow_the_mapping_exactly() -> None:
    values, events = _values()
    now = time.time()
    results = Transformer(BundledDecoder(), MappingSettings()).run(values, now)
    assert len(results) == len(values)
    for event, result in zip(events, results, strict=False):
        expected = map_event(event, MappingSettings(), now)
        if isinstance(expected, Mapped):
            assert result[0] == MAPPED and result[1] == expected.event_name
            assert orjson.loads(result[2]) == orjson.loads(orjson.dumps(expected.event))
        else:
            assert result == (SKIPPED, expected.reason)
    assert [r[0] for r in results[-2:]] == [UNDECODABLE, UNDECODABLE]


def test_worker_process_gives_the_same_results() -> None:
    settings = load_settings(
        {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9", "TIKTOK_ACCESS_TOKEN": "t",
         "TIKTOK_PIXEL_CODE": "P"}
    )  # fmt: skip
    values, _ = _values()
    now = time.time()
    transformer = Transformer(BundledDecoder(), mapping_settings(settings.mapping))
    inline = transformer.run(values, now)
    pool = PoolDecoding(settings, 1, transformer)
    chunk = Chunk(now)
    chunk.values = values
    done: queue.SimpleQueue[Future[list[Result]]] = queue.SimpleQueue()
    try:
        pool.submit(chunk, lambda _work, future: done.put(future))
        assert done.get(timeout=60).result() == inline
    finally:
        pool.close()


def test_the_switches_of_the_source_reach_the_mapping() -> None:
    settings = load_settings(
        {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9", "TIKTOK_ACCESS_TOKEN": "t",
         "TIKTOK_PIXEL_CODE": "P", "INTEGRATION_NAMES": "My TikTok",
         "CONSENT_CATEGORIES": "Advertising", "CONSENT_REQUIRED": "true"}
    )  # fmt: skip
    mapping = mapping_settings(settings.mapping)
    assert mapping.integration_names == ("my tiktok",)
    assert (mapping.consent_categories, mapping.consent_required) == (("advertising",), True)
    order = {"type": "track", "event": "Order Completed", "messageId": "m-1"}
    granted = {"consent": {"categoryPreferences": {"Advertising": True}}}
    events = [
        {**order, "integrations": {"My TikTok": False}, "context": granted},
        {**order, "context": {"consent": {"categoryPreferences": {"Advertising": False}}}},
        order,  # no consent preferences, and they are required
        {**order, "integrations": {"All": False, "my tiktok": {}}, "context": granted},
    ]
    results = Transformer(BundledDecoder(), mapping).run([encode_event(e) for e in events], 0.0)
    assert [r[:2] for r in results] == [
        (SKIPPED, "disabled_by_integrations"),
        (SKIPPED, "no_consent"),
        (SKIPPED, "no_consent"),
        (MAPPED, "CompletePayment"),
    ]


def test_an_unserialisable_event_fails_alone_not_its_chunk(monkeypatch: Any) -> None:
    """A mapping result orjson refuses (a bug) is one MAPPING_FAILED; its chunk-mates map."""
    values, events = _values()
    now = time.time()
    real = map_event
    poisoned = events[0].get("messageId")

    def mapping_with_a_bug(event: Any, settings: MappingSettings, at: float) -> Any:
        result = real(event, settings, at)
        if isinstance(result, Mapped) and event.get("messageId") == poisoned:
            result.event["event_time"] = 2**70  # beyond 64 bits: orjson raises TypeError
        return result

    monkeypatch.setattr("tiktok_capi.consumer.decode.transform.map_event", mapping_with_a_bug)
    results = Transformer(BundledDecoder(), MappingSettings()).run(values, now)
    assert len(results) == len(values)
    assert isinstance(real(events[0], MappingSettings(), now), Mapped)  # the sample's first maps
    assert results[0] == (MAPPING_FAILED, "mapping failed: TypeError")
    assert sum(1 for r in results if r[0] == MAPPING_FAILED) == 1
    assert any(r[0] == MAPPED for r in results[1:])


def test_a_decoder_that_raises_something_unexpected_fails_that_record_alone() -> None:
    """Not a DecodeError (a decoder bug on bytes nobody foresaw): garbage, and the chunk goes
    on; before, the exception left the transformer and stopped the poll loop."""
    values, _events = _values()
    bundled = BundledDecoder()

    class Flaky:
        def decode(self, value: bytes | None) -> Any:
            if value == values[1]:
                raise OverflowError("integer division result too large for a float")
            return bundled.decode(value)

        def close(self) -> None:
            pass

    results = Transformer(Flaky(), MappingSettings()).run(values, time.time())  # type: ignore[arg-type]
    assert results[1] == (UNDECODABLE, "garbage", "the decoder failed (OverflowError)")
    assert len(results) == len(values) and results[0][0] != UNDECODABLE
