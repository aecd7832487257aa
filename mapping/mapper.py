"""``map_event``: one CDP (Segment-spec) event in, one TikTok event or a skip reason out.

Pure: the current time is an argument, nothing is logged, nothing raises for any input. Call
types: ``track`` maps by its exact ``event`` name, ``page`` maps by the ``$page`` rule
(``Pageview``), ``identify``/``group``/``alias``/``screen`` are skipped. An event that maps is
then checked against the source's own switches (:mod:`mapping.switches`): ``integrations``
first, then consent, so those skips count only events TikTok would otherwise have received.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, cast

import orjson

from tiktok_capi.mapping.events import PAGE_KEY, EventRule
from tiktok_capi.mapping.model import (
    Mapped,
    MappingResult,
    MappingSettings,
    Skipped,
    TikTokEvent,
    TikTokPage,
    TikTokProperties,
)
from tiktok_capi.mapping.normalise import sha256_hex
from tiktok_capi.mapping.pii import has_email, redact_emails, redact_pii
from tiktok_capi.mapping.properties import build_properties
from tiktok_capi.mapping.switches import disabled_by_integrations, missing_consent
from tiktok_capi.mapping.timestamps import event_time
from tiktok_capi.mapping.user import build_user
from tiktok_capi.mapping.values import as_bool, as_text, field, kind, obj

__all__ = ["SKIP_REASONS", "map_event"]

# Every Skipped.reason this module produces (metric label values).
SKIP_REASONS: Final = (
    "not_an_object",
    "unsupported_call_type",
    "missing_event_name",
    "unmapped_event",
    "disabled_event",
    "disabled_by_integrations",
    "no_consent",
)

_UNSUPPORTED_TYPES = frozenset({"identify", "group", "alias", "screen"})
_MAX_DETAIL = 100
_DERIVED_PREFIX = "derived-"


def _detail(text: str) -> str:
    return redact_pii(text)[:_MAX_DETAIL]


def _event_id(event: Mapping[str, Any], notes: list[str]) -> str:
    message_id = as_text(event.get("messageId"), "messageId", notes, quiet_numbers=True)
    if message_id is not None:
        if has_email(message_id):
            notes.append("messageId: holds an e-mail address; event_id is its SHA-256")
            return sha256_hex(message_id)
        return message_id
    # No messageId: an id derived from the content stays the same when the record is retried
    # or replayed, so TikTok still deduplicates repeated sends of this event.
    notes.append("messageId: missing; event_id derived from the event's content")
    return _DERIVED_PREFIX + sha256_hex(_canonical(event))[:32]


def _canonical(event: Mapping[str, Any]) -> str:
    """The event as stable text: sorted-key JSON, else its repr, else its top-level keys."""
    try:
        return orjson.dumps(
            event, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str
        ).decode("utf-8")
    except Exception:  # e.g. integers beyond 64 bits, nesting deeper than orjson allows
        pass
    try:
        return repr(event)
    except Exception:  # RecursionError on absurdly deep nesting
        return repr(sorted(str(key) for key in event))


def _url(value: object, path: str, notes: list[str]) -> str | None:
    text = as_text(value, path, notes)
    if text is None:
        return None
    cleaned = redact_emails(text)
    if cleaned is not text:
        notes.append(f"{path}: e-mail address redacted")
    return cleaned


def _rule(
    event: Mapping[str, Any], settings: MappingSettings, notes: list[str]
) -> tuple[EventRule, bool] | Skipped:
    """The rule for the event and whether it is a track call, or why it is skipped."""
    event_map = settings.event_map
    call = event.get("type")
    if call is None and "event" in event:
        notes.append("type: missing; read as a track call")
        call = "track"
    if call == "track":
        raw = event.get("event")
        # Names match exactly as emitted, surrounding spaces included ("Order Completed " is
        # not "Order Completed").
        name = raw if type(raw) is str else as_text(raw, "event", notes)
        if name is None or not name.strip():
            return Skipped("missing_event_name", "", tuple(notes))
        rule = event_map.get(name) if name != PAGE_KEY else None
        if rule is None:
            reason = "disabled_event" if event_map.is_disabled(name) else "unmapped_event"
            return Skipped(reason, _detail(name), tuple(notes))
        return rule, True
    if call == "page":
        rule = event_map.get(PAGE_KEY)
        if rule is None:
            return Skipped("disabled_event", "page", tuple(notes))
        return rule, False
    if isinstance(call, str):
        detail = call if call in _UNSUPPORTED_TYPES else _detail(call)
        return Skipped("unsupported_call_type", detail, tuple(notes))
    return Skipped("unsupported_call_type", "missing" if call is None else kind(call), tuple(notes))


def map_event(event: Mapping[str, Any], settings: MappingSettings, now: float) -> MappingResult:
    """Map one CDP event to the TikTok event for the request's ``data`` array.

    Args:
        event: the decoded CDP event (any value is tolerated; non-objects are skipped).
        settings: the event table, the default phone region, the names of this destination in
            ``integrations`` and the consent categories required.
        now: the current time in Unix seconds, used when the event has no usable timestamp.

    Returns:
        :class:`Mapped` with the event, or :class:`Skipped` with a low-cardinality reason. Both
        carry PII-free notes on fields dropped or coerced. Never raises on bad input.
    """
    if type(event) is not dict and not isinstance(event, Mapping):
        return Skipped("not_an_object", kind(event))
    notes: list[str] = []
    chosen = _rule(event, settings, notes)
    if isinstance(chosen, Skipped):
        return chosen
    rule, is_track = chosen

    properties = obj(event.get("properties"), "properties", notes)
    context = obj(event.get("context"), "context", notes)
    refused = disabled_by_integrations(event.get("integrations"), settings.integration_names, notes)
    if refused is not None:
        return Skipped("disabled_by_integrations", refused, tuple(notes))
    refused = missing_consent(
        context, settings.consent_categories, settings.consent_required, notes
    )
    if refused is not None:
        return Skipped("no_consent", refused, tuple(notes))
    context_page = obj(field(context, "page"), "context.page", notes)

    page: TikTokPage = {}
    url = _url(field(properties, "url"), "properties.url", notes) or _url(
        field(context_page, "url"), "context.page.url", notes
    )
    if url is not None:
        page["url"] = url
    else:
        notes.append("page.url: no properties.url or context.page.url (TikTok requires it)")
    referrer = _url(field(properties, "referrer"), "properties.referrer", notes) or _url(
        field(context_page, "referrer"), "context.page.referrer", notes
    )
    if referrer is not None:
        page["referrer"] = referrer

    event_id = _event_id(event, notes)
    user = build_user(event, properties, context, url, settings.default_phone_region, notes)
    tiktok_properties: TikTokProperties = (
        build_properties(rule, properties, notes) if is_track else {}
    )
    limited = as_bool(event.get("limited_data_use"), "limited_data_use", notes)

    # Built as a plain dict so that the keys come out in the documented order.
    result: dict[str, Any] = {
        "event": rule.event,
        "event_time": event_time(event.get("timestamp"), now, notes),
        "event_id": event_id,
    }
    if user:
        result["user"] = user
    if tiktok_properties:
        result["properties"] = tiktok_properties
    if page:
        result["page"] = page
    result["limited_data_use"] = bool(limited)
    return Mapped(rule.event, cast(TikTokEvent, result), event_id, tuple(notes))
