"""``data[].user``: who did it, hashed, plus the unhashed device and click data.

Priority chains read the first candidate that is present and usable: an empty, blank or null
value is absent, and a present but unusable one (an e-mail without ``@``, a phone number that
cannot be made E.164) is noted and the next candidate is tried.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from mapping import normalise
from mapping.model import TikTokUser
from mapping.pii import has_email, has_pii, redact_emails
from mapping.values import as_text, field, obj

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

    external_id = _first(
        ((event.get("userId"), "userId"), (event.get("anonymousId"), "anonymousId")),
        normalise.hash_external_id,
        notes,
        "id",
    )
    if external_id is not None:
        user["external_id"] = external_id

    email = _first(
        (
            (field(properties, "email"), "properties.email"),
            (field(traits, "email"), "context.traits.email"),
        ),
        normalise.hash_email,
        notes,
        "e-mail address",
    )
    if email is not None:
        user["email"] = email

    phone = _first(
        (
            (field(properties, "phone"), "properties.phone"),
            (field(traits, "phone"), "context.traits.phone"),
        ),
        lambda text: normalise.hash_phone(text, region),
        notes,
        "phone number",
    )
    if phone is not None:
        user["phone"] = phone

    first_name = _first(
        (
            (field(properties, "first_name"), "properties.first_name"),
            (field(traits, "first_name"), "context.traits.first_name"),
            (field(traits, "firstName"), "context.traits.firstName"),
        ),
        normalise.hash_name,
        notes,
        "name",
    )
    if first_name is not None:
        user["first_name"] = first_name

    last_name = _first(
        (
            (field(properties, "last_name"), "properties.last_name"),
            (field(traits, "last_name"), "context.traits.last_name"),
            (field(traits, "lastName"), "context.traits.lastName"),
        ),
        normalise.hash_name,
        notes,
        "name",
    )
    if last_name is not None:
        user["last_name"] = last_name

    if p_address is not None or t_address is not None:
        for key in ("city", "state", "country"):
            value = _first(
                (
                    (field(p_address, key), f"properties.address.{key}"),
                    (field(t_address, key), f"context.traits.address.{key}"),
                ),
                _location,
                notes,
                key,
            )
            if value is not None:
                user[key] = value
        zip_code = _first(
            (
                (field(p_address, "postal_code"), "properties.address.postal_code"),
                (field(p_address, "zip_code"), "properties.address.zip_code"),
                (field(t_address, "postal_code"), "context.traits.address.postal_code"),
                (field(t_address, "zip_code"), "context.traits.address.zip_code"),
                (field(t_address, "postalCode"), "context.traits.address.postalCode"),
            ),
            normalise.hash_zip,
            notes,
            "zip code",
        )
        if zip_code is not None:
            user["zip_code"] = zip_code

    if context is not None:
        ip = _first(((context.get("ip"), "context.ip"),), _plain, notes, "ip address")
        if ip is not None:
            user["ip"] = ip
        user_agent = as_text(context.get("userAgent"), "context.userAgent", notes)
        if user_agent is not None:
            user["user_agent"] = _redacted(user_agent, "context.userAgent", notes)
        locale = _first(((context.get("locale"), "context.locale"),), _plain, notes, "locale")
        if locale is not None:
            user["locale"] = locale

    ttclid = _first(((field(properties, "ttclid"), "properties.ttclid"),), _plain, notes, "ttclid")
    if ttclid is None and page_url is not None:
        ttclid = ttclid_from_url(page_url)
    if ttclid is not None:
        user["ttclid"] = ttclid
    ttp = _first(((field(properties, "ttp"), "properties.ttp"),), _plain, notes, "ttp")
    if ttp is not None:
        user["ttp"] = ttp
    return user


def _redacted(text: str, path: str, notes: list[str]) -> str:
    cleaned = redact_emails(text)
    if cleaned is not text:
        notes.append(f"{path}: e-mail address redacted")
    return cleaned
