"""The event table: every row of the specification, and the user's overrides file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.mapping.helpers import mapped, skipped, track
from tiktok_capi.mapping import (
    DEFAULT_EVENT_MAP,
    PAGE_KEY,
    EventMap,
    EventMapError,
    EventRule,
    MappingSettings,
    load_event_map,
    parse_event_map,
)

SPEC_TABLE = [
    ("Order Completed", "CompletePayment"),
    ("Checkout Started", "InitiateCheckout"),
    ("Product Added", "AddToCart"),
    ("Product Viewed", "ViewContent"),
    ("Products Searched", "Search"),
    ("Payment Info Entered", "AddPaymentInfo"),
    ("Product Added to Wishlist", "AddToWishlist"),
    ("Product Clicked", "ClickButton"),
    ("Order Placed", "PlaceAnOrder"),
    ("Account Created", "CompleteRegistration"),
    ("Form Submitted", "SubmitForm"),
    ("Callback Started", "Contact"),
    ("Subscription Created", "Subscribe"),
    ("Download Link Clicked", "Download"),
]


@pytest.mark.parametrize(("cdp", "tiktok"), SPEC_TABLE)
def test_track_events_map_by_exact_name(cdp: str, tiktok: str) -> None:
    result = mapped(track(cdp))
    assert result.event_name == tiktok
    assert result.event["event"] == tiktok


@pytest.mark.parametrize("name", [None, "Home", "Order Completed"])
def test_page_calls_are_pageview_whatever_their_name(name: str | None) -> None:
    event = {"type": "page", "name": name, "messageId": "m", "properties": {"url": "https://s/"}}
    assert mapped(event).event["event"] == "Pageview"


def test_the_default_table_is_the_specification() -> None:
    assert len(DEFAULT_EVENT_MAP) == 15
    assert {name: rule.event for name, rule in DEFAULT_EVENT_MAP.items()} == {
        PAGE_KEY: "Pageview",
        **dict(SPEC_TABLE),
    }


@pytest.mark.parametrize(
    "name", ["order completed", "Order completed", "ORDER COMPLETED", " Order Completed", "Foo"]
)
def test_other_names_are_skipped_as_unmapped(name: str) -> None:
    result = skipped(track(name))
    assert result.reason == "unmapped_event"
    assert result.detail == name


@pytest.mark.parametrize("call", ["identify", "group", "alias", "screen"])
def test_other_call_types_are_skipped(call: str) -> None:
    result = skipped({"type": call, "event": "Order Completed", "messageId": "m"})
    assert (result.reason, result.detail) == ("unsupported_call_type", call)


@pytest.mark.parametrize(
    ("event", "reason", "detail"),
    [
        ([], "not_an_object", "an array"),
        ("Order Completed", "not_an_object", "a string"),
        (None, "not_an_object", "null"),
        ({"type": "track"}, "missing_event_name", ""),
        ({"type": "track", "event": "  "}, "missing_event_name", ""),
        ({"type": "TRACK", "event": "Order Completed"}, "unsupported_call_type", "TRACK"),
        ({"type": 3}, "unsupported_call_type", "a number"),
        ({}, "unsupported_call_type", "missing"),
        ({"type": "track", "event": "Mail joe@example.com"}, "unmapped_event", "Mail [redacted]"),
        ({"type": "track", "event": "$page"}, "unmapped_event", "$page"),  # the page-call rule
    ],
)
def test_skip_reasons(event: object, reason: str, detail: str) -> None:
    result = skipped(event)
    assert (result.reason, result.detail) == (reason, detail)


def test_missing_type_with_an_event_name_is_read_as_track() -> None:
    event = track("Order Completed")
    del event["type"]
    result = mapped(event)
    assert result.event_name == "CompletePayment"
    assert "type: missing; read as a track call" in result.notes


def _write(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "events.json"
    path.write_text(content, encoding="utf-8")
    return path


def test_overrides_rename_extend_and_disable(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        json.dumps(
            {
                "Order Completed": "Purchase",
                "Form Submitted": "Lead",
                "My Custom Event": "Lead",
                "Bundle Bought": {"event": "Purchase", "contents": "products"},
                "Product Clicked": None,
            }
        ),
    )
    event_map = load_event_map(path)
    assert event_map["Order Completed"] == EventRule("Purchase", contents="products")
    assert event_map["Form Submitted"] == EventRule("Lead", form_name=True)
    assert event_map["My Custom Event"] == EventRule("Lead")
    assert event_map["Checkout Started"] == DEFAULT_EVENT_MAP["Checkout Started"]
    settings = MappingSettings(event_map=event_map)

    order = mapped(track("Order Completed", {"products": [{"product_id": 1}]}), settings)
    assert order.event["event"] == "Purchase"
    assert order.event["properties"]["contents"] == [{"content_id": "1"}]
    bundle = mapped(track("Bundle Bought", {"products": [{"product_id": 2}]}), settings)
    assert bundle.event["properties"]["contents"] == [{"content_id": "2"}]
    form = mapped(track("Form Submitted", {"form_name": "newsletter"}), settings)
    assert form.event["properties"] == {"form_name": "newsletter"}
    assert mapped(track("My Custom Event"), settings).event_name == "Lead"
    disabled = skipped(track("Product Clicked"), settings)
    assert (disabled.reason, disabled.detail) == ("disabled_event", "Product Clicked")


def test_page_calls_can_be_renamed_or_disabled() -> None:
    page = {"type": "page", "messageId": "m", "properties": {"url": "https://s/"}}
    renamed = MappingSettings(event_map=parse_event_map({"$page": "PageView2"}))
    assert mapped(page, renamed).event_name == "PageView2"
    disabled = MappingSettings(event_map=parse_event_map({"$page": None}))
    assert skipped(page, disabled).reason == "disabled_event"


def test_an_empty_file_object_keeps_the_defaults(tmp_path: Path) -> None:
    assert load_event_map(_write(tmp_path, "{}")) == DEFAULT_EVENT_MAP


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[]", "expected a JSON object of CDP event name -> TikTok event, not an array"),
        ('{"Order Completed": ""}', "key 'Order Completed': the TikTok event name is empty"),
        ('{"Order Completed": "  "}', "key 'Order Completed': the TikTok event name is empty"),
        ('{"Order Completed": " Purchase"}', "has surrounding spaces"),
        ('{"Order Completed": 3}', "key 'Order Completed': expected a TikTok event name, an"),
        ('{"Order Completed": true}', "not a boolean"),
        ('{"": "Purchase"}', "key '': the CDP event name is empty"),
        ('{"X": {"contents": "products"}}', "key 'X': the field 'event' (the TikTok event"),
        ('{"X": {"event": "Lead", "contents": "all"}}', "key 'X'.contents: must be one of"),
        ('{"X": {"event": "Lead", "form_name": "yes"}}', "key 'X'.form_name: must be true"),
        ('{"X": {"event": "Lead", "colour": 1}}', "key 'X': unknown field(s) colour"),
        ('{"X": {"event": ["Lead"]}}', "key 'X'.event: the TikTok event name must be a string"),
        ('{"X": "Lead", "X": "Purchase"}', "key 'X' appears more than once"),
        (
            '{"X": "Lead",}',
            "not valid JSON: Expecting property name enclosed in double quotes (line 1, column 14)",
        ),
        ("", "not valid JSON: Expecting value (line 1, column 1)"),
    ],
)
def test_invalid_files_name_the_file_the_key_and_the_fault(
    tmp_path: Path, content: str, message: str
) -> None:
    path = _write(tmp_path, content)
    with pytest.raises(EventMapError) as raised:
        load_event_map(path)
    assert str(raised.value).startswith(f"{path}: ")
    assert message in str(raised.value)


def test_unreadable_files(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    with pytest.raises(EventMapError, match="cannot read the event map: No such file"):
        load_event_map(missing)
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe{}")
    with pytest.raises(EventMapError, match="not UTF-8"):
        load_event_map(binary)


def test_event_map_is_an_immutable_value() -> None:
    copy = EventMap(dict(DEFAULT_EVENT_MAP))
    assert copy == DEFAULT_EVENT_MAP
    assert hash(copy) == hash(DEFAULT_EVENT_MAP)
    assert not DEFAULT_EVENT_MAP.is_disabled("Order Completed")
    with pytest.raises(TypeError):
        DEFAULT_EVENT_MAP["X"] = EventRule("Lead")  # type: ignore[index]


def test_unknown_phone_region_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown phone region 'XX'"):
        MappingSettings(default_phone_region="XX")


def test_phone_region_is_case_insensitive() -> None:
    assert MappingSettings(default_phone_region=" gb ").default_phone_region == "GB"
