"""Property-based invariants of the mapping (hypothesis).

- ``map_event`` never raises, whatever JSON it is given, and what it returns serialises.
- Every hashed field is 64 lower-case hex digits.
- An e-mail address or phone number in the input never appears unhashed in the output, its
  notes or its skip detail.
"""

from __future__ import annotations

import os
import re
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.mapping.helpers import NOW
from tiktok_capi.mapping import DEFAULT_EVENT_MAP, Mapped, MappingSettings, Skipped, map_event
from tiktok_capi.mapping.normalise import hash_email, hash_name, hash_zip, location

SETTINGS = MappingSettings()
HASHED = ("external_id", "email", "phone", "first_name", "last_name", "zip_code")
SHA256 = re.compile(r"[0-9a-f]{64}")
# MAPPING_EXAMPLES=5000 for a longer hunt; the default keeps the suite at a few seconds.
EXAMPLES = int(os.environ.get("MAPPING_EXAMPLES", "150"))
QUICK = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(
        ["", " ", "2024-01-08T13:52:50Z", "19.99", "+1 415 555 2671", "a@b.co", "\ud800"]
    )
    | st.sampled_from([1e300, -1e308, 2**53, 2**64, 1e16, "1e300"])  # beyond JSON's safe range
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)

# Segment-shaped events whose known fields hold arbitrary JSON: this reaches the deep paths.
FIELD_NAMES = [
    "email", "phone", "first_name", "last_name", "firstName", "lastName", "address", "city",
    "state", "country", "postal_code", "zip_code", "postalCode", "products", "product_id",
    "name", "category", "price", "quantity", "brand", "currency", "value", "revenue",
    "order_id", "shop_id", "content_type", "description", "query", "search_term", "form_name",
    "ttclid", "ttp", "url", "referrer", "traits", "page", "ip", "userAgent", "locale",
]  # fmt: skip
known_keys = st.sampled_from(FIELD_NAMES)
nested = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(known_keys, children, max_size=6)
    ),
    max_leaves=25,
)
segment_events = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["track", "page", "identify"]) | json_scalars,
        "event": st.sampled_from([*DEFAULT_EVENT_MAP, "Cart Viewed"]) | json_scalars,
    },
    optional={
        "messageId": json_scalars,
        "timestamp": json_scalars,
        "userId": json_scalars,
        "anonymousId": json_scalars,
        "limited_data_use": json_scalars,
        "properties": nested,
        "context": nested,
    },
)


def _check_result(result: object) -> None:
    assert isinstance(result, Mapped | Skipped)
    assert all(isinstance(note, str) for note in result.notes)
    if isinstance(result, Skipped):
        assert isinstance(result.reason, str) and isinstance(result.detail, str)
        return
    encoded = orjson.dumps(result.event)  # the sender's encoder must accept it
    assert orjson.loads(encoded) == result.event
    event = result.event
    assert isinstance(event["event"], str) and event["event"]
    assert type(event["event_time"]) is int
    assert isinstance(event["event_id"], str) and event["event_id"] == result.event_id
    assert type(event["limited_data_use"]) is bool
    for name in HASHED:
        value = event.get("user", {}).get(name)
        assert value is None or SHA256.fullmatch(value), (name, value)
    for content in event.get("properties", {}).get("contents", []):
        assert isinstance(content.get("content_id", ""), str)


@QUICK
@given(json_values)
def test_never_raises_on_arbitrary_json(value: Any) -> None:
    _check_result(map_event(value, SETTINGS, NOW))


@QUICK
@given(segment_events)
def test_never_raises_on_segment_shaped_json_and_hashes_are_hex(event: dict[str, Any]) -> None:
    _check_result(map_event(event, SETTINGS, NOW))


@QUICK
@given(st.text(max_size=40))
def test_normalisers_hash_to_hex_or_refuse(text: str) -> None:
    for hashed in (hash_email(text), hash_name(text), hash_zip(text)):
        assert hashed is None or SHA256.fullmatch(hashed)
    city = location(text)
    assert city is None or (city == city.lower() and city.isalnum())


@QUICK
@given(st.from_regex(SHA256, fullmatch=True))
def test_already_hashed_values_are_not_hashed_twice(digest: str) -> None:
    event = {
        "type": "track",
        "event": "Order Completed",
        "userId": digest,
        "properties": {"email": digest, "phone": digest, "first_name": digest},
    }
    user = map_event(event, SETTINGS, NOW).event["user"]  # type: ignore[union-attr]
    assert user["external_id"] == user["email"] == user["phone"] == user["first_name"] == digest


phones = st.builds(
    lambda fmt, a, b, c: fmt.format(a=a, b=b, c=c),
    st.sampled_from(
        [
            "({a}) {b}-{c}",
            "{a}-{b}-{c}",
            "{a}.{b}.{c}",
            "{a}{b}{c}",
            "+1 {a} {b} {c}",
            "+1{a}{b}{c}",
            "+44 20 {b}{c}",
            "+49 151 {a}{b}{c}",
        ]
    ),
    st.integers(201, 989),
    st.integers(200, 999),
    st.integers(0, 9999).map("{:04d}".format),
)
emails = st.emails()
surrounding = st.text(st.characters(codec="utf-8", exclude_characters="@%"), max_size=6)

# Where PII may sit in an event. Phone numbers are looked for in user fields and free text;
# e-mail addresses everywhere a string is sent.
PHONE_SLOTS = [
    ("properties", "phone"),
    ("traits", "phone"),
    ("top", "userId"),
    ("properties", "description"),
    ("properties", "query"),
    ("properties", "search_term"),
    ("properties", "form_name"),
    ("properties", "name"),
    ("properties", "category"),
    ("properties", "brand"),
    ("product", "name"),
    ("address", "city"),
    ("address", "state"),
    ("address", "country"),
    ("address", "postal_code"),
]
EMAIL_SLOTS = [
    *PHONE_SLOTS,
    ("properties", "email"),
    ("traits", "email"),
    ("traits", "first_name"),
    ("properties", "last_name"),
    ("top", "anonymousId"),
    ("top", "messageId"),
    ("top", "event"),
    ("properties", "order_id"),
    ("properties", "shop_id"),
    ("properties", "product_id"),
    ("properties", "ttclid"),
    ("properties", "ttp"),
    ("properties", "url"),
    ("properties", "referrer"),
    ("product", "product_id"),
    ("product", "brand"),
    ("context", "ip"),
    ("context", "userAgent"),
    ("context", "locale"),
    ("page", "url"),
    ("page", "referrer"),
]


def _place(event: dict[str, Any], slot: tuple[str, str], value: str) -> None:
    where, key = slot
    target = {
        "top": event,
        "properties": event["properties"],
        "product": event["properties"]["products"][0],
        "traits": event["context"]["traits"],
        "address": event["properties"]["address"],
        "context": event["context"],
        "page": event["context"]["page"],
    }[where]
    target[key] = value


def _strings(tree: Any) -> list[str]:
    if isinstance(tree, str):
        return [tree]
    if isinstance(tree, dict):
        return [s for value in tree.values() for s in _strings(value)]
    if isinstance(tree, list):
        return [s for value in tree for s in _strings(value)]
    return []


def _base(name: str, call: str) -> dict[str, Any]:
    return {
        "type": call,
        "event": name,
        "messageId": "m-1",
        "properties": {"products": [{"price": 1}], "address": {}},
        "context": {"traits": {}, "page": {"url": "https://shop.example/p?ttclid=T"}},
    }


@settings(max_examples=2 * EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(
        ["Order Completed", "Product Viewed", "Products Searched", "Form Submitted", "X"]
    ),
    call=st.sampled_from(["track", "track", "page"]),
    placed=st.lists(
        st.one_of(
            st.tuples(st.sampled_from(EMAIL_SLOTS), emails, st.just("email")),
            st.tuples(st.sampled_from(PHONE_SLOTS), phones, st.just("phone")),
        ),
        min_size=1,
        max_size=4,
    ),
    prefix=surrounding,
    suffix=surrounding,
)
def test_pii_never_appears_unhashed(
    name: str, call: str, placed: list[tuple[tuple[str, str], str, str]], prefix: str, suffix: str
) -> None:
    event = _base(name, call)
    for slot, pii, _ in placed:
        free_text = slot in PHONE_SLOTS[3:11]
        _place(event, slot, f"{prefix}{pii}{suffix}" if free_text else pii)
    result = map_event(event, SETTINGS, NOW)
    sent = _strings(result.event) if isinstance(result, Mapped) else []
    sent += list(result.notes)
    if isinstance(result, Skipped):
        sent.append(result.detail)
    for _, pii, kind in placed:
        forms = [pii.lower()]
        if kind == "phone":
            forms.append("+" + re.sub(r"\D", "", pii))  # as E.164 (when it has a "+")
            forms.append(re.sub(r"\D", "", pii))  # the digits alone
        for text in sent:
            for form in forms:
                assert form not in text.lower(), (kind, form, text)
