"""Selecting dead letters by reason, TikTok code, origin and time (pure)."""

from __future__ import annotations

import pytest

from tiktok_capi.consumer.failures.selection import Selection, parse_offsets, parse_when
from tiktok_capi.consumer.failures.tiers import (
    HEADER_FAILED_AT,
    HEADER_ORIGINAL_OFFSET,
    HEADER_ORIGINAL_PARTITION,
    HEADER_REASON,
    HEADER_TIKTOK_CODE,
)

NOW = 1_795_595_200.0  # 2026-11-25T08:26:40Z


def dead(reason: str = "invalid_event", code: str | None = "40002", **extra: str) -> dict[str, str]:
    headers = {
        HEADER_REASON: reason,
        HEADER_ORIGINAL_PARTITION: "3",
        HEADER_ORIGINAL_OFFSET: "1500",
        HEADER_FAILED_AT: "2026-11-25T08:00:00.000Z",
    }
    if code is not None:
        headers[HEADER_TIKTOK_CODE] = code
    headers.update(extra)
    return headers


def test_nothing_given_selects_everything() -> None:
    everything = Selection.parse(now=NOW)
    assert everything.everything and everything.spec == ""
    assert everything.matches({})


@pytest.mark.parametrize(
    ("options", "selected"),
    [
        ({"reasons": ["invalid_event"]}, True),
        ({"reasons": ["decode_error", "retries_exhausted"]}, False),
        ({"codes": ["40002"]}, True),
        ({"codes": ["40001"]}, False),
        ({"partitions": [3]}, True),
        ({"partitions": [0, 1]}, False),
        ({"offsets": "1000-2000"}, True),
        ({"offsets": "1500-"}, True),
        ({"offsets": "-1499"}, False),
        ({"since": "1h"}, True),  # failed 27 minutes before NOW
        ({"since": "10m"}, False),
        ({"until": "2026-11-25T07:59:00Z"}, False),
        ({"since": "2026-11-25T07:00:00+00:00", "until": "2026-11-25T09:00"}, True),
        ({"reasons": ["invalid_event"], "partitions": [4]}, False),  # every option must hold
    ],
)
def test_every_option_given_must_match(options: dict[str, object], selected: bool) -> None:
    assert Selection.parse(now=NOW, **options).matches(dead()) is selected  # type: ignore[arg-type]


def test_time_falls_back_to_the_record_timestamp() -> None:
    since = Selection.parse(since="1h", now=NOW)
    headers = {HEADER_REASON: "decode_error"}  # no failed-at header (an old record)
    assert since.matches(headers, timestamp_ms=int((NOW - 60) * 1000))
    assert not since.matches(headers, timestamp_ms=int((NOW - 7200) * 1000))
    assert not since.matches(headers, timestamp_ms=None)


def test_records_without_a_code_do_not_match_a_code() -> None:
    assert not Selection.parse(codes=["40002"], now=NOW).matches(dead("decode_error", None))


def test_the_spec_is_the_selection_as_written() -> None:
    a = Selection.parse(reasons=["b", "a"], since="2h", now=NOW)
    b = Selection.parse(reasons=["a", "b"], since="2h", now=NOW + 3600)
    assert a.spec == b.spec == "reason=a,b since=2h"
    assert a.digest() == b.digest()  # the same command later resumes the same progress
    assert a.digest() != Selection.parse(reasons=["a"], since="2h", now=NOW).digest()


@pytest.mark.parametrize("text", ["yesterday", "2h ago", ""])
def test_bad_times_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a time"):
        parse_when(text, NOW)


def test_times_and_ranges_parse() -> None:
    assert parse_when("30m", NOW) == NOW - 1800
    assert parse_when("7d", NOW) == NOW - 7 * 86400
    assert parse_when("2026-11-25T08:26:40Z", NOW) == NOW
    assert parse_offsets("10-20") == (10, 20)
    assert parse_offsets("10-") == (10, None)
    assert parse_offsets("-20") == (0, 20)
    for bad in ("20-10", "x-y", "12", "-"):
        with pytest.raises(ValueError, match="not an offset range"):
            parse_offsets(bad)
    with pytest.raises(ValueError, match="before --since"):
        Selection.parse(since="1h", until="2h", now=NOW)
