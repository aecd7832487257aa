"""Values exchanged between the sender (HTTP side) and the poll loop (Kafka side).

The sender turns one batch of pre-encoded TikTok events into a :class:`BatchOutcome` that says,
for every event of the batch, what the poll loop does next with its record:

- ``delivered``         -> resolved (offset may advance)
- ``invalid``           -> dead-letter that record (TikTok rejected the event itself: 40002 and kin)
- ``failed``            -> next retry tier (transient errors past the in-process budget)
- ``destination_down``  -> hold every not-delivered record and pause consumption (auth/permission)

Errors are classified by what the caller does next (see :data:`ErrorClass`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

__all__ = ["BatchOutcome", "ErrorClass", "ErrorInfo", "Sender"]

# throttled / transient: back off and retry (in-process, then the circuit breaker's probe, then
#   retry tiers);
# unclassified: an answer that says nothing usable (a 4xx without a TikTok body, an unknown code,
#   a rejection naming no event) -> handled like transient, never dead-lettered on its own;
# invalid: permanent for the event TikTok names -> dead-letter it;
# auth: token/permission/pixel problem -> hold, pause the destination, probe until it works;
# misconfigured: a setting is wrong (e.g. partner name, the URL, the proxy) -> as auth.
ErrorClass = Literal["throttled", "transient", "unclassified", "invalid", "auth", "misconfigured"]


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """One failure as the caller needs it; ``message`` is PII-free and token-free."""

    error_class: ErrorClass
    message: str
    code: int | None = None  # TikTok's `code`, when the body had one
    request_id: str | None = None  # TikTok's `request_id`, when the body had one
    http_status: int | None = None
    retry_after_s: float | None = None


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """The fate of every event of one batch (indexes into the batch passed to ``deliver``).

    Every index appears in exactly one of ``delivered``, ``invalid``, ``failed`` and ``held``.
    """

    delivered: tuple[int, ...] = ()
    invalid: tuple[tuple[int, ErrorInfo], ...] = ()
    failed: tuple[int, ...] = ()
    failure: ErrorInfo | None = None  # why ``failed`` failed (last error seen)
    held: tuple[int, ...] = ()  # not delivered because the destination is down
    destination_down: ErrorInfo | None = None
    requests: int = 0  # HTTP requests made for this batch (retries and splits included)
    request_ids: tuple[str, ...] = ()  # TikTok request ids of the accepted requests


class Sender(Protocol):
    """Delivers batches to the TikTok Events API. Thread-safe; called from sender threads."""

    def encode(self, events: Sequence[bytes]) -> bytes:
        """The request body carrying every one of ``events``, for :meth:`deliver`.

        Called on the thread that submits the batch (the poll loop), where the events were
        just encoded and are still in its core's cache: building a megabyte body from them on a
        sender thread, on the other core, cost several times as much.
        """
        ...

    def deliver(
        self, events: Sequence[bytes], links: Sequence[Any] = (), body: bytes | None = None
    ) -> BatchOutcome:
        """Send ``events`` (each one TikTok event object, JSON-encoded) and classify the result.

        ``links`` are OpenTelemetry ``Link``s to the records carried (attached to the span of
        each request). ``body``: :meth:`encode` of ``events``, when the caller built it (used
        while the whole batch is sent; subsets of a split batch get bodies of their own).

        Retries throttling/5xx/timeouts in-process with backoff (honouring Retry-After) within
        its budget, and isolates events TikTok rejects as invalid (splitting the batch). Never
        raises for HTTP or TikTok errors; returns early with ``held`` when :meth:`close` is called.
        """
        ...

    def probe(self) -> ErrorInfo | None:
        """Check the token and pixel without sending a real event; ``None`` when they work."""
        ...

    def close(self) -> None:
        """Abort pending backoffs and close the HTTP pool."""
        ...
