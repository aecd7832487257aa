"""HTTP plumbing: a threaded HTTP/1.1 (keep-alive) server that hands requests to an `App`.

Only bytes in and out live here: reading bodies (Content-Length or chunked, optionally gzip),
routing paths, writing `Reply` values. What to answer is the `App`'s business. The server keeps
track of its connections so that `HTTPServer.close` ends every handler thread promptly, even
ones idling on a keep-alive connection.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import logging
import socket
import threading
import zlib
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

__all__ = ["App", "HTTPServer", "Reply"]

log = logging.getLogger(__name__)

_IDLE_TIMEOUT_S = 120.0


@dataclass(frozen=True, slots=True)
class Reply:
    """One answer. ``status`` 0 means: close the connection without answering; ``truncated``:
    send the head and half of the body, then close the connection (an answer cut off)."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    truncated: bool = False

    def cut(self) -> Reply:
        """This answer, cut off mid-way."""
        return dataclasses.replace(self, truncated=True)


DROP = Reply(0)
# A bug in the emulator itself: plain text, so it cannot be mistaken for an injected fault.
_INTERNAL_ERROR = Reply(500, b"emulator internal error (see its log)", "text/plain; charset=utf-8")


class App(Protocol):
    """What the server calls; each method returns the `Reply` to send."""

    max_body_bytes: int

    def post(self, path: str, headers: Any, body: bytes) -> Reply:
        """Answer a POST to ``path`` (query string removed)."""
        ...

    def get(self, path: str, query: str) -> Reply:
        """Answer a GET to ``path``."""
        ...


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class _BodyError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tiktok-capi-emulator"
    sys_version = ""
    timeout = _IDLE_TIMEOUT_S
    disable_nagle_algorithm = True
    server: HTTPServer

    def do_POST(self) -> None:
        app = self.server.app
        try:
            body = self._read_body(app.max_body_bytes)
        except _BodyError as exc:
            self.close_connection = True
            self._send(Reply(exc.status, str(exc).encode(), "text/plain; charset=utf-8"))
            return
        path = self.path.partition("?")[0]
        try:
            reply = app.post(path, self.headers, body)
        except Exception:
            log.exception("emulator error answering POST %s", path)
            reply = _INTERNAL_ERROR
        self._send(reply)

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        try:
            reply = self.server.app.get(path, query)
        except Exception:
            log.exception("emulator error answering GET %s", path)
            reply = _INTERNAL_ERROR
        self._send(reply)

    def _read_body(self, limit: int) -> bytes:
        headers = self.headers
        if headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self._read_chunked(limit)
        else:
            length_text = headers.get("Content-Length")
            if length_text is None:
                body = b""
            else:
                try:
                    length = int(length_text)
                except ValueError as exc:
                    raise _BodyError(400, "invalid Content-Length") from exc
                if length < 0:
                    raise _BodyError(400, "invalid Content-Length")
                if length > limit:
                    raise _BodyError(413, "request body too large")
                body = self.rfile.read(length)
                if len(body) != length:
                    raise _BodyError(400, "request body shorter than Content-Length")
        encoding = headers.get("Content-Encoding", "").lower()
        if encoding in ("", "identity"):
            return body
        if encoding == "gzip":
            try:
                return gzip.decompress(body)
            except (OSError, EOFError, zlib.error) as exc:
                raise _BodyError(400, "invalid gzip body") from exc
        raise _BodyError(415, f"unsupported Content-Encoding: {encoding}")

    def _read_chunked(self, limit: int) -> bytes:
        parts: list[bytes] = []
        size = 0
        while True:
            line = self.rfile.readline(1026)
            try:
                chunk = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError as exc:
                raise _BodyError(400, "invalid chunked body") from exc
            if chunk == 0:
                while self.rfile.readline(1026) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            size += chunk
            if size > limit:
                raise _BodyError(413, "request body too large")
            parts.append(self.rfile.read(chunk))
            self.rfile.readline(3)

    def _send(self, reply: Reply) -> None:
        if reply.status == 0:
            self.close_connection = True
            return
        self.log_request(reply.status)
        lines = [
            f"{self.protocol_version} {reply.status} {_phrase(reply.status)}",
            f"Server: {self.server_version}",
            f"Date: {self.date_time_string()}",
            f"Content-Type: {reply.content_type}",
            f"Content-Length: {len(reply.body)}",
        ]
        lines.extend(f"{name}: {value}" for name, value in reply.headers)
        if self.close_connection:
            lines.append("Connection: close")
        lines.append("\r\n")
        # Head and body in one write: two small writes meet Nagle's algorithm and the client's
        # delayed ACK, a 40 ms stall per answer.
        body = reply.body
        if reply.truncated:
            body = body[: len(body) // 2]
            self.close_connection = True  # the rest never comes: Content-Length is not met
        self.wfile.write("\r\n".join(lines).encode("latin-1") + body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)


class HTTPServer(ThreadingHTTPServer):
    """Threaded HTTP/1.1 server over ``app``, one daemon thread per connection.

    Bind happens in the constructor (``server_address[1]`` is the port); run `serve_forever`
    in a thread; `close` stops serving and ends every connection thread.
    """

    daemon_threads = True
    block_on_close = False
    # Large request bodies arrive in big reads; a bigger listen backlog helps bursts of clients.
    request_queue_size = 128

    def __init__(self, host: str, port: int, app: App) -> None:
        self.app = app
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._connections_lock = threading.Lock()
        super().__init__((host, port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name="emulator-conn",
            daemon=True,
        )
        with self._connections_lock:
            self._connections[request] = thread
        thread.start()

    def _serve_connection(self, request: socket.socket, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._connections_lock:
                self._connections.pop(request, None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client going away mid-request is normal for an emulator that drops and hangs.
        log.debug("connection from %s ended with an error", client_address)

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop accepting, close idle and busy connections, and wait for their threads.

        Call only while `serve_forever` runs (in another thread).
        """
        # shutdown() waits for the accept loop to notice, up to its poll interval; a connection
        # wakes the loop at once (it exits before accepting it).
        stopper = threading.Thread(target=self.shutdown, name="emulator-shutdown", daemon=True)
        stopper.start()
        host, port = self.server_address[:2]
        wake = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(str(host), str(host))
        while stopper.is_alive():
            with contextlib.suppress(OSError):
                socket.create_connection((wake, port), timeout=0.5).close()
            stopper.join(0.01)
        self.server_close()
        with self._connections_lock:
            connections = list(self._connections.items())
        for sock, _ in connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for _, thread in connections:
            thread.join(timeout_s)
