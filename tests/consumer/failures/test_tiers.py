"""Routing of failed records through the retry tiers to the dead-letter topic (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tiktok_capi.consumer.config.settings import KafkaSettings
from tiktok_capi.consumer.delivery.base import ErrorInfo
from tiktok_capi.consumer.failures.tiers import (
    HEADER_ATTEMPT,
    HEADER_DUE_AT,
    HEADER_ERROR_CLASS,
    HEADER_ERROR_MESSAGE,
    HEADER_FAILED_AT,
    HEADER_FIRST_FAILURE,
    HEADER_GROUP,
    HEADER_ORIGINAL_OFFSET,
    HEADER_ORIGINAL_PARTITION,
    HEADER_ORIGINAL_TOPIC,
    HEADER_REASON,
    HEADER_TIKTOK_CODE,
    HEADER_TIKTOK_REQUEST_ID,
    MAX_MESSAGE_LENGTH,
    FailureInfo,
    RetryTiers,
    due_at_ms,
    due_in_s,
    iso_utc,
    safe_message,
    strip_own_headers,
)
from tiktok_capi.consumer.kafka.records import SourceRecord

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z
TIERS = RetryTiers("cdp.tiktok.retry", [30, 300, 1800], "cdp.tiktok.dlq")
TRANSIENT = FailureInfo("transient", "HTTP 503")


def source(headers: list[tuple[str, bytes]] | None = None) -> SourceRecord:
    return SourceRecord("cdp", 3, 42, b"user-1", b"\x00avro", headers, 0)


def reread(route_topic: str, headers: list[tuple[str, bytes]], partition: int = 0) -> SourceRecord:
    """The record as the consumer reads it back from ``route_topic``."""
    return SourceRecord(route_topic, partition, 7, b"user-1", b"\x00avro", headers, 0)


def as_dict(headers: list[tuple[str, bytes]]) -> dict[str, str]:
    return {k: v.decode() for k, v in headers}


def test_topics_and_delays() -> None:
    assert TIERS.topics == ("cdp.tiktok.retry.1", "cdp.tiktok.retry.2", "cdp.tiktok.retry.3")
    assert TIERS.all_topics == (*TIERS.topics, "cdp.tiktok.dlq")
    assert [TIERS.tier_of(t) for t in TIERS.topics] == [1, 2, 3]
    assert TIERS.tier_of("cdp") is None
    assert TIERS.tier_of("cdp.tiktok.dlq") is None
    assert [TIERS.delay_of(n) for n in (1, 2, 3)] == [30, 300, 1800]
    with pytest.raises(ValueError):
        TIERS.delay_of(4)
    with pytest.raises(ValueError):
        TIERS.delay_of(0)


def test_from_settings_matches_settings_topics() -> None:
    settings = KafkaSettings(bootstrap_servers="b:9092", retry_delays=(1.0, 2.0))
    tiers = RetryTiers.from_settings(settings)
    assert tiers.topics == ("cdp-events.tiktok-capi.retry.1", "cdp-events.tiktok-capi.retry.2")
    assert tiers.dlq_topic == settings.dlq_topic == "cdp-events.tiktok-capi.dlq"
    assert tiers.group == "tiktok-capi"


def test_every_retry_and_dead_letter_record_names_the_group_that_wrote_it() -> None:
    tiers = RetryTiers("cdp.shop.retry", [30], "cdp.shop.dlq", group="shop")
    retry = tiers.route(source(), TRANSIENT, T0)
    dead = tiers.dead_letter(source(), "decode_error", FailureInfo.from_reason("x"), T0)
    exhausted = tiers.route(
        SourceRecord("cdp.shop.retry.1", 0, 1, None, None, [], 0), TRANSIENT, T0
    )
    for route in (retry, dead, exhausted):
        assert dict(route.headers)[HEADER_GROUP] == b"shop"


def test_source_record_goes_to_tier_1_with_exact_headers() -> None:
    route = TIERS.route(source(), FailureInfo("throttled", "rate limited", 40100, "rq-1"), T0)
    assert (route.topic, route.tier, route.reason, route.error_class) == (
        "cdp.tiktok.retry.1",
        1,
        None,
        "throttled",
    )
    assert not route.is_dead_letter
    assert route.headers == [
        (HEADER_ORIGINAL_TOPIC, b"cdp"),
        (HEADER_ORIGINAL_PARTITION, b"3"),
        (HEADER_ORIGINAL_OFFSET, b"42"),
        (HEADER_ATTEMPT, b"1"),
        (HEADER_FIRST_FAILURE, b"2023-11-14T22:13:20.000Z"),
        (HEADER_FAILED_AT, b"2023-11-14T22:13:20.000Z"),
        (HEADER_ERROR_CLASS, b"throttled"),
        (HEADER_ERROR_MESSAGE, b"rate limited"),
        (HEADER_TIKTOK_CODE, b"40100"),
        (HEADER_TIKTOK_REQUEST_ID, b"rq-1"),
        (HEADER_DUE_AT, b"1700000030000"),
    ]


def test_walks_every_tier_then_dead_letters_preserving_the_origin() -> None:
    record = source()
    seen = []
    for step, now in enumerate((T0, T0 + 31, T0 + 400, T0 + 2300), start=1):
        route = TIERS.route(record, TRANSIENT, now)
        headers = as_dict(route.headers)
        seen.append((route.topic, route.tier, headers[HEADER_ATTEMPT]))
        assert headers[HEADER_ORIGINAL_TOPIC] == "cdp"
        assert headers[HEADER_ORIGINAL_PARTITION] == "3"
        assert headers[HEADER_ORIGINAL_OFFSET] == "42"
        assert headers[HEADER_FIRST_FAILURE] == iso_utc(T0)
        assert headers[HEADER_FAILED_AT] == iso_utc(now)
        if route.tier is not None:
            assert int(headers[HEADER_DUE_AT]) == round((now + TIERS.delay_of(route.tier)) * 1000)
        else:
            assert HEADER_DUE_AT not in headers
            assert headers[HEADER_REASON] == "retries_exhausted"
        # As the consumer reads it back: other partition/offset, old headers still attached.
        record = reread(route.topic, [("trace", b"abc"), *route.headers], partition=step % 2)
    assert seen == [
        ("cdp.tiktok.retry.1", 1, "1"),
        ("cdp.tiktok.retry.2", 2, "2"),
        ("cdp.tiktok.retry.3", 3, "3"),
        ("cdp.tiktok.dlq", None, "4"),
    ]


def test_no_tiers_means_straight_to_the_dead_letter_topic() -> None:
    tiers = RetryTiers("r", [], "dlq")
    route = tiers.route(source(), TRANSIENT, T0)
    assert (route.topic, route.tier, route.reason) == ("dlq", None, "retries_exhausted")


def test_dead_letter_from_source_and_from_a_tier() -> None:
    failure = FailureInfo.from_reason("decode_error", "truncated Avro record")
    route = TIERS.dead_letter(source(), "decode_error", failure, T0)
    headers = as_dict(route.headers)
    assert (route.topic, route.tier, route.reason) == ("cdp.tiktok.dlq", None, "decode_error")
    assert headers[HEADER_REASON] == "decode_error"
    assert headers[HEADER_ERROR_CLASS] == "decode_error"
    assert headers[HEADER_ERROR_MESSAGE] == "truncated Avro record"
    assert headers[HEADER_ATTEMPT] == "1"
    assert HEADER_TIKTOK_CODE not in headers and HEADER_DUE_AT not in headers

    tier1 = TIERS.route(source(), TRANSIENT, T0)
    invalid = FailureInfo.from_error(ErrorInfo("invalid", "bad field user.email", 40002, "rq-9"))
    later = TIERS.dead_letter(reread(tier1.topic, tier1.headers), "invalid_event", invalid, T0 + 60)
    headers = as_dict(later.headers)
    assert headers[HEADER_ORIGINAL_OFFSET] == "42"
    assert headers[HEADER_ATTEMPT] == "2"
    assert headers[HEADER_FIRST_FAILURE] == iso_utc(T0)
    assert headers[HEADER_TIKTOK_CODE] == "40002"
    assert headers[HEADER_TIKTOK_REQUEST_ID] == "rq-9"
    assert headers[HEADER_REASON] == "invalid_event"


def test_source_record_with_stale_own_headers_starts_afresh() -> None:
    stale = [(HEADER_ATTEMPT, b"7"), (HEADER_ORIGINAL_OFFSET, b"1")]
    headers = as_dict(TIERS.route(source(stale), TRANSIENT, T0).headers)
    assert headers[HEADER_ATTEMPT] == "1"
    assert headers[HEADER_ORIGINAL_OFFSET] == "42"


def test_tier_record_with_damaged_headers_falls_back_to_its_coordinates() -> None:
    damaged = [
        (HEADER_ORIGINAL_PARTITION, b"not a number"),
        (HEADER_ATTEMPT, b"\xff\xfe"),
        (HEADER_ORIGINAL_OFFSET, b"0"),
    ]
    record = SourceRecord("cdp.tiktok.retry.2", 1, 9, None, None, damaged, 0)
    headers = as_dict(TIERS.route(record, TRANSIENT, T0).headers)
    assert headers[HEADER_ORIGINAL_TOPIC] == "cdp.tiktok.retry.2"
    assert headers[HEADER_ORIGINAL_PARTITION] == "1"
    assert headers[HEADER_ORIGINAL_OFFSET] == "0"  # offset 0 is a real offset, not "missing"
    assert headers[HEADER_ATTEMPT] == "3"  # a tier-2 record failed at least twice before


def test_due_at_ms() -> None:
    assert due_at_ms(source()) is None
    route = TIERS.route(source(), TRANSIENT, T0)
    assert due_at_ms(reread(route.topic, route.headers)) == 1_700_000_030_000
    assert due_at_ms(reread(route.topic, [(HEADER_DUE_AT, b"soon")])) is None


_CREATE, _LOG_APPEND = 1, 2  # confluent_kafka.TIMESTAMP_CREATE_TIME / _LOG_APPEND_TIME
DAY_S = 86_400.0


def _due_header(due_s: float) -> list[tuple[str, bytes]]:
    return [(HEADER_DUE_AT, str(round(due_s * 1000)).encode())]


def test_due_in_s_follows_a_correct_writer() -> None:
    written = T0
    headers = _due_header(written + 30)
    stamp = (_CREATE, round(written * 1000))
    assert due_in_s(headers, stamp, 30, written) == pytest.approx(30)
    assert due_in_s(headers, stamp, 30, written + 10) == pytest.approx(20)
    assert due_in_s(headers, stamp, 30, written + 31) < 0
    assert due_in_s([], stamp, 30, written) == 0  # no due-at header: due now
    assert due_in_s([(HEADER_DUE_AT, b"soon")], stamp, 30, written) == 0


def test_a_writer_clock_days_ahead_pauses_no_longer_than_the_tier_delay() -> None:
    # Defect 7: the header said "due in three days"; the tier's partition paused three days.
    ahead = T0 + 3 * DAY_S
    headers = _due_header(ahead + 30)
    assert due_in_s(headers, (_CREATE, round(ahead * 1000)), 30, T0) == pytest.approx(30)
    assert due_in_s(headers, (0, -1), 30, T0) == pytest.approx(30)  # no timestamp either
    # With broker timestamps (LogAppendTime) the due time is the broker's, exactly.
    assert due_in_s(headers, (_LOG_APPEND, round(T0 * 1000)), 30, T0 + 5) == pytest.approx(25)


def test_a_writer_clock_behind_does_not_collapse_the_delay_with_broker_timestamps() -> None:
    behind = T0 - DAY_S
    headers = _due_header(behind + 30)  # "due a day ago"
    assert due_in_s(headers, (_LOG_APPEND, round(T0 * 1000)), 30, T0 + 1) == pytest.approx(29)


def test_a_record_sent_again_after_a_failed_write_waits_from_when_it_was_written() -> None:
    headers = _due_header(T0 + 30)
    assert due_in_s(headers, (_CREATE, round((T0 + 12) * 1000)), 30, T0 + 12) == pytest.approx(30)


def test_failure_from_error_keeps_code_and_request_id() -> None:
    error = ErrorInfo("throttled", "too many requests", 40100, "rq", 429, 2.0)
    assert FailureInfo.from_error(error) == FailureInfo(
        "throttled", "too many requests", 40100, "rq"
    )
    assert FailureInfo.from_reason("decode_error") == FailureInfo("decode_error", "decode_error")


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Invalid value at data[0].user.email", "Invalid value at data[0].user.email"),
        ("bad email jane.doe+x@example.co.uk given", "bad email <redacted> given"),
        ("phone +1 (415) 555-0100 invalid", "phone <redacted> invalid"),
        ("code 40002\nline two\ttab", "code 40002 line two tab"),
        ("HTTP 503", "HTTP 503"),
    ],
)
def test_safe_message_scrubs_values(message: str, expected: str) -> None:
    assert safe_message(message) == expected


@given(st.text())
def test_safe_message_is_short_single_line_utf8(message: str) -> None:
    cleaned = safe_message(message)
    assert len(cleaned) <= MAX_MESSAGE_LENGTH
    assert "\n" not in cleaned and "\r" not in cleaned
    cleaned.encode("utf-8")


def test_headers_are_utf8_and_pii_free() -> None:
    failure = FailureInfo("invalid", "user.email 'jane@example.com' rejected " + "x" * 1000, 40002)
    route = TIERS.dead_letter(source(), "invalid_event", failure, T0)
    for name, value in route.headers:
        assert name.startswith("tiktok-capi.")
        text = value.decode("utf-8")
        assert "jane@example.com" not in text
        assert len(text) <= MAX_MESSAGE_LENGTH


def test_strip_own_headers_keeps_the_users_headers() -> None:
    headers = [("traceparent", b"00-abc"), (HEADER_ATTEMPT, b"2"), ("tiktok-capi.other", b"")]
    assert strip_own_headers(headers) == [("traceparent", b"00-abc")]
    assert strip_own_headers(None) == []


def test_negative_delay_is_refused() -> None:
    with pytest.raises(ValueError):
        RetryTiers("r", [1, -1], "d")


@given(
    delays=st.lists(st.floats(min_value=0.001, max_value=86_400), max_size=6),
    partition=st.integers(0, 1000),
    offset=st.integers(0, 2**62),
    steps=st.lists(st.floats(min_value=0, max_value=10_000), min_size=8, max_size=8),
)
def test_every_record_walks_each_tier_once_then_reaches_the_dlq(
    delays: list[float], partition: int, offset: int, steps: list[float]
) -> None:
    tiers = RetryTiers("r", delays, "dlq")
    record = SourceRecord("src", partition, offset, b"k", b"v", None, 0)
    now = T0
    visited = []
    for attempt in range(1, len(delays) + 2):
        route = tiers.route(record, TRANSIENT, now)
        headers = as_dict(route.headers)
        visited.append(route.tier)
        assert headers[HEADER_ATTEMPT] == str(attempt)
        assert (headers[HEADER_ORIGINAL_TOPIC], headers[HEADER_ORIGINAL_PARTITION]) == (
            "src",
            str(partition),
        )
        assert headers[HEADER_ORIGINAL_OFFSET] == str(offset)
        if route.tier is not None:
            due = due_at_ms(reread(route.topic, route.headers))
            assert due is not None and due >= round(now * 1000)
        record = reread(route.topic, route.headers)
        now += steps[attempt - 1]
    assert visited == [*range(1, len(delays) + 1), None]
