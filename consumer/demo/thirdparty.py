"""Storefront events in a third-party schema: what a user's own topic looks like.

``data/acme_storefront.avsc`` (``com.acme.analytics.StorefrontEvent``) is the worked example of
docs/inputs.md: typed nested ``context``/``properties`` records, an enum call type,
``timestamp-millis``, ``uuid`` and ``decimal`` revenue and prices. :func:`to_record` turns a
Segment event (from :mod:`.storefront`) into a record of it, :func:`segment_equivalent` gives
the Segment JSON that record stands for (what the mapping must see when the record is
decoded), and :func:`encode` writes records as Avro bodies. Used by the tests, the benchmarks
and the docs.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, Final

__all__ = ["SCHEMA_PATH", "encode", "schema", "segment_equivalent", "to_record"]

SCHEMA_PATH: Final = Path(__file__).resolve().parent / "data" / "acme_storefront.avsc"
_CALLS: Final = frozenset({"track", "page", "identify", "screen", "group", "alias"})
_CONTEXT: Final = ("ip", "userAgent", "locale")
_PAGE: Final = ("url", "referrer", "path", "title")
_TRAITS: Final = ("email", "phone", "first_name", "last_name")
_ADDRESS: Final = ("city", "state", "country", "postal_code")
_PROPERTIES: Final = (
    "order_id", "currency", "content_type", "product_id", "name", "category", "brand", "query",
    "url", "ttclid",
)  # fmt: skip
_PRODUCT: Final = ("product_id", "name", "category", "brand")
_CENT: Final = Decimal("0.01")


@cache
def schema() -> dict[str, Any]:
    """The schema, as JSON-decoded data."""
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _pick(source: Any, keys: Iterable[str]) -> dict[str, Any]:
    source = source if isinstance(source, Mapping) else {}
    return {key: _text(source.get(key)) for key in keys}


def _money(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return Decimal(str(value)).quantize(_CENT)


def _count(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and -(2**31) <= value < 2**31:
        return value
    return None


def to_record(event: Mapping[str, Any]) -> dict[str, Any]:
    """The ``StorefrontEvent`` record of a Segment event (fields it has no place for are lost)."""
    raw_context = event.get("context")
    context: Mapping[str, Any] = raw_context if isinstance(raw_context, Mapping) else {}
    traits = context.get("traits")
    page = context.get("page")
    record: dict[str, Any] = {
        "type": event["type"] if event.get("type") in _CALLS else "track",
        "event": _text(event.get("event")),
        "name": _text(event.get("name")),
        "messageId": str(event.get("messageId", "")),
        "userId": _text(event.get("userId")),
        "anonymousId": _text(event.get("anonymousId")),
        "timestamp": datetime.fromisoformat(str(event["timestamp"])),
        "context": {
            **_pick(context, _CONTEXT),
            "page": _pick(page, _PAGE) if isinstance(page, Mapping) else None,
            "traits": None,
        },
        "properties": None,
        "integrations": {
            k: v for k, v in (event.get("integrations") or {}).items() if isinstance(v, bool)
        },
        "limited_data_use": event.get("limited_data_use")
        if isinstance(event.get("limited_data_use"), bool)
        else None,
    }
    if isinstance(traits, Mapping):
        address = traits.get("address")
        record["context"]["traits"] = {
            **_pick(traits, _TRAITS),
            "address": _pick(address, _ADDRESS) if isinstance(address, Mapping) else None,
        }
    props = event.get("properties")
    if isinstance(props, Mapping):
        products = props.get("products")
        value = props.get("value")
        record["properties"] = {
            **_pick(props, _PROPERTIES),
            "value": float(value) if isinstance(value, int | float) and value is not True else None,
            "revenue": _money(props.get("revenue")),
            "price": _money(props.get("price")),
            "quantity": _count(props.get("quantity")),
            "products": [
                {
                    **_pick(p, _PRODUCT),
                    "price": _money(p.get("price")) if isinstance(p, Mapping) else None,
                    "quantity": _count(p.get("quantity")) if isinstance(p, Mapping) else None,
                }
                for p in products
            ]
            if isinstance(products, list)
            else None,
        }
    return record


def _json(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _json(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_json(v) for v in value]
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return value


def segment_equivalent(record: Mapping[str, Any]) -> dict[str, Any]:
    """The Segment JSON event a ``StorefrontEvent`` record stands for (nulls left out)."""
    converted: dict[str, Any] = _json(record)
    return converted


def encode(records: Iterable[Mapping[str, Any]], writer: Any = None) -> list[bytes]:
    """Avro bodies (schemaless) of ``records``, written with ``writer`` (default: the schema)."""
    from fastavro import parse_schema, schemaless_writer

    parsed = parse_schema(writer if writer is not None else schema())
    out = []
    for record in records:
        buffer = io.BytesIO()
        schemaless_writer(buffer, parsed, record)
        out.append(buffer.getvalue())
    return out
