"""Where a failed record goes next, and the headers it carries there (pure: no I/O, no clock).

Tier ``n`` is topic ``{RETRY_TOPIC}.{n}`` with delay ``RETRY_DELAYS[n-1]``::

    source --fail--> tier 1 --fail--> tier 2 ... tier N --fail--> dead-letter topic
       \\____________________ invalid / undecodable _______________/

A record keeps its original key and value bytes all the way; the ``tiktok-capi.*`` headers say
where it came from (original topic/partition/offset, kept from the first failure on), how often it
failed, when it becomes due again and why it failed, and which consumer group wrote it. Header
values are UTF-8 text and PII-free: error messages are scrubbed and truncated
(:func:`safe_message`).

The current time comes in as an argument (epoch seconds), so routing is exact and testable.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from tiktok_capi.consumer.delivery.base import ErrorInfo
from tiktok_capi.consumer.kafka.records import (
    ConsumedHeaders,
    Headers,
    SourceRecord,
    header_value,
)
from tiktok_capi.mapping.pii import scrub
from tiktok_capi.mapping.timestamps import iso_utc

if TYPE_CHECKING:
    from tiktok_capi.consumer.config.settings import KafkaSettings

__all__ = [
    "HEADER_ATTEMPT",
    "HEADER_DUE_AT",
    "HEADER_ERROR_CLASS",
    "HEADER_ERROR_MESSAGE",
    "HEADER_FAILED_AT",
    "HEADER_FIRST_FAILURE",
    "HEADER_GROUP",
    "HEADER_ORIGINAL_OFFSET",
    "HEADER_ORIGINAL_PARTITION",
    "HEADER_ORIGINAL_TOPIC",
    "HEADER_PREFIX",
    "HEADER_REASON",
    "HEADER_REPLAYED_FROM",
    "HEADER_TIKTOK_CODE",
    "HEADER_TIKTOK_REQUEST_ID",
    "HEADER_VALUE_DROPPED",
    "MAX_MESSAGE_LENGTH",
    "REASON_RETRIES_EXHAUSTED",
    "FailureInfo",
    "RetryTiers",
    "Route",
    "due_at_ms",
    "due_at_ms_of",
    "due_in_s",
    "iso_utc",
    "safe_message",
    "strip_own_headers",
]

HEADER_PREFIX: Final = "tiktok-capi."
HEADER_ORIGINAL_TOPIC: Final = "tiktok-capi.original-topic"
HEADER_ORIGINAL_PARTITION: Final = "tiktok-capi.original-partition"
HEADER_ORIGINAL_OFFSET: Final = "tiktok-capi.original-offset"
HEADER_ATTEMPT: Final = "tiktok-capi.attempt"  # failed delivery attempts so far, 1-based
HEADER_FIRST_FAILURE: Final = "tiktok-capi.first-failure-at"  # ISO-8601 UTC
HEADER_FAILED_AT: Final = "tiktok-capi.failed-at"  # ISO-8601 UTC of the latest failure
HEADER_DUE_AT: Final = "tiktok-capi.due-at"  # epoch milliseconds; retry records only
HEADER_ERROR_CLASS: Final = "tiktok-capi.error-class"
HEADER_ERROR_MESSAGE: Final = "tiktok-capi.error-message"
HEADER_TIKTOK_CODE: Final = "tiktok-capi.tiktok-code"
HEADER_TIKTOK_REQUEST_ID: Final = "tiktok-capi.tiktok-request-id"
HEADER_REASON: Final = "tiktok-capi.dead-letter-reason"  # dead-letter records only
HEADER_REPLAYED_FROM: Final = "tiktok-capi.replayed-from"  # set by `tiktok-capi dlq replay`
# The consumer group that wrote the record: a connector refuses retry tiers another group writes.
HEADER_GROUP: Final = "tiktok-capi.group"
# Dead letters too large for the topic: written without their value; this says its size in bytes.
HEADER_VALUE_DROPPED: Final = "tiktok-capi.value-dropped"

REASON_RETRIES_EXHAUSTED: Final = "retries_exhausted"
MAX_MESSAGE_LENGTH: Final = 300

# Defence in depth: the sender already keeps messages PII-free, but a message quoting a value
# must not carry an email address or a phone-like number into a topic anyone may read.
_MASK: Final = "<redacted>"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def safe_message(message: str, limit: int = MAX_MESSAGE_LENGTH) -> str:
    """``message`` on one line, emails and phone-like numbers masked, at most ``limit`` chars."""
    text = _CONTROL.sub(" ", message).strip()
    text = scrub(text, email_mask=_MASK, phone_mask=_MASK)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


@dataclass(frozen=True, slots=True)
class FailureInfo:
    """Why a record failed, as written to its headers (PII-free)."""

    error_class: str
    message: str
    code: int | None = None
    request_id: str | None = None

    @classmethod
    def from_error(cls, error: ErrorInfo) -> FailureInfo:
        """The failure of a delivery, as the sender classified it."""
        return cls(error.error_class, error.message, error.code, error.request_id)

    @classmethod
    def from_reason(cls, reason: str, message: str = "") -> FailureInfo:
        """A failure with no delivery behind it (``decode_error``, ``mapping_error``, ...)."""
        return cls(reason, message or reason)


@dataclass(frozen=True, slots=True)
class Route:
    """Where one record goes: a retry tier (``tier`` 1-based) or the dead-letter topic.

    ``headers`` are the ``tiktok-capi.*`` headers to add (UTF-8 values); ``reason`` is set for
    dead letters (metric attribute and header); ``error_class`` is the metric attribute of retries.
    """

    topic: str
    tier: int | None  # None: the dead-letter topic
    headers: Headers
    reason: str | None = None
    error_class: str = ""

    @property
    def is_dead_letter(self) -> bool:
        """True when the record goes to the dead-letter topic."""
        return self.tier is None


def _text(record: SourceRecord, name: str) -> str | None:
    raw = record.header(name)
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _int(record: SourceRecord, name: str) -> int | None:
    text = _text(record, name)
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        return None


def _or(value: int | None, fallback: int) -> int:
    return fallback if value is None or value < 0 else value


def due_at_ms(record: SourceRecord) -> int | None:
    """When a retry record becomes due (epoch ms); ``None`` without a (readable) due-at header.

    A record without one (a source record, or a damaged header) is due immediately.
    """
    return due_at_ms_of(record.headers)


def due_at_ms_of(headers: ConsumedHeaders) -> int | None:
    """:func:`due_at_ms` of a consumed message's headers (no record copy on the hot path)."""
    raw = header_value(headers, HEADER_DUE_AT)
    if raw is None:
        return None
    try:
        return int(raw.decode("utf-8").strip())
    except (UnicodeDecodeError, ValueError):
        return None


def due_in_s(
    headers: ConsumedHeaders, timestamp: tuple[int, int], delay_s: float, now: float
) -> float:
    """Seconds until a consumed retry-tier record is due (``<= 0``: due now).

    The ``due-at`` header is the writer's clock plus the tier's delay, and a writer's clock can
    be wrong: days ahead, it would pause the tier partition for days; behind, it would collapse
    the delay. So the header only says the record is a retry record (without a readable one it
    is due now), and the due time is the record's timestamp plus the tier's delay — the
    broker's clock when the topic keeps ``message.timestamp.type=LogAppendTime``, the writer's
    at produce time otherwise (then equal to the header's) — and never more than ``delay_s``
    from ``now``, whatever any clock says.

    Args:
        headers: the consumed record's headers.
        timestamp: its ``(timestamp type, epoch ms)``; type 0 means not available.
        delay_s: the delay of the record's tier.
        now: the reader's wall clock, epoch seconds.
    """
    header_ms = due_at_ms_of(headers)
    if header_ms is None:
        return 0.0
    kind, ms = timestamp
    due = ms / 1000.0 + delay_s if kind and ms > 0 else header_ms / 1000.0
    return min(due - now, delay_s)


def strip_own_headers(headers: Headers | None) -> Headers:
    """``headers`` without any ``tiktok-capi.*`` header (the user's own headers are kept)."""
    if not headers:
        return []
    return [(k, v) for k, v in headers if not k.startswith(HEADER_PREFIX)]


class RetryTiers:
    """The retry tier topics and the routing of failed records through them.

    Args:
        retry_topic_prefix: ``RETRY_TOPIC``; tier ``n`` is ``{prefix}.{n}``.
        delays: ``RETRY_DELAYS`` in seconds, one per tier (may be empty: straight to the DLQ).
        dlq_topic: ``DLQ_TOPIC``.
        group: ``KAFKA_GROUP_ID``, written to every record as ``tiktok-capi.group``.
    """

    def __init__(
        self,
        retry_topic_prefix: str,
        delays: Sequence[float],
        dlq_topic: str,
        group: str | None = None,
    ) -> None:
        if any(d < 0 for d in delays):
            raise ValueError("retry delays must not be negative")
        self.prefix = retry_topic_prefix
        self.delays: tuple[float, ...] = tuple(delays)
        self.dlq_topic = dlq_topic
        self.group = group
        self.topics: tuple[str, ...] = tuple(
            f"{retry_topic_prefix}.{n}" for n in range(1, len(self.delays) + 1)
        )
        self._tier_by_topic = {topic: n for n, topic in enumerate(self.topics, start=1)}

    @classmethod
    def from_settings(cls, settings: KafkaSettings) -> RetryTiers:
        """The tiers of ``RETRY_TOPIC``/``RETRY_DELAYS``/``DLQ_TOPIC``."""
        return cls(
            settings.retry_topic, settings.retry_delays, settings.dlq_topic, settings.group_id
        )

    @property
    def all_topics(self) -> tuple[str, ...]:
        """The tier topics and the dead-letter topic (what start-up creates when missing)."""
        return (*self.topics, self.dlq_topic)

    def tier_of(self, topic: str) -> int | None:
        """1-based tier of ``topic``; ``None`` for any other topic (the source)."""
        return self._tier_by_topic.get(topic)

    def delay_of(self, tier: int) -> float:
        """Delay of ``tier`` (1-based) in seconds."""
        if not 1 <= tier <= len(self.delays):
            raise ValueError(f"no retry tier {tier} (there are {len(self.delays)})")
        return self.delays[tier - 1]

    def route(self, record: SourceRecord, failure: FailureInfo, now: float) -> Route:
        """The next step of a record whose delivery failed at ``now`` (epoch seconds).

        From the source it goes to tier 1, from tier n to tier n+1, and after the last tier to
        the dead-letter topic with reason ``retries_exhausted``.
        """
        current = self.tier_of(record.topic) or 0
        target = current + 1
        if target > len(self.topics):
            return self.dead_letter(record, REASON_RETRIES_EXHAUSTED, failure, now)
        headers = self._headers(record, failure, now)
        due = round((now + self.delays[target - 1]) * 1000)
        headers.append((HEADER_DUE_AT, str(due).encode()))
        return Route(self.topics[target - 1], target, headers, None, failure.error_class)

    def dead_letter(
        self, record: SourceRecord, reason: str, failure: FailureInfo, now: float
    ) -> Route:
        """Send ``record`` straight to the dead-letter topic (``decode_error``, ...)."""
        headers = self._headers(record, failure, now)
        headers.append((HEADER_REASON, reason.encode()))
        return Route(self.dlq_topic, None, headers, reason, failure.error_class)

    def _headers(self, record: SourceRecord, failure: FailureInfo, now: float) -> Headers:
        tier = self.tier_of(record.topic)
        topic, partition, offset = record.topic, record.partition, record.offset
        attempts_before = 0
        first_failure = iso_utc(now)
        if tier is not None:
            # Already a retry record: where it came from and when it first failed stay as they
            # were; the record's own coordinates stand in for damaged headers.
            topic = _text(record, HEADER_ORIGINAL_TOPIC) or topic
            partition = _or(_int(record, HEADER_ORIGINAL_PARTITION), partition)
            offset = _or(_int(record, HEADER_ORIGINAL_OFFSET), offset)
            attempts_before = _or(_int(record, HEADER_ATTEMPT), tier)
            first_failure = _text(record, HEADER_FIRST_FAILURE) or first_failure
        headers: Headers = [
            (HEADER_ORIGINAL_TOPIC, topic.encode()),
            (HEADER_ORIGINAL_PARTITION, str(partition).encode()),
            (HEADER_ORIGINAL_OFFSET, str(offset).encode()),
            (HEADER_ATTEMPT, str(attempts_before + 1).encode()),
            (HEADER_FIRST_FAILURE, first_failure.encode()),
            (HEADER_FAILED_AT, iso_utc(now).encode()),
            (HEADER_ERROR_CLASS, failure.error_class.encode()),
            (HEADER_ERROR_MESSAGE, safe_message(failure.message).encode()),
        ]
        if self.group is not None:
            headers.append((HEADER_GROUP, self.group.encode()))
        if failure.code is not None:
            headers.append((HEADER_TIKTOK_CODE, str(failure.code).encode()))
        if failure.request_id:
            request_id = _CONTROL.sub("", failure.request_id)[:MAX_MESSAGE_LENGTH]
            headers.append((HEADER_TIKTOK_REQUEST_ID, request_id.encode()))
        return headers
