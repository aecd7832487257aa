"""The validator's fast path (every event) and slow path (naming the offending field) agree.

Random values at every documented field: whenever the fast path rejects a request, the slow
path names a field (never the fallback), and whenever it accepts, the slow path finds nothing.
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.emulator.payloads import HASH, NOW, track_request, web_event
from tiktok_capi.emulator.validate import Batch, Rejection, Validator

PATHS = [
    ("event",),
    ("event_time",),
    ("event_id",),
    ("limited_data_use",),
    ("user",),
    ("page",),
    ("page", "url"),
    ("page", "referrer"),
    ("properties",),
    ("properties", "contents"),
    *[
        ("user", key)
        for key in (
            "email",
            "phone",
            "external_id",
            "first_name",
            "last_name",
            "zip_code",
            "city",
            "ip",
            "ttp",
            "unknown",
        )
    ],
    *[
        ("properties", key)
        for key in ("currency", "value", "order_id", "content_type", "query", "unknown")
    ],
    *[
        ("properties", "contents", 0, key)
        for key in ("content_id", "price", "quantity", "brand", "unknown")
    ],
]
INTERESTING: list[Any] = [
    None,
    True,
    0,
    1.5,
    NOW,
    NOW + 3600,
    NOW - 8 * 86400,
    "",
    "x",
    "EUR",
    "eur",
    "product",
    "web",
    HASH,
    HASH.upper(),
    HASH[:63],
    [],
    [HASH],
    ["x"],
    [1],
    {},
    {"url": "u"},
    {"content_id": 1},
]
VALUES = st.one_of(
    st.sampled_from(INTERESTING),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)


def _apply(event: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    node: Any = event
    for part in path[:-1]:
        node = node[part]
    # A copy: the shared objects of INTERESTING must not be changed (or made to contain
    # themselves, which no JSON encoder can write).
    node[path[-1]] = copy.deepcopy(value)


def _agree(changes: list[tuple[tuple[Any, ...], Any]], source: str) -> None:
    event = web_event(1)
    for path, value in changes:
        # A parent replaced by a scalar earlier makes a later change impossible: skip it.
        with contextlib.suppress(KeyError, TypeError, IndexError):
            _apply(event, path, value)
    body = orjson.dumps(track_request([web_event(0), event], event_source=source))
    validator = Validator("TESTPIXEL", 7 * 86400, 300)
    result = validator.check(body, float(NOW))
    if isinstance(result, Rejection):
        assert result.code in (40002, 40062)
        assert result.message.startswith("data.1"), result.message
        assert not result.message.startswith("data: invalid event")
    else:
        assert isinstance(result, Batch) and len(result.events) == 2
        # The slow path must find nothing either (it raises on the first problem).
        parsed = orjson.loads(body)["data"][1]
        oldest, newest = NOW - 7 * 86400, NOW + 300
        validator._check_event(parsed, "data.1", oldest, newest, source == "web")


def test_every_single_change_gets_the_same_verdict_from_both_paths() -> None:
    for path in PATHS:
        for value in INTERESTING:
            for source in ("web", "offline"):
                _agree([(path, value)], source)


@settings(max_examples=300, deadline=None)
@given(
    changes=st.lists(st.tuples(st.sampled_from(PATHS), VALUES), min_size=1, max_size=3),
    source=st.sampled_from(["web", "offline"]),
)
def test_combined_changes_get_the_same_verdict_from_both_paths(
    changes: list[tuple[tuple[Any, ...], Any]], source: str
) -> None:
    _agree(changes, source)
