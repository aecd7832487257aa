"""A network backend whose sockets can all be shut down at once, to end blocked requests.

Closing an httpx client does not wake a thread blocked reading a response (closing a file
descriptor does not interrupt ``recv`` on Linux); shutting the socket down does. The sender
installs :class:`AbortableBackend` in its client so that ``close()`` at shutdown returns at once
instead of waiting for slow answers up to the request timeout.

httpx has no public seam for the network backend: :meth:`AbortableBackend.install` sets a
private attribute of httpcore's connection pool, and ``test_close_ends_a_request_in_flight``
(tests/consumer/delivery) fails when an httpx/httpcore upgrade moves it; then this does nothing
and close() falls back to waiting for the request timeout.
"""

from __future__ import annotations

import socket
import ssl
import threading
import weakref
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from tiktok_capi.consumer.delivery.wire import shut_down

__all__ = ["AbortableBackend", "TrackedStream"]

_ABORTED = "the sender is closed: no new connections"


class TrackedStream(httpcore.NetworkStream):
    """A network stream that registers itself (and its TLS successor) for :meth:`abort`."""

    def __init__(self, inner: httpcore.NetworkStream, backend: AbortableBackend) -> None:
        self._inner = inner
        self._backend = backend
        backend.track(self)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return TrackedStream(
            self._inner.start_tls(ssl_context, server_hostname, timeout), self._backend
        )

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class AbortableBackend(httpcore.NetworkBackend):
    """httpcore's sync backend, plus :meth:`abort`: shut every open socket down.

    Closing an httpx client does not wake a thread blocked reading a response (closing a file
    descriptor does not interrupt ``recv`` on Linux); shutting the socket down does, so
    the sender's ``close()`` need not wait for slow answers up to the request timeout.
    """

    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()
        self._streams: weakref.WeakSet[TrackedStream] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._aborted = False

    def install(self, client: httpx.Client) -> None:
        """Use this backend in the client's connection pools (default transport and proxies).

        httpx has no public seam for the network backend; when its internals change, this does
        nothing and close() falls back to waiting for the request timeout.
        """
        transports = [getattr(client, "_transport", None)]
        transports += list(getattr(client, "_mounts", {}).values())
        for transport in transports:
            pool = getattr(transport, "_pool", None)
            if isinstance(pool, httpcore.ConnectionPool) and hasattr(pool, "_network_backend"):
                pool._network_backend = self

    def track(self, stream: TrackedStream) -> None:
        """Register ``stream`` for :meth:`abort`; shut it down at once when that already ran."""
        with self._lock:
            if not self._aborted:
                self._streams.add(stream)
                return
        _shut_down(stream)

    def abort(self) -> None:
        """Shut down every socket open, and every one opened from now on: blocked reads and
        writes fail at once, new connections are refused.

        For good: a request that starts (or a connection that finishes opening) just after
        this call would otherwise wait on its answer up to the request timeout.
        """
        with self._lock:
            self._aborted = True
            streams = list(self._streams)
        for stream in streams:
            _shut_down(stream)

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        if self._aborted:
            raise httpcore.ConnectError(_ABORTED)
        stream = self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return TrackedStream(stream, self)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        if self._aborted:
            raise httpcore.ConnectError(_ABORTED)
        stream = self._backend.connect_unix_socket(path, timeout, socket_options)
        return TrackedStream(stream, self)

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def _shut_down(stream: TrackedStream) -> None:
    sock = stream.get_extra_info("socket")
    if isinstance(sock, socket.socket):
        shut_down(sock)
