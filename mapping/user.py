"""``data[].user``: who did it, hashed, plus the unhashed device and click data.

Priority chains read the first candidate that is present and usable: an empty, blank or null
value is absent, and a present but unusable one (an e-mail without ``@``, a phone number that
cannot be made E.164) is noted and the next candidate is tried.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

from tiktok_capi.mapping import normalise
from tiktok_capi.mapping.model import TikTokUser
from tiktok_capi.mapping.pii import has_email, has_pii, redact_emails
from tiktok_capi.mapping.values import as_text, field, obj

__all__ = ["build_user", "ttclid_from_url"]

Candidates = tuple[tuple[Any, str], ...]


def _first(
    candidates: Candidates, convert: Callable[[str], str | None], notes: list[str], what: str
) -> str | None:
    for value, path in candidates:
        if value is None:  # the common case, kept cheap: this runs ~10 times per event
            continue
        text = as_text(value, path, notes, quiet_numbers=True)
        if text is None:
            continue
        converted = convert(text)
        if converted is not None:
            return converted
        notes.append(f"{path}: not a usable {what}; dropped")
    return None


def _single(value: object, path: str, notes: list[str], what: str) -> str | None:
    """A one-candidate chain of an unhashed value that must not hold an e-mail address."""
    if value is None:  # the common case: no call to _first
        return None
    return _first(((value, path),), _plain, notes, what)


def _location(text: str) -> str | None:
    # Sent unhashed, so a value holding an e-mail address or phone number is refused.
    return None if has_pii(text) else normalise.location(text)


def _plain(text: str) -> str | None:
    return None if has_email(text) else text


def ttclid_from_url(url: str) -> str | None:
    """The ``ttclid`` query parameter of ``url`` (the first non-empty one), or ``None``."""
    if "ttclid=" not in url:
        return None
    try:
        query = urlsplit(url).query
    except ValueError:  # e.g. an invalid IPv6 host
        return None
    for name, value in parse_qsl(query):
        if name == "ttclid" and value.strip():
            return value.strip()
    return None


# The hashed fields and their priority chains: (user key, normaliser, what it is, candidates).
# A candidate is (source, key, path); sources are indexes into the tuple built in build_user.
_EVENT, _PROPERTIES, _TRAITS, _P_ADDRESS, _T_ADDRESS = range(5)
_Chain = tuple[str, Callable[[str, str], str | None], str, tuple[tuple[int, str, str], ...]]
_CHAINS: tuple[_Chain, ...] = (
    (
        "external_id",
        lambda text, _region: normalise.hash_external_id(text),
        "id",
        ((_EVENT, "userId", "userId"), (_EVENT, "anonymousId", "anonymousId")),
    ),
    (
        "email",
        lambda text, _region: normalise.hash_email(text),
        "e-mail address",
        (
            (_PROPERTIES, "email", "properties.email"),
            (_TRAITS, "email", "context.traits.email"),
        ),
    ),
    (
        "phone",
        normalise.hash_phone,
        "phone number",
        (
            (_PROPERTIES, "phone", "properties.phone"),
            (_TRAITS, "phone", "context.traits.phone"),
        ),
    ),
    (
        "first_name",
        lambda text, _region: normalise.hash_name(text),
        "name",
        (
            (_PROPERTIES, "first_name", "properties.first_name"),
            (_TRAITS, "first_name", "context.traits.first_name"),
            (_TRAITS, "firstName", "context.traits.firstName"),
        ),
    ),
    (
        "last_name",
        lambda text, _region: normalise.hash_name(text),
        "name",
        (
            (_PROPERTIES, "last_name", "properties.last_name"),
            (_TRAITS, "last_name", "context.traits.last_name"),
            (_TRAITS, "lastName", "context.traits.lastName"),
        ),
    ),
    *(
        (
            key,
            lambda text, _region: _location(text),
            key,
            (
                (_P_ADDRESS, key, f"properties.address.{key}"),
                (_T_ADDRESS, key, f"context.traits.address.{key}"),
            ),
        )
        for key in ("city", "state", "country")
    ),
    (
        "zip_code",
        lambda text, _region: normalise.hash_zip(text),
        "zip code",
        (
            (_P_ADDRESS, "postal_code", "properties.address.postal_code"),
            (_P_ADDRESS, "zip_code", "properties.address.zip_code"),
            (_T_ADDRESS, "postal_code", "context.traits.address.postal_code"),
            (_T_ADDRESS, "zip_code", "context.traits.address.zip_code"),
            (_T_ADDRESS, "postalCode", "context.traits.address.postalCode"),
        ),
    ),
)


# Real traffic repeats its users: the same e-mails, phones and ids arrive many times an hour, and
# normalising and hashing them is a fifth of the mapping's work (a phone number's parse alone
# ~17 us). Converted values are kept by (field, region, text as given): a bounded dict, emptied
# when full, in this process's memory only (never logged or exported; the events in flight hold
# the same values). 32,768 entries take ~10 MB per process at most. docs/performance.md has what
# it buys on a stream that repeats its users and what it costs on one that never does.
_CONVERTED: dict[tuple[str, str, str], str | None] = {}
CACHE_SIZE = 32_768
_MISS = object()


def _hashed(
    user: dict[str, Any],
    sources: tuple[Mapping[str, Any] | None, ...],
    region: str,
    notes: list[str],
) -> None:
    """Fill the hashed fields of ``user`` from ``_CHAINS`` (the same rules as ``_first``).

    A table rather than one ``_first`` call per field: this runs for every event, and most
    candidates are absent, so the common case is a dictionary lookup and a ``None`` check.
    """
    for user_key, convert, what, candidates in _CHAINS:
        for source, key, path in candidates:
            parent = sources[source]
            if parent is None:
                continue
            value = parent.get(key)
            if value is None:
                continue
            if type(value) is str and value.isascii():
                text: str | None = value.strip() or None
            else:
                text = as_text(value, path, notes, quiet_numbers=True)
            if text is None:
                continue
            cache_key = (user_key, region, text)
            cached = _CONVERTED.get(cache_key, _MISS)
            if cached is _MISS:
                converted = convert(text, region)
                if len(_CONVERTED) >= CACHE_SIZE:
                    _CONVERTED.clear()
                _CONVERTED[cache_key] = converted
            else:
                converted = cast("str | None", cached)
            if converted is not None:
                user[user_key] = converted
                break
            notes.append(f"{path}: not a usable {what}; dropped")


def build_user(
    event: Mapping[str, Any],
    properties: Mapping[str, Any] | None,
    context: Mapping[str, Any] | None,
    page_url: str | None,
    region: str,
    notes: list[str],
) -> TikTokUser:
    """Build ``user`` from the event, its ``properties`` and ``context`` (either may be absent).

    Args:
        page_url: the page URL already chosen for ``page.url`` (for the ``ttclid`` parameter).
        region: default phone region.
        notes: receives a note for every value dropped or coerced.
    """
    traits = obj(field(context, "traits"), "context.traits", notes)
    p_address = obj(field(properties, "address"), "properties.address", notes)
    t_address = obj(field(traits, "address"), "context.traits.address", notes)
    user: TikTokUser = {}
    _hashed(
        cast(dict[str, Any], user),
        (event, properties, traits, p_address, t_address),
        region,
        notes,
    )

    if context is not None:
        ip = _single(context.get("ip"), "context.ip", notes, "ip address")
        if ip is not None:
            user["ip"] = ip
        user_agent = as_text(context.get("userAgent"), "context.userAgent", notes)
        if user_agent is not None:
            user["user_agent"] = _redacted(user_agent, "context.userAgent", notes)
        locale = _single(context.get("locale"), "context.locale", notes, "locale")
        if locale is not None:
            user["locale"] = locale

    ttclid = _single(field(properties, "ttclid"), "properties.ttclid", notes, "ttclid")
    if ttclid is None and page_url is not None:
        ttclid = ttclid_from_url(page_url)
    if ttclid is not None:
        user["ttclid"] = ttclid
    ttp = _single(field(properties, "ttp"), "properties.ttp", notes, "ttp")
    if ttp is not None:
        user["ttp"] = ttp
    return user


def _redacted(text: str, path: str, notes: list[str]) -> str:
    cleaned = redact_emails(text)
    if cleaned is not text:
        notes.append(f"{path}: e-mail address redacted")
    return cleaned
