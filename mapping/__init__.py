"""CDP (Segment-spec) events -> TikTok Events API 2.0 events. Pure: no I/O, clock or logging.

Usage::

    from tiktok_capi.mapping import DEFAULT_EVENT_MAP, MappingSettings, Mapped, map_event

    settings = MappingSettings(event_map=DEFAULT_EVENT_MAP, default_phone_region="US")
    result = map_event(event, settings, now=time.time())
    if isinstance(result, Mapped):
        batch.append(result.event)        # exactly one element of the request's `data`
    else:
        skipped[result.reason] += 1       # low-cardinality reason code

The event table is data (:data:`DEFAULT_EVENT_MAP`); :func:`load_event_map` applies a user's
JSON overrides and raises :class:`EventMapError` with a message naming the file and the key.
Events the source disabled for this destination (``integrations``) or whose user did not consent
(``context.consent``, when consent categories are set) are skipped like unmapped ones.
See ``docs/mapping.md`` for every field and rule. :func:`compiled` tells whether this copy of
the package was compiled with mypyc (an opt-in build, see ``docs/architecture.md``).
"""

from importlib.machinery import EXTENSION_SUFFIXES

from tiktok_capi.mapping.events import (
    DEFAULT_EVENT_MAP,
    PAGE_KEY,
    ContentsSource,
    EventMap,
    EventMapError,
    EventRule,
    load_event_map,
    parse_event_map,
)
from tiktok_capi.mapping.mapper import SKIP_REASONS, map_event
from tiktok_capi.mapping.model import (
    Mapped,
    MappingResult,
    MappingSettings,
    Skipped,
    TikTokContent,
    TikTokEvent,
    TikTokPage,
    TikTokProperties,
    TikTokUser,
)
from tiktok_capi.mapping.switches import DEFAULT_INTEGRATION_NAMES

__all__ = [
    "DEFAULT_EVENT_MAP",
    "DEFAULT_INTEGRATION_NAMES",
    "PAGE_KEY",
    "SKIP_REASONS",
    "ContentsSource",
    "EventMap",
    "EventMapError",
    "EventRule",
    "Mapped",
    "MappingResult",
    "MappingSettings",
    "Skipped",
    "TikTokContent",
    "TikTokEvent",
    "TikTokPage",
    "TikTokProperties",
    "TikTokUser",
    "compiled",
    "load_event_map",
    "map_event",
    "parse_event_map",
]


def compiled() -> bool:
    """Whether this package was compiled with mypyc (its modules are extension modules)."""
    return __file__.endswith(tuple(EXTENSION_SUFFIXES))
