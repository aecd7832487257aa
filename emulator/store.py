"""What the emulator remembers: counters, accepted events and the deduplication keys.

TikTok deduplicates on (``event_source_id``, ``event_id``, ``event``): an event whose key was
seen before is accepted (code 0) but counted as a duplicate, as the real API answers success and
drops it silently. Events without an ``event_id`` cannot be deduplicated and are always unique.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import orjson

from tiktok_capi.emulator.contract import STANDARD_EVENTS
from tiktok_capi.emulator.recorder import Recorder
from tiktok_capi.emulator.validate import Batch

__all__ = ["Store"]

# dict.get as a plain function of (event, field), for map().
_get: Callable[[dict[str, Any], str], Any] = dict.get


@dataclass(frozen=True, slots=True)
class _Kept:
    """An accepted request as kept in memory (no parsed events: see `Store`)."""

    request_id: str
    event_source: str
    event_source_id: str
    test_event_code: str | None
    body: bytes
    duplicates: bytes  # one byte per event: 1 when it was a duplicate


def _tagged(kept: _Kept, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``events`` (modified in place) tagged with where they came from."""
    request_id, source, source_id = kept.request_id, kept.event_source, kept.event_source_id
    test_code = kept.test_event_code
    for event, duplicate in zip(events, kept.duplicates, strict=True):
        event["request_id"] = request_id
        event["event_source"] = source
        event["event_source_id"] = source_id
        if test_code is not None:
            event["test_event_code"] = test_code
        event["duplicate"] = bool(duplicate)
    return events


class Store:
    """Thread-safe state of one emulator.

    Args:
        max_events_in_memory: accepted events kept for `events` (oldest dropped); None: all.
        recorder: where accepted events are also appended as JSON lines, if anywhere.
    """

    def __init__(self, max_events_in_memory: int | None, recorder: Recorder | None) -> None:
        self._lock = threading.Lock()
        self.recorder = recorder
        self._max_events = max_events_in_memory
        # Accepted requests are kept as their bodies and parsed again only when asked for:
        # re-serialising every event, or keeping millions of small dicts (which make every
        # full garbage collection slower as the run goes on), costs more than validation.
        self._kept: deque[_Kept] = deque()
        self._kept_events = 0
        self._seen: set[str] = set()
        self._reset_counters()

    def _reset_counters(self) -> None:
        self._requests = 0
        self._accepted_requests = 0
        self._rejected_requests = 0
        self._accepted_events = 0
        self._unique_events = 0
        self._duplicates = 0
        self._custom_events = 0
        self._test_events = 0
        self._by_code: dict[int, int] = {}
        self._by_name: dict[str, int] = {}
        self._faults: dict[str, int] = {}

    def count_request(self) -> None:
        """Count a request of the track endpoint (whatever its fate)."""
        with self._lock:
            self._requests += 1

    def count_rejection(self, code: int) -> None:
        """Count a request answered with a non-zero business ``code``."""
        with self._lock:
            self._rejected_requests += 1
            self._by_code[code] = self._by_code.get(code, 0) + 1

    def count_fault(self, kind: str) -> None:
        """Count an injected fault of ``kind``."""
        with self._lock:
            self._faults[kind] = self._faults.get(kind, 0) + 1

    def accept(self, batch: Batch, request_id: str, body: bytes) -> None:
        """Record the events of an accepted request whose (decoded) body is ``body``."""
        source_id = batch.event_source_id
        events = batch.events
        # One field of every event at a time (C-level map), not a Python loop per event.
        names: list[str] = list(map(_get, events, repeat("event")))
        names_seen = Counter(names)
        custom = sum(n for name, n in names_seen.items() if name not in STANDARD_EVENTS)
        event_ids: list[str | None] = list(map(_get, events, repeat("event_id")))
        count = len(events)
        with self._lock:
            flags = self._deduplicate(source_id, names, event_ids)
            duplicates = flags.count(1)
            by_name = self._by_name
            for name, n in names_seen.items():
                by_name[name] = by_name.get(name, 0) + n
            kept = _Kept(
                request_id,
                batch.event_source,
                source_id,
                batch.test_event_code,
                body,
                flags,
            )
            self._kept.append(kept)
            self._kept_events += count
            self._trim()
            self._accepted_requests += 1
            self._accepted_events += count
            self._duplicates += duplicates
            self._unique_events += count - duplicates
            self._custom_events += custom
            if batch.test_event_code is not None:
                self._test_events += count
        recorder = self.recorder
        if recorder is not None:
            option = orjson.OPT_APPEND_NEWLINE
            tagged = _tagged(kept, events)
            recorder.write([orjson.dumps(event, option=option) for event in tagged])

    def _deduplicate(self, source_id: str, names: list[str], event_ids: list[str | None]) -> bytes:
        """One byte per event, 1 when its key was seen before; remembers the new keys.

        Call with the lock held. Events without an ``event_id`` (null or empty) are never
        duplicates. A str key: the garbage collector does not track it (a tuple it would).
        """
        seen = self._seen
        if all(event_ids):
            # The usual request: every event has a key, none seen before, none repeated.
            keys = [
                f"{source_id}\x1f{event_id}\x1f{name}"
                for event_id, name in zip(event_ids, names, strict=True)
            ]
            fresh = set(keys)
            if len(fresh) == len(keys) and seen.isdisjoint(fresh):
                seen |= fresh
                return bytes(len(keys))
        flags = bytearray(len(names))
        for index, (event_id, name) in enumerate(zip(event_ids, names, strict=True)):
            if event_id:
                key = f"{source_id}\x1f{event_id}\x1f{name}"
                if key in seen:
                    flags[index] = 1
                else:
                    seen.add(key)
        return bytes(flags)

    def _trim(self) -> None:
        limit = self._max_events
        if limit is None:
            return
        kept = self._kept
        while kept and self._kept_events - len(kept[0].duplicates) >= limit:
            self._kept_events -= len(kept.popleft().duplicates)

    def events(self) -> list[dict[str, Any]]:
        """The accepted events kept in memory, oldest first, each with ``request_id``,
        ``event_source``, ``event_source_id``, ``duplicate`` (and ``test_event_code`` if sent)."""
        with self._lock:
            kept = list(self._kept)
        events: list[dict[str, Any]] = []
        for item in kept:
            data = orjson.loads(item.body)["data"]
            events.extend(_tagged(item, data))
        if self._max_events is not None:
            events = events[-self._max_events :] if self._max_events > 0 else []
        return events

    def stats(self) -> dict[str, Any]:
        """Counters as a JSON-ready dict (the body of ``GET /_emulator/stats``)."""
        with self._lock:
            return {
                "requests": self._requests,
                "accepted_requests": self._accepted_requests,
                "rejected_requests": self._rejected_requests,
                "accepted_events": self._accepted_events,
                "unique_events": self._unique_events,
                "duplicates": self._duplicates,
                "custom_events": self._custom_events,
                "test_events": self._test_events,
                "events_in_memory": min(self._kept_events, self._max_events or self._kept_events),
                "rejections_by_code": {str(code): n for code, n in sorted(self._by_code.items())},
                "events_by_name": dict(sorted(self._by_name.items())),
                "faults": dict(sorted(self._faults.items())),
            }

    def reset(self) -> None:
        """Forget every counter, event and deduplication key (the record file is kept)."""
        with self._lock:
            self._kept.clear()
            self._kept_events = 0
            self._seen.clear()
            self._reset_counters()
