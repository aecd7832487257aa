"""Normalisation and hashing of user data, as TikTok matches it.

Each function takes one non-blank string and returns what is sent, or ``None`` when the value
cannot be used. Hashed values are SHA-256 of the normalised text as 64 lower-case hex digits;
a value that already is one is passed through rather than hashed twice.
"""

from __future__ import annotations

import hashlib
import re

import phonenumbers

__all__ = [
    "hash_email",
    "hash_external_id",
    "hash_name",
    "hash_phone",
    "hash_zip",
    "is_sha256",
    "location",
    "sha256_hex",
]

_SHA256 = re.compile(r"[0-9a-f]{64}")
_SHA256_ANY_CASE = re.compile(r"[0-9a-fA-F]{64}")
_NON_ALNUM = re.compile(r"[\W_]+")
_E164 = phonenumbers.PhoneNumberFormat.E164


def sha256_hex(text: str) -> str:
    """SHA-256 of the UTF-8 text, as 64 lower-case hex digits."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def is_sha256(text: str) -> bool:
    """Whether ``text`` already is a SHA-256 digest (64 lower-case hex digits)."""
    return len(text) == 64 and _SHA256.fullmatch(text) is not None


def _hash(normalised: str) -> str:
    return normalised if is_sha256(normalised) else sha256_hex(normalised)


def hash_external_id(value: str) -> str:
    """External id: hashed as given."""
    return _hash(value)


def hash_email(value: str) -> str | None:
    """E-mail: trimmed, lower-cased, hashed; ``None`` when it has no ``@``."""
    normalised = value.strip().lower()
    if is_sha256(normalised):
        return normalised
    if "@" not in normalised:
        return None
    return sha256_hex(normalised)


def hash_name(value: str) -> str | None:
    """First or last name: trimmed, lower-cased, hashed."""
    return _hash(value.strip().lower()) or None


def hash_zip(value: str) -> str | None:
    """Zip / postal code: trimmed, lower-cased, hashed."""
    return _hash(value.strip().lower()) or None


def location(value: str) -> str | None:
    """City, state or country: lower-cased with non-alphanumerics removed; NOT hashed."""
    return _NON_ALNUM.sub("", value.lower()) or None


def _parse_phone(value: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(value, region)
    except Exception:  # a foreign parser: whatever it raises, the number is unusable
        return None
    # Validity, not "possible length": a number too short for its country's plan ("555-0100",
    # "+44 20 7946") passes the length check but is no one's full number, so TikTok could never
    # match it. is_valid_number checks the digits against the country's numbering plan.
    if not phonenumbers.is_valid_number(number):
        return None
    return sha256_hex(phonenumbers.format_number(number, _E164))


def hash_phone(value: str, region: str) -> str | None:
    """Phone: made E.164 (``+`` country code and digits) and hashed; ``None`` if not valid.

    Numbers without a country code are read as numbers of ``region`` (ISO 3166, e.g. "US").
    A number counts when ``phonenumbers`` finds it valid: a complete number of its country's
    numbering plan (right length and prefixes for that country), so local-only or truncated
    numbers (``555-0100``, ``+1 555 0100``, ``+44 20 7946``) are left out rather than sent in an
    incomplete form. A value that is 64 hex digits (any case) is taken as already hashed.
    """
    text = value.strip()
    if len(text) == 64 and _SHA256_ANY_CASE.fullmatch(text):
        return text.lower()
    return _parse_phone(text, region)
