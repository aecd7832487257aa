"""Span links from W3C trace context carried in record headers."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from tiktok_capi.consumer.kafka.records import SourceRecord
from tiktok_capi.consumer.telemetry.tracing import record_links, tracing_enabled

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"


def _record(offset: int, headers: list[tuple[str, bytes]] | None) -> SourceRecord:
    return SourceRecord("cdp-events", 0, offset, b"k", b"v", headers, 0)


def test_links_follow_traceparent_headers() -> None:
    records = [
        _record(0, [("traceparent", f"00-{TRACE_ID}-{SPAN_ID}-01".encode())]),
        _record(1, None),
        _record(2, [("other", b"x")]),
        _record(3, [("traceparent", b"garbage")]),
    ]
    links = record_links(records)
    assert len(links) == 1
    assert format(links[0].context.trace_id, "032x") == TRACE_ID
    assert format(links[0].context.span_id, "016x") == SPAN_ID


def test_links_are_bounded() -> None:
    header = [("traceparent", f"00-{TRACE_ID}-{SPAN_ID}-01".encode())]
    assert len(record_links([_record(i, header) for i in range(10)], limit=3)) == 3


def test_confluent_style_headers_method() -> None:
    class Message:
        def headers(self) -> list[tuple[str, bytes]]:
            return [("traceparent", f"00-{TRACE_ID}-{SPAN_ID}-01".encode())]

    assert len(record_links([Message()])) == 1


def test_tracing_is_on_only_with_an_sdk_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trace, "get_tracer_provider", trace.ProxyTracerProvider)
    assert tracing_enabled() is False
    monkeypatch.setattr(trace, "get_tracer_provider", TracerProvider)
    assert tracing_enabled() is True
