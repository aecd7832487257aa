"""How configuration values are written and read: durations, booleans, ranges, secrets.

The parsers every option uses (each raises ``ValueError`` with a message for the user; the
loader adds the variable's name), :class:`SecretStr` for tokens and passwords, and
:class:`ConfigError`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Final
from urllib.parse import urlsplit

import phonenumbers

__all__ = [
    "ConfigError",
    "SecretStr",
    "boolean",
    "byte_size",
    "choice",
    "durations",
    "int_range",
    "is_loopback_url",
    "names",
    "non_negative_float",
    "parse_duration",
    "phone_region",
    "positive_duration",
    "secret",
    "text",
    "url",
]


class ConfigError(ValueError):
    """Configuration is missing or invalid; one line per problem, each naming its variable."""


class SecretStr:
    """A string whose repr and str never show the value (tokens, passwords)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        """Return the secret itself; call only where it is sent on the wire."""
        return self._value

    def __repr__(self) -> str:
        return "SecretStr('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretStr) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: str) -> float:
    """Parse ``500ms``, ``30s``, ``5m``, ``1h`` or a bare number of seconds into seconds."""
    match = _DURATION.match(value)
    if match is None:
        raise ValueError(f"not a duration: {value!r} (use e.g. 500ms, 30s, 5m, 1h)")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def positive_duration(value: str) -> float:
    """A duration above zero."""
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError("must be positive")
    return seconds


def durations(value: str) -> tuple[float, ...]:
    """Comma-separated positive durations (at least one)."""
    parts = [p for p in value.split(",") if p.strip()]
    if not parts:
        raise ValueError("at least one delay is needed (e.g. 30s,5m,30m)")
    delays = tuple(parse_duration(p) for p in parts)
    if any(d <= 0 for d in delays):
        raise ValueError("delays must be positive")
    return delays


def boolean(value: str) -> bool:
    """``true``/``false`` (also 1/0, yes/no, on/off)."""
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {value!r} (use true or false)")


def int_range(low: int, high: int | None = None) -> Callable[[str], int]:
    """A parser of whole numbers from ``low`` up to ``high``."""

    def parse(value: str) -> int:
        try:
            number = int(value.strip())
        except ValueError:
            raise ValueError(f"not a whole number: {value!r}") from None
        if number < low or (high is not None and number > high):
            upper = "" if high is None else f" and at most {high}"
            raise ValueError(f"must be at least {low}{upper}, got {number}")
        return number

    return parse


_BYTE_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?\s*$", re.IGNORECASE)
_BYTE_UNITS: Final = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}


def byte_size(value: str) -> int:
    """A positive size in bytes: ``1048576``, ``512KiB``, ``64MiB``, ``1MB`` (1,000,000)."""
    match = _BYTE_SIZE.match(value)
    if match is None:
        raise ValueError(f"not a size in bytes: {value!r} (e.g. 64MiB, 512KiB, 1000000)")
    number, unit = match.groups()
    size = int(float(number) * _BYTE_UNITS[(unit or "b").lower()])
    if size < 1:
        raise ValueError(f"must be at least 1 byte, got {value!r}")
    return size


def non_negative_float(value: str) -> float:
    """A number of zero or more."""
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"not a number: {value!r}") from None
    if number < 0:
        raise ValueError("must not be negative")
    return number


def url(value: str) -> str:
    """An http(s) URL, without a trailing slash."""
    cleaned = value.strip().rstrip("/")
    if not cleaned.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {cleaned!r}")
    return cleaned


def is_loopback_url(value: str) -> bool:
    """Whether the URL's host is this machine: ``localhost``, ``127.0.0.0/8`` or ``::1``."""
    host = urlsplit(value).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def choice(*choices: str) -> Callable[[str], str]:
    """A parser of one of ``choices`` (case-insensitive)."""

    def parse(value: str) -> str:
        lowered = value.strip().lower()
        if lowered not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {value!r}")
        return lowered

    return parse


def text(value: str) -> str:
    """Text, trimmed."""
    return value.strip()


def names(value: str) -> tuple[str, ...]:
    """A comma-separated list of names: trimmed, empty entries left out."""
    return tuple(name.strip() for name in value.split(",") if name.strip())


def secret(value: str) -> SecretStr:
    """A secret, trimmed (never shown in messages)."""
    return SecretStr(value.strip())


def phone_region(value: str) -> str:
    """An ISO 3166 region the phone library knows (``US``, ``GB``, ...), upper case."""
    region = value.strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"not a known region code: {value!r} (use e.g. US, GB or DE)")
    return region
