"""One POST of a request body to TikTok: the hot path of delivery.

``httpx.Client.post`` wraps each request in client-level layers the Events API never uses:
a cookie jar read before and written after every request, an auth flow generator, redirect
handling, URL merging and header copies: about 0.17 ms of the ~1.4 ms of CPU a sender thread
spends on a request of a thousand events (~800 kB; docs/performance.md). :class:`Poster` builds the
request itself — the client's own headers, the current access token, the client's timeout —
and hands it to the transport the client would pick for the URL (its connection pool, or the
proxy mounted from ``HTTPS_PROXY``/``NO_PROXY``), so pooling, TLS, proxies, timeouts and error
types are httpx's, unchanged.

httpx has no public seam for "the transport for this URL": :meth:`Poster.post` asks the client's
``_transport_for_url`` and, when an httpx upgrade removes it, falls back to ``client.post``
(``test_the_fast_path_is_taken`` in tests/consumer/delivery fails then, so it is noticed).
A response straight from the transport has none of the client's response/stream cycle.

With ``keep`` > 0 and no proxy for the URL (the client's own transport is the one it picks),
the poster goes one step further: :class:`~.wire.WirePool` writes the request on its own
keep-alive sockets (with the client's headers, timeouts and TLS verification), a third of the
CPU httpx spends per request. A proxied URL, or an injected transport
(``httpx.MockTransport`` in tests), goes through httpx.
"""

from __future__ import annotations

from typing import Final

import httpx

from tiktok_capi.consumer.delivery.token import AccessToken
from tiktok_capi.consumer.delivery.wire import Reply, WirePool

__all__ = ["Poster", "Reply"]

_CLOSED: Final = "Cannot send a request, as the client has been closed."
_ACCESS_TOKEN: Final = b"Access-Token"
# What the wire pool decodes (the client would ask for br/zstd too when their packages exist).
_ACCEPT_ENCODING: Final = (b"Accept-Encoding", b"gzip, deflate")


def _reply_of(response: httpx.Response) -> Reply:
    """The reply of a response that has been read."""
    return Reply(response.status_code, response.content, response.headers.get("Retry-After"))


class Poster:
    """POSTs bodies to one URL with the client's headers, timeout and transport.

    Args:
        client: the pooled client (its headers, timeout, transports and ``is_closed``).
        url: the endpoint.
        token: where the ``Access-Token`` comes from, read for every request (a rotated token
            file takes effect at once, as with the client's auth).
        keep: connections the direct path keeps open (one per concurrent request); 0: always
            through httpx.
    """

    def __init__(
        self, client: httpx.Client, url: str, token: AccessToken, *, keep: int = 0
    ) -> None:
        self._client = client
        self._url = httpx.URL(url)
        self._token = token
        self._headers = list(client.headers.raw)
        self._extensions = {"timeout": client.timeout.as_dict()}
        pick = getattr(client, "_transport_for_url", None)
        transport = pick(self._url) if callable(pick) else None
        self.transport: httpx.BaseTransport | None = (
            transport if isinstance(transport, httpx.BaseTransport) else None
        )
        """The transport posted through; ``None``: httpx changed, every post goes through
        ``client.post``."""
        self.wire: WirePool | None = None
        """The direct path (``None``: through :attr:`transport`)."""
        if (
            keep > 0
            and isinstance(transport, httpx.HTTPTransport)  # not a mock or custom transport
            and transport is getattr(client, "_transport", None)  # no proxy mounted for the URL
        ):
            headers = [
                _ACCEPT_ENCODING if name.lower() == b"accept-encoding" else (name, value)
                for name, value in self._headers
            ]
            self.wire = WirePool(self._url, headers, client.timeout, keep=keep)

    def post(self, body: bytes) -> Reply:
        """POST ``body``; raises ``httpx.HTTPError`` for transport failures and
        ``RuntimeError`` once the client is closed, as ``client.post`` does."""
        if self._client.is_closed:
            raise RuntimeError(_CLOSED)
        wire = self.wire
        if wire is not None:
            return wire.post(body, ((_ACCESS_TOKEN, self._token.value().encode()),))
        transport = self.transport
        if transport is None:  # the client's auth sets the token
            response = self._client.post(self._url, content=body)
            _release(response)
            return _reply_of(response)
        request = httpx.Request(
            "POST",
            self._url,
            headers=[*self._headers, (_ACCESS_TOKEN, self._token.value().encode())],
            content=body,
            extensions=self._extensions,
        )
        response = transport.handle_request(request)
        try:
            response.read()
        finally:
            response.close()
        return _reply_of(response)

    def abort(self) -> None:
        """Shut the direct path's connections down (blocked requests fail at once)."""
        if self.wire is not None:
            self.wire.abort()

    def close(self) -> None:
        """:meth:`abort` and close the direct path's idle connections."""
        if self.wire is not None:
            self.wire.close()


def _release(response: httpx.Response) -> None:
    """Break the cycle between a response the client read and its stream (encode/httpx#3733).

    Unbroken, the response, its request and the request body (up to a megabyte) wait for the
    cyclic collector instead of being freed now by reference counting. A response of the
    transport itself has no such cycle.
    """
    response.stream = _READ


_READ: Final = httpx.ByteStream(b"")
