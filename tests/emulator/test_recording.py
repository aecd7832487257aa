"""Recording, deduplication and the counters, over real sockets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import orjson

from tests.emulator.payloads import post, track_request, web_event
from tiktok_capi.emulator.service import Emulator


def test_accepted_events_are_kept_with_their_request_id(
    emulator: Emulator, client: httpx.Client
) -> None:
    answer = post(client, emulator, track_request([web_event(1), web_event(2)])).json()
    events = emulator.events()
    assert [e["event_id"] for e in events] == ["evt-1", "evt-2"]
    for event in events:
        assert event["request_id"] == answer["request_id"]
        assert event["event_source"] == "web" and event["event_source_id"] == "TESTPIXEL"
        assert event["duplicate"] is False and "test_event_code" not in event
    assert events[0]["user"] == web_event(1)["user"]


def test_duplicates_are_accepted_and_counted_separately(
    emulator: Emulator, client: httpx.Client
) -> None:
    first = [web_event(1), web_event(2)]
    post(client, emulator, track_request(first))
    again = [
        web_event(1),  # same (pixel, event_id, event): a duplicate
        web_event(2, event="AddToCart"),  # same id, another event: not a duplicate
        web_event(3),
        web_event(3),  # a duplicate within one request
    ]
    answer = post(client, emulator, track_request(again)).json()
    assert answer["code"] == 0
    stats = emulator.stats()
    assert (stats["accepted_events"], stats["unique_events"], stats["duplicates"]) == (6, 4, 2)
    assert [e["duplicate"] for e in emulator.events()] == [False, False, True, False, False, True]


def test_events_without_an_event_id_are_never_duplicates(
    emulator: Emulator, client: httpx.Client
) -> None:
    event = web_event()
    del event["event_id"]
    post(client, emulator, track_request([event, event]))
    post(client, emulator, track_request([web_event(event_id="")]))
    assert emulator.stats()["duplicates"] == 0 and emulator.stats()["unique_events"] == 3


def test_stats_count_requests_names_custom_events_and_rejections(
    emulator: Emulator, client: httpx.Client
) -> None:
    post(client, emulator, track_request([web_event(1), web_event(2, event="Pageview")]))
    post(client, emulator, track_request([web_event(3, event="MyCustomThing")]))
    post(client, emulator, track_request([web_event(4)], test_event_code="TEST1"))
    post(client, emulator, track_request([web_event(5, event_id=5)]))
    post(client, emulator, track_request([web_event(6)]), token="nope")
    assert emulator.stats() == {
        "requests": 5,
        "accepted_requests": 3,
        "rejected_requests": 2,
        "accepted_events": 4,
        "unique_events": 4,
        "duplicates": 0,
        "custom_events": 1,
        "test_events": 1,
        "events_in_memory": 4,
        "rejections_by_code": {"40002": 1, "40105": 1},
        "events_by_name": {"CompletePayment": 2, "MyCustomThing": 1, "Pageview": 1},
        "faults": {},
    }
    assert client.get(emulator.base_url + "/_emulator/stats").json() == emulator.stats()
    assert emulator.events()[-1]["test_event_code"] == "TEST1"


def test_reset_forgets_counters_events_and_dedup_keys(
    emulator: Emulator, client: httpx.Client
) -> None:
    post(client, emulator, track_request([web_event(1)]))
    emulator.set_faults(latency_ms=1)
    assert client.post(emulator.base_url + "/_emulator/reset").json() == {"status": "ok"}
    assert emulator.stats()["requests"] == 0 and emulator.events() == []
    assert emulator.faults.latency_ms == 1  # faults are kept
    post(client, emulator, track_request([web_event(1)]))
    assert emulator.stats()["duplicates"] == 0


def test_events_are_served_over_http(emulator: Emulator, client: httpx.Client) -> None:
    post(client, emulator, track_request([web_event(n) for n in range(5)]))
    url = emulator.base_url + "/_emulator/events"
    assert client.get(url).json() == emulator.events()
    assert [e["event_id"] for e in client.get(url, params={"limit": 2}).json()] == [
        "evt-3",
        "evt-4",
    ]
    assert client.get(url, params={"limit": 0}).json() == []


def test_memory_keeps_the_last_events_but_counts_all(
    emulator_factory: Callable[..., Emulator], client: httpx.Client
) -> None:
    emu = emulator_factory(max_events_in_memory=5)
    for k in range(4):
        post(client, emu, track_request([web_event(k * 3 + n) for n in range(3)]))
    assert [e["event_id"] for e in emu.events()] == [f"evt-{n}" for n in range(7, 12)]
    stats = emu.stats()
    assert stats["accepted_events"] == 12 and stats["events_in_memory"] == 5


def test_accepted_events_are_recorded_as_json_lines(
    emulator_factory: Callable[..., Emulator], client: httpx.Client, tmp_path: Path
) -> None:
    record = tmp_path / "events.jsonl"
    record.write_bytes(b'{"kept": "from before"}\n')
    emu = emulator_factory(record_path=str(record))
    answer = post(client, emu, track_request([web_event(1), web_event(1)])).json()
    post(client, emu, track_request([web_event(2, event_id=2)]))  # rejected: not recorded
    emu.stop()  # flushes
    lines = [orjson.loads(line) for line in record.read_bytes().splitlines()]
    assert lines[0] == {"kept": "from before"}
    assert [(e["event_id"], e["duplicate"]) for e in lines[1:]] == [
        ("evt-1", False),
        ("evt-1", True),
    ]
    assert all(e["request_id"] == answer["request_id"] for e in lines[1:])
    assert lines[1:] == [
        {**e, "request_id": answer["request_id"]} for e in lines[1:]
    ]  # same shape as events()
