"""Field paths: a source that names things differently, read with Segment's names.

The mapping reads Segment field names (``event``, ``context.traits.email``,
``properties.products[].price``, ...). A team whose schema says ``event_name``, ``user.email`` or
``items[].unit_price`` gives a table from Segment paths to its own paths::

    {"event": "event_name",
     "context.traits.email": ["user.email", "email"],
     "timestamp": "ts",
     "properties.products": "items",
     "properties.products[].price": "items[].unit_price"}

:func:`parse_field_paths` validates such a table once, at start (raising
:class:`FieldPathError` naming the entry); :func:`remap` applies it to each decoded event, before
``map_event``. Pure and cheap: a few dictionary look-ups per entry, no copies.

Rules (docs/inputs.md):

- A path is dot-separated keys; one of them may end in ``[]``: every element of that array.
  Both sides of an entry have ``[]`` or neither.
- A list of source paths is tried in order: the first present one wins.
- A source that is absent or null leaves the Segment field as the record had it.
- Entries without ``[]`` apply first, in the table's order, then those with ``[]``, so
  ``properties.products[].price`` reads the array that ``properties.products`` was given.
- The record's own fields stay: a schema already named like Segment needs no table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["SEGMENT_FIELDS", "FieldPathError", "FieldPaths", "parse_field_paths", "remap"]

SEGMENT_FIELDS: Final = (
    "type",
    "event",
    "name",
    "messageId",
    "userId",
    "anonymousId",
    "timestamp",
    "context",
    "properties",
    "traits",
    "integrations",
    "limited_data_use",
)
"""The top-level Segment fields a field path may set (what the mapping reads)."""

_ARRAY: Final = "[]"


class FieldPathError(ValueError):
    """A field-path table is invalid; the message names the entry (never a record's data)."""


@dataclass(frozen=True, slots=True)
class _Path:
    """``a.b[].c`` as ``prefix=("a", "b")``, ``item=("c",)``; ``item`` is None without ``[]``."""

    prefix: tuple[str, ...]
    item: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class _Entry:
    target: _Path
    sources: tuple[_Path, ...]


@dataclass(frozen=True, slots=True)
class FieldPaths:
    """A validated field-path table (picklable: it travels to decode workers)."""

    entries: tuple[_Entry, ...]

    def __bool__(self) -> bool:
        return bool(self.entries)


def _parse_path(text: object, what: str) -> _Path:
    if not isinstance(text, str) or not text.strip():
        raise FieldPathError(f"{what} must be a non-empty path text")
    keys = text.strip().split(".")
    prefix: list[str] = []
    item: list[str] | None = None
    for key in keys:
        array = key.endswith(_ARRAY)
        name = key[: -len(_ARRAY)] if array else key
        if not name or _ARRAY in name or "[" in name or "]" in name:
            raise FieldPathError(f"{what} {text!r}: {key!r} is not a key (use a.b or a[].b)")
        if item is None:
            prefix.append(name)
            if array:
                item = []
        else:
            if array:
                raise FieldPathError(f"{what} {text!r}: only one [] is supported")
            item.append(name)
    if item is not None and not item:
        raise FieldPathError(f"{what} {text!r}: [] must be followed by a key (a[].b)")
    return _Path(tuple(prefix), None if item is None else tuple(item))


def parse_field_paths(data: object) -> FieldPaths:
    """Validate a table of Segment path -> source path(s) (a parsed JSON or YAML object).

    Raises:
        FieldPathError: naming the bad entry (``entry 'context.trait.email': ...``).
    """
    if not isinstance(data, Mapping):
        raise FieldPathError("must be an object of Segment path -> source path(s)")
    plain: list[_Entry] = []
    arrays: list[_Entry] = []
    for key, value in data.items():
        where = f"entry {key!r}"
        target = _parse_path(key, f"{where}: the Segment path")
        if target.prefix[0] not in SEGMENT_FIELDS:
            raise FieldPathError(
                f"{where}: {target.prefix[0]!r} is not a Segment field the mapping reads "
                f"(one of {', '.join(SEGMENT_FIELDS)})"
            )
        values = value if isinstance(value, list) else [value]
        if not values:
            raise FieldPathError(f"{where}: give at least one source path")
        sources = tuple(_parse_path(v, f"{where}: the source path") for v in values)
        for path in sources:
            if (path.item is None) != (target.item is None):
                raise FieldPathError(f"{where}: both sides need [] or neither")
        entry = _Entry(target, sources)
        (plain if target.item is None else arrays).append(entry)
    return FieldPaths(tuple(plain + arrays))


def _get(value: Any, keys: tuple[str, ...]) -> Any:
    for key in keys:
        if type(value) is not dict and not isinstance(value, Mapping):
            return None
        value = value.get(key)
        if value is None:
            return None
    return value


def _set(event: dict[str, Any], keys: tuple[str, ...], value: Any) -> None:
    parent = event
    last = len(keys) - 1
    for index in range(last):
        key = keys[index]
        child = parent.get(key)
        if type(child) is not dict:
            child = dict(child) if isinstance(child, Mapping) else {}
            parent[key] = child
        parent = child
    parent[keys[last]] = value


def _first(event: Any, sources: tuple[_Path, ...], array: bool) -> Any:
    for path in sources:
        found = _get(event, path.prefix)
        if found is not None and (not array or type(found) is list):
            return found
    return None


def _remap_array(event: dict[str, Any], entry: _Entry) -> None:
    target = entry.target
    assert target.item is not None
    for path in entry.sources:
        assert path.item is not None
        items = _get(event, path.prefix)
        if type(items) is not list:
            continue
        out = _get(event, target.prefix)
        if type(out) is not list or len(out) != len(items):
            out = [{} for _ in items]
            _set(event, target.prefix, out)
        for index, element in enumerate(items):
            value = _get(element, path.item)
            slot = out[index]
            if value is not None and type(slot) is dict:
                _set(slot, target.item, value)
        return


def remap(event: dict[str, Any], paths: FieldPaths) -> dict[str, Any]:
    """``event`` with every Segment path of ``paths`` set from its source (changed in place).

    Never raises: a source that is absent, null or of the wrong shape is skipped.
    """
    for entry in paths.entries:
        if entry.target.item is None:
            value = _first(event, entry.sources, False)
            if value is not None:
                _set(event, entry.target.prefix, value)
        else:
            _remap_array(event, entry)
    return event
