"""Event data and page data: event_time, event_id, limited_data_use, page.url/referrer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from tests.mapping.helpers import NOW, get, mapped, sha, track

FALLBACK = int(NOW)


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        ("2024-01-08T13:52:50.123Z", 1704721970),
        ("2024-01-08T13:52:50Z", 1704721970),
        ("2024-01-08T14:52:50+01:00", 1704721970),
        ("2024-01-08T13:52:50", 1704721970),  # naive: UTC
        ("2024-01-08T13:52:50.999999Z", 1704721970),  # floor, never a future second
        ("2024-01-08", 1704672000),
        (" 2024-01-08T13:52:50Z ", 1704721970),
        (datetime(2024, 1, 8, 13, 52, 50, tzinfo=UTC), 1704721970),  # Avro timestamp-millis
        (1704721970, 1704721970),
        (1704721970123, 1704721970),  # milliseconds
        (None, FALLBACK),
        ("", FALLBACK),
        ("yesterday", FALLBACK),
        ("2024-13-45T00:00:00Z", FALLBACK),
        (True, FALLBACK),
        ({"seconds": 1}, FALLBACK),
        (float("inf"), FALLBACK),
        (1.8446744073709552e22, FALLBACK),  # beyond the year 9999 even as milliseconds
        (-5, FALLBACK),
    ],
)
def test_event_time(timestamp: Any, expected: int) -> None:
    result = mapped(track("Product Viewed", timestamp=timestamp))
    assert result.event["event_time"] == expected
    assert type(result.event["event_time"]) is int


def test_bad_timestamps_are_noted() -> None:
    result = mapped(track("Product Viewed", timestamp="yesterday"))
    assert "timestamp: not a usable time; the current time is used" in result.notes


@pytest.mark.parametrize(
    ("message_id", "expected"),
    [
        ("ajs-next-6f1c", "ajs-next-6f1c"),
        (12345, "12345"),
        (" m-1 ", "m-1"),
        ("<m1@mail.example.com>", sha("<m1@mail.example.com>")),
    ],
)
def test_event_id_is_the_message_id_as_a_string(message_id: Any, expected: str) -> None:
    result = mapped(track("Product Viewed", messageId=message_id))
    assert result.event["event_id"] == result.event_id == expected


@pytest.mark.parametrize("message_id", [None, "", "  ", ["m"], True])
def test_missing_message_id_gives_a_stable_derived_event_id(message_id: Any) -> None:
    event = track("Product Viewed", {"product_id": "p"}, messageId=message_id)
    first = mapped(event)
    again = mapped(dict(reversed(list(event.items()))), now=NOW + 60)  # a retry, later
    other = mapped({**event, "properties": {"product_id": "q"}})
    assert first.event_id.startswith("derived-")
    assert len(first.event_id) == len("derived-") + 32
    assert first.event["event_id"] == first.event_id == again.event_id
    assert other.event_id != first.event_id
    assert "messageId: missing; event_id derived from the event's content" in first.notes


def test_derived_event_id_survives_unserialisable_values() -> None:
    event = track("Product Viewed", messageId=None, extra=2**80, when=datetime(2024, 1, 1))
    assert mapped(event).event_id.startswith("derived-")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, False),
        (False, False),
        (True, True),
        ("true", True),
        ("false", False),
        (1, True),
        ("maybe", False),
        ([], False),
    ],
)
def test_limited_data_use(value: Any, expected: bool) -> None:
    event = track("Product Viewed")
    if value is not None:
        event["limited_data_use"] = value
    assert mapped(event).event["limited_data_use"] is expected


PAGE_ROWS: list[tuple[str, dict[str, Any], dict[str, Any], str, Any]] = [
    ("url props", {"url": "https://a/"}, {"url": "https://b/"}, "page.url", "https://a/"),
    ("url context", {}, {"url": "https://b/"}, "page.url", "https://b/"),
    ("url empty props", {"url": ""}, {"url": "https://b/"}, "page.url", "https://b/"),
    (
        "referrer props",
        {"referrer": "https://r1/"},
        {"referrer": "https://r2/"},
        "page.referrer",
        "https://r1/",
    ),
    ("referrer context", {}, {"referrer": "https://r2/"}, "page.referrer", "https://r2/"),
    (
        "referrer null props",
        {"referrer": None},
        {"referrer": "https://r2/"},
        "page.referrer",
        "https://r2/",
    ),
    (
        "email in url",
        {"url": "https://a/thanks?email=joe%40example.com&x=1"},
        {},
        "page.url",
        "https://a/thanks?email=[redacted]&x=1",
    ),
]


@pytest.mark.parametrize(
    ("properties", "context_page", "path", "expected"),
    [r[1:] for r in PAGE_ROWS],
    ids=[r[0] for r in PAGE_ROWS],
)
def test_page_data(
    properties: dict[str, Any], context_page: dict[str, Any], path: str, expected: Any
) -> None:
    for call in ("track", "page"):
        event = {
            "type": call,
            "event": "Product Viewed",
            "messageId": "m",
            "properties": properties,
            "context": {"page": context_page},
        }
        assert get(mapped(event).event, path) == expected


def test_missing_page_url_is_noted() -> None:
    result = mapped({"type": "track", "event": "Product Viewed", "messageId": "m"})
    assert "page" not in result.event
    assert "page.url: no properties.url or context.page.url (TikTok requires it)" in result.notes


def test_the_event_is_plain_json_in_the_documented_key_order() -> None:
    event = track(
        "Order Completed",
        {"products": [{"product_id": 1, "price": 2}], "currency": "USD"},
        userId="u",
        timestamp="2024-01-08T13:52:50Z",
    )
    result = mapped(event)
    assert list(result.event) == [
        "event",
        "event_time",
        "event_id",
        "user",
        "properties",
        "page",
        "limited_data_use",
    ]
    assert orjson.loads(orjson.dumps(result.event)) == result.event
    assert result.notes == ()


def test_mapping_does_not_modify_its_input() -> None:
    event = track("Order Completed", {"products": [{"product_id": 1}]}, userId="u")
    before = orjson.dumps(event)
    mapped(event)
    assert orjson.dumps(event) == before


def test_lone_surrogates_are_replaced_so_the_event_can_be_sent() -> None:
    result = mapped(track("Products Searched", {"query": "tee \ud800"}))
    assert result.event["properties"]["query"] == "tee \ufffd"
    assert "properties.query: invalid Unicode (lone surrogate) replaced" in result.notes
    orjson.dumps(result.event)


def test_deeply_nested_input_does_not_raise() -> None:
    deep: Any = "x"
    for _ in range(5000):
        deep = {"a": deep}
    result = mapped(track("Product Viewed", {"extra": deep}, messageId=None))
    assert result.event_id.startswith("derived-")
    deep_list: Any = [1]
    for _ in range(5000):
        deep_list = [deep_list]
    mapped(track("Order Completed", {"products": deep_list}, messageId=None))
