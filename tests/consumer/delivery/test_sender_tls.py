"""HttpSender over real TLS on loopback: certificates are verified, the token never leaves
unverified."""

from __future__ import annotations

import dataclasses
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest

from tiktok_capi.consumer.config.settings import SecretStr, TikTokSettings
from tiktok_capi.consumer.delivery.sender import HttpSender

TLS = Path(__file__).resolve().parents[2] / "fixtures" / "tls"  # self-signed for 127.0.0.1


class _Handler(BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_POST(self) -> None:
        self.seen.append(self.headers.get("Access-Token", ""))
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = b'{"code":0,"message":"OK","request_id":"r1","data":{}}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def https_url() -> Iterator[str]:
    _Handler.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(TLS / "cert.pem", TLS / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _settings(url: str) -> TikTokSettings:
    base = TikTokSettings(access_token=SecretStr("tok-TLS"), pixel_code="P", api_url=url)
    return dataclasses.replace(base, send_retry_attempts=1)


def _event() -> bytes:
    return orjson.dumps({"event": "Pageview", "event_time": 1, "event_id": "e-1"})


def test_an_untrusted_certificate_is_refused_before_the_token_is_sent(
    https_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    with HttpSender(_settings(https_url)) as sender:
        outcome = sender.deliver([_event()])
    assert outcome.failed == (0,) and outcome.failure is not None
    assert "CERTIFICATE_VERIFY_FAILED" in outcome.failure.message
    assert _Handler.seen == []


def test_a_ca_named_by_ssl_cert_file_is_trusted(
    https_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(TLS / "cert.pem"))
    with HttpSender(_settings(https_url)) as sender:
        outcome = sender.deliver([_event()])
    assert outcome.delivered == (0,)
    assert _Handler.seen == ["tok-TLS"]
