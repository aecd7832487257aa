"""HttpSender over httpx.MockTransport: body bytes, every contract row, retries, splitting."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanContext, TraceFlags

import tiktok_capi.consumer.delivery.sender as sender_module
from tiktok_capi.consumer.config.settings import SecretStr, TikTokSettings
from tiktok_capi.consumer.delivery.base import BatchOutcome
from tiktok_capi.consumer.delivery.sender import HttpSender, request_body

TOKEN = "tok-SECRET-123"
PIXEL = "PIXEL01"
URL = "https://tiktok.test/open_api/v1.3/event/track/"

Handler = Callable[[httpx.Request], httpx.Response]


def make_settings(**overrides: Any) -> TikTokSettings:
    base = TikTokSettings(
        access_token=SecretStr(TOKEN),
        pixel_code=PIXEL,
        api_url="https://tiktok.test",
        send_retry_attempts=5,
        send_retry_backoff_s=0.5,
        send_retry_max_backoff_s=30.0,
    )
    return dataclasses.replace(base, **overrides)


def event(event_id: str) -> bytes:
    return orjson.dumps({"event": "ViewContent", "event_time": 1, "event_id": event_id})


def events(n: int, bad: Sequence[int] = ()) -> list[bytes]:
    return [event(f"bad-{i}" if i in bad else f"ok-{i}") for i in range(n)]


def reply(code: int, message: str = "OK", status: int = 200, **headers: str) -> httpx.Response:
    body = {"code": code, "message": message, "request_id": f"req-{code}", "data": {}}
    return httpx.Response(status, content=orjson.dumps(body), headers=headers)


class FakeTikTok:
    """Records requests; rejects batches holding `bad-*` events like TikTok does."""

    def __init__(self, *, name_index: bool = True, max_batch: int = 1000) -> None:
        self.requests: list[httpx.Request] = []
        self.batches: list[list[str]] = []
        self.accepted: list[str] = []
        self.name_index = name_index
        self.max_batch = max_batch
        self.script: list[httpx.Response | Exception] = []  # answers to give first, in order
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests.append(request)
            body = orjson.loads(request.content)
            ids = [e["event_id"] for e in body["data"]]
            self.batches.append(ids)
            if self.script:
                scripted = self.script.pop(0)
                if isinstance(scripted, Exception):
                    raise scripted
                return scripted
            if len(ids) > self.max_batch:
                return reply(40061, f"Invalid batch size: got {len(ids)}")
            for i, event_id in enumerate(ids):
                if event_id.startswith("bad"):
                    where = f"data.{i}.event_id" if self.name_index else "event_id"
                    return reply(40002, f"{where}: not a valid string")
            self.accepted.extend(ids)
            return httpx.Response(
                200, content=b'{"code":0,"message":"OK","request_id":"r%d","data":{}}' % len(ids)
            )


class Slept:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def slept() -> Slept:
    return Slept()


@pytest.fixture
def make_sender(slept: Slept) -> Iterator[Callable[..., HttpSender]]:
    senders: list[HttpSender] = []

    def make(handler: Handler, **overrides: Any) -> HttpSender:
        sender = HttpSender(
            make_settings(**overrides),
            transport=httpx.MockTransport(handler),
            sleep=slept,
            rand=lambda: 0.5,
        )
        senders.append(sender)
        return sender

    yield make
    for sender in senders:
        sender.close()


def check_partition(outcome: BatchOutcome, n: int) -> None:
    """Every index ends in exactly one of delivered/invalid/failed/held."""
    indexes = [
        *outcome.delivered,
        *(i for i, _ in outcome.invalid),
        *outcome.failed,
        *outcome.held,
    ]
    assert sorted(indexes) == list(range(n))


# --- the request -----------------------------------------------------------------------------


def test_body_is_the_envelope_around_the_joined_events(make_sender: Any) -> None:
    fake = FakeTikTok()
    outcome = make_sender(fake).deliver([b'{"event_id":"a"}', b'{"event_id":"b"}'])
    assert outcome.delivered == (0, 1) and outcome.requests == 1
    request = fake.requests[0]
    assert request.method == "POST" and str(request.url) == URL
    assert request.content == (
        b'{"event_source":"web","event_source_id":"PIXEL01",'
        b'"data":[{"event_id":"a"},{"event_id":"b"}]}'
    )
    assert request.headers["Access-Token"] == TOKEN
    assert request.headers["Content-Type"] == "application/json"
    assert "authorization" not in request.headers


def test_a_body_the_caller_encoded_is_sent_as_is_and_subsets_get_their_own(
    make_sender: Any,
) -> None:
    fake = FakeTikTok(name_index=True)
    sender = make_sender(fake)
    batch = events(4, bad=(2,))
    body = sender.encode(batch)
    assert batch == events(4, bad=(2,))  # encoding leaves the events as they were
    outcome = sender.deliver(batch, body=body)
    assert fake.requests[0].content == body
    assert orjson.loads(body)["data"] == [orjson.loads(e) for e in batch]
    assert fake.batches[1] == ["ok-0", "ok-1", "ok-3"]  # the rest, without the named event
    assert outcome.delivered == (0, 1, 3) and [i for i, _ in outcome.invalid] == [2]


def test_test_event_code_and_escaping(make_sender: Any) -> None:
    fake = FakeTikTok()
    sender = make_sender(fake, pixel_code='P"1', test_event_code="TEST42")
    sender.deliver([event("x")])
    body = orjson.loads(fake.requests[0].content)
    assert body["event_source_id"] == 'P"1'
    assert body["test_event_code"] == "TEST42"
    assert list(body) == ["event_source", "event_source_id", "test_event_code", "data"]


def test_empty_batch_sends_nothing(make_sender: Any) -> None:
    fake = FakeTikTok()
    assert make_sender(fake).deliver([]) == BatchOutcome()
    assert fake.requests == []


def test_success_reports_request_ids(make_sender: Any) -> None:
    outcome = make_sender(FakeTikTok()).deliver(events(3))
    assert outcome == BatchOutcome(delivered=(0, 1, 2), requests=1, request_ids=("r3",))


def test_partial_success_counts_as_delivered_and_is_logged(
    make_sender: Any, caplog: pytest.LogCaptureFixture
) -> None:
    sender = make_sender(lambda _r: reply(20001, "Partial success: 1 event dropped"))
    with caplog.at_level(logging.WARNING, logger="tiktok_capi.consumer.delivery.sender"):
        outcome = sender.deliver(events(2))
    assert outcome.delivered == (0, 1) and outcome.request_ids == ("req-20001",)
    assert "Partial success: 1 event dropped" in caplog.text and "req-20001" in caplog.text


# --- one row of the contract table each --------------------------------------------------------


@pytest.mark.parametrize("code", [40000, 40002, 40062, 40061])
def test_invalid_codes_dead_letter_a_lone_event(make_sender: Any, code: int) -> None:
    outcome = make_sender(lambda _r: reply(code, "data.0.event: bad")).deliver(events(1))
    assert [i for i, _ in outcome.invalid] == [0]
    info = outcome.invalid[0][1]
    assert (info.error_class, info.code, info.request_id) == ("invalid", code, f"req-{code}")
    assert outcome.requests == 1


@pytest.mark.parametrize(
    ("code", "error_class"),
    [
        (40001, "auth"),
        (40102, "auth"),
        (40104, "auth"),
        (40105, "auth"),
        (40063, "misconfigured"),
    ],
)
def test_auth_and_configuration_codes_hold_everything(
    make_sender: Any, slept: Slept, code: int, error_class: str
) -> None:
    outcome = make_sender(lambda _r: reply(code, "no")).deliver(events(4))
    assert outcome.held == (0, 1, 2, 3) and outcome.delivered == ()
    assert outcome.destination_down is not None
    assert outcome.destination_down.error_class == error_class
    assert outcome.destination_down.code == code
    assert outcome.requests == 1 and slept.delays == []


@pytest.mark.parametrize(
    ("answer", "error_class"),
    [
        (lambda: reply(40100), "throttled"),
        (lambda: reply(40132), "throttled"),
        (lambda: reply(61000), "throttled"),
        (lambda: reply(40100, status=429), "throttled"),
        (lambda: httpx.Response(429), "throttled"),
        (lambda: reply(50000), "transient"),
        (lambda: reply(50002), "transient"),
        (lambda: reply(51012), "transient"),
        (lambda: reply(60001), "transient"),
        (lambda: httpx.Response(500, text="<html>500</html>"), "transient"),
        (lambda: httpx.Response(502, text="<html>Bad Gateway</html>"), "transient"),
        (lambda: httpx.Response(503), "transient"),
        (lambda: httpx.Response(504, text="<html>Gateway Timeout</html>"), "transient"),
        (lambda: httpx.Response(200, text="<html>captive portal</html>"), "transient"),
    ],
)
def test_retryable_answers_fail_after_the_budget(
    make_sender: Any, slept: Slept, answer: Callable[[], httpx.Response], error_class: str
) -> None:
    sender = make_sender(lambda _r: answer(), send_retry_attempts=3)
    outcome = sender.deliver(events(2))
    assert outcome.failed == (0, 1) and outcome.delivered == ()
    assert outcome.failure is not None and outcome.failure.error_class == error_class
    assert outcome.requests == 3
    assert slept.delays == [0.25, 0.5]  # full jitter with rand=0.5: base/2, base


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ReadTimeout("timed out"),
        httpx.ConnectTimeout("timed out"),
        httpx.ConnectError("[Errno 111] Connection refused"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
    ],
)
def test_network_errors_are_retried(make_sender: Any, exc: Exception) -> None:
    fake = FakeTikTok()
    fake.script = [exc, exc]
    outcome = make_sender(fake).deliver(events(2))
    assert outcome.delivered == (0, 1) and outcome.requests == 3


def test_network_errors_past_the_budget_fail(make_sender: Any) -> None:
    def handler(_r: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out")

    outcome = make_sender(handler, send_retry_attempts=2).deliver(events(2))
    assert outcome.failed == (0, 1)
    assert outcome.failure is not None and outcome.failure.message.startswith("timeout")


def test_single_attempt_means_no_retry(make_sender: Any, slept: Slept) -> None:
    outcome = make_sender(lambda _r: reply(50000), send_retry_attempts=1).deliver(events(1))
    assert outcome.failed == (0,) and outcome.requests == 1 and slept.delays == []


# --- retries -----------------------------------------------------------------------------------


def test_retry_after_is_honoured(make_sender: Any, slept: Slept) -> None:
    fake = FakeTikTok()
    fake.script = [reply(40100, status=429, **{"Retry-After": "7"})]
    outcome = make_sender(fake).deliver(events(2))
    assert outcome.delivered == (0, 1) and outcome.requests == 2
    assert slept.delays == [7.0]
    assert fake.batches == [["ok-0", "ok-1"], ["ok-0", "ok-1"]]


def test_retry_after_is_capped(make_sender: Any, slept: Slept) -> None:
    fake = FakeTikTok()
    fake.script = [httpx.Response(503, headers={"Retry-After": "3600"})]
    make_sender(fake, send_retry_max_backoff_s=30.0).deliver(events(1))
    assert slept.delays == [30.0]


def test_backoff_grows_until_success(make_sender: Any, slept: Slept) -> None:
    fake = FakeTikTok()
    fake.script = [reply(50000), reply(50002), httpx.Response(502), reply(61000)]
    outcome = make_sender(fake, send_retry_max_backoff_s=1.5).deliver(events(3))
    assert outcome.delivered == (0, 1, 2) and outcome.requests == 5
    assert slept.delays == [0.25, 0.5, 0.75, 0.75]


def test_the_retry_budget_is_per_batch(make_sender: Any) -> None:
    """Retries spent before a split are not granted again to each half."""
    fake = FakeTikTok()
    fake.script = [reply(50000), reply(40061, "batch too big"), reply(50000), reply(50000)]
    outcome = make_sender(fake, send_retry_attempts=3).deliver(events(4))
    # 1 failure + retry (rejected, split) + first half 2 failures: budget of 2 retries spent.
    assert outcome.failed == (0, 1, 2, 3) and outcome.requests == 4
    check_partition(outcome, 4)


# --- isolating rejected events -----------------------------------------------------------------


def test_named_events_are_isolated_directly(make_sender: Any) -> None:
    fake = FakeTikTok(name_index=True)
    outcome = make_sender(fake).deliver(events(10, bad=(3, 7)))
    assert [i for i, _ in outcome.invalid] == [3, 7]
    assert outcome.delivered == (0, 1, 2, 4, 5, 6, 8, 9)
    assert outcome.requests == 3  # reject (names 3), reject (names 7's new index 6), accept
    assert fake.batches[1] == [f"ok-{i}" for i in (0, 1, 2, 4, 5, 6)] + ["bad-7", "ok-8", "ok-9"]
    assert outcome.invalid[0][1].message == "data.3.event_id: not a valid string"
    assert outcome.invalid[1][1].message == "data.6.event_id: not a valid string"
    assert sorted(fake.accepted) == sorted(f"ok-{i}" for i in range(10) if i not in (3, 7))


def test_unnamed_rejections_are_retried_never_bisected_into_dead_letters(
    make_sender: Any,
) -> None:
    # Issue 12, defect 8: a rejection naming no event was bisected down to single events and
    # every one rejected alone was dead-lettered (~2N-1 requests); TikTok named none of them.
    fake = FakeTikTok(name_index=False)
    outcome = make_sender(fake, send_retry_attempts=3).deliver(events(16, bad=(5,)))
    assert outcome.invalid == () and outcome.delivered == ()
    assert outcome.failed == tuple(range(16))
    assert outcome.failure is not None and outcome.failure.error_class == "unclassified"
    assert outcome.requests == 3 and all(len(batch) == 16 for batch in fake.batches)


@pytest.mark.parametrize(
    "answer",
    [
        lambda: httpx.Response(407, text="Proxy Authentication Required"),
        lambda: httpx.Response(400, text="<html>Bad Request</html>"),
        lambda: reply(41234, "a code nobody documented"),
    ],
)
def test_answers_we_cannot_classify_dead_letter_nothing(
    make_sender: Any, answer: Callable[[], httpx.Response]
) -> None:
    outcome = make_sender(lambda _r: answer(), send_retry_attempts=2).deliver(events(8))
    assert outcome.invalid == () and outcome.delivered == ()
    assert sorted(outcome.failed + outcome.held) == list(range(8))
    assert outcome.requests <= 2


def test_a_named_index_out_of_range_dead_letters_nothing(make_sender: Any) -> None:
    fake = FakeTikTok()
    fake.script = [reply(40002, "data.99.event_id: not a valid string")]
    outcome = make_sender(fake).deliver(events(4, bad=(2,)))
    assert outcome.invalid == () and outcome.failed == (0, 1, 2, 3)
    assert outcome.requests == 1


def test_invalid_batch_size_is_split_in_halves(make_sender: Any) -> None:
    fake = FakeTikTok(max_batch=3)
    outcome = make_sender(fake).deliver(events(10))
    assert outcome.delivered == tuple(range(10)) and outcome.invalid == ()
    assert [len(b) for b in fake.batches] == [10, 5, 2, 3, 5, 2, 3]
    assert sorted(fake.accepted) == sorted(f"ok-{i}" for i in range(10))


def test_split_ignores_any_index_in_the_message(make_sender: Any) -> None:
    fake = FakeTikTok()
    fake.script = [reply(40061, "data.1: batch too big")]
    outcome = make_sender(fake).deliver(events(4))
    assert outcome.delivered == (0, 1, 2, 3) and outcome.invalid == ()


def test_destination_down_during_a_split_holds_the_rest(make_sender: Any) -> None:
    fake = FakeTikTok()
    fake.script = [reply(40061, "batch too big"), reply(0), reply(40105, "token revoked")]
    outcome = make_sender(fake).deliver(events(6))
    assert outcome.delivered == (0, 1, 2)
    assert outcome.held == (3, 4, 5)
    assert outcome.destination_down is not None and outcome.destination_down.code == 40105
    assert outcome.request_ids == ("req-0",)
    check_partition(outcome, 6)


def test_retries_exhausted_during_a_split_fail_the_rest(make_sender: Any) -> None:
    fake = FakeTikTok()
    fake.script = [reply(40002, "data.0.event_id: bad"), reply(50000), reply(50000)]
    outcome = make_sender(fake, send_retry_attempts=2).deliver(events(3))
    assert [i for i, _ in outcome.invalid] == [0]
    assert outcome.failed == (1, 2)
    check_partition(outcome, 3)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=64),
    data=st.data(),
    name_index=st.booleans(),
    max_batch=st.integers(min_value=1, max_value=64),
)
def test_every_event_ends_in_exactly_one_place(
    n: int, data: st.DataObject, name_index: bool, max_batch: int
) -> None:
    bad = data.draw(st.sets(st.integers(min_value=0, max_value=n - 1)))
    fake = FakeTikTok(name_index=name_index, max_batch=max_batch)
    with HttpSender(
        make_settings(), transport=httpx.MockTransport(fake), sleep=lambda _s: None
    ) as sender:
        outcome = sender.deliver(events(n, bad=tuple(bad)))
    check_partition(outcome, n)
    assert outcome.requests == len(fake.requests) and outcome.held == ()
    if name_index:
        assert {i for i, _ in outcome.invalid} == bad
        assert outcome.failed == ()
        assert sorted(fake.accepted) == sorted(f"ok-{i}" for i in range(n) if i not in bad)
        if max_batch >= n:
            assert outcome.requests == len(bad) + (1 if len(bad) < n else 0)
    else:  # TikTok names nobody: nothing is dead-lettered, the bad events are not delivered
        assert outcome.invalid == ()
        assert bad <= set(outcome.failed)
        assert set(fake.accepted) == {f"ok-{i}" for i in outcome.delivered}


# --- probe -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "down"),
    [
        (reply(40105, "Access token is incorrect or has been revoked."), "auth"),
        (reply(40104), "auth"),
        (reply(40001, "No permission to operate pixel code"), "auth"),
        (reply(40063), "misconfigured"),
        (reply(40002, "data: shorter than minimum length 1"), None),
        (reply(40061), None),
        (reply(0), None),
        (reply(49999, "a code nobody documented"), None),  # TikTok answered: token works
        (httpx.Response(502), "transient"),  # TikTok did not answer: still down
        (reply(40100, status=429), "throttled"),
        (httpx.Response(400, text="<html>gateway</html>"), "unclassified"),
        (httpx.Response(407), "misconfigured"),
    ],
)
def test_probe(make_sender: Any, answer: httpx.Response, down: str | None) -> None:
    fake = FakeTikTok()
    fake.script = [answer]
    info = make_sender(fake).probe()
    assert (info.error_class if info is not None else None) == down
    assert fake.requests[0].content == (
        b'{"event_source":"web","event_source_id":"PIXEL01","data":[]}'
    )
    assert fake.requests[0].headers["Access-Token"] == TOKEN


def test_probe_when_unreachable_is_down(make_sender: Any) -> None:
    def handler(_r: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    info = make_sender(handler).probe()
    assert info is not None and info.error_class == "transient"


# --- close -------------------------------------------------------------------------------------


def test_close_aborts_a_backoff() -> None:
    asked = threading.Event()

    def handler(_r: httpx.Request) -> httpx.Response:
        asked.set()
        return reply(40100, status=429, **{"Retry-After": "600"})

    sender = HttpSender(
        make_settings(send_retry_max_backoff_s=600.0), transport=httpx.MockTransport(handler)
    )
    outcomes: list[BatchOutcome] = []
    thread = threading.Thread(target=lambda: outcomes.append(sender.deliver(events(3))))
    thread.start()
    assert asked.wait(10.0)
    sender.close()
    thread.join(10.0)
    assert not thread.is_alive()
    assert outcomes[0].held == (0, 1, 2) and outcomes[0].destination_down is None
    assert outcomes[0].requests == 1


def test_close_aborts_a_rate_limit_wait() -> None:
    fake = FakeTikTok()
    sender = HttpSender(make_settings(rate_limit_rps=0.001), transport=httpx.MockTransport(fake))
    assert sender.deliver(events(1)).delivered == (0,)
    outcomes: list[BatchOutcome] = []
    thread = threading.Thread(target=lambda: outcomes.append(sender.deliver(events(2))))
    thread.start()
    sender.close()
    thread.join(10.0)
    assert outcomes[0].held == (0, 1) and outcomes[0].requests == 0
    assert len(fake.requests) == 1


def test_deliver_after_close_holds_everything(make_sender: Any) -> None:
    fake = FakeTikTok()
    sender = make_sender(fake)
    sender.close()
    sender.close()  # idempotent
    outcome = sender.deliver(events(2))
    assert outcome.held == (0, 1) and outcome.requests == 0 and fake.requests == []


# --- rate limit, concurrency -------------------------------------------------------------------


def test_rate_limit_is_acquired_before_each_request(slept: Slept) -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        slept(seconds)
        now[0] += seconds

    fake = FakeTikTok()
    fake.script = [reply(50000)]
    sender = HttpSender(
        make_settings(rate_limit_rps=2.0),
        transport=httpx.MockTransport(fake),
        clock=lambda: now[0],
        sleep=sleep,
        rand=lambda: 0.0,  # no backoff delay, so only the rate limit waits
    )
    with sender:
        sender.deliver(events(1))
        sender.deliver(events(1))
    assert len(fake.requests) == 3
    assert slept.delays == [0.5, 0.5]


def test_concurrent_deliveries_share_one_sender(make_sender: Any) -> None:
    fake = FakeTikTok()
    sender = make_sender(fake)
    outcomes: list[BatchOutcome] = []
    lock = threading.Lock()

    def worker(k: int) -> None:
        for j in range(10):
            batch = [event(f"ok-{k}-{j}-{i}") for i in range(20)]
            outcome = sender.deliver(batch)
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30.0)
    assert len(outcomes) == 40 and all(o.delivered == tuple(range(20)) for o in outcomes)
    assert len(set(fake.accepted)) == 800


# --- secrets, telemetry ------------------------------------------------------------------------


def test_token_and_event_bodies_never_logged(
    make_sender: Any, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeTikTok(name_index=False, max_batch=2)
    fake.script = [httpx.Response(503), httpx.ReadTimeout("t"), reply(20001, "partial")]
    sender = make_sender(fake, send_retry_attempts=3)
    with caplog.at_level(logging.DEBUG):
        outcomes = [
            sender.deliver([event("ok-user@example.com"), event("bad-x"), event("ok-z")]),
            make_sender(lambda _r: reply(40105, "revoked")).deliver(events(1)),
            make_sender(lambda _r: reply(50000), send_retry_attempts=1).deliver(events(1)),
        ]
        sender.probe()
    assert caplog.records  # something was logged
    for text in (caplog.text, repr(outcomes)):
        assert TOKEN not in text
        assert "user@example.com" not in text and "ok-z" not in text
    assert TOKEN not in repr(sender.__dict__)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[float, dict[str, Any]]] = []

    def add(self, value: float, attributes: dict[str, Any] | None = None) -> None:
        self.calls.append((value, dict(attributes or {})))

    record = add


@pytest.fixture
def recorders(monkeypatch: pytest.MonkeyPatch) -> dict[str, Recorder]:
    names = ["REQUESTS", "REQUEST_DURATION", "BATCH_SIZE", "IN_FLIGHT_REQUESTS"]
    names += ["THROTTLE_WAITS", "THROTTLE_WAIT_DURATION"]
    found = {name: Recorder() for name in names}
    for name, recorder in found.items():
        monkeypatch.setattr(sender_module, name, recorder)
    return found


def test_metrics(make_sender: Any, recorders: dict[str, Recorder]) -> None:
    fake = FakeTikTok()
    fake.script = [reply(40100, status=429, **{"Retry-After": "2"})]
    make_sender(fake).deliver(events(5, bad=(1,)))
    assert [a for _, a in recorders["REQUESTS"].calls] == [
        {"outcome": "throttled", "code": "40100"},
        {"outcome": "invalid", "code": "40002"},
        {"outcome": "ok", "code": "0"},
    ]
    assert [a for _, a in recorders["REQUEST_DURATION"].calls] == [
        {"outcome": "throttled"},
        {"outcome": "invalid"},
        {"outcome": "ok"},
    ]
    assert [v for v, _ in recorders["BATCH_SIZE"].calls] == [5, 5, 4]
    in_flight = [v for v, _ in recorders["IN_FLIGHT_REQUESTS"].calls]
    assert in_flight == [1, -1, 1, -1, 1, -1]
    assert recorders["THROTTLE_WAITS"].calls == [(1, {"cause": "backoff"})]
    assert recorders["THROTTLE_WAIT_DURATION"].calls == [(2.0, {"cause": "backoff"})]


def test_transport_errors_are_counted_without_a_code(
    make_sender: Any, recorders: dict[str, Recorder]
) -> None:
    fake = FakeTikTok()
    fake.script = [httpx.ConnectError("refused")]
    make_sender(fake).deliver(events(1))
    assert recorders["REQUESTS"].calls[0][1] == {"outcome": "transient", "code": "none"}


def test_probes_are_not_counted_as_requests(
    make_sender: Any, recorders: dict[str, Recorder]
) -> None:
    make_sender(lambda _r: reply(40002)).probe()
    assert recorders["REQUESTS"].calls == [] and recorders["IN_FLIGHT_REQUESTS"].calls == []


def test_one_span_per_request_with_links(make_sender: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(sender_module, "_tracer", provider.get_tracer("tiktok_capi"))
    link = Link(SpanContext(trace_id=7, span_id=9, is_remote=True, trace_flags=TraceFlags(1)))
    fake = FakeTikTok()
    fake.script = [httpx.Response(502, text="<html>")]
    make_sender(fake).deliver(events(3), links=[link])
    spans = exporter.get_finished_spans()
    provider.shutdown()
    assert [s.name for s in spans] == ["tiktok.track", "tiktok.track"]
    failed, ok = spans
    assert failed.attributes is not None and ok.attributes is not None
    assert failed.attributes["tiktok.outcome"] == "transient"
    assert failed.attributes["http.response.status_code"] == 502
    assert "tiktok.code" not in failed.attributes
    assert not failed.status.is_ok
    assert dict(ok.attributes) == {
        "http.request.method": "POST",
        "tiktok.batch_size": 3,
        "tiktok.outcome": "ok",
        "tiktok.code": 0,
        "tiktok.request_id": "r3",
        "http.response.status_code": 200,
    }
    assert [lk.context.span_id for lk in ok.links] == [9]
    for span in spans:
        assert TOKEN not in repr(span.to_json())


def test_a_request_body_is_the_envelope_around_the_comma_joined_events() -> None:
    head, tail = b'{"data":[', b"]}"
    for events in ([], [b"{}"], [b'{"a":1}', b'{"b":2}', b'{"c":3}']):
        expected = head + b",".join(events) + tail
        assert request_body(head, list(events), tail) == expected
        assert orjson.loads(expected)["data"] == [orjson.loads(e) for e in events]
