"""The typed values of the mapping: its settings, the TikTok event it builds, and its results.

``map_event`` returns a :data:`MappingResult`: either :class:`Mapped` (an event ready for the
request's ``data`` array) or :class:`Skipped` (the event is not for TikTok, with a reason code).
Both carry ``notes``: PII-free explanations of fields that were dropped or coerced, for logging.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NotRequired, TypedDict

import phonenumbers

from tiktok_capi.mapping.events import DEFAULT_EVENT_MAP, EventMap
from tiktok_capi.mapping.switches import DEFAULT_INTEGRATION_NAMES

__all__ = [
    "Mapped",
    "MappingResult",
    "MappingSettings",
    "Skipped",
    "TikTokContent",
    "TikTokEvent",
    "TikTokPage",
    "TikTokProperties",
    "TikTokUser",
]


class TikTokUser(TypedDict, total=False):
    """``data[].user``: hashed identifiers (SHA-256 hex) and unhashed device/click data."""

    external_id: str
    email: str
    phone: str
    first_name: str
    last_name: str
    city: str
    state: str
    country: str
    zip_code: str
    ip: str
    user_agent: str
    locale: str
    ttclid: str
    ttp: str


class TikTokContent(TypedDict, total=False):
    """One element of ``data[].properties.contents``; ``content_id`` is always a string."""

    content_id: str
    content_name: str
    content_category: str
    price: float | int
    quantity: int
    brand: str


class TikTokProperties(TypedDict, total=False):
    """``data[].properties``: order, search and form data."""

    contents: list[TikTokContent]
    content_type: str
    currency: str
    value: float | int
    order_id: str
    shop_id: str
    description: str
    query: str
    search_string: str
    form_name: str


class TikTokPage(TypedDict, total=False):
    """``data[].page``: TikTok requires ``url`` for web events."""

    url: str
    referrer: str


class TikTokEvent(TypedDict):
    """One element of the request's ``data`` array, exactly as sent (a plain dict at run time).

    Keys appear in this order; ``user``, ``properties`` and ``page`` are left out when empty.
    """

    event: str
    event_time: int
    event_id: str
    user: NotRequired[TikTokUser]
    properties: NotRequired[TikTokProperties]
    page: NotRequired[TikTokPage]
    limited_data_use: bool


def _folded(values: tuple[str, ...], what: str) -> tuple[str, ...]:
    if not isinstance(values, tuple):  # what the compiled build's type check raises, too
        raise TypeError(f"{what}: expected a tuple of names, got {type(values).__name__}")
    folded: list[str] = []
    for value in values:
        if not isinstance(value, str):
            raise TypeError(f"{what}: expected names (strings), got {type(value).__name__}")
        if not value.strip():
            raise ValueError(f"{what}: every name must be non-blank")
        folded.append(value.strip().casefold())
    return tuple(folded)


@dataclass(frozen=True, slots=True)
class MappingSettings:
    """What the mapping needs from the destination's configuration.

    Attributes:
        event_map: CDP event name -> TikTok event rules (defaults from the specification).
        default_phone_region: ISO 3166 region (e.g. "US", "GB"; case-insensitive, stored upper
            case) used to read phone numbers written without a country code. Raises
            ``ValueError`` when unknown.
        integration_names: the keys of an event's ``integrations`` object that mean this
            destination (compared case-insensitively; stored case-folded). Empty: only ``All``
            decides. See :mod:`mapping.switches`.
        consent_categories: consent categories that must all be ``true`` in
            ``context.consent.categoryPreferences`` (case-insensitive; stored case-folded).
            Empty (the default): consent is not checked.
        consent_required: skip events without consent preferences as well. Needs
            ``consent_categories`` (``ValueError`` otherwise: without categories nothing would
            be checked, which is not what a user asking for consent wants).
    """

    event_map: EventMap = DEFAULT_EVENT_MAP
    default_phone_region: str = "US"
    integration_names: tuple[str, ...] = DEFAULT_INTEGRATION_NAMES
    consent_categories: tuple[str, ...] = ()
    consent_required: bool = False

    def __post_init__(self) -> None:
        region = self.default_phone_region
        if isinstance(region, str) and region.strip().upper() != region:
            # "us" and " GB " are what users type; store the canonical form.
            object.__setattr__(self, "default_phone_region", region.strip().upper())
        if self.default_phone_region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(
                f"unknown phone region {self.default_phone_region!r}: "
                "expected an upper-case ISO 3166 code such as US, GB or DE"
            )
        # Case-folded once here, so that the per-event comparison is a plain lookup.
        names = _folded(self.integration_names, "integration_names")
        object.__setattr__(self, "integration_names", names)
        categories = _folded(self.consent_categories, "consent_categories")
        object.__setattr__(self, "consent_categories", categories)
        if self.consent_required and not categories:
            raise ValueError(
                "consent_required needs consent_categories: name the categories that must be "
                "granted (e.g. Advertising)"
            )


# Mapped and Skipped are made once per event: a frozen dataclass's __init__ (object.__setattr__
# per field) costs ~1.5 us, a plain slotted one ~0.45 us, compiled or not. Treat them as values.
@dataclass(slots=True)
class Mapped:
    """The event maps to TikTok.

    Attributes:
        event_name: the TikTok event name (same as ``event["event"]``).
        event: the object for the request's ``data`` array (JSON-serialisable).
        event_id: the deduplication id sent (``messageId``, or derived when it is missing).
        notes: PII-free reasons for fields that were dropped or coerced.
    """

    event_name: str
    event: TikTokEvent
    event_id: str
    notes: tuple[str, ...] = field(default=())


@dataclass(slots=True)
class Skipped:
    """The event is not sent to TikTok; commit it like any other.

    Attributes:
        reason: low-cardinality code, usable as a metric label (see ``SKIP_REASONS``).
        detail: PII-free detail (e.g. the event name or call type), for logs.
        notes: PII-free notes gathered before the decision.
    """

    reason: str
    detail: str = ""
    notes: tuple[str, ...] = field(default=())


MappingResult = Mapped | Skipped
