"""The decoding error tree, by what the caller does next (see :mod:`.codec`).

Kept apart from the codec so that the registry client (which raises them) and the codec (which
uses the client) do not import each other.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["DecodeError", "DecodeReason", "EncodeError", "RegistryUnavailable"]

DecodeReason = Literal[
    "empty", "garbage", "truncated", "wrong_magic_byte", "unknown_schema_id", "incompatible_schema"
]


class DecodeError(Exception):
    """A record cannot be decoded: dead-letter it.

    ``reason`` is a low-cardinality code for metrics and headers; the message never contains
    the record's content (it may hold PII).
    """

    def __init__(self, reason: DecodeReason, message: str) -> None:
        super().__init__(message)
        self.reason: DecodeReason = reason


class RegistryUnavailable(Exception):
    """The schema registry could not answer now (network, 5xx): back off and retry the record."""


class EncodeError(ValueError):
    """An event cannot be encoded (a value is not JSON-like, or a string is not valid UTF-8)."""
