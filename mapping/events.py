"""The event table as data: which CDP event becomes which TikTok event, and what it carries.

The defaults are the specification's table. Users override or extend them with a JSON file
(see ``docs/mapping.md``)::

    {"Order Completed": "Purchase",                      # rename, keeps its contents rule
     "Quote Requested": {"event": "Contact"},            # a custom CDP event
     "Bundle Bought": {"event": "Purchase", "contents": "products"},
     "Product Clicked": null,                            # stop sending a default
     "$page": "Pageview"}                                # `page` calls

:func:`load_event_map` is the one function here that touches the file system; it runs once at
start-up and turns every problem into an :class:`EventMapError` naming the file and the key.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, get_args

__all__ = [
    "DEFAULT_EVENT_MAP",
    "PAGE_KEY",
    "ContentsSource",
    "EventMap",
    "EventMapError",
    "EventRule",
    "load_event_map",
    "parse_event_map",
]

# Where an event's `contents` come from: properties.products[], the top-level properties, or none.
ContentsSource = Literal["products", "product", "none"]
_CONTENTS_SOURCES: frozenset[str] = frozenset(get_args(ContentsSource))

# The key of the rule for `page` calls (a track event cannot be named like this in practice).
PAGE_KEY = "$page"

_MAX_NAME = 100


class EventMapError(ValueError):
    """The event-map configuration is invalid; the message names the file, the key and the fault."""


@dataclass(frozen=True, slots=True)
class EventRule:
    """How one CDP event is sent.

    Attributes:
        event: the TikTok event name (case-sensitive).
        contents: where ``properties.contents`` is read from.
        form_name: whether ``properties.form_name`` is filled (Form Submitted).
    """

    event: str
    contents: ContentsSource = "none"
    form_name: bool = False


class EventMap(Mapping[str, EventRule]):
    """CDP event name -> :class:`EventRule`, plus the names explicitly disabled.

    Immutable. ``PAGE_KEY`` holds the rule for `page` calls. A name that is absent is not sent;
    :meth:`is_disabled` tells a disabled default apart from a name never mapped.
    """

    __slots__ = ("_disabled", "_rules")

    def __init__(
        self, rules: Mapping[str, EventRule], disabled: frozenset[str] = frozenset()
    ) -> None:
        self._rules: Mapping[str, EventRule] = MappingProxyType(dict(rules))
        self._disabled = disabled

    def __getitem__(self, name: str) -> EventRule:
        return self._rules[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._rules)

    def __len__(self) -> int:
        return len(self._rules)

    def __repr__(self) -> str:
        return f"EventMap({dict(self._rules)!r}, disabled={sorted(self._disabled)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EventMap):
            return NotImplemented
        return dict(self._rules) == dict(other._rules) and self._disabled == other._disabled

    def __hash__(self) -> int:
        return hash((frozenset(self._rules.items()), self._disabled))

    def is_disabled(self, name: str) -> bool:
        """Whether ``name`` was switched off by configuration (``null`` in the event-map file)."""
        return name in self._disabled

    def with_overrides(self, overrides: Mapping[str, EventRule | None]) -> EventMap:
        """A new map: each override replaces or adds a rule; ``None`` disables the name."""
        rules = dict(self._rules)
        disabled = set(self._disabled)
        for name, rule in overrides.items():
            if rule is None:
                rules.pop(name, None)
                disabled.add(name)
            else:
                rules[name] = rule
                disabled.discard(name)
        return EventMap(rules, frozenset(disabled))


DEFAULT_EVENT_MAP = EventMap(
    {
        PAGE_KEY: EventRule("Pageview"),
        "Order Completed": EventRule("CompletePayment", contents="products"),
        "Checkout Started": EventRule("InitiateCheckout", contents="products"),
        "Product Added": EventRule("AddToCart", contents="product"),
        "Product Viewed": EventRule("ViewContent", contents="product"),
        "Products Searched": EventRule("Search", contents="product"),
        "Payment Info Entered": EventRule("AddPaymentInfo", contents="products"),
        "Product Added to Wishlist": EventRule("AddToWishlist", contents="product"),
        "Product Clicked": EventRule("ClickButton", contents="product"),
        "Order Placed": EventRule("PlaceAnOrder", contents="products"),
        "Account Created": EventRule("CompleteRegistration"),
        "Form Submitted": EventRule("SubmitForm", form_name=True),
        "Callback Started": EventRule("Contact"),
        "Subscription Created": EventRule("Subscribe"),
        "Download Link Clicked": EventRule("Download"),
    }
)


def _check_tiktok_name(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise EventMapError(f"{where}: the TikTok event name must be a string, not {_kind(value)}")
    if not value or not value.strip():
        raise EventMapError(f"{where}: the TikTok event name is empty")
    if value != value.strip():
        raise EventMapError(f"{where}: the TikTok event name {value!r} has surrounding spaces")
    if len(value) > _MAX_NAME or not value.isprintable():
        raise EventMapError(
            f"{where}: the TikTok event name must be printable and at most {_MAX_NAME} characters"
        )
    return value


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def _parse_rule(name: str, value: object, base: EventMap, where: str) -> EventRule | None:
    if value is None:
        return None
    if isinstance(value, str):
        event = _check_tiktok_name(value, where)
        previous = base.get(name)
        if previous is None:
            return EventRule(event)
        return EventRule(event, contents=previous.contents, form_name=previous.form_name)
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"event", "contents", "form_name"})
        if unknown:
            raise EventMapError(
                f"{where}: unknown field(s) {', '.join(unknown)}; "
                "expected event, contents, form_name"
            )
        if "event" not in value:
            raise EventMapError(f"{where}: the field 'event' (the TikTok event name) is missing")
        event = _check_tiktok_name(value["event"], f"{where}.event")
        previous = base.get(name)
        contents = value.get("contents", previous.contents if previous else "none")
        if contents not in _CONTENTS_SOURCES:
            raise EventMapError(
                f"{where}.contents: must be one of {', '.join(sorted(_CONTENTS_SOURCES))}, "
                f"not {contents!r}"
            )
        form_name = value.get("form_name", previous.form_name if previous else False)
        if not isinstance(form_name, bool):
            raise EventMapError(f"{where}.form_name: must be true or false, not {_kind(form_name)}")
        return EventRule(event, contents=contents, form_name=form_name)
    raise EventMapError(
        f"{where}: expected a TikTok event name, an object or null, not {_kind(value)}"
    )


def parse_event_map(
    data: object, source: str = "event map", base: EventMap = DEFAULT_EVENT_MAP
) -> EventMap:
    """Apply decoded event-map JSON ``data`` on top of ``base``.

    Args:
        data: a JSON object: CDP event name -> TikTok name, rule object, or null (disable).
        source: how to name the configuration in error messages (usually the file path).
        base: the map the overrides apply to.

    Raises:
        EventMapError: the content is invalid; the message names ``source``, the key and why.
    """
    if not isinstance(data, dict):
        raise EventMapError(
            f"{source}: expected a JSON object of CDP event name -> TikTok event, not {_kind(data)}"
        )
    overrides: dict[str, EventRule | None] = {}
    for name, value in data.items():
        where = f"{source}: key {name!r}"
        if not name.strip():
            raise EventMapError(f"{where}: the CDP event name is empty")
        overrides[name] = _parse_rule(name, value, base, where)
    return base.with_overrides(overrides)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise EventMapError(f"key {key!r} appears more than once")
        result[key] = value
    return result


def load_event_map(path: str | PathLike[str], base: EventMap = DEFAULT_EVENT_MAP) -> EventMap:
    """Read an event-map JSON file and apply it on top of ``base`` (the defaults).

    Raises:
        EventMapError: the file cannot be read, is not JSON, or its content is invalid.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise EventMapError(f"{source}: cannot read the event map: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise EventMapError(f"{source}: the event map is not UTF-8 text") from exc
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise EventMapError(
            f"{source}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from exc
    except EventMapError as exc:
        raise EventMapError(f"{source}: {exc}") from exc
    return parse_event_map(data, source, base)
