"""Reading loosely-typed CDP values without ever raising.

Every reader takes the value, its path (for notes) and the list of notes of the event being
mapped. Wrong-typed values are coerced when a user would expect it (``"19.99"`` -> 19.99,
``1001`` -> ``"1001"``) or dropped, and either way a PII-free note says so. Empty strings,
blank strings and nulls are absent: readers return ``None`` for them, silently.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["as_bool", "as_number", "as_quantity", "as_text", "field", "kind", "obj"]

# Escaped for re, not the str literal: mypyc cannot embed lone surrogates in C string constants.
_SURROGATE = re.compile("[\\ud800-\\udfff]")
# Integers beyond this lose precision as JSON numbers (and orjson refuses > 64 bits).
_MAX_INT = 2**53


def kind(value: object) -> str:
    """A PII-free name for the JSON type of ``value``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def obj(value: object, path: str, notes: list[str]) -> Mapping[str, Any] | None:
    """``value`` if it is an object; ``None`` (noted unless absent) otherwise."""
    if value is None:  # the common case: absent (an ABC isinstance check costs ~0.4 us)
        return None
    if type(value) is dict or isinstance(value, Mapping):
        return value
    notes.append(f"{path}: expected an object, got {kind(value)}; ignored")
    return None


def field(parent: Mapping[str, Any] | None, key: str) -> Any:
    """``parent[key]``, or ``None`` when the parent is absent or has no such key."""
    if parent is None:
        return None
    return parent.get(key)


def _valid_utf8(text: str, path: str, notes: list[str]) -> str:
    # JSON can carry lone surrogates ("\\ud800"): they cannot be encoded, hashed or sent.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        notes.append(f"{path}: invalid Unicode (lone surrogate) replaced")
        return _SURROGATE.sub("\ufffd", text)
    return text


def _number_text(value: int | float) -> str | None:
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        if value.is_integer() and abs(value) < _MAX_INT:
            return str(int(value))
    return str(value)


def as_text(
    value: object, path: str, notes: list[str], *, quiet_numbers: bool = False
) -> str | None:
    """A non-blank string (trimmed), or ``None``.

    Numbers become their decimal text (``1001.0`` -> ``"1001"``), noted unless
    ``quiet_numbers`` (identifiers, which the API wants as strings). Anything else is dropped.
    """
    if type(value) is str:
        stripped = value.strip()
        if stripped and not stripped.isascii():
            return _valid_utf8(stripped, path, notes)
        return stripped or None
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        text = _number_text(value)
        if text is None:
            notes.append(f"{path}: not a finite number; dropped")
        elif not quiet_numbers:
            notes.append(f"{path}: expected a string, got a number; converted")
        return text
    if isinstance(value, str):  # a str subclass
        return as_text(str(value), path, notes)
    notes.append(f"{path}: expected a string, got {kind(value)}; dropped")
    return None


def as_number(value: object, path: str, notes: list[str]) -> int | float | None:
    """A finite number, or ``None``. Numeric strings are parsed (noted); the rest is dropped."""
    if type(value) is int:
        if -_MAX_INT < value < _MAX_INT:
            return value
        notes.append(f"{path}: number out of range; dropped")
        return None
    if type(value) is float:
        if math.isfinite(value):
            return value
        notes.append(f"{path}: not a finite number; dropped")
        return None
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        number: int | float
        try:
            number = int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                notes.append(f"{path}: expected a number, got a string that is not one; dropped")
                return None
        if isinstance(number, float) and not math.isfinite(number):
            notes.append(f"{path}: not a finite number; dropped")
            return None
        if isinstance(number, int) and not -_MAX_INT < number < _MAX_INT:
            notes.append(f"{path}: number out of range; dropped")
            return None
        notes.append(f"{path}: expected a number, got a numeric string; converted")
        return number
    if isinstance(value, int | float) and not isinstance(value, bool):  # subclasses, Decimal-free
        return as_number(float(value) if isinstance(value, float) else int(value), path, notes)
    notes.append(f"{path}: expected a number, got {kind(value)}; dropped")
    return None


def as_quantity(value: object, path: str, notes: list[str]) -> int | None:
    """A whole number of items, or ``None``; ``2.0`` and ``"2"`` are accepted, ``2.5`` is not."""
    number = as_number(value, path, notes)
    if number is None or isinstance(number, int):
        return number
    if number.is_integer():
        if -_MAX_INT < number < _MAX_INT:
            return int(number)
        notes.append(f"{path}: number out of range; dropped")
        return None
    notes.append(f"{path}: expected a whole number; dropped")
    return None


def as_bool(value: object, path: str, notes: list[str]) -> bool | None:
    """A boolean, or ``None``. ``"true"``/``"false"`` and 0/1 are accepted (noted)."""
    if value is True or value is False:
        return value
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if not text:
            return None
        if text in ("true", "false"):
            notes.append(f"{path}: expected a boolean, got a string; converted")
            return text == "true"
    elif isinstance(value, int | float) and value in (0, 1):
        notes.append(f"{path}: expected a boolean, got a number; converted")
        return bool(value)
    notes.append(f"{path}: expected a boolean, got {kind(value)}; ignored")
    return None
