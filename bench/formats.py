"""Value formats for the ceiling: how a record is encoded, and what decodes it.

The ceiling is measured for each :data:`FORMATS` entry. An entry names its decoder:

- ``decoder=None``: the connector's own decoder, exactly as ``tiktok-capi run`` configures it
  (today: plain Avro with the bundled schema, ``consumer/decode/codec.py``);
- otherwise a **stand-in**, labelled as such, for a format the connector does not read yet
  (issue 11 adds a user's nested Avro schema and JSON values). When it does, replace the
  stand-in's ``decoder`` by ``None`` and the connector's settings for that format in ``env``:
  the measurement and the report stay as they are.

Stand-ins do the same mapping and encoding; only the decode step differs:

- ``nested_avro``: fastavro's generic ``schemaless_reader`` with a parsed writer schema shaped
  like a user's (records for ``context``, ``page``, ``traits``, ``address``, an array of product
  records, unions with null for optional fields) — the honest cost of decoding such records
  without a hand-written reader;
- ``json``: ``orjson.loads`` of the event's JSON text.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastavro import parse_schema, schemaless_reader, schemaless_writer

from bench.internals import encode_event

__all__ = ["FORMATS", "Format", "nested_schema"]


@dataclass(frozen=True)
class Format:
    """One value format of the ceiling scenario.

    Attributes:
        name: key in results.json.
        label: what the row shows.
        encode: event dict -> record value (bytes).
        decoder: factory of an object with ``decode(bytes) -> dict``; None: the connector's.
        stand_in: why this row is not the connector's own decoder yet (None when it is).
        env: connector variables selecting the format (for when the connector reads it).
    """

    name: str
    label: str
    encode: Callable[[Mapping[str, Any]], bytes]
    decoder: Callable[[], Any] | None = None
    stand_in: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)


def _optional(name: str, kind: Any) -> dict[str, Any]:
    return {"name": name, "type": ["null", kind], "default": None}


def _number(name: str) -> dict[str, Any]:
    # long or double: ints stay ints, as in the JSON the CDP sends
    return {"name": name, "type": ["null", "long", "double"], "default": None}


def _strings(*names: str) -> list[dict[str, Any]]:
    return [_optional(n, "string") for n in names]


def nested_schema() -> dict[str, Any]:
    """A user's nested Avro schema for the storefront events (every field of the sample)."""
    address = {
        "type": "record",
        "name": "Address",
        "fields": _strings("street", "city", "state", "postal_code", "zip_code", "country"),
    }
    traits = {
        "type": "record",
        "name": "Traits",
        "fields": [
            *_strings("email", "phone", "first_name", "last_name", "created_at"),
            _optional("address", address),
        ],
    }
    page = {
        "type": "record",
        "name": "Page",
        "fields": _strings("path", "referrer", "search", "title", "url"),
    }
    context = {
        "type": "record",
        "name": "Context",
        "fields": [
            *_strings("ip", "userAgent", "locale"),
            _optional("library", {"type": "record", "name": "Library",
                                  "fields": _strings("name", "version")}),
            _optional("page", page),
            _optional("campaign", {"type": "record", "name": "Campaign",
                                   "fields": _strings("name", "source", "medium")}),
            _optional("traits", traits),
        ],
    }  # fmt: skip
    product = {
        "type": "record",
        "name": "Product",
        "fields": [
            *_strings("product_id", "sku", "name", "brand", "category", "variant", "url",
                      "image_url"),
            _number("price"),
            _optional("quantity", "long"),
        ],
    }  # fmt: skip
    properties = {
        "type": "record",
        "name": "Properties",
        "fields": [
            *_strings("order_id", "checkout_id", "currency", "coupon", "payment_method",
                      "product_id", "sku", "name", "brand", "category", "variant", "url",
                      "image_url", "query", "search_term", "form_id", "form_name", "path",
                      "referrer", "search", "title", "label", "plan", "shop_id", "status",
                      "topic", "signup_method", "file_type", "content_type", "ttclid", "ttp",
                      "email", "phone"),
            *map(_number, ("revenue", "value", "price", "shipping", "tax", "discount")),
            _optional("quantity", "long"),
            _optional("nonInteraction", "boolean"),
            _optional("products", {"type": "array", "items": product}),
            _optional("address", "Address"),
        ],
    }  # fmt: skip
    return {
        "type": "record",
        "name": "StorefrontEvent",
        "namespace": "com.example.cdp",
        "fields": [
            {"name": "type", "type": "string"},
            {"name": "messageId", "type": "string"},
            *_strings("event", "name", "userId", "anonymousId", "timestamp",
                      "originalTimestamp", "sentAt", "receivedAt"),
            _optional("context", context),
            _optional("properties", properties),
            _optional("traits", "Traits"),
            _optional("integrations", {"type": "map", "values": "boolean"}),
            _optional("limited_data_use", "boolean"),
        ],
    }  # fmt: skip


class _NestedAvro:
    """Stand-in decoder: generic fastavro decode with the parsed writer schema."""

    schema = parse_schema(nested_schema())

    @classmethod
    def encode(cls, event: Mapping[str, Any]) -> bytes:
        buffer = io.BytesIO()
        schemaless_writer(buffer, cls.schema, dict(event))
        return buffer.getvalue()

    def decode(self, value: bytes | None) -> dict[str, Any]:
        record = schemaless_reader(io.BytesIO(value or b""), self.schema, None)
        assert isinstance(record, dict)
        return record


class _Json:
    """Stand-in decoder: JSON text with orjson."""

    @staticmethod
    def encode(event: Mapping[str, Any]) -> bytes:
        return orjson.dumps(event)

    def decode(self, value: bytes | None) -> dict[str, Any]:
        event: dict[str, Any] = orjson.loads(value or b"{}")
        return event


FORMATS: tuple[Format, ...] = (
    Format("bundled_avro", "Avro, bundled layout (the connector's decoder)", encode_event),
    Format(
        "nested_avro",
        "Avro, a user's nested schema (stand-in: fastavro schemaless_reader)",
        _NestedAvro.encode,
        _NestedAvro,
        "until issue 11: generic fastavro decode of a nested writer schema + the same mapping",
    ),
    Format(
        "json",
        "JSON values (stand-in: orjson.loads)",
        _Json.encode,
        _Json,
        "until issue 11: orjson.loads + the same mapping",
    ),
)
