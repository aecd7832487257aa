"""The source's own switches: did it let this event go to this destination?

A SaaS destination never sees an event its source told it not to receive; a connector that
replaces one honours the same two Segment-spec conventions:

- ``integrations`` (top level) turns destinations on or off per event. A key naming this
  destination (one of :data:`DEFAULT_INTEGRATION_NAMES` or the configured names, compared
  case-insensitively) decides: ``false`` disables it, ``true`` or an object (per-destination
  options) enables it. Otherwise ``All`` decides (``{"All": false, ...}`` sends only to the
  destinations named ``true``); without ``All`` the event is enabled. When several keys name
  this destination and one says ``false``, it is disabled.
- ``context.consent.categoryPreferences`` holds the user's consent choices
  (``{"Advertising": false, "Analytics": true}``). With consent categories configured, the event
  is delivered only when every one of them is ``true`` there (category names compared
  case-insensitively; a category missing from the preferences is not consent). An event without
  preferences (consent not collected upstream) is delivered unless consent is required.

Both functions return ``None`` when the event may be sent, else a PII-free detail for the skip.
Switch values may be written as ``"true"``/``"false"`` or 1/0 (noted, as everywhere); any other
value is no answer (noted) and is ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from tiktok_capi.mapping.values import as_bool, field, obj

__all__ = ["DEFAULT_INTEGRATION_NAMES", "disabled_by_integrations", "missing_consent"]

# What sources call TikTok's Events API destination in `integrations`: Segment's "TikTok
# Conversions" (its catalog asks for "Tiktok Conversions"; Customer.io uses the same name), this
# project's own "TikTok Conversions API", RudderStack's "TikTok Ads" (dashboard name) and
# "TIKTOK_ADS" (its documented integrations-object name). Deliberately absent: "TikTok Pixel"
# (the browser tag, another destination) and "TikTok Offline Conversions" (another product).
DEFAULT_INTEGRATION_NAMES: Final = (
    "TikTok Conversions",
    "TikTok Conversions API",
    "TikTok Ads",
    "TIKTOK_ADS",
)


def _switch(value: object, path: str, notes: list[str]) -> bool | None:
    if value is True or value is False:
        return value
    if isinstance(value, Mapping):  # per-destination options: the destination is on
        return True
    return as_bool(value, path, notes)


def disabled_by_integrations(
    integrations: object, names: tuple[str, ...], notes: list[str]
) -> str | None:
    """Why ``integrations`` disables this destination, or ``None`` when it does not.

    Args:
        integrations: the event's ``integrations`` value (absent, null or not an object:
            enabled; a non-object is noted).
        names: the names meaning this destination, case-folded (see ``MappingSettings``).
        notes: receives a note for every switch value that is not a boolean.

    Returns:
        ``"this destination: false"`` or ``"All: false"``, or ``None``.
    """
    if integrations is None:
        return None
    table = obj(integrations, "integrations", notes)
    if not table:
        return None
    named = False
    everything: bool | None = None
    for key, value in table.items():
        if type(key) is not str:
            continue
        folded = key.strip().casefold()
        if folded == "all":
            everything = _switch(value, "integrations.All", notes)
        elif folded in names:
            enabled = _switch(value, "integrations (this destination)", notes)
            if enabled is False:
                return "this destination: false"
            named = named or enabled is True
    if named or everything is not False:
        return None
    return "All: false"


def missing_consent(
    context: Mapping[str, Any] | None,
    categories: tuple[str, ...],
    required: bool,
    notes: list[str],
) -> str | None:
    """Why the consent in ``context`` does not allow sending, or ``None`` when it does.

    Args:
        context: the event's ``context`` object (or ``None``).
        categories: the categories that must all be granted, case-folded; empty: no check.
        required: whether an event without ``context.consent.categoryPreferences`` is refused.
        notes: receives a note for a preference that is not a boolean.

    Returns:
        The first category not granted (as configured, case-folded), ``"no consent
        preferences"``, or ``None``.
    """
    if not categories:
        return None
    consent = obj(field(context, "consent"), "context.consent", notes)
    path = "context.consent.categoryPreferences"
    preferences = obj(field(consent, "categoryPreferences"), path, notes)
    if preferences is None:
        return "no consent preferences" if required else None
    granted: dict[str, object] = {}
    for key, value in preferences.items():
        if type(key) is str:
            granted[key.strip().casefold()] = value
    for category in categories:
        if as_bool(granted.get(category), path, notes) is not True:
            return category
    return None
