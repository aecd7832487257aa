"""WirePool: HTTP/1.1 POSTs on its own sockets, against a scripted server on loopback."""

from __future__ import annotations

import contextlib
import gzip
import socket
import threading
from collections.abc import Callable, Iterator

import httpx
import pytest

from tiktok_capi.consumer.config.settings import SecretStr, TikTokSettings
from tiktok_capi.consumer.delivery.post import Poster
from tiktok_capi.consumer.delivery.sender import HttpSender
from tiktok_capi.consumer.delivery.token import StaticToken
from tiktok_capi.consumer.delivery.wire import MAX_REPLY_BYTES, WirePool

OK = b'{"code":0}'
CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b'4;ext=1\r\n{"co\r\n6\r\nde":0}\r\n0\r\nX-Trailer: 1\r\n\r\n'
)
Handler = Callable[["Conn"], None]


class Conn:
    """The server side of one connection: read requests, write answers."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buf = b""

    def request(self, *, read_body: bool = True) -> tuple[bytes, bytes]:
        """(head, body) of the next request; (b"", b"") when the client closed."""
        while b"\r\n\r\n" not in self._buf:
            data = self.sock.recv(65536)
            if not data:
                return b"", b""
            self._buf += data
        head, _, self._buf = self._buf.partition(b"\r\n\r\n")
        if not read_body:
            return head, b""
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        while len(self._buf) < length:
            self._buf += self.sock.recv(65536)
        body, self._buf = self._buf[:length], self._buf[length:]
        return head, body

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)


class Server:
    """Accepts connections; each is handled by the next handler of the script (the last repeats)."""

    def __init__(self, *handlers: Handler) -> None:
        self._handlers = list(handlers)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.connections = 0
        self.heads: list[bytes] = []
        self.bodies: list[bytes] = []
        self.release = threading.Event()  # handlers that hold an answer wait on it
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._serve, daemon=True)
        self._accept.start()

    @property
    def url(self) -> httpx.URL:
        return httpx.URL(f"http://127.0.0.1:{self.port}/open_api/v1.3/event/track/")

    def _serve(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            handler = self._handlers[min(self.connections, len(self._handlers) - 1)]
            self.connections += 1
            thread = threading.Thread(target=self._run, args=(handler, sock), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _run(self, handler: Handler, sock: socket.socket) -> None:
        with sock, contextlib.suppress(OSError):  # the client went away
            handler(Conn(sock))

    def close(self) -> None:
        self.release.set()
        self._listener.close()
        for thread in self._threads:
            thread.join(5)


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(*handlers: Handler) -> Server:
        servers.append(Server(*handlers))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def answering(*answers: bytes, record: Server | None = None) -> Handler:
    """Read a request and write each answer in turn, keeping the connection open."""

    def handle(conn: Conn) -> None:
        for answer in answers:
            head, body = conn.request()
            if not head:
                return
            if record is not None:
                record.heads.append(head)
                record.bodies.append(body)
            conn.send(answer)
        conn.request()  # until the client closes

    return handle


def reply(body: bytes = OK, status: bytes = b"200 OK", *extra: bytes) -> bytes:
    head = [b"HTTP/1.1 " + status, b"Content-Length: %d" % len(body), *extra]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def pool(server: Server, timeout: float = 5.0) -> WirePool:
    headers = [(b"Content-Type", b"application/json"), (b"User-Agent", b"tiktok-capi/1")]
    return WirePool(server.url, headers, httpx.Timeout(timeout), keep=2)


def test_a_post_carries_the_head_and_body_and_the_connection_is_reused(serve) -> None:
    server = serve()
    server._handlers = [
        answering(reply(), reply(b"{}", b"429 Too Many", b"Retry-After: 3"), record=server)
    ]
    wire = pool(server)
    first = wire.post(b'{"data":[]}', [(b"Access-Token", b"tok")])
    second = wire.post(b"{}")
    wire.close()
    assert (first.status, first.content, first.retry_after) == (200, OK, None)
    assert (second.status, second.content, second.retry_after) == (429, b"{}", "3")
    assert server.connections == 1
    lines = server.heads[0].split(b"\r\n")
    assert lines[0] == b"POST /open_api/v1.3/event/track/ HTTP/1.1"
    assert lines[1] == f"Host: 127.0.0.1:{server.port}".encode()
    assert set(lines[2:]) == {
        b"Content-Type: application/json",
        b"User-Agent: tiktok-capi/1",
        b"Access-Token: tok",
        b"Content-Length: 11",
    }
    assert server.bodies == [b'{"data":[]}', b"{}"]


@pytest.mark.parametrize(
    ("answer", "content"),
    [
        (CHUNKED, OK),
        (b"HTTP/1.1 100 Continue\r\n\r\n" + reply(), OK),
        (reply(gzip.compress(OK), b"200 OK", b"Content-Encoding: gzip"), OK),
        (b"HTTP/1.1 204 No Content\r\n\r\n", b""),
        (reply(b"", b"503 Service Unavailable", b"retry-after: 7"), b""),
    ],
    ids=["chunked", "interim-100", "gzip", "no-content", "lower-case-header"],
)
def test_reply_framings(serve, answer: bytes, content: bytes) -> None:
    server = serve(answering(answer, reply()))
    wire = pool(server)
    got = wire.post(b"{}")
    assert got.content == content
    assert wire.post(b"{}").status == 200  # the connection was left at a clean boundary
    wire.close()
    assert server.connections == 1


@pytest.mark.parametrize(
    "answer",
    [
        reply(OK, b"200 OK", b"Connection: close"),
        b"HTTP/1.1 200 OK\r\n\r\n" + OK,  # no length: the body runs to the end
        b"HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\n" + OK,
    ],
    ids=["connection-close", "read-to-end", "http-1.0"],
)
def test_a_reply_that_ends_the_connection_is_not_reused(serve, answer: bytes) -> None:
    def once(conn: Conn) -> None:
        conn.request()
        conn.send(answer)

    server = serve(once)
    wire = pool(server)
    assert [wire.post(b"{}").content for _ in range(2)] == [OK, OK]
    wire.close()
    assert server.connections == 2


def test_an_idle_connection_the_server_closed_is_not_reused(serve) -> None:
    closed = threading.Event()

    def then_close(conn: Conn) -> None:
        conn.request()
        conn.send(reply())
        conn.sock.shutdown(socket.SHUT_RDWR)
        closed.set()

    server = serve(then_close, answering(reply()))
    wire = pool(server)
    wire.post(b"{}")
    assert closed.wait(5)
    assert wire.post(b"{}").status == 200
    wire.close()
    assert server.connections == 2


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (b"", "without sending a response"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", "not HTTP/1.x"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", "complete message body"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", "Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (MAX_REPLY_BYTES + 1), "at most"),
        (b"HTTP/1.1 200 OK\r\nbroken header\r\n\r\n", "malformed"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk size"),
    ],
    ids=["nothing", "not-http", "cut-short", "bad-length", "too-large", "bad-header", "bad-chunk"],
)
def test_a_broken_reply_is_a_protocol_error(serve, answer: bytes, error: str) -> None:
    def once(conn: Conn) -> None:
        conn.request()
        conn.send(answer)

    server = serve(once)
    wire = pool(server)
    with pytest.raises(httpx.RemoteProtocolError, match=error):
        wire.post(b"{}")
    wire.close()


def test_a_gzip_body_that_does_not_inflate_is_a_decoding_error(serve) -> None:
    server = serve(answering(reply(b"not gzip", b"200 OK", b"Content-Encoding: gzip")))
    wire = pool(server)
    with pytest.raises(httpx.DecodingError):
        wire.post(b"{}")
    wire.close()


def test_no_answer_within_the_read_timeout_is_a_read_timeout(serve) -> None:
    server = serve()

    def hold(conn: Conn) -> None:
        conn.request()
        server.release.wait(10)

    server._handlers = [hold]
    wire = pool(server, timeout=0.2)
    with pytest.raises(httpx.ReadTimeout):
        wire.post(b"{}")
    wire.close()


def test_a_refused_connection_is_a_connect_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as spare:
        port = spare.getsockname()[1]
    url = httpx.URL(f"http://127.0.0.1:{port}/")
    wire = WirePool(url, [], httpx.Timeout(2.0))
    with pytest.raises(httpx.ConnectError):
        wire.post(b"{}")


def test_an_answer_before_the_whole_body_is_read_is_the_outcome(serve) -> None:
    """A server refusing a large body (413) answers and closes without reading it all: the
    client's send fails (the unread data resets the connection), the answer is the outcome."""

    def refuse(conn: Conn) -> None:
        conn.request(read_body=False)
        conn.send(reply(b'{"code":40061}', b"413 Payload Too Large", b"Connection: close"))

    server = serve(refuse)
    wire = pool(server)
    got = wire.post(b"x" * (64 * 1024 * 1024))
    wire.close()
    assert (got.status, got.content) == (413, b'{"code":40061}')


def test_abort_ends_a_request_waiting_for_its_answer_and_refuses_new_ones(serve) -> None:
    server = serve()
    waiting = threading.Event()

    def hold(conn: Conn) -> None:
        conn.request()
        waiting.set()
        server.release.wait(10)

    server._handlers = [hold]
    wire = pool(server, timeout=30.0)
    failure: list[BaseException] = []

    def post() -> None:
        try:
            wire.post(b"{}")
        except httpx.HTTPError as exc:
            failure.append(exc)

    thread = threading.Thread(target=post)
    thread.start()
    assert waiting.wait(5)
    wire.abort()
    thread.join(5)
    assert not thread.is_alive()
    assert failure and isinstance(failure[0], httpx.TransportError)
    with pytest.raises(httpx.ConnectError, match="closed"):
        wire.post(b"{}")


def test_a_header_value_that_would_break_the_head_is_refused_without_echoing_it(serve) -> None:
    server = serve(answering(reply()))
    wire = pool(server)
    with pytest.raises(httpx.LocalProtocolError) as caught:
        wire.post(b"{}", [(b"Access-Token", b"secret\r\nX-Injected: 1")])
    wire.close()
    assert "secret" not in str(caught.value)
    assert server.heads == []


def test_only_http_urls() -> None:
    with pytest.raises(ValueError, match="ftp"):
        WirePool(httpx.URL("ftp://example.com/"), [], httpx.Timeout(1.0))


# --- which path the poster takes ------------------------------------------------------------------


def _sender(monkeypatch: pytest.MonkeyPatch, **env: str) -> HttpSender:
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = TikTokSettings(
        access_token=SecretStr("t"), pixel_code="P", api_url="https://tiktok.test"
    )
    return HttpSender(settings)


def test_without_a_proxy_the_sender_posts_on_its_own_sockets(monkeypatch) -> None:
    sender = _sender(monkeypatch)
    try:
        assert sender._poster.wire is not None
    finally:
        sender.close()


def test_a_proxied_url_goes_through_httpx(monkeypatch) -> None:
    sender = _sender(monkeypatch, HTTPS_PROXY="http://127.0.0.1:9")
    try:
        assert sender._poster.wire is None
        assert sender._poster.transport is not None
    finally:
        sender.close()


def test_a_url_no_proxy_exempts_posts_on_its_own_sockets(monkeypatch) -> None:
    sender = _sender(monkeypatch, HTTPS_PROXY="http://127.0.0.1:9", NO_PROXY="tiktok.test")
    try:
        assert sender._poster.wire is not None
    finally:
        sender.close()


def test_an_injected_transport_is_always_used() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=OK))
    with httpx.Client(transport=transport) as client:
        poster = Poster(client, "https://tiktok.test/", StaticToken("t"), keep=4)
        assert poster.wire is None
        assert poster.post(b"{}").content == OK
