"""The contract table of tiktok-events-api.md, row by row, plus the rules for what it omits."""

from __future__ import annotations

import email.utils

import httpx
import orjson
import pytest

from tiktok_capi.consumer.delivery.answers import (
    DEFAULT_CODES,
    Classifier,
    DestinationDownError,
    InvalidEventsError,
    RetryableError,
    SendError,
    SplitBatchError,
    ThrottledError,
    TransientError,
    UnclassifiedError,
    event_index,
    from_transport_error,
    parse_answer,
    parse_retry_after,
)


def answer(code: int, message: str = "msg", request_id: str = "rid-1") -> bytes:
    return orjson.dumps({"code": code, "message": message, "request_id": request_id, "data": {}})


classify = Classifier().classify

HTML_502 = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"


@pytest.mark.parametrize("code", [0, 20001])
def test_delivered_codes(code: int) -> None:
    assert classify(200, answer(code)) is None


@pytest.mark.parametrize(
    ("code", "error_class", "exc_type"),
    [
        (40000, "invalid", InvalidEventsError),
        (40002, "invalid", InvalidEventsError),
        (40062, "invalid", InvalidEventsError),
        (40061, "invalid", SplitBatchError),
        (40001, "auth", DestinationDownError),
        (40102, "auth", DestinationDownError),
        (40104, "auth", DestinationDownError),
        (40105, "auth", DestinationDownError),
        (40063, "misconfigured", DestinationDownError),
        (40100, "throttled", ThrottledError),
        (40132, "throttled", ThrottledError),
        (61000, "throttled", ThrottledError),
        (50000, "transient", TransientError),
        (50002, "transient", TransientError),
        (51012, "transient", TransientError),
        (60001, "transient", TransientError),
    ],
)
def test_business_codes_on_http_200(code: int, error_class: str, exc_type: type) -> None:
    message = "data.0.event: the message"
    info = classify(200, answer(code, message, "req-9"))
    assert info is not None
    assert info.error_class == error_class
    assert (info.code, info.request_id, info.http_status) == (code, "req-9", 200)
    assert info.message == message
    err = Classifier().error(200, parse_answer(answer(code, message)))
    assert type(err) is exc_type


@pytest.mark.parametrize("code", [40000, 40002, 40062])
def test_a_rejection_naming_no_event_is_unclassified_not_invalid(code: int) -> None:
    # Issue 12, defect 8: it was "invalid", and bisection dead-lettered every event of the batch.
    err = Classifier().error(200, parse_answer(answer(code, "event_source_id: invalid")))
    assert type(err) is UnclassifiedError
    assert err.info.error_class == "unclassified" and err.info.code == code
    assert isinstance(err, RetryableError)


def test_every_code_of_the_contract_is_in_the_table() -> None:
    contract = {0, 20001, 40000, 40002, 40001, 40061, 40062, 40063, 40100, 40132, 61000}
    contract |= {40102, 40104, 40105, 50000, 50002, 51012, 60001}
    assert set(DEFAULT_CODES) == contract


def test_429_is_throttled_with_retry_after() -> None:
    info = classify(429, answer(40100, "Too many requests"), retry_after="7")
    assert info is not None
    assert (info.error_class, info.http_status, info.retry_after_s) == ("throttled", 429, 7.0)
    assert info.code == 40100
    assert "Too many requests" in info.message


def test_429_without_body_is_throttled() -> None:
    info = classify(429, b"")
    assert info is not None and info.error_class == "throttled" and info.code is None


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_with_html_is_transient(status: int) -> None:
    info = classify(status, HTML_502, retry_after="3")
    assert info is not None
    assert (info.error_class, info.http_status, info.retry_after_s) == ("transient", status, 3.0)
    assert info.message == f"HTTP {status} with a non-JSON body"
    assert "nginx" not in info.message


def test_5xx_never_means_invalid_or_ok() -> None:
    for code in (0, 40002):
        info = classify(500, answer(code))
        assert info is not None and info.error_class == "transient"


def test_503_saying_throttled_is_throttled() -> None:
    info = classify(503, answer(40100), retry_after="2")
    assert info is not None and info.error_class == "throttled" and info.retry_after_s == 2.0


@pytest.mark.parametrize("body", [b"", b"<html>oops</html>", b"[1,2]", b'{"code":"0"}', b"nul"])
def test_unparseable_200_is_transient(body: bytes) -> None:
    info = classify(200, body)
    assert info is not None and info.error_class == "transient"


def test_code_zero_on_an_error_status_is_not_success() -> None:
    info = classify(400, answer(0))
    assert info is not None and info.error_class == "unclassified"


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, "unclassified"),  # a gateway's 400 says nothing about the events (defect 8)
        (401, "auth"),
        (403, "auth"),
        (404, "misconfigured"),
        (405, "misconfigured"),
        (407, "misconfigured"),  # a proxy wants credentials
        (308, "misconfigured"),
        (408, "transient"),
        (413, "invalid"),
        (418, "unclassified"),
        (451, "unclassified"),
    ],
)
def test_statuses_without_a_tiktok_answer(status: int, error_class: str) -> None:
    info = classify(status, b"not json")
    assert info is not None and info.error_class == error_class and info.code is None


def test_413_splits() -> None:
    assert isinstance(Classifier().error(413, None), SplitBatchError)


def test_a_4xx_body_code_wins_over_the_status() -> None:
    info = classify(401, answer(40105))
    assert info is not None and info.error_class == "auth" and info.code == 40105


def test_retry_after_only_on_retryable_errors() -> None:
    info = classify(200, answer(40002, "data.1.event: missing"), retry_after="5")
    assert info is not None and info.retry_after_s is None


@pytest.mark.parametrize(
    ("code", "error_class"),
    [
        (40999, "unclassified"),  # defect 8: unknown 4xxxx codes were "invalid"
        (41234, "unclassified"),
        (50999, "unclassified"),
        (12345, "unclassified"),
    ],
)
def test_unknown_codes(code: int, error_class: str) -> None:
    info = classify(200, answer(code))
    assert info is not None and info.error_class == error_class


def test_the_table_is_configurable() -> None:
    classifier = Classifier(
        {**DEFAULT_CODES, 40002: "transient", 40777: "auth"},
        unknown_client_code="invalid",
        unnamed_invalid="invalid",
    )
    assert isinstance(classifier.error(200, parse_answer(answer(40002))), TransientError)
    assert isinstance(classifier.error(200, parse_answer(answer(40777))), DestinationDownError)
    assert isinstance(classifier.error(200, parse_answer(answer(40555))), InvalidEventsError)
    # The default table is untouched.
    assert classify(200, answer(40002)) is not None
    assert DEFAULT_CODES[40002] == "invalid"


def test_empty_message_falls_back_to_the_code() -> None:
    info = classify(200, orjson.dumps({"code": 40002}))
    assert info is not None and info.message == "TikTok code 40002" and info.request_id is None


def test_long_messages_are_truncated() -> None:
    info = classify(200, answer(40002, "x" * 5000))
    assert info is not None and len(info.message) <= 300


@pytest.mark.parametrize(
    ("message", "index"),
    [
        ("data.3.properties.contents.0.content_id: Not a valid string", 3),
        ("Invalid params: data.12.event_id: not a valid string", 12),
        ("data[7].user.email: not hashed", 7),
        ("data: shorter than minimum length 1", None),
        ("metadata.3.x", None),
        ("event_source_id: missing", None),
        ("", None),
    ],
)
def test_event_index(message: str, index: int | None) -> None:
    assert event_index(message) == index


def test_invalid_error_exposes_the_blamed_index() -> None:
    err = Classifier().error(200, parse_answer(answer(40002, "data.4.event: missing")))
    assert isinstance(err, InvalidEventsError) and err.event_index == 4


def test_parse_retry_after() -> None:
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    date = email.utils.formatdate(1_000_100.0, usegmt=True)
    assert parse_retry_after(date, now=lambda: 1_000_000.0) == 100.0
    assert parse_retry_after(date, now=lambda: 2_000_000.0) == 0.0


@pytest.mark.parametrize(
    ("exc", "prefix"),
    [
        (httpx.ReadTimeout("timed out"), "timeout (ReadTimeout: timed out)"),
        (httpx.ConnectTimeout(""), "timeout (ConnectTimeout)"),
        (httpx.ConnectError("[Errno 111] Connection refused"), "connection error (ConnectError"),
        (httpx.RemoteProtocolError("Server disconnected"), "connection error (RemoteProtocolError"),
    ],
)
def test_transport_errors_are_transient(exc: httpx.HTTPError, prefix: str) -> None:
    err = from_transport_error(exc)
    assert isinstance(err, TransientError)
    assert err.info.error_class == "transient" and err.info.message.startswith(prefix)


def test_exception_carries_info_and_message() -> None:
    err = Classifier().error(200, parse_answer(answer(40105, "Access token is incorrect")))
    assert isinstance(err, SendError)
    assert str(err) == "Access token is incorrect" and err.info.code == 40105
