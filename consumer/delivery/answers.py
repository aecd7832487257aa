"""What an Events API answer means for the caller: the code table and the exception tree.

TikTok answers business errors with HTTP 200 and a ``code`` in the JSON body; only ``code == 0``
(and 20001, partial success) means delivered. Gateways in front of it answer 429/5xx, often with
HTML. :class:`Classifier` turns one answer (status, body, ``Retry-After``) into ``None`` (ok) or
a :class:`SendError` whose class says what the caller does next::

    SendError                    base; ``.info`` is the PII-free, token-free ErrorInfo
    ├── RetryableError           back off (``retry_after_s`` when the server said) and retry
    │   ├── ThrottledError       40100, 40132, 61000, HTTP 429
    │   └── TransientError       50000, 50002, 51012, 60001, 5xx, garbage bodies, timeouts
    │       └── UnclassifiedError   an answer that does not say what is wrong: a 4xx without a
    │                               TikTok body, an unknown code, a rejection naming no event
    ├── InvalidEventsError       TikTok named an event it rejects (``data.N``): dead-letter it
    │   └── SplitBatchError      40061 (or HTTP 413): the batch itself is wrong, split it in halves
    ├── DestinationDownError     auth (40001, 40102-40105), misconfigured (40063, 404, 407): hold
    └── SenderClosedError        the sender is closing: hold what is not delivered

The code table is data (:data:`DEFAULT_CODES`, :data:`DEFAULT_STATUSES`); pass a modified copy to
:class:`Classifier` to change a verdict without touching the logic.

Only what TikTok names is ever dead-lettered. An answer that blames no event — a 4xx without a
TikTok body (a proxy, a gateway), a code missing from the table, a 40000/40002/40062 whose message
names no ``data.N`` — is no evidence that an event is invalid: it is *unclassified*, retried like a
transient failure and, past the retry budget, handed to the destination's circuit breaker (a
probe tells a destination-wide failure from one of these events; see
:mod:`~tiktok_capi.consumer.delivery.destination`), never bisected into single-event dead letters.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

import httpx
import orjson

from tiktok_capi.consumer.delivery.base import ErrorClass, ErrorInfo

__all__ = [
    "DEFAULT_CODES",
    "DEFAULT_STATUSES",
    "Answer",
    "Classifier",
    "DestinationDownError",
    "InvalidEventsError",
    "RetryableError",
    "SendError",
    "SenderClosedError",
    "SplitBatchError",
    "ThrottledError",
    "TransientError",
    "UnclassifiedError",
    "Verdict",
    "event_index",
    "from_transport_error",
    "parse_answer",
    "parse_retry_after",
]

# What to do with one answer: "ok" = delivered; "split" = split the batch in halves (no event is
# to blame yet); the rest are the ErrorClass the ErrorInfo carries.
Verdict = Literal["ok", "split"] | ErrorClass

DEFAULT_CODES: Final[Mapping[int, Verdict]] = MappingProxyType(
    {
        0: "ok",
        20001: "ok",  # partial success: per-event detail format unknown; logged
        40000: "invalid",
        40002: "invalid",
        40001: "auth",  # no permission on the pixel
        40061: "split",  # invalid batch size
        40062: "invalid",  # PII not hashed: a bug, permanent
        40063: "misconfigured",  # invalid partner name
        40100: "throttled",
        40132: "throttled",
        61000: "throttled",
        40102: "auth",  # token expired
        40104: "auth",  # token empty
        40105: "auth",  # token invalid or revoked
        50000: "transient",
        50002: "transient",
        51012: "transient",
        60001: "transient",  # maintenance
    }
)

# HTTP statuses whose body has no TikTok code (gateways, proxies, a wrong URL). 429 and 5xx win
# over the body's code (a 5xx is never "invalid"); other 4xx, and any 3xx (a redirect means the
# URL is wrong), are used only when the body has no code. A status missing here (a gateway's
# bare 400, a 418) says nothing about the events: unclassified.
DEFAULT_STATUSES: Final[Mapping[int, Verdict]] = MappingProxyType(
    {
        401: "auth",
        403: "auth",
        404: "misconfigured",
        405: "misconfigured",
        407: "misconfigured",  # a proxy wants credentials: HTTPS_PROXY is wrong
        408: "transient",
        413: "split",
        429: "throttled",
    }
)

_MESSAGE_MAX = 300
_INDEX = re.compile(r"(?<![\w.])data(?:\.|\[)(\d+)")


class SendError(Exception):
    """One request did not deliver its events; ``info`` says why (safe to log and export)."""

    def __init__(self, info: ErrorInfo) -> None:
        super().__init__(info.message)
        self.info = info


class RetryableError(SendError):
    """Back off (at least ``info.retry_after_s`` when set) and send the same request again."""


class ThrottledError(RetryableError):
    """TikTok or a gateway asked to slow down."""


class TransientError(RetryableError):
    """The server or the network failed; the request may succeed later."""


class UnclassifiedError(TransientError):
    """An answer that blames nothing usable; retried, never a reason to dead-letter an event.

    ``info.code`` is set when TikTok itself answered (its token check passed).
    """


class InvalidEventsError(SendError):
    """TikTok rejected an event it names (``data.N``); that event is dead-lettered."""

    @property
    def event_index(self) -> int | None:
        """Index (within the request's ``data``) the message blames, e.g. ``data.3.event_id``."""
        return event_index(self.info.message)


class SplitBatchError(InvalidEventsError):
    """The batch as a whole was refused (size); send its halves separately."""


class DestinationDownError(SendError):
    """Token, permission or configuration is wrong: stop sending, hold events, probe."""


class SenderClosedError(SendError):
    """The sender was closed while this request waited; its events are held."""


_ERRORS: Final[Mapping[Verdict, type[SendError]]] = MappingProxyType(
    {
        "split": SplitBatchError,
        "throttled": ThrottledError,
        "transient": TransientError,
        "unclassified": UnclassifiedError,
        "invalid": InvalidEventsError,
        "auth": DestinationDownError,
        "misconfigured": DestinationDownError,
    }
)


@dataclass(frozen=True, slots=True)
class Answer:
    """The parts of a TikTok JSON answer the sender uses."""

    code: int
    message: str
    request_id: str | None


def parse_answer(body: bytes) -> Answer | None:
    """Parse a TikTok answer; ``None`` when the body is not a JSON object with an integer code."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(parsed, dict):
        return None
    code = parsed.get("code")
    if not isinstance(code, int) or isinstance(code, bool):
        return None
    message = parsed.get("message")
    request_id = parsed.get("request_id")
    return Answer(
        code,
        message[:_MESSAGE_MAX] if isinstance(message, str) else "",
        request_id if isinstance(request_id, str) else None,
    )


def event_index(message: str) -> int | None:
    """The event a TikTok message blames (``data.3.properties...`` -> 3), or ``None``."""
    match = _INDEX.search(message)
    return int(match.group(1)) if match else None


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date); ``None`` if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - now()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


class Classifier:
    """Turns answers into ``None`` (delivered) or a :class:`SendError`, by data tables.

    Args:
        codes: verdict per TikTok ``code``.
        statuses: verdict per HTTP status when the body carries no code (429 always).
        unknown_client_code: verdict for codes 40000-49999 missing from ``codes``.
        unknown_code: verdict for any other code missing from ``codes``.
        unnamed_invalid: verdict for an ``invalid`` answer whose message names no ``data.N``.
    """

    def __init__(
        self,
        codes: Mapping[int, Verdict] = DEFAULT_CODES,
        statuses: Mapping[int, Verdict] = DEFAULT_STATUSES,
        *,
        unknown_client_code: Verdict = "unclassified",
        unknown_code: Verdict = "unclassified",
        unnamed_invalid: Verdict = "unclassified",
    ) -> None:
        self.codes = MappingProxyType(dict(codes))
        self.statuses = MappingProxyType(dict(statuses))
        self.unknown_client_code: Verdict = unknown_client_code
        self.unknown_code: Verdict = unknown_code
        self.unnamed_invalid: Verdict = unnamed_invalid

    def verdict(self, code: int) -> Verdict:
        """The verdict for a TikTok ``code`` (table first, then the unknown-code rules)."""
        known = self.codes.get(code)
        if known is not None:
            return known
        return self.unknown_client_code if 40000 <= code < 50000 else self.unknown_code

    def error(
        self, http_status: int, answer: Answer | None, retry_after_s: float | None = None
    ) -> SendError | None:
        """The error an answer means, or ``None`` when its events were delivered."""
        if http_status == 429 or http_status >= 500:
            verdict: Verdict = "throttled" if http_status == 429 else "transient"
            if answer is not None and self.verdict(answer.code) == "throttled":
                verdict = "throttled"  # a 503 saying 40100
            what = "" if answer is not None else " with a non-JSON body"
            message = f"HTTP {http_status}{what}"
        elif answer is not None:
            verdict = self.verdict(answer.code)
            if verdict == "ok" and not 200 <= http_status < 300:
                verdict = "unclassified"  # code 0 on an error status: do not trust it
            message = answer.message or f"TikTok code {answer.code}"
            if verdict == "invalid" and event_index(answer.message) is None:
                verdict = self.unnamed_invalid  # TikTok blames no event: no reason to drop one
        elif 200 <= http_status < 300:
            verdict, message = "transient", f"HTTP {http_status} with an unparseable body"
        else:
            verdict = self.statuses.get(http_status) or (
                "misconfigured" if 300 <= http_status < 400 else "unclassified"
            )
            message = f"HTTP {http_status} without a TikTok answer"
        if verdict == "ok":
            return None
        if answer is not None and answer.message and not message.startswith(answer.message):
            message = f"{message}: {answer.message}"
        info = ErrorInfo(
            error_class=_error_class(verdict),
            message=message,
            code=answer.code if answer is not None else None,
            request_id=answer.request_id if answer is not None else None,
            http_status=http_status,
            retry_after_s=retry_after_s if verdict in _RETRYABLE else None,
        )
        return _ERRORS[verdict](info)

    def classify(
        self, http_status: int, body: bytes, *, retry_after: str | None = None
    ) -> ErrorInfo | None:
        """:meth:`error` from raw bytes and the ``Retry-After`` header; its ``info`` or ``None``."""
        err = self.error(http_status, parse_answer(body), parse_retry_after(retry_after))
        return None if err is None else err.info


_RETRYABLE: Final = frozenset({"throttled", "transient", "unclassified"})


def _error_class(verdict: Verdict) -> ErrorClass:
    if verdict == "split" or verdict == "ok":
        return "invalid"
    return verdict


def from_transport_error(exc: httpx.HTTPError) -> TransientError:
    """Translate an httpx failure (timeout, refused, reset, protocol) into a retryable error."""
    kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "connection error"
    detail = str(exc)[:_MESSAGE_MAX]
    message = f"{kind} ({type(exc).__name__}{': ' + detail if detail else ''})"
    return TransientError(ErrorInfo(error_class="transient", message=message))
