"""The HTTP side of delivery: one batch of encoded TikTok events in, a :class:`BatchOutcome` out.

:class:`HttpSender` implements :class:`~tiktok_capi.consumer.delivery.base.Sender` over one pooled,
thread-safe ``httpx.Client`` shared by the sender threads. For each batch it:

1. builds the request body by joining the pre-encoded events between a pre-encoded envelope
   (no parsing or re-encoding of events);
2. waits for the shared client-side rate limit, posts (on the sender's own keep-alive
   sockets, or through the client's transport when a proxy applies:
   :mod:`~tiktok_capi.consumer.delivery.post`), and classifies the answer
   (:mod:`tiktok_capi.consumer.delivery.answers`);
3. retries throttling and transient failures after a backoff
(:mod:`tiktok_capi.consumer.delivery.backoff`;
   ``Retry-After`` honoured, capped) within one retry budget per batch; past it the events not
   yet delivered are ``failed`` (the caller sends them to a retry tier);
4. when TikTok rejects an event it names (``data.N...`` in a 40000/40002/40062 message),
   dead-letters that event and resends the rest; a batch refused for its size (40061, HTTP 413)
   is sent in halves. A rejection that names no event is *unclassified* (retried like a
   transient failure, see :mod:`~tiktok_capi.consumer.delivery.answers`): nothing is bisected
   into single-event dead letters on a guess;
5. on an auth or configuration answer stops at once: what is not delivered is ``held`` and
   ``destination_down`` says why (the caller pauses and calls :meth:`HttpSender.probe`).

The access token is set on each request from :mod:`.token` (so a rotated token file takes
effect without a restart) and appears nowhere else: not in logs, messages, exceptions
or span attributes. Event bodies (hashed PII, IPs, user agents) are never
logged either.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Any, Final

import httpx
import orjson
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from tiktok_capi.consumer.config.settings import TikTokSettings
from tiktok_capi.consumer.delivery.abortable import AbortableBackend
from tiktok_capi.consumer.delivery.answers import (
    Classifier,
    DestinationDownError,
    InvalidEventsError,
    RetryableError,
    SenderClosedError,
    SendError,
    SplitBatchError,
    UnclassifiedError,
    from_transport_error,
    parse_answer,
    parse_retry_after,
)
from tiktok_capi.consumer.delivery.backoff import RetryPolicy, Waiter
from tiktok_capi.consumer.delivery.base import BatchOutcome, ErrorInfo
from tiktok_capi.consumer.delivery.post import Poster
from tiktok_capi.consumer.delivery.ratelimit import RateLimiter
from tiktok_capi.consumer.delivery.token import AccessToken, TokenAuth, token_of
from tiktok_capi.consumer.telemetry.metrics import (
    BATCH_SIZE,
    IN_FLIGHT_REQUESTS,
    REQUEST_DURATION,
    REQUESTS,
    THROTTLE_WAIT_DURATION,
    THROTTLE_WAITS,
)

__all__ = ["HttpSender", "envelope", "request_body"]

log = logging.getLogger(__name__)
_tracer = trace.get_tracer("tiktok_capi")

_PARTIAL_SUCCESS: Final = 20001
_BACKOFF: Final = {"cause": "backoff"}
_CLOSED: Final = ErrorInfo(error_class="transient", message="sender closed before delivery")


def _version() -> str:
    try:
        return metadata.version("tiktok-capi")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0"


def envelope(settings: TikTokSettings) -> tuple[bytes, bytes]:
    """The bytes before and after the comma-joined events of every request body."""
    head = b'{"event_source":"web","event_source_id":' + orjson.dumps(settings.pixel_code)
    if settings.test_event_code:
        head += b',"test_event_code":' + orjson.dumps(settings.test_event_code)
    return head + b',"data":[', b"]}"


def request_body(head: bytes, events: list[bytes], tail: bytes) -> bytes:
    """``head`` + the events joined by commas + ``tail``, in one allocation (``events`` changes).

    A body runs to a megabyte: ``head + join + tail`` would build it three times over (three
    copies, and with large records three fresh memory mappings to fault in: consumer/malloc.py).
    """
    if not events:
        return head + tail
    events[0] = head + events[0]
    events[-1] += tail
    return b",".join(events)


class _Batch:
    """Book-keeping of one ``deliver`` call."""

    __slots__ = (
        "body",
        "events",
        "invalid",
        "links",
        "request_ids",
        "requests",
        "retries",
        "retries_left",
    )

    def __init__(
        self, events: Sequence[bytes], links: Sequence[Any], retries: int, body: bytes | None
    ) -> None:
        self.events = events
        self.body = body  # of all the events, when the caller built it
        self.links = links
        self.invalid: list[tuple[int, ErrorInfo]] = []
        self.request_ids: list[str] = []
        self.requests = 0
        self.retries = 0
        self.retries_left = retries


class HttpSender:
    """Delivers batches to the Events API; thread-safe (one instance shared by sender threads).

    Args:
        settings: endpoint, token, pixel, pool size, timeouts, retry budget and rate limit.
        transport: an httpx transport to use instead of the network (``httpx.MockTransport``
            in unit tests); by default a pooled ``httpx.HTTPTransport`` sized for
            ``MAX_IN_FLIGHT_REQUESTS``.
        clock: monotonic seconds, for the rate limit and request durations.
        sleep: replaces the interruptible wait of backoffs and rate limits (tests).
        classifier: the answer code table
        (:class:`~tiktok_capi.consumer.delivery.answers.Classifier`).
        rand: [0, 1) draws for backoff jitter.
        token: where the access token comes from; by default ``TIKTOK_ACCESS_TOKEN`` or the
            file ``TIKTOK_ACCESS_TOKEN_FILE``, re-read when it changes
            (:mod:`~tiktok_capi.consumer.delivery.token`).
    """

    def __init__(
        self,
        settings: TikTokSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] | None = None,
        classifier: Classifier | None = None,
        rand: Callable[[], float] = random.random,
        token: AccessToken | None = None,
    ) -> None:
        self._url = settings.track_url
        self._token = token if token is not None else token_of(settings)
        self._head, self._tail = envelope(settings)
        self._policy = RetryPolicy.from_settings(settings)
        self._classifier = classifier if classifier is not None else Classifier()
        self._clock = clock
        self._rand = rand
        self._waiter = Waiter(sleep)
        self._limiter = RateLimiter(settings.rate_limit_rps, clock=clock, waiter=self._waiter)
        # One connection per in-flight request, plus one for the auth probe. The pool is built
        # by the client (not passed as a transport) so HTTPS_PROXY/NO_PROXY are honoured.
        size = settings.max_in_flight_requests + 1
        self._client = httpx.Client(
            transport=transport,
            limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
            timeout=httpx.Timeout(settings.request_timeout_s, connect=settings.connect_timeout_s),
            auth=TokenAuth(self._token),
            # Certificates are always verified (SSL_CERT_FILE / SSL_CERT_DIR name other CAs):
            # the token is in every request.
            verify=True,
            headers={
                "Content-Type": "application/json",
                "User-Agent": f"tiktok-capi/{_version()}",
            },
            follow_redirects=False,
        )
        self._sockets = AbortableBackend()
        if transport is None:
            self._sockets.install(self._client)
        # Without an injected transport or a proxy, requests go out on the poster's own sockets.
        self._poster = Poster(
            self._client, self._url, self._token, keep=size if transport is None else 0
        )

    # --- Sender protocol --------------------------------------------------------------------------

    def encode(self, events: Sequence[bytes]) -> bytes:
        """The request body carrying every one of ``events``; see :class:`.base.Sender`."""
        return request_body(self._head, list(events), self._tail)

    def deliver(
        self, events: Sequence[bytes], links: Sequence[Any] = (), body: bytes | None = None
    ) -> BatchOutcome:
        """Send ``events`` and say what became of each; see :class:`.base.Sender`.

        Every index of ``events`` ends in exactly one of ``delivered``, ``invalid``, ``failed``
        and ``held``. Never raises for HTTP or TikTok errors.
        """
        if not events:
            return BatchOutcome()
        batch = _Batch(events, links, self._policy.retries, body)
        everything = _indexes(len(events))
        pending: deque[Sequence[int]] = deque([everything])
        delivered: list[int] = []
        failed: list[int] = []
        held: list[int] = []
        failure: ErrorInfo | None = None
        down: ErrorInfo | None = None
        while pending:
            indexes = pending.popleft()
            try:
                request_id = self._send(batch, indexes)
            except InvalidEventsError as exc:
                if self._isolate(batch, indexes, exc, pending):
                    continue
                failure = exc.info  # it names an event this request does not have
                failed = _rest(indexes, pending)
                log.warning(
                    "TikTok blamed an event outside the request (code %s, request_id %s): %s; "
                    "%d events failed",
                    exc.info.code,
                    exc.info.request_id,
                    exc.info.message,
                    len(failed),
                )
                break
            except RetryableError as exc:
                failure = exc.info
                failed = _rest(indexes, pending)
                log.warning(
                    "giving up on %d events after %d requests (code %s, request_id %s): %s",
                    len(failed),
                    batch.requests,
                    exc.info.code,
                    exc.info.request_id,
                    exc.info.message,
                )
                break
            except DestinationDownError as exc:
                down = exc.info
                held = _rest(indexes, pending)
                log.error(
                    "destination down (%s, code %s, HTTP %s, request_id %s): %s; holding %d events",
                    exc.info.error_class,
                    exc.info.code,
                    exc.info.http_status,
                    exc.info.request_id,
                    exc.info.message,
                    len(held),
                )
                break
            except SenderClosedError:
                held = _rest(indexes, pending)
                break
            delivered.extend(indexes)
            if request_id is not None:
                batch.request_ids.append(request_id)
        return BatchOutcome(
            # All delivered (the common case): the shared tuple, not a thousand fresh ints.
            delivered=everything if len(delivered) == len(everything) else tuple(sorted(delivered)),
            invalid=tuple(sorted(batch.invalid, key=lambda item: item[0])),
            failed=tuple(sorted(failed)),
            failure=failure,
            held=tuple(sorted(held)),
            destination_down=down,
            requests=batch.requests,
            request_ids=tuple(batch.request_ids),
        )

    def probe(self) -> ErrorInfo | None:
        """Post a request without events; ``None`` when TikTok answers and accepts the token.

        TikTok checks the token and the pixel before the body, so a TikTok answer about the
        body (even "data must not be empty", an unclassified code) means they work. The error
        otherwise: auth or configuration refused (``auth``/``misconfigured``), or TikTok not
        answering — a transport error, a 5xx, throttling, a body that is not TikTok's
        (``transient``/``throttled``/``unclassified`` without a code). The probe bypasses the
        rate limit.
        """
        body = self._head + self._tail
        try:
            self._post(body, 0, (), span_name="tiktok.probe")
        except DestinationDownError as exc:
            return exc.info
        except UnclassifiedError as exc:
            return None if exc.info.code is not None else exc.info
        except (RetryableError, SenderClosedError) as exc:
            return exc.info
        except SendError:
            return None
        return None

    def close(self) -> None:
        """End pending backoffs, rate-limit waits and requests in flight; close the pool.

        The events of the batches cut short are ``held`` (not delivered as far as we know).
        """
        self._waiter.interrupt()
        self._sockets.abort()
        self._poster.close()
        self._client.close()

    def __enter__(self) -> HttpSender:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- one subset of the batch ------------------------------------------------------------------

    def _send(self, batch: _Batch, indexes: Sequence[int]) -> str | None:
        """Send the events at ``indexes``, retrying within the batch's budget.

        Returns TikTok's request id. Raises InvalidEventsError, DestinationDownError,
        SenderClosedError, or the last RetryableError when the budget is spent.
        """
        events = batch.events
        if len(indexes) == len(events) and batch.body is not None:
            body = batch.body
        else:
            chosen = list(events) if len(indexes) == len(events) else [events[i] for i in indexes]
            body = request_body(self._head, chosen, self._tail)
        while True:
            if not self._limiter.acquire():
                raise SenderClosedError(_CLOSED)
            batch.requests += 1
            try:
                return self._post(body, len(indexes), batch.links)
            except RetryableError as exc:
                if batch.retries_left <= 0 or self._waiter.interrupted:
                    raise
                batch.retries_left -= 1
                batch.retries += 1
                delay = self._policy.delay(
                    batch.retries, retry_after_s=exc.info.retry_after_s, rand=self._rand
                )
                log.info(
                    "retrying %d events in %.2fs (%s, code %s, HTTP %s, request_id %s): %s",
                    len(indexes),
                    delay,
                    exc.info.error_class,
                    exc.info.code,
                    exc.info.http_status,
                    exc.info.request_id,
                    exc.info.message,
                )
                THROTTLE_WAITS.add(1, _BACKOFF)
                THROTTLE_WAIT_DURATION.add(delay, _BACKOFF)
                if not self._waiter.wait(delay):
                    raise SenderClosedError(_CLOSED) from exc

    def _isolate(
        self,
        batch: _Batch,
        indexes: Sequence[int],
        exc: InvalidEventsError,
        pending: deque[Sequence[int]],
    ) -> bool:
        """Dead-letter the event TikTok named and queue the rest, or queue the halves of a batch
        refused for its size; ``False`` when the named event is not in the request."""
        split = isinstance(exc, SplitBatchError)
        blamed = 0 if len(indexes) == 1 else None if split else exc.event_index
        if blamed is None and not split:
            return False  # a classifier that calls an unnamed rejection invalid: not ours to guess
        if blamed is not None:
            if blamed >= len(indexes):
                return False
            at = blamed
            batch.invalid.append((indexes[at], exc.info))
            log.warning(
                "TikTok rejected an event (code %s, request_id %s): %s",
                exc.info.code,
                exc.info.request_id,
                exc.info.message,
            )
            rest = [*indexes[:at], *indexes[at + 1 :]]
            if rest:
                pending.appendleft(rest)
            return True
        half = len(indexes) // 2
        pending.appendleft(indexes[half:])
        pending.appendleft(indexes[:half])
        return True

    # --- one HTTP request -------------------------------------------------------------------------

    def _post(
        self, body: bytes, size: int, links: Sequence[Any], span_name: str = "tiktok.track"
    ) -> str | None:
        """One POST; TikTok's request id on success, else raises the classified SendError."""
        probe = span_name != "tiktok.track"
        error: SendError | None = None
        status: int | None = None
        code: int | None = None
        request_id: str | None = None
        with _tracer.start_as_current_span(
            span_name,
            kind=SpanKind.CLIENT,
            links=list(links) if links else None,
            attributes={"http.request.method": "POST", "tiktok.batch_size": size},
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            if not probe:
                IN_FLIGHT_REQUESTS.add(1)
                BATCH_SIZE.record(size)
            started = self._clock()
            try:
                reply = self._poster.post(body)
            except httpx.HTTPError as exc:
                if self._waiter.interrupted:
                    raise SenderClosedError(_CLOSED) from exc
                error = from_transport_error(exc)
            except RuntimeError as exc:  # the client was closed under this request
                if self._waiter.interrupted:
                    raise SenderClosedError(_CLOSED) from exc
                raise
            else:
                status = reply.status
                answer = parse_answer(reply.content)
                if answer is not None:
                    code, request_id = answer.code, answer.request_id
                retry_after = parse_retry_after(reply.retry_after)
                error = self._classifier.error(status, answer, retry_after)
                if error is None and code == _PARTIAL_SUCCESS and answer is not None:
                    log.warning(
                        "partial success (code %s, request_id %s): %s",
                        code,
                        request_id,
                        answer.message,
                    )
            finally:
                if not probe:
                    IN_FLIGHT_REQUESTS.add(-1)
            outcome = "ok" if error is None else error.info.error_class
            if not probe:
                label = str(code if code is not None else status if status is not None else "none")
                REQUESTS.add(1, {"outcome": outcome, "code": label})
                REQUEST_DURATION.record(self._clock() - started, {"outcome": outcome})
            span.set_attribute("tiktok.outcome", outcome)
            if code is not None:
                span.set_attribute("tiktok.code", code)
            if request_id is not None:
                span.set_attribute("tiktok.request_id", request_id)
            if status is not None:
                span.set_attribute("http.response.status_code", status)
            if error is not None:
                span.set_status(StatusCode.ERROR, error.info.message)
        if error is not None:
            raise error
        return request_id


def _rest(indexes: Sequence[int], pending: deque[Sequence[int]]) -> list[int]:
    """``indexes`` and every queued subset, emptying the queue."""
    rest = list(indexes)
    while pending:
        rest.extend(pending.popleft())
    return rest


@functools.lru_cache(maxsize=4)
def _indexes(count: int) -> tuple[int, ...]:
    """``0 … count-1``, shared by every batch of that size (never changed by anyone)."""
    return tuple(range(count))
