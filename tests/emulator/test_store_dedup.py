"""The store's deduplication flags and counters match a plain per-event reference, whatever mix of
new keys, repeated keys (within and across requests) and missing event_ids arrives."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tiktok_capi.emulator.contract import STANDARD_EVENTS
from tiktok_capi.emulator.store import Store
from tiktok_capi.emulator.validate import Batch

EVENTS = st.fixed_dictionaries(
    {"event": st.sampled_from(["ViewContent", "AddToCart", "MyCustom"])},
    optional={"event_id": st.sampled_from([None, "", "a", "b", "c", "d"])},
)


@settings(max_examples=200, deadline=None)
@given(requests=st.lists(st.lists(EVENTS, min_size=1, max_size=6), min_size=1, max_size=5))
def test_flags_and_counters_match_a_per_event_reference(
    requests: list[list[dict[str, Any]]],
) -> None:
    store = Store(None, None)
    seen: set[tuple[str, str]] = set()
    expected_flags: list[bool] = []
    for n, events in enumerate(requests):
        store.accept(Batch("web", "PIXEL", None, [dict(e) for e in events]), f"r{n}", b"")
        for event in events:
            event_id = event.get("event_id")
            key = (event_id or "", event["event"])
            expected_flags.append(bool(event_id) and key in seen)
            if event_id:
                seen.add(key)
    kept = [flag for item in store._kept for flag in item.duplicates]
    assert [bool(flag) for flag in kept] == expected_flags
    stats = store.stats()
    every = [event for events in requests for event in events]
    assert stats["accepted_events"] == len(every)
    assert stats["duplicates"] == sum(expected_flags)
    assert stats["unique_events"] == len(every) - sum(expected_flags)
    assert stats["custom_events"] == sum(e["event"] not in STANDARD_EVENTS for e in every)
    assert sum(stats["events_by_name"].values()) == len(every)
