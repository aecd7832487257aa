"""Every validation rule of the track endpoint, over real sockets.

Each case takes a valid 4-event request, breaks one thing, and expects TikTok's answer: HTTP 200,
``{"code", "message", "request_id", "data"}``, the code, and the first offending path named.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from tests.emulator.payloads import HASH, NOW, post, track_request, web_event
from tiktok_capi.emulator.service import Emulator

Mutation = Callable[[dict[str, Any]], None]
# The cases are built at collection time; the emulator's clock is pinned to the same instant so a
# long test session cannot push "the edge of the window" out of it.


@pytest.fixture
def emulator(emulator_factory: Callable[..., Emulator]) -> Emulator:
    """An emulator whose wall clock stands still at ``NOW``."""
    return emulator_factory(wall_clock=lambda: float(NOW))


def _set(path: str, value: Any) -> Mutation:
    """Set ``path`` (dots; integers index lists) in the request to ``value``."""
    *parents, leaf = path.split(".")

    def mutate(request: dict[str, Any]) -> None:
        node: Any = request
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(leaf)] = value
        else:
            node[leaf] = value

    return mutate


def _delete(path: str) -> Mutation:
    *parents, leaf = path.split(".")

    def mutate(request: dict[str, Any]) -> None:
        node: Any = request
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        del node[leaf]

    return mutate


NOT_HASHED = "must be hashed with SHA-256 (64 hexadecimal characters)"
MISSING = "missing data for required field"
NOT_STRING = "not a valid string"
NOT_NUMBER = "not a valid number"

REJECTED: list[tuple[str, Mutation, int, str]] = [
    # envelope
    ("event_source missing", _delete("event_source"), 40002, f"event_source: {MISSING}"),
    (
        "event_source unknown",
        _set("event_source", "website"),
        40002,
        "event_source: must be one of: app, crm, offline, web",
    ),
    (
        "event_source a list",
        _set("event_source", ["web"]),
        40002,
        "event_source: must be one of: app, crm, offline, web",
    ),
    ("pixel missing", _delete("event_source_id"), 40002, f"event_source_id: {MISSING}"),
    ("pixel not a string", _set("event_source_id", 42), 40002, f"event_source_id: {NOT_STRING}"),
    ("test code not a string", _set("test_event_code", 1), 40002, f"test_event_code: {NOT_STRING}"),
    ("data missing", _delete("data"), 40002, f"data: {MISSING}"),
    ("data not a list", _set("data", {"event": "x"}), 40002, "data: not a valid list"),
    ("data empty", _set("data", []), 40002, "data: shorter than minimum length 1"),
    ("event not an object", _set("data.2", "ViewContent"), 40002, "data.2: not a valid object"),
    # event, event_time, event_id
    ("event missing", _delete("data.3.event"), 40002, f"data.3.event: {MISSING}"),
    ("event not a string", _set("data.3.event", 7), 40002, f"data.3.event: {NOT_STRING}"),
    ("event empty", _set("data.3.event", ""), 40002, "data.3.event: must not be empty"),
    ("event_time missing", _delete("data.1.event_time"), 40002, f"data.1.event_time: {MISSING}"),
    (
        "event_time a string",
        _set("data.1.event_time", str(NOW)),
        40002,
        "data.1.event_time: not a valid integer",
    ),
    (
        "event_time a float",
        _set("data.1.event_time", NOW + 0.5),
        40002,
        "data.1.event_time: not a valid integer",
    ),
    (
        "event_time in milliseconds",
        _set("data.1.event_time", NOW * 1000),
        40002,
        "data.1.event_time: is in the future",
    ),
    (
        "event_time in the future",
        _set("data.1.event_time", NOW + 3600),
        40002,
        "data.1.event_time: is in the future",
    ),
    (
        "event_time too old",
        _set("data.1.event_time", NOW - 8 * 86400),
        40002,
        "data.1.event_time: is older than the accepted window",
    ),
    ("event_id a number", _set("data.3.event_id", 3), 40002, f"data.3.event_id: {NOT_STRING}"),
    (
        "limited_data_use a string",
        _set("data.0.limited_data_use", "false"),
        40002,
        "data.0.limited_data_use: not a valid boolean",
    ),
    # page
    ("page missing (web)", _delete("data.0.page"), 40002, f"data.0.page: {MISSING}"),
    (
        "page not an object",
        _set("data.0.page", "https://x"),
        40002,
        "data.0.page: not a valid object",
    ),
    ("page.url missing (web)", _delete("data.0.page.url"), 40002, f"data.0.page.url: {MISSING}"),
    (
        "page.url empty (web)",
        _set("data.0.page.url", ""),
        40002,
        "data.0.page.url: must not be empty",
    ),
    ("page.url not a string", _set("data.0.page.url", 1), 40002, f"data.0.page.url: {NOT_STRING}"),
    (
        "referrer not a string",
        _set("data.0.page.referrer", []),
        40002,
        f"data.0.page.referrer: {NOT_STRING}",
    ),
    # user: hashed identifiers (40062) and plain fields
    ("user not an object", _set("data.0.user", [HASH]), 40002, "data.0.user: not a valid object"),
    (
        "email in clear",
        _set("data.0.user.email", "someone@example.com"),
        40062,
        f"data.0.user.email: {NOT_HASHED}",
    ),
    (
        "email 63 hex",
        _set("data.0.user.email", HASH[:63]),
        40062,
        f"data.0.user.email: {NOT_HASHED}",
    ),
    ("email empty", _set("data.0.user.email", ""), 40062, f"data.0.user.email: {NOT_HASHED}"),
    ("email a number", _set("data.0.user.email", 5), 40002, f"data.0.user.email: {NOT_STRING}"),
    (
        "email list with one in clear",
        _set("data.0.user.email", [HASH, "someone@example.com"]),
        40062,
        f"data.0.user.email.1: {NOT_HASHED}",
    ),
    (
        "email list with a number",
        _set("data.0.user.email", [HASH, 1]),
        40002,
        f"data.0.user.email.1: {NOT_STRING}",
    ),
    (
        "phone in clear",
        _set("data.0.user.phone", "+33612345678"),
        40062,
        f"data.0.user.phone: {NOT_HASHED}",
    ),
    (
        "external_id in clear",
        _set("data.0.user.external_id", "user-1"),
        40062,
        f"data.0.user.external_id: {NOT_HASHED}",
    ),
    (
        "first_name in clear",
        _set("data.0.user.first_name", "alice"),
        40062,
        f"data.0.user.first_name: {NOT_HASHED}",
    ),
    (
        "last_name in clear",
        _set("data.0.user.last_name", "smith"),
        40062,
        f"data.0.user.last_name: {NOT_HASHED}",
    ),
    (
        "zip_code in clear",
        _set("data.0.user.zip_code", "75001"),
        40062,
        f"data.0.user.zip_code: {NOT_HASHED}",
    ),
    (
        "first_name as a list",
        _set("data.0.user.first_name", [HASH]),
        40002,
        f"data.0.user.first_name: {NOT_STRING}",
    ),
    ("city a number", _set("data.0.user.city", 75), 40002, f"data.0.user.city: {NOT_STRING}"),
    ("ip a list", _set("data.0.user.ip", ["203.0.113.9"]), 40002, f"data.0.user.ip: {NOT_STRING}"),
    ("ttclid a number", _set("data.0.user.ttclid", 1), 40002, f"data.0.user.ttclid: {NOT_STRING}"),
    # properties
    (
        "properties not an object",
        _set("data.0.properties", []),
        40002,
        "data.0.properties: not a valid object",
    ),
    (
        "currency lowercase",
        _set("data.0.properties.currency", "eur"),
        40002,
        "data.0.properties.currency: not a valid ISO 4217 currency code",
    ),
    (
        "currency unknown",
        _set("data.0.properties.currency", "EURO"),
        40002,
        "data.0.properties.currency: not a valid ISO 4217 currency code",
    ),
    (
        "currency a number",
        _set("data.0.properties.currency", 978),
        40002,
        f"data.0.properties.currency: {NOT_STRING}",
    ),
    (
        "value a string",
        _set("data.0.properties.value", "12.5"),
        40002,
        f"data.0.properties.value: {NOT_NUMBER}",
    ),
    (
        "value a boolean",
        _set("data.0.properties.value", True),
        40002,
        f"data.0.properties.value: {NOT_NUMBER}",
    ),
    (
        "order_id a number",
        _set("data.0.properties.order_id", 1),
        40002,
        f"data.0.properties.order_id: {NOT_STRING}",
    ),
    (
        "content_type unknown",
        _set("data.0.properties.content_type", "sku"),
        40002,
        "data.0.properties.content_type: must be one of: product, product_group",
    ),
    (
        "content_type a list",
        _set("data.0.properties.content_type", ["product"]),
        40002,
        "data.0.properties.content_type: must be one of: product, product_group",
    ),
    (
        "contents not a list",
        _set("data.0.properties.contents", {}),
        40002,
        "data.0.properties.contents: not a valid list",
    ),
    (
        "content not an object",
        _set("data.0.properties.contents.1", "sku-1"),
        40002,
        "data.0.properties.contents.1: not a valid object",
    ),
    (
        "content_id a number",
        _set("data.0.properties.contents.1.content_id", 123),
        40002,
        f"data.0.properties.contents.1.content_id: {NOT_STRING}",
    ),
    (
        "price a string",
        _set("data.0.properties.contents.0.price", "9.99"),
        40002,
        f"data.0.properties.contents.0.price: {NOT_NUMBER}",
    ),
    (
        "quantity a string",
        _set("data.0.properties.contents.0.quantity", "1"),
        40002,
        f"data.0.properties.contents.0.quantity: {NOT_NUMBER}",
    ),
    (
        "content_name a number",
        _set("data.0.properties.contents.0.content_name", 1),
        40002,
        f"data.0.properties.contents.0.content_name: {NOT_STRING}",
    ),
]


def _four_events() -> dict[str, Any]:
    return track_request([web_event(n) for n in range(4)])


def _business(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    answer: dict[str, Any] = response.json()
    assert set(answer) == {"code", "message", "request_id", "data"}
    assert isinstance(answer["request_id"], str) and answer["request_id"]
    return answer


@pytest.mark.parametrize(
    ("mutate", "code", "message"),
    [case[1:] for case in REJECTED],
    ids=[case[0] for case in REJECTED],
)
def test_an_invalid_request_is_rejected_whole_naming_the_path(
    emulator: Emulator, client: httpx.Client, mutate: Mutation, code: int, message: str
) -> None:
    request = _four_events()
    mutate(request)
    answer = _business(post(client, emulator, request))
    assert (answer["code"], answer["message"]) == (code, message)
    stats = emulator.stats()
    assert stats["accepted_events"] == 0 and emulator.events() == []
    assert stats["rejections_by_code"] == {str(code): 1}


def _without_pages(source: str) -> Mutation:
    def mutate(request: dict[str, Any]) -> None:
        request["event_source"] = source
        for event in request["data"]:
            del event["page"]

    return mutate


ACCEPTED: list[tuple[str, Mutation]] = [
    ("every field the mapping sends", lambda request: None),
    (
        "email, phone and external_id as arrays",
        _set("data.0.user", {"email": [HASH, HASH], "phone": [HASH], "external_id": []}),
    ),
    ("uppercase hex digests", _set("data.0.user.email", HASH.upper())),
    ("page with only a url", _set("data.0.page", {"url": "https://shop.example/"})),
    (
        "minimal event",
        _set("data.0", {"event": "Pageview", "event_time": NOW, "page": {"url": "u"}}),
    ),
    (
        "null optional fields",
        _set(
            "data.0",
            {
                "event": "Pageview",
                "event_time": NOW,
                "event_id": None,
                "user": None,
                "properties": None,
                "page": {"url": "u", "referrer": None},
                "limited_data_use": None,
            },
        ),
    ),
    ("fields TikTok does not document", _set("data.0.user.custom_hint", {"nested": [1, 2]})),
    (
        "unknown top-level and event fields",
        lambda request: (
            request.update(partner_name="x", extra=1)
            or request["data"][0].update(app={"app_id": 1})
        ),
    ),
    ("integer and float numbers", _set("data.0.properties.contents.0.price", 10)),
    ("product_group content type", _set("data.0.properties.content_type", "product_group")),
    ("a test event code", _set("test_event_code", "TEST123")),
    ("event_time at the edge of the window", _set("data.0.event_time", NOW - 7 * 86400 + 120)),
    ("event_time a little ahead (clock skew)", _set("data.0.event_time", NOW + 60)),
    (
        "offline events need no page",
        _without_pages("offline"),
    ),
    (
        "app events need no page",
        _without_pages("app"),
    ),
    ("limited data use", _set("data.0.limited_data_use", True)),
]


@pytest.mark.parametrize(
    "mutate", [case[1] for case in ACCEPTED], ids=[case[0] for case in ACCEPTED]
)
def test_valid_requests_are_accepted(
    emulator: Emulator, client: httpx.Client, mutate: Mutation
) -> None:
    request = _four_events()
    mutate(request)
    answer = _business(post(client, emulator, request))
    assert (answer["code"], answer["message"], answer["data"]) == (0, "OK", {})
    assert emulator.stats()["accepted_events"] == 4


def test_the_first_offending_event_is_named(emulator: Emulator, client: httpx.Client) -> None:
    events = [web_event(n) for n in range(10)]
    events[7]["event_id"] = 7
    events[4]["user"]["email"] = "someone@example.com"
    answer = _business(post(client, emulator, track_request(events)))
    assert (answer["code"], answer["message"]) == (40062, f"data.4.user.email: {NOT_HASHED}")


def test_a_clear_email_is_never_echoed(emulator: Emulator, client: httpx.Client) -> None:
    request = _four_events()
    request["data"][0]["user"]["email"] = "someone@example.com"
    response = post(client, emulator, request)
    assert "someone@example.com" not in response.text


def test_one_thousand_events_pass_and_one_more_is_40061(
    emulator: Emulator, client: httpx.Client
) -> None:
    events = [web_event(n) for n in range(1001)]
    too_many = _business(post(client, emulator, track_request(events)))
    assert too_many["code"] == 40061 and "1001" in too_many["message"]
    answer = _business(post(client, emulator, track_request(events[:1000])))
    assert answer["code"] == 0
    assert emulator.stats()["accepted_events"] == 1000


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"", b"\xff\xfe", b'{"event_source": "web",'],
    ids=["garbage", "empty", "not utf-8", "truncated"],
)
def test_malformed_json_is_40002(emulator: Emulator, client: httpx.Client, body: bytes) -> None:
    answer = _business(post(client, emulator, body))
    assert answer["code"] == 40002 and answer["message"].startswith("Invalid JSON body")


def test_a_body_that_is_not_an_object_is_40002(emulator: Emulator, client: httpx.Client) -> None:
    answer = _business(post(client, emulator, [web_event()]))
    assert (answer["code"], answer["message"]) == (40002, "body: not a valid object")


@pytest.mark.parametrize(
    ("token", "code"),
    [(None, 40104), ("", 40104), ("wrong-token", 40105)],
    ids=["missing", "empty", "wrong"],
)
def test_access_token_is_checked_first(
    emulator: Emulator, client: httpx.Client, token: str | None, code: int
) -> None:
    request = _four_events()
    request["data"][0]["event_id"] = 1  # also invalid: the token answer comes first
    answer = _business(post(client, emulator, request, token=token))
    assert answer["code"] == code
    assert "Access" in answer["message"] or "token" in answer["message"]


def test_a_bearer_token_is_not_the_access_token(emulator: Emulator, client: httpx.Client) -> None:
    headers = {"Authorization": f"Bearer {emulator.token}"}
    answer = _business(post(client, emulator, _four_events(), token=None, headers=headers))
    assert answer["code"] == 40104


def test_another_pixel_is_40001(emulator: Emulator, client: httpx.Client) -> None:
    answer = _business(post(client, emulator, _four_events() | {"event_source_id": "OTHER"}))
    assert answer["code"] == 40001 and "OTHER" in answer["message"]


def test_the_event_time_window_is_configurable(
    emulator_factory: Callable[..., Emulator], client: httpx.Client
) -> None:
    emu = emulator_factory(max_event_age_s=3600, wall_clock=lambda: float(NOW))
    old = track_request([web_event(event_time=NOW - 3601)])
    answer = _business(post(client, emu, old))
    assert (answer["code"], answer["message"]) == (
        40002,
        "data.0.event_time: is older than the accepted window",
    )
    recent = track_request([web_event(event_time=NOW - 3599)])
    assert _business(post(client, emu, recent))["code"] == 0


def test_gzip_bodies_are_accepted(emulator: Emulator, client: httpx.Client) -> None:
    body = gzip.compress(orjson.dumps(_four_events()))
    answer = _business(post(client, emulator, body, headers={"Content-Encoding": "gzip"}))
    assert answer["code"] == 0 and emulator.stats()["accepted_events"] == 4
