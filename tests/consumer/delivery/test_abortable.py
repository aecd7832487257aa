"""AbortableBackend: after ``abort()`` no socket of the sender can hold a thread.

The peer is a listening socket that never answers (the kernel completes the handshake, nobody
reads): a read on it blocks until its timeout unless the socket was shut down.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import httpcore
import pytest

from tiktok_capi.consumer.delivery.abortable import AbortableBackend

_READ_TIMEOUT_S = 20.0  # a read that is not cut short fails the test by timing out


@pytest.fixture
def silent_port() -> Iterator[int]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def test_abort_ends_a_blocked_read(silent_port: int) -> None:
    backend = AbortableBackend()
    stream = backend.connect_tcp("127.0.0.1", silent_port, timeout=5)
    backend.abort()
    assert stream.read(1024, timeout=_READ_TIMEOUT_S) == b""  # EOF at once, not a timeout
    stream.close()


def test_no_connection_opens_after_abort(silent_port: int) -> None:
    backend = AbortableBackend()
    backend.abort()
    with pytest.raises(httpcore.ConnectError):
        backend.connect_tcp("127.0.0.1", silent_port, timeout=5)


def test_a_connection_that_finishes_opening_during_abort_is_shut_down(silent_port: int) -> None:
    """The race seen at shutdown: a request's connect was under way when close() ran."""
    backend = AbortableBackend()
    inner = httpcore.SyncBackend()

    def connect_then_abort(*args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        stream = inner.connect_tcp(*args, **kwargs)
        backend.abort()  # close() runs on the loop's thread now, before the stream is tracked
        return stream

    backend._backend.connect_tcp = connect_then_abort  # type: ignore[method-assign]
    stream = backend.connect_tcp("127.0.0.1", silent_port, timeout=5)
    assert stream.read(1024, timeout=_READ_TIMEOUT_S) == b""
    stream.close()
