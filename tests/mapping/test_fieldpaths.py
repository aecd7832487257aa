"""Field paths: validated once, applied per event, pure and never raising."""

from __future__ import annotations

from typing import Any

import pytest

from tiktok_capi.mapping.fieldpaths import FieldPathError, parse_field_paths, remap

TABLE = {
    "event": "event_name",
    "timestamp": "ts",
    "context.traits.email": ["user.email", "email"],
    "context.ip": "client.ip",
    "properties.products": "items",
    "properties.products[].price": "items[].unit_price",
    "properties.products[].product_id": "items[].sku",
}


def test_a_record_named_differently_gets_segment_names() -> None:
    event: dict[str, Any] = {
        "type": "track",
        "event_name": "Order Completed",
        "ts": "2024-11-25T08:00:00Z",
        "user": {"email": "a@example.com"},
        "client": {"ip": "203.0.113.9"},
        "context": {"locale": "en-US"},
        "items": [{"sku": "s-1", "unit_price": 9.5}, {"sku": "s-2"}],
    }
    out = remap(event, parse_field_paths(TABLE))
    assert out["event"] == "Order Completed"
    assert out["timestamp"] == "2024-11-25T08:00:00Z"
    assert out["context"] == {
        "locale": "en-US",
        "traits": {"email": "a@example.com"},
        "ip": "203.0.113.9",
    }
    assert out["properties"]["products"] == [
        {"sku": "s-1", "unit_price": 9.5, "price": 9.5, "product_id": "s-1"},
        {"sku": "s-2", "product_id": "s-2"},
    ]


def test_alternatives_absent_and_null_sources() -> None:
    paths = parse_field_paths(TABLE)
    assert remap({"email": "b@example.com"}, paths)["context"]["traits"]["email"] == "b@example.com"
    untouched = {"event": "Kept", "event_name": None, "context": {"traits": {"email": "x"}}}
    assert remap(dict(untouched), paths) == untouched  # nothing to copy: the record stays
    weird = {"items": "not a list", "user": ["not", "an", "object"]}
    # Copied as it is (the mapping then notes what it cannot use); [] entries skip a non-list.
    assert remap(dict(weird), paths) == weird | {"properties": {"products": "not a list"}}


def test_array_paths_without_the_array_mapped_first_build_it() -> None:
    paths = parse_field_paths({"properties.products[].price": "lines[].amount"})
    out = remap({"lines": [{"amount": 1}, {"amount": 2}, 3]}, paths)
    assert out["properties"]["products"] == [{"price": 1}, {"price": 2}, {}]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ([], "must be an object"),
        (
            {"contxt.traits.email": "e"},
            "entry 'contxt.traits.email': 'contxt' is not a Segment field",
        ),
        ({"event": ""}, "entry 'event': the source path must be a non-empty"),
        ({"event": 3}, "entry 'event': the source path must be a non-empty"),
        ({"event": []}, "entry 'event': give at least one source path"),
        ({"context..ip": "ip"}, "entry 'context..ip'"),
        ({"properties.products[].price": "price"}, "both sides need [] or neither"),
        ({"properties.a[].b[].c": "x[].y[].z"}, "only one [] is supported"),
        ({"properties.products[]": "items[]"}, "[] must be followed by a key"),
        ({"event": "a[0]"}, "is not a key"),
    ],
)
def test_a_bad_entry_is_named(table: object, message: str) -> None:
    with pytest.raises(FieldPathError) as info:
        parse_field_paths(table)
    assert message in str(info.value)


def test_an_empty_table_is_falsy() -> None:
    assert not parse_field_paths({})
    assert parse_field_paths({"event": "e"})
