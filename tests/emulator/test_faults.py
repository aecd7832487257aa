"""Every injected fault, over real sockets; rates of 0 or 1, or a seed and exact counts."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.emulator.payloads import post, track_request, web_event
from tests.fixtures.waiting import wait_for
from tiktok_capi.emulator.config import FaultConfig, InvalidFaults
from tiktok_capi.emulator.service import Emulator


def _ok_request() -> dict[str, Any]:
    return track_request([web_event()])


def _outcome(response: httpx.Response) -> str:
    if response.status_code >= 500:
        return str(response.status_code)
    code = response.json()["code"]
    return "ok" if code == 0 else str(code)


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_5xx_answers_carry_html_like_a_gateway(emulator: Emulator, client: httpx.Client) -> None:
    emulator.set_faults(error_5xx_rate=1.0)
    statuses = set()
    for _ in range(12):
        response = post(client, emulator, _ok_request())
        assert response.status_code in (500, 502, 503, 504)
        assert response.headers["content-type"] == "text/html"
        assert response.text.startswith("<html>") and str(response.status_code) in response.text
        statuses.add(response.status_code)
    assert len(statuses) > 1  # the status is drawn too
    stats = emulator.stats()
    assert stats["faults"] == {"error_5xx": 12}
    assert stats["accepted_events"] == 0 and stats["requests"] == 12


def test_throttling_is_40100_with_http_429_and_retry_after(
    emulator: Emulator, client: httpx.Client
) -> None:
    emulator.set_faults(throttle_rate=1.0, retry_after_s=7)
    response = post(client, emulator, _ok_request())
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    answer = response.json()
    assert answer["code"] == 40100 and set(answer) == {"code", "message", "request_id", "data"}
    stats = emulator.stats()
    assert stats["faults"] == {"throttle": 1} and stats["rejections_by_code"] == {"40100": 1}


def test_throttling_can_answer_http_200_like_other_business_errors(
    emulator: Emulator, client: httpx.Client
) -> None:
    emulator.set_faults(throttle_rate=1.0, throttle_http_status=200)
    response = post(client, emulator, _ok_request())
    assert response.status_code == 200 and response.json()["code"] == 40100
    assert response.headers["retry-after"] == "1"


def test_latency_delays_the_answer(emulator: Emulator, client: httpx.Client) -> None:
    emulator.set_faults(latency_ms=80)
    started = time.monotonic()
    response = post(client, emulator, _ok_request())
    assert time.monotonic() - started >= 0.08  # a lower bound only: never flaky
    assert response.json()["code"] == 0
    assert emulator.stats()["faults"] == {"latency": 1}


def test_a_hang_outlasts_the_client_timeout(emulator: Emulator, client: httpx.Client) -> None:
    emulator.set_faults(hang_rate=1.0, hang_s=30)
    with pytest.raises(httpx.ReadTimeout):
        post(client, emulator, _ok_request(), timeout=0.2)
    # (the fixture's stop() ends the 30 s hang at once)


def test_a_hang_that_ends_closes_without_an_answer(
    emulator: Emulator, client: httpx.Client
) -> None:
    emulator.set_faults(hang_rate=1.0, hang_s=0.05)
    with pytest.raises(httpx.RemoteProtocolError):
        post(client, emulator, _ok_request())
    assert emulator.stats()["faults"] == {"hang": 1}
    assert emulator.stats()["accepted_events"] == 0


def test_stop_ends_hanging_requests_promptly(
    emulator_factory: Callable[..., Emulator], client: httpx.Client
) -> None:
    emu = emulator_factory(faults=FaultConfig(hang_rate=1.0, hang_s=300))
    errors: list[BaseException] = []

    def call() -> None:
        try:
            post(client, emu, _ok_request())
        except httpx.HTTPError as exc:
            errors.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    wait_for(
        lambda: emu.stats()["faults"].get("hang", 0) >= 1, timeout=5, interval=0.005, what="a hang"
    )
    emu.stop()
    caller.join(10)
    assert not caller.is_alive() and len(errors) == 1


def test_a_dropped_connection_gets_no_answer(emulator: Emulator, client: httpx.Client) -> None:
    emulator.set_faults(drop_rate=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        post(client, emulator, _ok_request())
    emulator.set_faults()
    assert post(client, emulator, _ok_request()).json()["code"] == 0  # a new connection works
    stats = emulator.stats()
    assert stats["faults"] == {"drop": 1} and stats["accepted_events"] == 1


def test_a_revoked_token_is_40105_until_the_window_ends(
    emulator_factory: Callable[..., Emulator], client: httpx.Client
) -> None:
    wall = FakeClock(1_800_000_000.0)
    emu = emulator_factory(wall_clock=wall)
    emu.set_faults(revoke_for_s=60)
    assert emu.faults.token_revoked_until == 1_800_000_060.0
    request = track_request([web_event(event_time=int(wall.now))])
    answer = post(client, emu, request).json()
    assert answer["code"] == 40105
    wall.now += 61
    assert post(client, emu, request).json()["code"] == 0
    stats = emu.stats()
    assert stats["faults"] == {"revoked": 1} and stats["rejections_by_code"] == {"40105": 1}


def test_qps_limit_throttles_above_the_rate(
    emulator_factory: Callable[..., Emulator], client: httpx.Client
) -> None:
    clock = FakeClock()
    emu = emulator_factory(monotonic=clock, faults=FaultConfig(qps_limit=2))
    outcomes = [post(client, emu, _ok_request()) for _ in range(3)]
    assert [r.status_code for r in outcomes] == [200, 200, 429]
    assert outcomes[2].json()["code"] == 40100 and "retry-after" in outcomes[2].headers
    clock.now += 0.5  # one request's worth of budget comes back
    assert [_outcome(post(client, emu, _ok_request())) for _ in range(2)] == ["ok", "40100"]
    clock.now += 10  # the bucket refills to its size, not beyond
    assert [_outcome(post(client, emu, _ok_request())) for _ in range(3)] == ["ok", "ok", "40100"]
    assert emu.stats()["faults"] == {"qps_limit": 3}


def _pattern(emu: Emulator, client: httpx.Client, n: int) -> list[str]:
    return [_outcome(post(client, emu, _ok_request())) for _ in range(n)]


def test_rates_are_deterministic_under_a_seed(emulator: Emulator, client: httpx.Client) -> None:
    faults = FaultConfig(error_5xx_rate=0.3, throttle_rate=0.3, seed=42)
    emulator.set_faults(faults)
    first = _pattern(emulator, client, 30)
    emulator.set_faults(faults)  # setting faults reseeds
    assert _pattern(emulator, client, 30) == first
    assert {"ok", "40100"} <= set(first) and any(o.startswith("5") for o in first)
    emulator.set_faults(error_5xx_rate=0.3, throttle_rate=0.3, seed=43)
    assert _pattern(emulator, client, 30) != first


def test_the_emulator_seed_applies_when_faults_have_none(
    emulator_factory: Callable[..., Emulator], client: httpx.Client
) -> None:
    faults = FaultConfig(drop_rate=0.0, throttle_rate=0.5)
    first = emulator_factory(seed=5, faults=faults)
    second = emulator_factory(seed=5, faults=faults)
    assert _pattern(first, client, 20) == _pattern(second, client, 20)


def test_a_drop_wins_over_other_faults(emulator: Emulator, client: httpx.Client) -> None:
    emulator.set_faults(drop_rate=1.0, throttle_rate=1.0, error_5xx_rate=1.0, revoke_for_s=60)
    with pytest.raises(httpx.RemoteProtocolError):
        post(client, emulator, _ok_request())
    assert emulator.stats()["faults"] == {"drop": 1}


def test_faults_do_not_touch_the_control_endpoints(
    emulator: Emulator, client: httpx.Client
) -> None:
    emulator.set_faults(drop_rate=1.0, hang_rate=1.0, error_5xx_rate=1.0)
    assert client.get(emulator.base_url + "/_emulator/stats").status_code == 200
    assert client.get(emulator.base_url + "/_emulator/health").json() == {"status": "ok"}


def test_faults_are_set_over_http(emulator: Emulator, client: httpx.Client) -> None:
    url = emulator.base_url + "/_emulator/faults"
    answer = client.post(url, json={"throttle_rate": 1, "retry_after_s": 3})
    assert answer.status_code == 200 and answer.json()["throttle_rate"] == 1
    assert client.get(url).json() == FaultConfig(throttle_rate=1, retry_after_s=3).as_dict()
    assert post(client, emulator, _ok_request()).status_code == 429
    assert client.post(url, json={"revoke_for_s": 60}).status_code == 200
    assert emulator.faults.throttle_rate == 0  # replaced, not merged
    assert post(client, emulator, _ok_request()).json()["code"] == 40105
    assert client.post(url, content=b"").json() == FaultConfig().as_dict()  # all off
    assert post(client, emulator, _ok_request()).json()["code"] == 0


@pytest.mark.parametrize(
    "body",
    [b'{"drop": 1}', b'{"drop_rate": 2}', b'{"latency_ms": -1}', b"[1]", b"{bad", b'{"seed": "x"}'],
)
def test_bad_fault_specs_are_refused_with_400(
    emulator: Emulator, client: httpx.Client, body: bytes
) -> None:
    answer = client.post(emulator.base_url + "/_emulator/faults", content=body)
    assert answer.status_code == 400 and answer.json()["error"]
    assert emulator.faults == FaultConfig()


def test_set_faults_takes_a_config_or_fields_not_both(emulator: Emulator) -> None:
    with pytest.raises(TypeError):
        emulator.set_faults(FaultConfig(), drop_rate=1.0)
    with pytest.raises(InvalidFaults):
        emulator.set_faults(unknown=1)


def test_a_latency_spike_past_the_client_timeout_still_records_the_events(
    emulator: Emulator, client: httpx.Client
) -> None:
    emulator.set_faults(spike_rate=1.0, spike_ms=300)
    with pytest.raises(httpx.ReadTimeout):
        post(client, emulator, _ok_request(), timeout=0.05)
    # The server was only slow: it processes the request after the client gave up.
    wait_for(
        lambda: emulator.stats()["accepted_events"] == 1,
        timeout=5,
        what="the slow request to be recorded",
    )
    assert emulator.stats()["faults"] == {"latency": 1, "spike": 1}


def test_spikes_hit_only_their_share_of_requests(emulator: Emulator, client: httpx.Client) -> None:
    emulator.set_faults(spike_rate=0.5, spike_ms=1, seed=3)
    for _ in range(40):
        assert post(client, emulator, _ok_request()).json()["code"] == 0
    assert 5 < emulator.stats()["faults"]["spike"] < 35


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (407, "<html>Proxy Authentication Required</html>", "text/html"),
        (400, "Bad Request", "text/plain"),
        (200, '{"code": 40002, "message": "Invalid parameters", "data": {}}', "application/json"),
        (200, '{"code": 41234, "message": "Something new", "data": {}}', "application/json"),
    ],
)
def test_a_canned_answer_is_sent_as_given_and_records_nothing(
    emulator: Emulator, client: httpx.Client, status: int, body: str, content_type: str
) -> None:
    emulator.set_faults(answer_rate=1.0, answer_status=status, answer_body=body,
                        answer_content_type=content_type)  # fmt: skip
    response = post(client, emulator, _ok_request())
    assert response.status_code == status
    assert response.text == body and response.headers["content-type"] == content_type
    stats = emulator.stats()
    assert stats["faults"] == {"answer": 1} and stats["accepted_events"] == 0


def test_a_canned_answer_comes_before_the_token_check(
    emulator: Emulator, client: httpx.Client
) -> None:
    emulator.set_faults(answer_rate=1.0, answer_status=407, answer_body="proxy")
    response = client.post(emulator.track_url, json=_ok_request(), headers={"Access-Token": "x"})
    assert response.status_code == 407  # a proxy answers before TikTok sees the token


def test_a_cut_answer_records_the_events_but_never_completes(
    emulator: Emulator, client: httpx.Client
) -> None:
    emulator.set_faults(cut_rate=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        post(client, emulator, _ok_request())
    stats = emulator.stats()
    assert stats["faults"] == {"cut": 1}
    assert stats["accepted_events"] == 1  # TikTok has them; the client cannot know
    emulator.set_faults()
    assert post(client, emulator, _ok_request()).json()["code"] == 0  # a new connection works
    assert emulator.stats()["duplicates"] == 1  # the re-sent event is deduplicated


def test_a_cut_of_a_rejected_request_records_nothing(
    emulator: Emulator, client: httpx.Client
) -> None:
    emulator.set_faults(cut_rate=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        post(client, emulator, track_request([web_event(event_time="soon")]))
    assert emulator.stats()["accepted_events"] == 0


def test_the_later_faults_do_not_shift_the_older_faults_sequence(
    emulator: Emulator, client: httpx.Client
) -> None:
    emulator.set_faults(error_5xx_rate=0.3, throttle_rate=0.3, seed=42)
    before = _pattern(emulator, client, 30)
    emulator.set_faults(error_5xx_rate=0.3, throttle_rate=0.3, spike_rate=0.5, spike_ms=1,
                        seed=42)  # fmt: skip
    assert _pattern(emulator, client, 30) == before


@pytest.mark.parametrize(
    "spec",
    [
        {"answer_status": 99},
        {"answer_status": "407"},
        {"answer_body": 5},
        {"answer_body": "x" * 70_000},
        {"answer_content_type": "text/html\r\nX: y"},
        {"cut_rate": 1.5},
        {"spike_rate": -0.1},
        {"spike_ms": 400_000},
    ],
)
def test_bad_new_fault_fields_are_refused(spec: dict[str, Any]) -> None:
    with pytest.raises(InvalidFaults):
        FaultConfig(**spec)
