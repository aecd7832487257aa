"""HTTP/1.1 POSTs over the sender's own keep-alive sockets: delivery without httpx's layers.

Through httpx, httpcore and h11 a request costs ~1,200 Python calls (request and response
models, header validation, the h11 state machine) and a copy of the body; written and read
here it costs about a third of that CPU, most of it the kernel's (figures in
docs/performance.md). :class:`WirePool` does only what one endpoint needs:
a keep-alive connection per concurrent request (TCP, or TLS with the context httpx would use),
one request head written before the body, and a reply read by ``Content-Length``, chunks or
to the end of the connection.

It is used only for a plain connection to the endpoint (no proxy: a proxied URL goes through
httpx, :mod:`.post`) and fails as httpx does, so callers classify one set of errors::

    httpx.ConnectTimeout / ConnectError   connecting (refused, DNS, TLS handshake/verification)
    httpx.WriteTimeout / WriteError       sending the request (when no reply could be read)
    httpx.ReadTimeout / ReadError         waiting for or reading the reply
    httpx.RemoteProtocolError             a reply that is not HTTP/1.x, cut short, or too large
    httpx.LocalProtocolError              a header value that would break the request head

An idle connection the server has closed (or sent anything on) is dropped before reuse, as
httpcore does. :meth:`WirePool.abort` shuts every socket down, so a thread blocked on a slow
answer returns at once at shutdown (:mod:`.abortable` does this for httpx's sockets).
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import httpx

__all__ = ["MAX_REPLY_BYTES", "Reply", "WirePool", "shut_down"]

MAX_REPLY_BYTES: Final = 4 * 1024 * 1024
"""The largest reply body read (TikTok answers in a few hundred bytes)."""

_MAX_HEAD: Final = 64 * 1024
_RECV: Final = 65536
_ABORTED: Final = "the sender is closed: no new connections"
_NO_REPLY: Final = "Server disconnected without sending a response."
_CUT_SHORT: Final = "peer closed connection without sending complete message body"
_BAD_VALUE: Final = frozenset(b"\r\n\0")


@dataclass(frozen=True, slots=True)
class Reply:
    """What the sender reads of an answer: status, body and ``Retry-After``."""

    status: int
    content: bytes
    retry_after: str | None


class WirePool:
    """Keep-alive HTTP/1.1 connections to one endpoint, shared by threads.

    Args:
        url: the endpoint (``http`` or ``https``); every request is a POST to it.
        headers: the request headers besides ``Host``, ``Content-Length`` and the
            per-request ones (the client's ``Content-Type``, ``User-Agent`` …).
        timeout: httpx's timeouts: ``connect`` for connecting (and the TLS handshake),
            ``write``/``read`` for each send and receive.
        ssl_context: for ``https`` (by default the one httpx builds: certifi, or the CAs
            ``SSL_CERT_FILE``/``SSL_CERT_DIR`` name).
        keep: idle connections kept for reuse (one per concurrent request).
    """

    def __init__(
        self,
        url: httpx.URL,
        headers: list[tuple[bytes, bytes]],
        timeout: httpx.Timeout,
        *,
        ssl_context: ssl.SSLContext | None = None,
        keep: int = 1,
    ) -> None:
        if url.scheme not in ("http", "https"):
            raise ValueError(f"not an http(s) URL: {url.scheme}://")
        self._host = url.host
        self._port = url.port or (443 if url.scheme == "https" else 80)
        self._tls = (ssl_context or httpx.create_ssl_context()) if url.scheme == "https" else None
        self._connect_timeout = timeout.connect
        self._timeouts = (timeout.write, timeout.read)
        lines = [b"POST " + url.raw_path + b" HTTP/1.1", b"Host: " + url.netloc]
        lines += [name + b": " + value for name, value in headers]
        self._head = b"\r\n".join(lines) + b"\r\n"
        self._keep = keep
        self._idle: list[socket.socket] = []
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._aborted = False

    def post(self, body: bytes, headers: Sequence[tuple[bytes, bytes]] = ()) -> Reply:
        """POST ``body`` with ``headers`` added to the pool's; raises the httpx errors above."""
        head = [self._head]
        for name, value in headers:
            if not _BAD_VALUE.isdisjoint(value):  # never echo the value: it may be the token
                raise httpx.LocalProtocolError(f"illegal value of header {name.decode()!r}")
            head += (name, b": ", value, b"\r\n")
        head.append(b"Content-Length: %d\r\n\r\n" % len(body))
        sock = self._checkout()
        try:
            reply, reusable = _exchange(sock, b"".join(head), body, self._timeouts)
        except BaseException:
            self._discard(sock)
            raise
        if reusable:
            self._checkin(sock)
        else:
            self._discard(sock)
        return reply

    def abort(self) -> None:
        """Shut every connection down, and refuse new ones: blocked reads fail at once."""
        with self._lock:
            self._aborted = True
            socks = list(self._open)
        for sock in socks:
            shut_down(sock)

    def close(self) -> None:
        """:meth:`abort`, and close the idle connections."""
        self.abort()
        with self._lock:
            idle, self._idle = self._idle, []
        for sock in idle:
            self._discard(sock)

    # --- connections ------------------------------------------------------------------------------

    def _checkout(self) -> socket.socket:
        while True:
            with self._lock:
                if self._aborted:
                    raise httpx.ConnectError(_ABORTED)
                sock = self._idle.pop() if self._idle else None
            if sock is None:
                return self._connect()
            if _usable(sock):
                return sock
            self._discard(sock)

    def _checkin(self, sock: socket.socket) -> None:
        with self._lock:
            if not self._aborted and len(self._idle) < self._keep:
                self._idle.append(sock)
                return
        self._discard(sock)

    def _discard(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)
        sock.close()

    def _connect(self) -> socket.socket:
        try:
            sock = socket.create_connection((self._host, self._port), self._connect_timeout)
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc) or "timed out connecting") from exc
        except OSError as exc:
            raise httpx.ConnectError(str(exc)) from exc
        with self._lock:
            aborted = self._aborted
            if not aborted:
                self._open.add(sock)
        if aborted:
            sock.close()
            raise httpx.ConnectError(_ABORTED)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls is not None:
                plain = sock
                sock = self._tls.wrap_socket(plain, server_hostname=self._host)
                with self._lock:  # the TLS socket owns the descriptor now
                    self._open.discard(plain)
                    self._open.add(sock)
                if self._aborted:
                    shut_down(sock)
        except TimeoutError as exc:
            self._discard(sock)
            raise httpx.ConnectTimeout(str(exc) or "timed out in the TLS handshake") from exc
        except OSError as exc:
            self._discard(sock)
            raise httpx.ConnectError(str(exc)) from exc
        return sock


def _usable(sock: socket.socket) -> bool:
    """An idle connection can be reused: the server has neither closed it nor sent anything."""
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return False
    try:
        poll = select.poll()
        poll.register(sock, select.POLLIN)
        return not poll.poll(0)
    except (OSError, ValueError):
        return False


def shut_down(sock: socket.socket) -> None:
    """Shut ``sock`` down both ways: a thread blocked on it returns at once."""
    with contextlib.suppress(OSError):  # already closed
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


# --- one exchange ---------------------------------------------------------------------------------


def _exchange(
    sock: socket.socket, head: bytes, body: bytes, timeouts: tuple[float | None, float | None]
) -> tuple[Reply, bool]:
    """Send the request and read the reply; (reply, whether the connection can be reused)."""
    write_timeout, read_timeout = timeouts
    sock.settimeout(write_timeout)
    try:
        sock.sendall(head)
        sock.sendall(body)
    except TimeoutError as exc:
        raise httpx.WriteTimeout(str(exc) or "timed out sending the request") from exc
    except OSError as exc:
        # The server may have answered before reading all of the body (413, 401) and closed
        # the connection: that answer is the outcome, as in httpcore.
        try:
            reply, _ = _read_reply(_Reader(sock, read_timeout))
        except httpx.HTTPError:
            raise httpx.WriteError(str(exc)) from exc
        return reply, False
    return _read_reply(_Reader(sock, read_timeout))


class _Reader:
    """Buffered reads from one socket, failing as httpx's reads do."""

    __slots__ = ("_buf", "_sock")

    def __init__(self, sock: socket.socket, timeout: float | None) -> None:
        sock.settimeout(timeout)
        self._sock = sock
        self._buf = bytearray()

    def fill(self) -> bool:
        """Read what has arrived; ``False`` at the end of the connection."""
        try:
            data = self._sock.recv(_RECV)
        except TimeoutError as exc:
            raise httpx.ReadTimeout(str(exc) or "timed out reading the reply") from exc
        except OSError as exc:
            raise httpx.ReadError(str(exc)) from exc
        self._buf += data
        return bool(data)

    def line(self, limit: int, at_end: str) -> bytes:
        """The next CRLF-terminated line (without it)."""
        buf = self._buf
        while (end := buf.find(b"\r\n")) < 0:
            if len(buf) > limit:
                raise httpx.RemoteProtocolError("reply line too long")
            if not self.fill():
                raise httpx.RemoteProtocolError(at_end)
        line = bytes(buf[:end])
        del buf[: end + 2]
        return line

    def exact(self, count: int) -> bytes:
        while len(self._buf) < count:
            if not self.fill():
                raise httpx.RemoteProtocolError(_CUT_SHORT)
        data = bytes(self._buf[:count])
        del self._buf[:count]
        return data

    def rest(self) -> bytes:
        """Everything until the server closes the connection."""
        while self.fill():
            if len(self._buf) > MAX_REPLY_BYTES:
                raise httpx.RemoteProtocolError(f"reply over {MAX_REPLY_BYTES} bytes")
        data = bytes(self._buf)
        self._buf.clear()
        return data

    @property
    def leftover(self) -> bool:
        return bool(self._buf)


def _read_reply(reader: _Reader) -> tuple[Reply, bool]:
    while True:  # interim (1xx) answers come before the final one
        status, version, headers = _read_head(reader)
        if not 100 <= status < 200:
            break
    connection = headers.get(b"connection", b"").lower()
    reusable = version == b"HTTP/1.1" and b"close" not in connection
    if version == b"HTTP/1.0" and b"keep-alive" in connection:
        reusable = True
    length = headers.get(b"content-length")
    if status in (204, 304):
        content = b""
    elif b"chunked" in headers.get(b"transfer-encoding", b"").lower():
        content = _read_chunks(reader)
    elif length is not None:
        try:
            size = int(length)
        except ValueError:
            raise httpx.RemoteProtocolError("bad Content-Length") from None
        if not 0 <= size <= MAX_REPLY_BYTES:
            raise httpx.RemoteProtocolError(f"reply of {size} bytes (at most {MAX_REPLY_BYTES})")
        content = reader.exact(size)
    else:
        content = reader.rest()
        reusable = False
    content = _decoded(content, headers.get(b"content-encoding", b"").lower())
    retry_after = headers.get(b"retry-after")
    return (
        Reply(status, content, retry_after.decode("latin-1") if retry_after is not None else None),
        reusable and not reader.leftover,
    )


def _read_head(reader: _Reader) -> tuple[int, bytes, dict[bytes, bytes]]:
    status_line = reader.line(_MAX_HEAD, _NO_REPLY)
    version, _, rest = status_line.partition(b" ")
    code = rest[:3]
    if version not in (b"HTTP/1.1", b"HTTP/1.0") or len(code) != 3 or not code.isdigit():
        raise httpx.RemoteProtocolError("the reply is not HTTP/1.x")
    headers: dict[bytes, bytes] = {}
    size = len(status_line)
    while line := reader.line(_MAX_HEAD, _CUT_SHORT):
        size += len(line)
        if size > _MAX_HEAD:
            raise httpx.RemoteProtocolError("reply head too large")
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip():
            raise httpx.RemoteProtocolError("malformed reply header")
        key = name.lower()
        value = value.strip()
        seen = headers.get(key)
        if seen is None:
            headers[key] = value
        elif key == b"content-length":
            if seen != value:
                raise httpx.RemoteProtocolError("conflicting Content-Length")
        else:
            headers[key] = seen + b", " + value
    return int(code), version, headers


def _read_chunks(reader: _Reader) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        size_line = reader.line(1024, _CUT_SHORT).split(b";", 1)[0].strip()
        try:
            size = int(size_line, 16)
        except ValueError:
            raise httpx.RemoteProtocolError("bad chunk size") from None
        if size == 0:
            while reader.line(_MAX_HEAD, _CUT_SHORT):  # trailers, ignored
                pass
            return b"".join(parts)
        total += size
        if total > MAX_REPLY_BYTES:
            raise httpx.RemoteProtocolError(f"reply over {MAX_REPLY_BYTES} bytes")
        parts.append(reader.exact(size))
        if reader.exact(2) != b"\r\n":
            raise httpx.RemoteProtocolError("bad chunk end")


def _decoded(content: bytes, encoding: bytes) -> bytes:
    """The body without a gzip/deflate content coding (the others are not asked for)."""
    if not content or encoding in (b"", b"identity"):
        return content
    try:
        if encoding in (b"gzip", b"x-gzip"):
            return _inflate(content, zlib.MAX_WBITS | 16)
        if encoding == b"deflate":
            try:
                return _inflate(content, zlib.MAX_WBITS)
            except zlib.error:
                return _inflate(content, -zlib.MAX_WBITS)  # raw deflate, as some servers send
    except zlib.error as exc:
        raise httpx.DecodingError(f"reply body not {encoding.decode()}: {exc}") from exc
    raise httpx.DecodingError(f"unasked content coding {encoding.decode('latin-1')!r}")


def _inflate(content: bytes, wbits: int) -> bytes:
    inflater = zlib.decompressobj(wbits)
    data = inflater.decompress(content, MAX_REPLY_BYTES + 1)
    if len(data) > MAX_REPLY_BYTES:
        raise httpx.DecodingError(f"reply over {MAX_REPLY_BYTES} bytes inflated")
    return data
