"""Shared helpers for the mapping tests."""

from __future__ import annotations

import hashlib
from typing import Any

from tiktok_capi.mapping import (
    DEFAULT_INTEGRATION_NAMES,
    Mapped,
    MappingResult,
    MappingSettings,
    Skipped,
    map_event,
    parse_event_map,
)

NOW = 1_764_000_000.75  # 2025-11-24T16:00:00.75Z
SETTINGS = MappingSettings()


def sha(text: str) -> str:
    """What the mapper sends for a normalised value."""
    return hashlib.sha256(text.encode()).hexdigest()


def track(name: str, properties: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """A minimal track event with a messageId and a page URL (so no notes about those)."""
    event: dict[str, Any] = {
        "type": "track",
        "event": name,
        "messageId": "msg-1",
        "context": {"page": {"url": "https://shop.example/"}},
        "properties": properties or {},
    }
    event.update(fields)
    return event


def mapped(event: Any, settings: MappingSettings = SETTINGS, now: float = NOW) -> Mapped:
    result = map_event(event, settings, now)
    assert isinstance(result, Mapped), result
    return result


def skipped(event: Any, settings: MappingSettings = SETTINGS) -> Skipped:
    result: MappingResult = map_event(event, settings, NOW)
    assert isinstance(result, Skipped), result
    return result


def get(tree: Any, path: str) -> Any:
    """``tree`` at a dotted path (``user.email``, ``properties.contents.0.price``) or None."""
    for part in path.split("."):
        if isinstance(tree, list):
            index = int(part)
            tree = tree[index] if index < len(tree) else None
        elif isinstance(tree, dict):
            tree = tree.get(part)
        else:
            return None
    return tree


def golden_settings(case: dict[str, Any]) -> MappingSettings:
    """The settings a golden case asks for (every key optional; the defaults otherwise)."""
    return MappingSettings(
        event_map=parse_event_map(case.get("event_map", {}), "golden event_map"),
        default_phone_region=case.get("phone_region", "US"),
        integration_names=tuple(case.get("integration_names", DEFAULT_INTEGRATION_NAMES)),
        consent_categories=tuple(case.get("consent_categories", ())),
        consent_required=case.get("consent_required", False),
    )
