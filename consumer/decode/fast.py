"""A direct reader of the bundled CDP event layout: the fast path of :mod:`.codec`.

fastavro's ``schemaless_reader`` costs ~14 µs per record even for this flat schema (seven
nullable strings, five strings), a third of the connector's work per event. The layout is so
simple that reading it by hand costs a fraction of that, and the JSON fields go to orjson as
bytes without first becoming ``str``.

The fast path only ever *succeeds*: anything unusual (a union index other than 0 or 1, a
non-minimal or negative length, truncation, left-over bytes, invalid UTF-8 or JSON, ``extra``
not an object) makes it give up and return ``None``, and the caller decodes the record again
with fastavro, which produces the exact error (or result) it always did. When it succeeds, the
event equals what fastavro + ``_from_record`` build (a property test checks this).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import orjson

__all__ = ["FIELDS", "has_bundled_layout", "read_event", "read_long"]

# The bundled schema's fields, in order: seven ["null", "string"] then five "string".
_NULLABLE: Final = ("type", "event", "name", "messageId", "userId", "anonymousId", "timestamp")
_JSON: Final = ("properties", "context", "traits", "integrations")
_EXTRA: Final = "extra"
FIELDS: Final = (*_NULLABLE, *_JSON, _EXTRA)


def has_bundled_layout(schema: Any) -> bool:
    """Whether a fastavro-parsed writer ``schema`` is laid out exactly like the bundled one.

    Names and types must match field by field (no logical types, which would make fastavro
    return other objects than ``str``).
    """
    if not isinstance(schema, Mapping) or schema.get("type") != "record":
        return False
    fields = schema.get("fields")
    if not isinstance(fields, Sequence) or len(fields) != len(FIELDS):
        return False
    for index, (field, name) in enumerate(zip(fields, FIELDS, strict=True)):
        expected: Any = ["null", "string"] if index < len(_NULLABLE) else "string"
        if not isinstance(field, Mapping) or field.get("name") != name:
            return False
        if field.get("type") != expected:
            return False
    return True


def _long(data: bytes, pos: int, first: int) -> tuple[int, int]:
    """The rest of a multi-byte varint whose first byte was ``first``; (zigzag value, next pos).

    Raises:
        IndexError: the data ends inside the varint.
        ValueError: longer than a 64-bit long.
    """
    value = first & 0x7F
    shift = 7
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 64 bits")


def read_long(data: bytes, pos: int, first: int) -> tuple[int, int]:
    """The rest of a multi-byte varint (see ``_long``): shared with the generated readers."""
    return _long(data, pos, first)


def read_event(data: bytes, start: int = 0) -> dict[str, Any] | None:
    """The CDP event in ``data[start:]``, or ``None`` when the fast path cannot tell.

    ``None`` is not an error: the record must then be decoded by the general path.
    """
    end = len(data)
    pos = start
    event: dict[str, Any] = {}
    try:
        # Seven ["null", "string"] unions: branch byte 0 (zigzag 0) is null, 2 (zigzag 1) a string.
        for name in _NULLABLE:
            branch = data[pos]
            if branch == 0:
                pos += 1
                continue
            if branch != 2:
                return None
            size = data[pos + 1]
            pos += 2
            if size >= 0x80:
                size, pos = _long(data, pos, size)
            if size & 1:  # a negative length
                return None
            stop = pos + (size >> 1)
            if stop > end:
                return None
            event[name] = data[pos:stop].decode()
            pos = stop
        # Five strings: four JSON texts ("" means absent) and the "extra" object.
        texts: list[bytes] = []
        for _ in range(5):
            size = data[pos]
            pos += 1
            if size >= 0x80:
                size, pos = _long(data, pos, size)
            if size & 1:
                return None
            stop = pos + (size >> 1)
            if stop > end:
                return None
            texts.append(data[pos:stop])
            pos = stop
    except (IndexError, ValueError):  # truncated, invalid UTF-8, an over-long varint
        return None
    if pos != end:
        return None
    try:
        loads = orjson.loads
        for name, raw in zip(_JSON, texts, strict=False):
            if raw:
                event[name] = loads(raw)
        raw = texts[4]
        if raw:
            extra = loads(raw)
            if type(extra) is not dict:
                return None
            event.update(extra)
    except orjson.JSONDecodeError:
        return None
    return event
