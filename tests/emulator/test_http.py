"""HTTP behaviour of the emulator: paths, methods, bodies, answers, lifecycle."""

from __future__ import annotations

import gzip
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.emulator.payloads import post, track_request, web_event
from tiktok_capi.emulator.contract import TRACK_PATH
from tiktok_capi.emulator.service import Emulator


def test_success_is_code_0_with_a_unique_request_id(
    emulator: Emulator, client: httpx.Client
) -> None:
    answers = [post(client, emulator, track_request([web_event(n)])) for n in range(3)]
    for response in answers:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert (body["code"], body["message"], body["data"]) == (0, "OK", {})
    assert len({r.json()["request_id"] for r in answers}) == 3


def test_the_path_without_trailing_slash_redirects(
    emulator: Emulator, client: httpx.Client
) -> None:
    response = client.post(emulator.base_url + TRACK_PATH.rstrip("/"), content=b"{}")
    assert response.status_code == 308 and response.headers["location"] == TRACK_PATH
    assert emulator.stats()["requests"] == 0


def test_unknown_paths_and_methods(emulator: Emulator, client: httpx.Client) -> None:
    assert client.get(emulator.base_url + TRACK_PATH).status_code == 405
    assert client.post(emulator.base_url + "/open_api/v1.3/pixel/track/").status_code == 404
    assert client.get(emulator.base_url + "/").status_code == 404


def test_a_query_string_does_not_change_the_path(emulator: Emulator, client: httpx.Client) -> None:
    body = orjson.dumps(track_request([web_event()]))
    response = client.post(
        emulator.base_url + TRACK_PATH + "?x=1",
        content=body,
        headers={"Access-Token": emulator.token},
    )
    assert response.json()["code"] == 0


def test_chunked_bodies_are_read(emulator: Emulator, client: httpx.Client) -> None:
    body = orjson.dumps(track_request([web_event(n) for n in range(50)]))

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]

    response = client.post(
        emulator.base_url + TRACK_PATH, content=chunks(), headers={"Access-Token": emulator.token}
    )
    assert response.json()["code"] == 0 and emulator.stats()["accepted_events"] == 50


def test_bad_bodies_get_http_errors(
    emulator_factory: Callable[..., Emulator], client: httpx.Client
) -> None:
    emu = emulator_factory(max_body_bytes=1000)
    big = orjson.dumps(track_request([web_event(n) for n in range(10)]))
    assert post(client, emu, big).status_code == 413
    bad_gzip = post(client, emu, b"not gzip", headers={"Content-Encoding": "gzip"})
    assert bad_gzip.status_code == 400
    zipped = gzip.compress(b"{}")
    assert post(client, emu, zipped, headers={"Content-Encoding": "br"}).status_code == 415


def test_keep_alive_connections_serve_many_requests(emulator: Emulator) -> None:
    body = orjson.dumps(track_request([web_event()]))
    host, port = emulator.base_url.removeprefix("http://").split(":")
    request = (
        f"POST {TRACK_PATH} HTTP/1.1\r\nHost: {host}\r\nAccess-Token: {emulator.token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        reader = sock.makefile("rb")
        for _ in range(3):
            sock.sendall(request)
            status = reader.readline()
            assert status.startswith(b"HTTP/1.1 200")
            length = 0
            while (line := reader.readline()) != b"\r\n":
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            assert orjson.loads(reader.read(length))["code"] == 0
        reader.close()
    assert emulator.stats()["accepted_requests"] == 3


def test_stop_closes_idle_keep_alive_connections(
    emulator_factory: Callable[..., Emulator],
) -> None:
    emu = emulator_factory()
    url = emu.track_url
    with httpx.Client(timeout=5, verify=False) as http:
        assert post(http, emu, track_request([web_event()])).json()["code"] == 0
        emu.stop()  # returns although the client keeps its connection open
        with pytest.raises(httpx.TransportError):
            http.post(url, content=b"{}")


def test_the_emulator_is_a_context_manager() -> None:
    with Emulator() as emu:
        assert emu.base_url.startswith("http://127.0.0.1:")
        assert emu.track_url == emu.base_url + TRACK_PATH
        assert (emu.token, emu.pixel_code) == ("test-token", "TESTPIXEL")
    with pytest.raises(RuntimeError):
        _ = emu.base_url


def test_the_token_is_not_in_the_config_repr() -> None:
    from tiktok_capi.emulator.config import EmulatorConfig

    assert "s3cret" not in repr(EmulatorConfig(token="s3cret"))


def test_stop_then_start_serves_again_on_the_same_port_with_the_same_state(
    emulator_factory: Callable[..., Emulator], tmp_path: Path
) -> None:
    record = tmp_path / "events.jsonl"
    emu = emulator_factory(record_path=str(record))
    url = emu.base_url
    with httpx.Client(timeout=5, verify=False) as http:
        assert post(http, emu, track_request([web_event(1)])).json()["code"] == 0
        emu.stop()  # the destination is down: connections are refused
        with pytest.raises(httpx.ConnectError):
            http.post(url + TRACK_PATH, content=b"{}")
        assert emu.start() == url
        assert post(http, emu, track_request([web_event(1)])).json()["code"] == 0
    assert emu.stats()["duplicates"] == 1
    emu.stop()
    assert len(record.read_bytes().splitlines()) == 2


def test_concurrent_clients_are_all_served_and_counted(emulator: Emulator) -> None:
    def client_thread(k: int) -> None:
        with httpx.Client(timeout=5, verify=False) as http:
            for n in range(10):
                event = web_event(k * 100 + n)
                assert post(http, emulator, track_request([event, event])).json()["code"] == 0

    threads = [threading.Thread(target=client_thread, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    stats = emulator.stats()
    assert stats["accepted_requests"] == 80 and stats["accepted_events"] == 160
    assert stats["unique_events"] == 80 and stats["duplicates"] == 80
