"""Keep raw PII out of the fields TikTok receives unhashed.

User-data fields are hashed (see :mod:`mapping.user`), but CDP events also carry free text (a
product description, a search query, a form name), URLs and identifiers that TikTok receives as
they are. A shopper who types their e-mail address into a search box, or a checkout URL with
``?email=...``, would otherwise leak it. These helpers find e-mail addresses (also
percent-encoded, ``%40``) everywhere, and phone numbers in free text, and replace them.

Phone numbers are looked for in free text only: identifiers and URLs are full of long digit
runs (order numbers, barcodes, click ids) that a pattern cannot tell apart from a phone number.

:func:`scrub` is the one scrubber of the project: the mapping's free text, the connector's log
lines (``digit_runs=False``: offsets and epoch times are bare digit runs there) and the error
messages written into dead-letter headers all go through it, each with its own mask.
"""

from __future__ import annotations

import re

__all__ = ["REDACTED", "has_email", "has_pii", "redact_emails", "redact_pii", "scrub"]

REDACTED = "[redacted]"

# "@" (or its percent-encoding) with a dotted domain after it, plus the local part before it.
# URL delimiters end the match so that a redacted query string keeps its other parameters.
_ATOM = r"""[^\s@&?#=/;,<>"'()\[\]{}|\\]"""
# Bounded repeats (RFC 5321 lengths) keep the search linear on long hostile strings.
_EMAIL = re.compile(rf"{_ATOM}{{0,64}}(?:@|%40){_ATOM}{{0,253}}\.{_ATOM}+")
# "+" then at least 7 digits, or at least 9 digits, with up to two separators between digits.
# Dates (8 digits) and prices survive; "(415) 555-2671" and "+44 20 7946 0958" do not.
_PHONE = re.compile(r"\+\d(?:[\s().\-/]{0,2}\d){6,}|\(?\d(?:[\s().\-/]{0,2}\d){8,}")
# Phone numbers as written to be read: "+" and 7-15 digits with separators, or NANP-style
# (555) 123-4567; bare digit runs are left alone (in log lines they are offsets and times).
_WRITTEN_PHONE = re.compile(
    r"(?<![\w+])\+\d(?:[\s().-]{0,2}\d){6,14}(?!\d)"
    r"|(?<![\w(])\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}(?!\d)"
)


def _may_have_email(value: str) -> bool:
    return "@" in value or "%40" in value


def has_email(value: str) -> bool:
    """Whether ``value`` holds something that looks like an e-mail address."""
    return _may_have_email(value) and _EMAIL.search(value) is not None


def has_pii(value: str) -> bool:
    """Whether ``value`` holds an e-mail address or a phone number."""
    return has_email(value) or _PHONE.search(value) is not None


def redact_emails(value: str) -> str:
    """``value`` with e-mail addresses replaced; the same object when there is none."""
    if not _may_have_email(value):
        return value
    redacted, count = _EMAIL.subn(REDACTED, value)
    return redacted if count else value


def redact_pii(value: str) -> str:
    """``value`` with e-mail addresses and phone numbers replaced; the same object if none."""
    redacted = redact_emails(value)
    cleaned, count = _PHONE.subn(REDACTED, redacted)
    return cleaned if count else redacted


def scrub(
    value: str,
    *,
    email_mask: str = REDACTED,
    phone_mask: str = REDACTED,
    digit_runs: bool = True,
) -> str:
    """``value`` with e-mail addresses and phone numbers replaced by the masks.

    ``digit_runs`` also masks bare runs of nine digits or more (free text, where a phone number
    is often typed without separators); without it only numbers written with ``+`` or
    separators are (log lines and messages, where bare runs are offsets, ids and times).
    """
    if _may_have_email(value):
        value = _EMAIL.sub(email_mask, value)
    return (_PHONE if digit_runs else _WRITTEN_PHONE).sub(phone_mask, value)
