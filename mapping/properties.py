"""``data[].properties`` of track events: order data, contents, search query and form name."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from tiktok_capi.mapping.events import EventRule
from tiktok_capi.mapping.model import TikTokContent, TikTokProperties
from tiktok_capi.mapping.pii import has_email, redact_pii
from tiktok_capi.mapping.values import as_number, as_quantity, as_text, kind, obj

__all__ = ["build_properties", "content_from"]

_CONTENT_TYPES = frozenset({"product", "product_group"})
_MAX_NOTED_PRODUCTS = 10  # a huge cart of bad products must not flood the logs


def _identifier(value: object, path: str, notes: list[str]) -> str | None:
    text = as_text(value, path, notes, quiet_numbers=True)
    if text is not None and has_email(text):
        notes.append(f"{path}: holds an e-mail address; dropped")
        return None
    return text


def _free_text(value: object, path: str, notes: list[str]) -> str | None:
    text = as_text(value, path, notes)
    if text is None:
        return None
    cleaned = redact_pii(text)
    if cleaned is not text:
        notes.append(f"{path}: e-mail address or phone number redacted")
    return cleaned


@lru_cache(maxsize=256)
def _content_paths(path: str) -> tuple[str, str, str, str, str, str]:
    # Formatted once per prefix rather than six f-strings for every product of every event.
    return (
        f"{path}.product_id",
        f"{path}.name",
        f"{path}.category",
        f"{path}.price",
        f"{path}.quantity",
        f"{path}.brand",
    )


def content_from(product: Mapping[str, Any], path: str, notes: list[str]) -> TikTokContent:
    """One ``contents[]`` element from a product (``path`` prefixes the notes, e.g.
    ``properties.products[0]`` or ``properties``). Empty when the product has nothing usable."""
    content: TikTokContent = {}
    id_path, name_path, category_path, price_path, quantity_path, brand_path = _content_paths(path)
    content_id = _identifier(product.get("product_id"), id_path, notes)
    if content_id is not None:
        content["content_id"] = content_id
    name = _free_text(product.get("name"), name_path, notes)
    if name is not None:
        content["content_name"] = name
    category = _free_text(product.get("category"), category_path, notes)
    if category is not None:
        content["content_category"] = category
    price = as_number(product.get("price"), price_path, notes)
    if price is not None:
        content["price"] = price
    quantity = as_quantity(product.get("quantity"), quantity_path, notes)
    if quantity is not None:
        content["quantity"] = quantity
    brand = _free_text(product.get("brand"), brand_path, notes)
    if brand is not None:
        content["brand"] = brand
    return content


def _contents_of_products(products: object, notes: list[str]) -> list[TikTokContent]:
    if products is None:
        return []
    if not isinstance(products, list | tuple):
        notes.append(f"properties.products: expected an array, got {kind(products)}; ignored")
        return []
    contents: list[TikTokContent] = []
    for index, product in enumerate(products):
        path = f"properties.products[{index}]"
        # Past a few products, notes would only repeat: gather them in a throw-away list.
        sink = notes if index < _MAX_NOTED_PRODUCTS else []
        item = obj(product, path, sink)
        if item is None:
            continue
        content = content_from(item, path, sink)
        if content:
            contents.append(content)
    return contents


def _value(
    properties: Mapping[str, Any], contents: list[TikTokContent], notes: list[str]
) -> int | float | None:
    for key in ("value", "revenue"):
        number = as_number(properties.get(key), f"properties.{key}", notes)
        if number is not None:
            return number
    total: int | float = 0  # int stays int (mypyc would coerce a float-typed 0 to 0.0)
    priced = False
    for content in contents:
        price = content.get("price")
        if price is not None:
            total += price * content.get("quantity", 1)
            priced = True
    if not priced:
        return None
    # Huge prices or quantities can overflow the sum: out of range or infinite is not sent.
    checked = as_number(total, "properties.value (sum of contents)", notes)
    if checked is None:
        return None
    total = checked
    if isinstance(total, int):  # round() is a no-op on ints, and mypyc would make it a float
        return total
    # Summing floats leaves binary noise (19.99 * 3 = 59.970000000000006).
    return round(total, 6)


def _currency(value: object, notes: list[str]) -> str | None:
    text = as_text(value, "properties.currency", notes)
    if text is None:
        return None
    code = text.upper()
    if len(code) == 3 and code.isascii() and code.isalpha():
        return code
    notes.append("properties.currency: not an ISO 4217 code; dropped")
    return None


def build_properties(
    rule: EventRule, properties: Mapping[str, Any] | None, notes: list[str]
) -> TikTokProperties:
    """Build ``properties`` for a track event mapped by ``rule``."""
    result: TikTokProperties = {}
    if properties is None:
        return result
    contents: list[TikTokContent] = []
    if rule.contents == "products":
        contents = _contents_of_products(properties.get("products"), notes)
    elif rule.contents == "product":
        content = content_from(properties, "properties", notes)
        if content:
            contents = [content]
    if contents:
        result["contents"] = contents

    content_type = as_text(properties.get("content_type"), "properties.content_type", notes)
    if content_type is not None:
        if content_type.lower() in _CONTENT_TYPES:
            result["content_type"] = content_type.lower()
        else:
            notes.append("properties.content_type: not product or product_group; dropped")
    currency = _currency(properties.get("currency"), notes)
    if currency is not None:
        result["currency"] = currency
    value = _value(properties, contents, notes)
    if value is not None:
        result["value"] = value
    order_id = _identifier(properties.get("order_id"), "properties.order_id", notes)
    if order_id is not None:
        result["order_id"] = order_id
    shop_id = _identifier(properties.get("shop_id"), "properties.shop_id", notes)
    if shop_id is not None:
        result["shop_id"] = shop_id
    description = _free_text(properties.get("description"), "properties.description", notes)
    if description is not None:
        result["description"] = description
    query = _free_text(properties.get("query"), "properties.query", notes)
    if query is None:
        query = _free_text(properties.get("search_term"), "properties.search_term", notes)
    if query is not None:
        result["query"] = query
        result["search_string"] = query
    if rule.form_name:
        form_name = _free_text(properties.get("form_name"), "properties.form_name", notes)
        if form_name is None:
            form_name = _free_text(properties.get("name"), "properties.name", notes)
        if form_name is not None:
            result["form_name"] = form_name
    return result
