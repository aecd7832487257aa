"""Poster: a POST through the transport the client would pick, with the client's headers."""

from __future__ import annotations

import httpx
import pytest

from tiktok_capi.consumer.config.settings import SecretStr, TikTokSettings
from tiktok_capi.consumer.delivery.post import Poster
from tiktok_capi.consumer.delivery.sender import HttpSender
from tiktok_capi.consumer.delivery.token import StaticToken, TokenAuth

URL = "https://business-api.tiktok.com/open_api/v1.3/event/track/"


class Rotating:
    """A token that changes between requests (a rotated Secret file)."""

    def __init__(self) -> None:
        self.calls = 0

    def value(self) -> str:
        self.calls += 1
        return f"token-{self.calls}"


def recording() -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(429, json={"code": 40100}, headers={"Retry-After": "3"})

    return httpx.MockTransport(answer), seen


def test_the_fast_path_is_taken() -> None:
    """Fails when an httpx upgrade removes ``Client._transport_for_url`` (the fallback, through
    ``client.post``, still works but costs a third more CPU per request)."""
    settings = TikTokSettings(
        access_token=SecretStr("t"), pixel_code="P", api_url="https://tiktok.test"
    )
    sender = HttpSender(settings)
    try:
        transport = sender._poster.transport
        assert isinstance(transport, httpx.HTTPTransport)
    finally:
        sender.close()


def test_the_request_carries_the_clients_headers_and_the_current_token() -> None:
    transport, seen = recording()
    token = Rotating()
    headers = {"Content-Type": "application/json", "User-Agent": "tiktok-capi/1"}
    with httpx.Client(transport=transport, headers=headers, timeout=httpx.Timeout(7.0)) as client:
        poster = Poster(client, URL, token)
        assert poster.transport is transport
        reply = poster.post(b'{"data":[]}')
        poster.post(b"{}")
    assert (reply.status, reply.retry_after) == (429, "3")
    assert reply.content == b'{"code":40100}'
    first = seen[0]
    assert (first.method, str(first.url)) == ("POST", URL)
    assert first.headers["Host"] == "business-api.tiktok.com"
    assert first.headers["Content-Type"] == "application/json"
    assert first.headers["User-Agent"] == "tiktok-capi/1"
    assert first.headers["Content-Length"] == "11" and first.content == b'{"data":[]}'
    assert first.extensions["timeout"] == httpx.Timeout(7.0).as_dict()
    assert [r.headers["Access-Token"] for r in seen] == ["token-1", "token-2"]


def test_a_transport_mounted_for_the_url_is_used() -> None:
    """What HTTPS_PROXY / NO_PROXY become in the client: a transport mounted per URL pattern."""
    default, _ = recording()
    mounted, seen = recording()
    with httpx.Client(transport=default, mounts={"https://business-api.tiktok.com": mounted}) as c:
        Poster(c, URL, StaticToken("t")).post(b"{}")
    assert len(seen) == 1


def test_a_closed_client_refuses_as_client_post_does() -> None:
    transport, seen = recording()
    client = httpx.Client(transport=transport)
    poster = Poster(client, URL, StaticToken("t"))
    client.close()
    with pytest.raises(RuntimeError):
        poster.post(b"{}")
    assert seen == []


def test_without_the_fast_path_the_client_posts() -> None:
    transport, seen = recording()
    token = StaticToken("secret-token")
    with httpx.Client(transport=transport, auth=TokenAuth(token)) as client:
        poster = Poster(client, URL, token)
        poster.transport = None
        reply = poster.post(b"{}")
    assert (reply.status, reply.retry_after) == (429, "3")
    assert seen[0].headers["Access-Token"] == "secret-token"
