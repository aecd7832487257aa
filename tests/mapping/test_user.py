"""User data: every row of the specification's table, its priority chain and normalisation."""

from __future__ import annotations

from typing import Any

import pytest

from tests.mapping.helpers import get, mapped, sha
from tiktok_capi.mapping import MappingSettings

PAGE = {"url": "https://shop.example/"}
HEX = "a" * 64


def event(
    properties: dict[str, Any] | None = None,
    traits: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    ctx: dict[str, Any] = {"page": dict(PAGE), **(context or {})}
    if traits is not None:
        ctx["traits"] = traits
    return {
        "type": "track",
        "event": "Product Viewed",
        "messageId": "m-1",
        "properties": properties or {},
        "context": ctx,
        **fields,
    }


def addr(**fields: Any) -> dict[str, Any]:
    return {"address": fields}


# (id, event, path in the TikTok event, expected value; None = absent)
ROWS: list[tuple[str, dict[str, Any], str, Any]] = [
    # external_id: userId > anonymousId, SHA-256 as given
    ("external_id userId", event(userId="u-1", anonymousId="a-1"), "user.external_id", sha("u-1")),
    ("external_id anon", event(anonymousId="a-1"), "user.external_id", sha("a-1")),
    ("external_id empty", event(userId="", anonymousId="a-1"), "user.external_id", sha("a-1")),
    ("external_id null", event(userId=None, anonymousId="a-1"), "user.external_id", sha("a-1")),
    ("external_id number", event(userId=42), "user.external_id", sha("42")),
    ("external_id case kept", event(userId="User-1"), "user.external_id", sha("User-1")),
    ("external_id hashed", event(userId=HEX), "user.external_id", HEX),
    # trimmed (the spec says "as given"; surrounding spaces are never part of an id)
    ("external_id trimmed", event(userId="  u-1 "), "user.external_id", sha("u-1")),
    ("external_id trimmed tab", event(userId="\tu-1\n"), "user.external_id", sha("u-1")),
    ("external_id absent", event(), "user.external_id", None),
    # email: properties.email > context.traits.email, trimmed + lowercased
    (
        "email props",
        event({"email": " Joe@Example.COM "}, {"email": "t@example.com"}),
        "user.email",
        sha("joe@example.com"),
    ),
    ("email traits", event({}, {"email": "T@Example.com"}), "user.email", sha("t@example.com")),
    (
        "email empty",
        event({"email": " "}, {"email": "t@example.com"}),
        "user.email",
        sha("t@example.com"),
    ),
    (
        "email not an address",
        event({"email": "n/a"}, {"email": "t@example.com"}),
        "user.email",
        sha("t@example.com"),
    ),
    ("email hashed", event({"email": HEX.upper()}), "user.email", HEX),
    ("email wrong type", event({"email": ["a@b.c"]}), "user.email", None),
    # phone: properties.phone > context.traits.phone, E.164
    ("phone props", event({"phone": "(415) 555-2671"}), "user.phone", sha("+14155552671")),
    (
        "phone traits",
        event({}, {"phone": "+44 20 7946 0958"}),
        "user.phone",
        sha("+442079460958"),
    ),
    (
        "phone priority",
        event({"phone": "415.555.2671"}, {"phone": "+44 20 7946 0958"}),
        "user.phone",
        sha("+14155552671"),
    ),
    (
        "phone unparseable falls back",
        event({"phone": "call me"}, {"phone": "+44 20 7946 0958"}),
        "user.phone",
        sha("+442079460958"),
    ),
    ("phone unparseable dropped", event({"phone": "12"}), "user.phone", None),
    ("phone number type", event({"phone": 4155552671}), "user.phone", sha("+14155552671")),
    ("phone hashed", event({"phone": HEX}), "user.phone", HEX),
    # first/last name: trimmed + lowercased
    (
        "first_name props",
        event({"first_name": " Ana "}, {"first_name": "Bo"}),
        "user.first_name",
        sha("ana"),
    ),
    ("first_name traits", event({}, {"first_name": "Bo"}), "user.first_name", sha("bo")),
    ("first_name camel", event({}, {"firstName": "Bo"}), "user.first_name", sha("bo")),
    (
        "last_name props",
        event({"last_name": "Ng"}, {"last_name": "Smith"}),
        "user.last_name",
        sha("ng"),
    ),
    ("last_name traits", event({}, {"last_name": " SMITH"}), "user.last_name", sha("smith")),
    ("last_name null", event({"last_name": None}, {"lastName": "X"}), "user.last_name", sha("x")),
    # city/state/country: lowercased, non-alphanumerics removed, NOT hashed
    (
        "city props",
        event(addr(city="San Francisco"), addr(city="Austin")),
        "user.city",
        "sanfrancisco",
    ),
    ("city traits", event({}, addr(city="St. John's")), "user.city", "stjohns"),
    ("city unicode", event(addr(city="São Paulo")), "user.city", "sãopaulo"),
    ("city empty", event(addr(city="  "), addr(city="Austin")), "user.city", "austin"),
    ("city punctuation only", event(addr(city="--")), "user.city", None),
    ("state props", event(addr(state="CA"), addr(state="NY")), "user.state", "ca"),
    ("state traits", event({}, addr(state="New York")), "user.state", "newyork"),
    ("country props", event(addr(country="U.S."), addr(country="GB")), "user.country", "us"),
    ("country traits", event({}, addr(country="United Kingdom")), "user.country", "unitedkingdom"),
    # zip_code: postal_code / zip_code, properties > traits, trimmed + lowercased + SHA-256
    (
        "zip postal_code",
        event(addr(postal_code=" SW1A 1AA ", zip_code="x"), addr(postal_code="y")),
        "user.zip_code",
        sha("sw1a 1aa"),
    ),
    (
        "zip zip_code",
        event(addr(zip_code="94107"), addr(postal_code="y")),
        "user.zip_code",
        sha("94107"),
    ),
    ("zip traits postal", event({}, addr(postal_code="10001")), "user.zip_code", sha("10001")),
    ("zip traits zip_code", event({}, addr(zip_code="10002")), "user.zip_code", sha("10002")),
    ("zip number", event(addr(postal_code=94107)), "user.zip_code", sha("94107")),
    # ip, user_agent, locale: context, not hashed
    ("ip", event(context={"ip": "203.0.113.9"}), "user.ip", "203.0.113.9"),
    ("user_agent", event(context={"userAgent": "Mozilla/5.0"}), "user.user_agent", "Mozilla/5.0"),
    ("locale", event(context={"locale": "en-US"}), "user.locale", "en-US"),
    ("ip empty", event(context={"ip": ""}), "user.ip", None),
    # ttclid: properties.ttclid > the page URL's ttclid parameter; ttp: properties.ttp
    (
        "ttclid props",
        event({"ttclid": "T1"}, context={"page": {"url": "https://s/?ttclid=T2"}}),
        "user.ttclid",
        "T1",
    ),
    (
        "ttclid context url",
        event({}, context={"page": {"url": "https://s/p?a=1&ttclid=T2#x"}}),
        "user.ttclid",
        "T2",
    ),
    (
        "ttclid properties url",
        event({"url": "https://s/?ttclid=T3"}, context={"page": {"url": "https://s/?ttclid=T2"}}),
        "user.ttclid",
        "T3",
    ),
    (
        "ttclid empty",
        event({"ttclid": ""}, context={"page": {"url": "https://s/?ttclid=T2"}}),
        "user.ttclid",
        "T2",
    ),
    ("ttclid encoded", event({"url": "https://s/?ttclid=a%2Bb"}), "user.ttclid", "a+b"),
    ("ttclid none", event({"url": "https://s/?xttclid=&ttclid="}), "user.ttclid", None),
    ("ttp", event({"ttp": "2Abc"}), "user.ttp", "2Abc"),
    ("ttp traits ignored", event({}, {"ttp": "2Abc"}), "user.ttp", None),
]


@pytest.mark.parametrize(
    ("source", "path", "expected"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS]
)
def test_user_data(source: dict[str, Any], path: str, expected: Any) -> None:
    assert get(mapped(source).event, path) == expected


def test_no_user_data_means_no_user_object() -> None:
    assert "user" not in mapped(event()).event


def test_default_phone_region_reads_national_numbers() -> None:
    gb = MappingSettings(default_phone_region="GB")
    result = mapped(event({"phone": "020 7946 0958"}), gb)
    assert result.event["user"]["phone"] == sha("+442079460958")
    us = mapped(event({"phone": "020 7946 0958"}))
    assert "user" not in us.event  # not a possible US number: left out, never sent raw
    assert "properties.phone: not a usable phone number; dropped" in us.notes


# Numbers of a possible length that are no one's complete number: hashing them would send a
# value TikTok can never match, so they are left out (and noted) like any unusable value.
INCOMPLETE_PHONES = [
    ("555-0100", "US"),  # a local number without its area code
    ("+1 555 0100", "US"),  # the same with a country code
    ("+44 20 7946", "US"),  # a London number cut short
    ("1234567", "US"),  # seven digits, no area code
    ("7946 0958", "GB"),  # a London number without its area code
    ("+33 1 5558 198", "US"),  # eight digits where France has nine
]


@pytest.mark.parametrize(("phone", "region"), INCOMPLETE_PHONES)
def test_an_incomplete_phone_number_is_left_out(phone: str, region: str) -> None:
    result = mapped(event({"phone": phone}), MappingSettings(default_phone_region=region))
    assert "user" not in result.event
    assert "properties.phone: not a usable phone number; dropped" in result.notes


def test_an_incomplete_phone_number_falls_back_to_the_next_candidate() -> None:
    result = mapped(event({"phone": "555-0100"}, {"phone": "+1 415 555 2671"}))
    assert result.event["user"]["phone"] == sha("+14155552671")


@pytest.mark.parametrize(
    ("phone", "region", "e164"),
    [
        ("(415) 555-2671", "US", "+14155552671"),
        ("+44 20 7946 0958", "US", "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("+33 1 99 00 01 23", "US", "+33199000123"),
        ("+49 30 5550 123", "US", "+49305550123"),
        ("+81 3 5550 0123", "US", "+81355500123"),
    ],
)
def test_a_complete_phone_number_is_sent_as_e164(phone: str, region: str, e164: str) -> None:
    result = mapped(event({"phone": phone}), MappingSettings(default_phone_region=region))
    assert result.event["user"]["phone"] == sha(e164)


def test_a_number_with_its_country_code_ignores_the_default_region() -> None:
    gb = MappingSettings(default_phone_region="GB")
    assert mapped(event({"phone": "+1 415 555 2671"}), gb).event["user"]["phone"] == sha(
        "+14155552671"
    )


def test_repeated_phone_numbers_give_the_same_result() -> None:
    first = mapped(event({"phone": "(415) 555-2672"})).event["user"]["phone"]
    second = mapped(event({"phone": "(415) 555-2672"})).event["user"]["phone"]
    assert first == second == sha("+14155552672")
    gb = MappingSettings(default_phone_region="GB")
    # the cache is keyed by the region too: the same text is another number in GB
    gb_phone = mapped(event({"phone": "(415) 555-2672"}), gb).event.get("user", {}).get("phone")
    assert gb_phone != sha("+14155552672")


@pytest.mark.parametrize(
    ("source", "note"),
    [
        (event({"email": ["a@b.c"]}), "properties.email: expected a string, got an array; dropped"),
        (event({"email": "nobody"}), "properties.email: not a usable e-mail address; dropped"),
        (event({"address": "1 Main St"}), "properties.address: expected an object, got a string"),
        (event(context={"traits": 5}), "context.traits: expected an object, got a number; ignored"),
        (event(addr(city="joe@example.com")), "properties.address.city: not a usable city"),
        (
            event(context={"userAgent": "Bot (+mailto:bot@example.com)"}),
            "context.userAgent: e-mail address redacted",
        ),
    ],
)
def test_dropped_values_are_noted_without_their_content(source: dict[str, Any], note: str) -> None:
    result = mapped(source)
    assert any(n.startswith(note) for n in result.notes), result.notes
    assert not any("@" in n or "Main" in n for n in result.notes)


def test_unhashed_fields_never_carry_an_email_address() -> None:
    result = mapped(
        event(
            {"ttp": "x@example.com", "ttclid": "y@example.com"},
            context={"ip": "z@example.com", "locale": "w@example.com", "userAgent": "UA a@b.co"},
        )
    )
    assert result.event["user"] == {"user_agent": "UA [redacted]"}
