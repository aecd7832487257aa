"""Order properties, contents and form name: every row of the specification's tables."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.mapping.helpers import get, mapped, track

MULTI = ["Order Completed", "Checkout Started", "Payment Info Entered", "Order Placed"]
SINGLE = [
    "Product Added",
    "Product Viewed",
    "Product Clicked",
    "Products Searched",
    "Product Added to Wishlist",
]
NO_CONTENTS = [
    "Account Created",
    "Form Submitted",
    "Callback Started",
    "Subscription Created",
    "Download Link Clicked",
]
PRODUCT = {
    "product_id": "p-1",
    "name": "Tee",
    "category": "Shirts",
    "price": 19.99,
    "quantity": 2,
    "brand": "Acme",
}
CONTENT = {
    "content_id": "p-1",
    "content_name": "Tee",
    "content_category": "Shirts",
    "price": 19.99,
    "quantity": 2,
    "brand": "Acme",
}


# (id, properties, path in the TikTok event, expected; None = absent)
ROWS: list[tuple[str, dict[str, Any], str, Any]] = [
    ("currency", {"currency": "EUR"}, "properties.currency", "EUR"),
    ("currency lower", {"currency": " usd "}, "properties.currency", "USD"),
    ("currency invalid", {"currency": "US Dollar"}, "properties.currency", None),
    ("currency empty", {"currency": ""}, "properties.currency", None),
    ("value", {"value": 10, "revenue": 20}, "properties.value", 10),
    ("value float", {"value": 10.5}, "properties.value", 10.5),
    ("value zero kept", {"value": 0, "revenue": 20}, "properties.value", 0),
    ("value string", {"value": "12.50"}, "properties.value", 12.5),
    ("revenue", {"value": None, "revenue": 20}, "properties.value", 20),
    ("revenue after empty value", {"value": "", "revenue": 20}, "properties.value", 20),
    ("revenue after bad value", {"value": "n/a", "revenue": 20}, "properties.value", 20),
    ("value bool dropped", {"value": True}, "properties.value", None),
    ("value nan dropped", {"value": float("nan")}, "properties.value", None),
    (
        "value from contents",
        {"products": [PRODUCT, {**PRODUCT, "price": 5, "quantity": 3}]},
        "properties.value",
        54.98,
    ),
    (
        "value quantity defaults to 1",
        {"products": [{"price": 5}, {"price": 2.5}]},
        "properties.value",
        7.5,
    ),
    ("value no prices", {"products": [{"product_id": 1}]}, "properties.value", None),
    # Decisions where the specification is silent (docs/mapping.md, "Where the spec is silent"):
    # an unusable quantity counts as 1 in the sum ...
    *(
        (
            f"value quantity {label} counts as 1",
            {"products": [{"price": 5, "quantity": q}]},
            "properties.value",
            5,
        )
        for label, q in (
            ("fraction", 2.5),
            ("text", "two"),
            ("null", None),
            ("bool", True),
            ("nan", float("nan")),
            ("array", [2]),
        )
    ),
    (
        "value quantity unusable, others kept",
        {"products": [{"price": 5, "quantity": 2.5}, {"price": 2, "quantity": 3}]},
        "properties.value",
        11,
    ),
    # ... and negative quantities, prices and values pass through as given (returns, refunds).
    ("value negative", {"value": -25}, "properties.value", -25),
    ("revenue negative", {"revenue": "-9.5"}, "properties.value", -9.5),
    (
        "value negative quantity",
        {"products": [{"price": 5, "quantity": -2}]},
        "properties.value",
        -10,
    ),
    ("value negative price", {"products": [{"price": -5, "quantity": 2}]}, "properties.value", -10),
    (
        "content negative quantity",
        {"products": [{"product_id": "a", "quantity": -2}]},
        "properties.contents",
        [{"content_id": "a", "quantity": -2}],
    ),
    (
        "content negative price",
        {"products": [{"product_id": "a", "price": -5}]},
        "properties.contents",
        [{"content_id": "a", "price": -5}],
    ),
    (
        "content zero quantity",
        {"products": [{"product_id": "a", "price": 5, "quantity": 0}]},
        "properties.value",
        0,
    ),
    ("order_id", {"order_id": "ord-1"}, "properties.order_id", "ord-1"),
    ("order_id number", {"order_id": 1001}, "properties.order_id", "1001"),
    ("order_id float", {"order_id": 1001.0}, "properties.order_id", "1001"),
    ("shop_id", {"shop_id": "s-9"}, "properties.shop_id", "s-9"),
    ("content_type product", {"content_type": "product"}, "properties.content_type", "product"),
    (
        "content_type group",
        {"content_type": "Product_Group"},
        "properties.content_type",
        "product_group",
    ),
    ("content_type other", {"content_type": "video"}, "properties.content_type", None),
    ("description", {"description": "Summer sale"}, "properties.description", "Summer sale"),
    ("query", {"query": "red shoes", "search_term": "x"}, "properties.query", "red shoes"),
    ("query as search_string", {"query": "red shoes"}, "properties.search_string", "red shoes"),
    ("search_term", {"query": "", "search_term": "tee"}, "properties.query", "tee"),
    ("search_term as search_string", {"search_term": "tee"}, "properties.search_string", "tee"),
    ("products", {"products": [PRODUCT]}, "properties.contents", [CONTENT]),
    (
        "content_id number",
        {"products": [{"product_id": 123}]},
        "properties.contents",
        [{"content_id": "123"}],
    ),
    (
        "content price string",
        {"products": [{"product_id": "a", "price": "9.99"}]},
        "properties.contents",
        [{"content_id": "a", "price": 9.99}],
    ),
    (
        "content quantity float",
        {"products": [{"product_id": "a", "quantity": 2.0}]},
        "properties.contents",
        [{"content_id": "a", "quantity": 2}],
    ),
    (
        "content quantity fraction",
        {"products": [{"product_id": "a", "quantity": 2.5}]},
        "properties.contents",
        [{"content_id": "a"}],
    ),
    (
        "content bad price",
        {"products": [{"product_id": "a", "price": "free"}]},
        "properties.contents",
        [{"content_id": "a"}],
    ),
    ("products not a list", {"products": {"product_id": "a"}}, "properties.contents", None),
    (
        "products elements not objects",
        {"products": ["a", None, 3, PRODUCT]},
        "properties.contents",
        [CONTENT],
    ),
    ("products empty elements", {"products": [{}, {"sku": "x"}]}, "properties.contents", None),
]


@pytest.mark.parametrize(
    ("properties", "path", "expected"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS]
)
def test_order_properties(properties: dict[str, Any], path: str, expected: Any) -> None:
    assert get(mapped(track("Order Completed", properties)).event, path) == expected


@pytest.mark.parametrize("name", MULTI)
def test_multi_product_events_read_products(name: str) -> None:
    result = mapped(track(name, {"products": [PRODUCT, PRODUCT], **PRODUCT}))
    assert result.event["properties"]["contents"] == [CONTENT, CONTENT]


@pytest.mark.parametrize("name", SINGLE)
def test_single_product_events_read_top_level_properties(name: str) -> None:
    result = mapped(track(name, {**PRODUCT, "products": [{"product_id": "other"}]}))
    assert result.event["properties"]["contents"] == [CONTENT]
    assert result.event["properties"]["value"] == 39.98


@pytest.mark.parametrize("name", NO_CONTENTS)
def test_other_events_have_no_contents(name: str) -> None:
    result = mapped(track(name, {**PRODUCT, "products": [PRODUCT], "currency": "USD"}))
    assert "contents" not in result.event["properties"]
    assert result.event["properties"]["currency"] == "USD"  # order properties: all track events


def test_single_product_without_product_fields_has_no_contents() -> None:
    result = mapped(track("Products Searched", {"query": "tee"}))
    assert result.event["properties"] == {"query": "tee", "search_string": "tee"}


@pytest.mark.parametrize(
    ("properties", "expected"),
    [
        ({"form_name": "Newsletter", "name": "ignored"}, "Newsletter"),
        ({"form_name": "", "name": "Contact us"}, "Contact us"),
        ({"form_name": None, "name": "Contact us"}, "Contact us"),
        ({"name": "Contact us"}, "Contact us"),
        ({}, None),
    ],
)
def test_form_submitted_sends_form_name(properties: dict[str, Any], expected: str | None) -> None:
    result = mapped(track("Form Submitted", properties))
    assert get(result.event, "properties.form_name") == expected


def test_form_name_only_for_form_submitted() -> None:
    result = mapped(track("Account Created", {"form_name": "signup"}))
    assert "properties" not in result.event


def test_page_calls_have_no_order_properties() -> None:
    page = {
        "type": "page",
        "messageId": "m",
        "properties": {"url": "https://s/", "currency": "USD", "value": 3, "product_id": "p"},
    }
    assert "properties" not in mapped(page).event


@pytest.mark.parametrize(
    ("properties", "note"),
    [
        (
            {"value": "n/a"},
            "properties.value: expected a number, got a string that is not one; dropped",
        ),
        ({"value": "12"}, "properties.value: expected a number, got a numeric string; converted"),
        ({"value": [1]}, "properties.value: expected a number, got an array; dropped"),
        ({"currency": "dollars"}, "properties.currency: not an ISO 4217 code; dropped"),
        ({"products": "p-1"}, "properties.products: expected an array, got a string; ignored"),
        ({"products": [7]}, "properties.products[0]: expected an object, got a number; ignored"),
        (
            {"products": [{"quantity": 1.5}]},
            "properties.products[0].quantity: expected a whole number; dropped",
        ),
        ({"description": 5}, "properties.description: expected a string, got a number; converted"),
        ({"order_id": {"id": 1}}, "properties.order_id: expected a string, got an object; dropped"),
    ],
)
def test_wrong_types_are_noted(properties: dict[str, Any], note: str) -> None:
    assert note in mapped(track("Order Completed", properties)).notes


@pytest.mark.parametrize(
    ("product", "note"),
    [
        (
            {"product_id": "p", "price": 1, "quantity": 1e300},
            "properties.products[0].quantity: number out of range; dropped",
        ),
        (
            {"product_id": "p", "price": 1e308, "quantity": 2},
            "properties.value (sum of contents): not a finite number; dropped",
        ),
        (
            {"product_id": "p", "price": 2**52, "quantity": 2**52},
            "properties.value (sum of contents): number out of range; dropped",
        ),
    ],
)
def test_huge_numbers_never_make_an_unsendable_event(product: dict[str, Any], note: str) -> None:
    """A quantity or total beyond JSON's safe range is dropped, not sent (orjson refuses it)."""
    result = mapped(track("Order Completed", {"products": [product]}))
    assert note in result.notes
    sent = orjson.loads(orjson.dumps(result.event))
    assert "value" not in sent["properties"] or sent["properties"]["value"] == 1


def test_notes_of_a_huge_bad_cart_are_bounded() -> None:
    result = mapped(track("Order Completed", {"products": [{"price": "x"}] * 500}))
    assert len(result.notes) <= 12


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("description", "Call +1 (415) 555-2671 now", "Call [redacted] now"),
        ("description", "mail joe.doe@example.com!", "mail [redacted]"),
        ("query", "joe@example.com", "[redacted]"),
        ("query", "4155552671", "[redacted]"),
        ("description", "Sale ends 2026-11-30, 20% off", "Sale ends 2026-11-30, 20% off"),
        ("description", "Pack of 12, $1,299.99", "Pack of 12, $1,299.99"),
    ],
)
def test_free_text_is_scrubbed_of_emails_and_phone_numbers(
    field: str, value: str, expected: str
) -> None:
    result = mapped(track("Products Searched", {field: value}))
    assert result.event["properties"][field] == expected  # type: ignore[literal-required]


def test_identifiers_holding_an_email_are_dropped() -> None:
    result = mapped(track("Order Completed", {"order_id": "joe@example.com", "shop_id": "s"}))
    assert result.event["properties"] == {"shop_id": "s"}
    assert "properties.order_id: holds an e-mail address; dropped" in result.notes
