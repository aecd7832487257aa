"""Request builders shared by the emulator tests: valid web events in the mapping's shape."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import httpx
import orjson

from tiktok_capi.emulator.contract import TRACK_PATH
from tiktok_capi.emulator.service import Emulator

HASH = hashlib.sha256(b"someone@example.com").hexdigest()
# One instant for the whole session: tests that pin the emulator's clock build their cases at
# collection time from it, and the events below carry a time a minute before it, so a case is
# as valid when it runs late in a long suite as when it was built (the real clock would drift
# past the emulator's 5-minute future tolerance).
NOW = int(time.time())


def web_event(n: int = 0, **changes: Any) -> dict[str, Any]:
    """A valid web event using every field the mapping sends; ``changes`` replace top-level
    fields."""
    event: dict[str, Any] = {
        "event": "CompletePayment",
        "event_time": NOW - 60,
        "event_id": f"evt-{n}",
        "user": {
            "email": HASH,
            "phone": HASH,
            "external_id": HASH,
            "first_name": HASH,
            "last_name": HASH,
            "zip_code": HASH,
            "city": "paris",
            "state": "idf",
            "country": "fr",
            "ip": "203.0.113.9",
            "user_agent": "Mozilla/5.0",
            "locale": "fr-FR",
            "ttclid": "E.C.P.abc",
            "ttp": "ttp-cookie",
        },
        "properties": {
            "currency": "EUR",
            "value": 12.5,
            "order_id": "order-1",
            "shop_id": "shop-1",
            "content_type": "product",
            "description": "a pair of shoes",
            "query": "shoes",
            "search_string": "shoes",
            "form_name": "newsletter",
            "contents": [
                {
                    "content_id": f"sku-{n}",
                    "content_name": "Shoe",
                    "content_category": "footwear",
                    "brand": "Acme",
                    "price": 10.0,
                    "quantity": 1,
                },
                {"content_id": "sku-socks", "price": 2.5, "quantity": 1},
            ],
        },
        "page": {"url": "https://shop.example/checkout", "referrer": "https://shop.example/"},
        "limited_data_use": False,
    }
    event.update(changes)
    return event


def track_request(events: list[dict[str, Any]], **changes: Any) -> dict[str, Any]:
    """A request body for the fixture's pixel; ``changes`` replace top-level fields."""
    body: dict[str, Any] = {"event_source": "web", "event_source_id": "TESTPIXEL", "data": events}
    body.update(changes)
    return body


def post(
    client: httpx.Client,
    emu: Emulator,
    body: Any,
    *,
    token: str | None = "default",
    headers: dict[str, str] | None = None,
    timeout: float | None = None,
) -> httpx.Response:
    """POST ``body`` (JSON-serialised unless bytes) to the track endpoint with the token."""
    sent = dict(headers or {})
    if token is not None:
        sent["Access-Token"] = emu.token if token == "default" else token
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    sent.setdefault("Content-Type", "application/json")
    if timeout is None:
        return client.post(emu.base_url + TRACK_PATH, content=content, headers=sent)
    return client.post(emu.base_url + TRACK_PATH, content=content, headers=sent, timeout=timeout)
