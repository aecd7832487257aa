"""The fast path (`emulator.fastcheck`, whole request at once) and the per-event walk of
`emulator.validate` accept and refuse exactly the same ``data`` arrays.

Generated requests of several events, valid or changed at any documented field (wrong types,
nulls, empty values, lists, unknown fields, hashes with one character replaced by whitespace,
a non-ASCII digit or a letter past ``f``), for web and non-web sources.
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.emulator.payloads import HASH, NOW, track_request, web_event
from tests.emulator.test_validate_paths import INTERESTING, PATHS
from tiktok_capi.emulator.fastcheck import data_ok
from tiktok_capi.emulator.validate import Batch, Rejection, Validator, _Invalid

MAX_AGE, MAX_FUTURE = 7 * 86400, 300
OLDEST, NEWEST = NOW - MAX_AGE, NOW + MAX_FUTURE
HASHED_PATHS = [
    ("user", key) for key in ("email", "phone", "external_id", "first_name", "zip_code")
]
EXTRA_PATHS = [
    ("user", "email", 0),
    ("properties", "contents", 1),
    ("properties", "contents", 0, "content_name"),
    ("properties", "unknown", "nested"),
]
TRICKY_CHARACTERS = [" ", "\t", "\n", "\x0b", "g", "G", "x", "\u0663", "\uff41", "\x00", "A", "0"]
# Whitespace between two pairs of hex digits, which bytes.fromhex skips.
TRICKY_PAIRS = ["  ", " \t", "\n\n", "\r\n", "\x0c\x0b"]


def _hash_with(position: int, characters: str) -> str:
    return HASH[:position] + characters + HASH[position + len(characters) :]


def _walk_ok(data: list[Any], web: bool) -> bool:
    """The reference: the validator's per-event walk finds nothing."""
    validator = Validator("TESTPIXEL", MAX_AGE, MAX_FUTURE)
    try:
        for index, event in enumerate(data):
            validator._check_event(event, f"data.{index}", OLDEST, NEWEST, web)
    except _Invalid:
        return False
    return True


def _apply(event: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    node: Any = event
    for part in path[:-1]:
        node = node[part]
    if isinstance(node, dict) and not isinstance(path[-1], str):
        raise TypeError("JSON object keys are strings")
    if isinstance(node, list) and path[-1] >= len(node):
        node.append(value)
    else:
        node[path[-1]] = value


def _changed(base: dict[str, Any], changes: list[tuple[tuple[Any, ...], Any]]) -> dict[str, Any]:
    event = copy.deepcopy(base)
    for path, value in changes:
        # A parent replaced by a scalar earlier makes a later change impossible: skip it.
        with contextlib.suppress(KeyError, TypeError, IndexError):
            _apply(event, path, copy.deepcopy(value))
    return event


def _agree(data: list[Any], source: str) -> None:
    # What the server sees: the JSON round trip (tuples become lists, and so on).
    data = orjson.loads(orjson.dumps(data))
    web = source == "web"
    assert data_ok(data, OLDEST, NEWEST, web) is _walk_ok(data, web)


VALUES = st.one_of(
    st.sampled_from(INTERESTING),
    st.builds(_hash_with, st.integers(0, 63), st.sampled_from(TRICKY_CHARACTERS)),
    st.builds(_hash_with, st.integers(0, 31).map(lambda n: 2 * n), st.sampled_from(TRICKY_PAIRS)),
    st.lists(
        st.one_of(
            st.just(HASH), st.builds(_hash_with, st.integers(0, 63), st.sampled_from("g \u0663"))
        ),
        max_size=3,
    ),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.text(max_size=8),
    st.dictionaries(
        st.sampled_from(["url", "content_id", "price", "x"]),
        st.sampled_from(INTERESTING),
        max_size=2,
    ),
)
CHANGES = st.lists(
    st.tuples(st.sampled_from(PATHS + HASHED_PATHS + EXTRA_PATHS), VALUES), max_size=3
)


@settings(max_examples=400, deadline=None)
@given(
    changes=st.lists(CHANGES, min_size=1, max_size=4),
    source=st.sampled_from(["web", "offline", "app"]),
)
def test_fast_path_and_walk_agree_on_generated_requests(
    changes: list[list[tuple[tuple[Any, ...], Any]]], source: str
) -> None:
    _agree(
        [_changed(web_event(n), event_changes) for n, event_changes in enumerate(changes)], source
    )


@pytest.mark.parametrize("source", ["web", "offline"])
def test_fast_path_and_walk_agree_on_every_single_change(source: str) -> None:
    for path in PATHS + HASHED_PATHS + EXTRA_PATHS:
        hashes = [_hash_with(7, c) for c in TRICKY_CHARACTERS + TRICKY_PAIRS]
        for value in [*INTERESTING, *hashes, *(_hash_with(32, c) for c in TRICKY_PAIRS)]:
            _agree([web_event(0), _changed(web_event(1), [(path, value)])], source)


@pytest.mark.parametrize(
    "event",
    [
        {"event": "E", "event_time": NOW, "page": {"url": "u"}},
        {"event": "E", "event_time": NOW, "page": {"url": "u"}, "user": {}, "properties": {}},
        {"event": "E", "event_time": NOW, "page": {"url": "u"}, "user": {"email": []}},
        {"event": "E", "event_time": NOW, "page": {"url": "u"}, "user": {"email": [HASH, HASH]}},
        {"event": "E", "event_time": NOW, "page": {"url": "u"}, "properties": {"contents": []}},
        {"event": "E", "event_time": OLDEST, "page": {"url": "u"}},
        {"event": "E", "event_time": NEWEST, "page": {"url": "u"}},
        {"event": "E", "event_time": NOW, "page": {"url": "u"}, "user": {"email": HASH.upper()}},
    ],
)
def test_edge_events_are_accepted_by_both(event: dict[str, Any]) -> None:
    data = orjson.loads(orjson.dumps([event, web_event(1)]))
    assert data_ok(data, OLDEST, NEWEST, True)
    assert _walk_ok(data, True)


@pytest.mark.parametrize(
    "changes",
    [
        {"event_time": OLDEST - 1},
        {"event_time": NEWEST + 1},
        {"event_time": True},
        {"event_time": float(NOW)},
        {"event": ""},
        {"page": {"url": ""}},
        {"page": None},
        {"user": {"email": [HASH, HASH[:32] + " " + HASH[33:]]}},
        {"user": {"phone": HASH[:63] + "\n"}},
        {"user": {"phone": HASH[:32] + "  " + HASH[34:]}},
        {"user": {"email": HASH[:62] + "\r\n"}},
        {"user": {"zip_code": HASH[:63] + "\u0663"}},
        {"properties": {"contents": [{"price": "1"}]}},
        {"properties": {"currency": "eur"}},
    ],
)
def test_edge_events_are_refused_by_both(changes: dict[str, Any]) -> None:
    data = orjson.loads(orjson.dumps([web_event(0), web_event(1, **changes)]))
    assert not data_ok(data, OLDEST, NEWEST, True)
    assert not _walk_ok(data, True)


def test_the_validator_names_the_field_the_fast_path_refused() -> None:
    body = orjson.dumps(track_request([web_event(0), web_event(1, event_id=7)]))
    result = Validator("TESTPIXEL", MAX_AGE, MAX_FUTURE).check(body, float(NOW))
    assert result == Rejection(40002, "data.1.event_id: not a valid string")
    body = orjson.dumps(track_request([web_event(0), web_event(1)]))
    assert isinstance(Validator("TESTPIXEL", MAX_AGE, MAX_FUTURE).check(body, float(NOW)), Batch)
