"""One POST of a request body to TikTok, through the client's transport: the hot path of delivery.

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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import httpx

from tiktok_capi.consumer.delivery.token import AccessToken

__all__ = ["Poster", "Reply"]

_CLOSED: Final = "Cannot send a request, as the client has been closed."


@dataclass(frozen=True, slots=True)
class Reply:
    """What the sender reads of an answer: status, body and ``Retry-After``."""

    status: int
    content: bytes
    retry_after: str | None

    @classmethod
    def of(cls, response: httpx.Response) -> Reply:
        """The reply of a response that has been read."""
        return cls(response.status_code, response.content, response.headers.get("Retry-After"))


class Poster:
    """POSTs bodies to one URL with the client's headers, timeout and transport.

    Args:
        client: the pooled client (its headers, timeout, transports and ``is_closed``).
        url: the endpoint.
        token: where the ``Access-Token`` comes from, read for every request (a rotated token
            file takes effect at once, as with the client's auth).
    """

    def __init__(self, client: httpx.Client, url: str, token: AccessToken) -> None:
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

    def post(self, body: bytes) -> Reply:
        """POST ``body``; raises ``httpx.HTTPError`` for transport failures and
        ``RuntimeError`` once the client is closed, as ``client.post`` does."""
        transport = self.transport
        if transport is None:  # the client's auth sets the token
            response = self._client.post(self._url, content=body)
            _release(response)
            return Reply.of(response)
        if self._client.is_closed:
            raise RuntimeError(_CLOSED)
        request = httpx.Request(
            "POST",
            self._url,
            headers=[*self._headers, (b"Access-Token", self._token.value().encode())],
            content=body,
            extensions=self._extensions,
        )
        response = transport.handle_request(request)
        try:
            response.read()
        finally:
            response.close()
        return Reply.of(response)


def _release(response: httpx.Response) -> None:
    """Break the cycle between a response the client read and its stream (encode/httpx#3733).

    Unbroken, the response, its request and the request body (up to a megabyte) wait for the
    cyclic collector instead of being freed now by reference counting. A response of the
    transport itself has no such cycle.
    """
    response.stream = _READ


_READ: Final = httpx.ByteStream(b"")
