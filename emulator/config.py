"""Typed configuration of the emulator: what it accepts (`EmulatorConfig`) and what goes wrong
on purpose (`FaultConfig`).

Both are frozen values. Faults can be replaced at run time (``Emulator.set_faults`` or
``POST /_emulator/faults``); the rest of the configuration is fixed for the server's life.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["EmulatorConfig", "FaultConfig", "InvalidFaults", "faults_from_mapping"]

_MAX_ANSWER_BODY = 64 * 1024


class InvalidFaults(ValueError):
    """A fault specification (JSON or keyword arguments) names an unknown field or a bad value."""


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """Faults injected into answers of the track endpoint. Every fault is off by default.

    Rates are probabilities in [0, 1] drawn from a random generator seeded with ``seed`` (or the
    emulator's seed), so a given sequence of requests meets the same faults on every run. When
    several faults fire for one request, the first in this order wins: drop, hang, revoked token,
    QPS limit, throttle, 5xx, canned answer, cut answer. ``latency_ms`` (and a latency spike) is
    added before any answer.

    Attributes:
        error_5xx_rate: share of requests answered by an HTTP 5xx with an HTML body, as a gateway
            answers (500, 502, 503 or 504, drawn from the same generator).
        throttle_rate: share of requests answered with business code 40100 (HTTP
            ``throttle_http_status``, 429 by default, with ``Retry-After``).
        throttle_http_status: HTTP status of throttling answers (429, or 200 as TikTok's API
            does for other business errors).
        retry_after_s: value of the ``Retry-After`` header on throttling answers, in seconds.
        latency_ms: delay added before every answer of the track endpoint.
        hang_rate: share of requests that get no answer for ``hang_s`` seconds, after which the
            connection is closed without an answer (a client timeout shorter than ``hang_s``
            sees a read timeout). Hangs end early when the emulator stops.
        hang_s: how long a hanging request hangs.
        drop_rate: share of requests whose connection is closed without any answer.
        token_revoked_until: wall-clock time (Unix seconds) until which every request is answered
            40105 (token revoked). ``None`` or a past time: not revoked.
        qps_limit: requests per second above which requests are throttled (token bucket of
            ``qps_limit`` requests, refilled continuously). ``None``: no limit.
        spike_rate: share of requests delayed by ``spike_ms`` more than ``latency_ms`` (a latency
            spike). The request is then processed as usual: when the client gave up meanwhile
            (a timeout shorter than the spike), its events are recorded all the same, as a
            server that was merely slow records them.
        spike_ms: the extra delay of a latency spike.
        answer_rate: share of requests answered with exactly ``answer_status``,
            ``answer_body`` and ``answer_content_type``, before the token is checked and
            without recording anything: what a proxy (407), a gateway (400 without a TikTok
            body) or a TikTok answer the client does not know (a 40002 naming no event, an
            unknown code) looks like.
        answer_status: HTTP status of the canned answer.
        answer_body: body of the canned answer (text, at most 64 KiB).
        answer_content_type: ``Content-Type`` of the canned answer.
        cut_rate: share of requests processed as usual (accepted events are recorded) whose
            answer is cut off mid-way: the status line, the headers and half of the body are
            sent, then the connection is closed (a server or load balancer dying mid-response).
            The client does not know whether its events arrived.
        seed: seed of the fault generator; ``None`` uses ``EmulatorConfig.seed``.
    """

    error_5xx_rate: float = 0.0
    throttle_rate: float = 0.0
    throttle_http_status: int = 429
    retry_after_s: int = 1
    latency_ms: float = 0.0
    hang_rate: float = 0.0
    hang_s: float = 5.0
    drop_rate: float = 0.0
    token_revoked_until: float | None = None
    qps_limit: float | None = None
    spike_rate: float = 0.0
    spike_ms: float = 0.0
    answer_rate: float = 0.0
    answer_status: int = 200
    answer_body: str = ""
    answer_content_type: str = "application/json"
    cut_rate: float = 0.0
    seed: int | None = None

    def __post_init__(self) -> None:
        rates = ("error_5xx_rate", "throttle_rate", "hang_rate", "drop_rate", "spike_rate")
        for name in (*rates, "answer_rate", "cut_rate"):
            rate = getattr(self, name)
            if not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 <= rate <= 1:
                raise InvalidFaults(f"{name} must be a number between 0 and 1, got {rate!r}")
        for name in ("latency_ms", "hang_s", "spike_ms"):
            value = getattr(self, name)
            if not _is_number(value) or value < 0:
                raise InvalidFaults(f"{name} must be a number >= 0, got {value!r}")
        if self.hang_s > 300:
            raise InvalidFaults("hang_s must be at most 300 so that hanging threads end")
        if self.spike_ms > 300_000:
            raise InvalidFaults("spike_ms must be at most 300000 so that slow threads end")
        if self.qps_limit is not None and (not _is_number(self.qps_limit) or self.qps_limit <= 0):
            raise InvalidFaults(f"qps_limit must be a number > 0, got {self.qps_limit!r}")
        if self.token_revoked_until is not None and not _is_number(self.token_revoked_until):
            raise InvalidFaults("token_revoked_until must be a Unix time in seconds")
        if self.throttle_http_status not in (200, 429, 503):
            raise InvalidFaults("throttle_http_status must be 200, 429 or 503")
        if not isinstance(self.retry_after_s, int) or self.retry_after_s < 0:
            raise InvalidFaults("retry_after_s must be an integer >= 0")
        if not _is_int(self.answer_status) or not 100 <= self.answer_status <= 599:
            raise InvalidFaults(f"answer_status must be an HTTP status, got {self.answer_status!r}")
        if not isinstance(self.answer_body, str) or len(self.answer_body) > _MAX_ANSWER_BODY:
            raise InvalidFaults("answer_body must be text of at most 64 KiB")
        if (
            not isinstance(self.answer_content_type, str)
            or not self.answer_content_type.isprintable()
        ):
            raise InvalidFaults("answer_content_type must be a printable string")
        if self.seed is not None and not _is_int(self.seed):
            raise InvalidFaults("seed must be an integer")

    def as_dict(self) -> dict[str, Any]:
        """The faults as a JSON-ready dict (the body ``GET /_emulator/faults`` answers)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


FAULT_FIELDS: frozenset[str] = frozenset(f.name for f in fields(FaultConfig))


def faults_from_mapping(
    spec: Mapping[str, Any], *, now: Callable[[], float] = time.time
) -> FaultConfig:
    """Build a `FaultConfig` from JSON-like fields (``POST /_emulator/faults``, keyword arguments).

    Unnamed fields take their defaults: the result replaces the current faults, it is not merged
    with them. ``revoke_for_s`` is accepted as a convenience for
    ``token_revoked_until = now() + revoke_for_s``.

    Raises:
        InvalidFaults: unknown field or bad value.
    """
    values = dict(spec)
    revoke_for = values.pop("revoke_for_s", None)
    unknown = sorted(set(values) - FAULT_FIELDS)
    if unknown:
        raise InvalidFaults(f"unknown fault field(s): {', '.join(unknown)}")
    if revoke_for is not None:
        if not _is_number(revoke_for) or revoke_for < 0:
            raise InvalidFaults("revoke_for_s must be a number >= 0")
        if values.get("token_revoked_until") is not None:
            raise InvalidFaults("give revoke_for_s or token_revoked_until, not both")
        values["token_revoked_until"] = now() + revoke_for
    try:
        return FaultConfig(**values)
    except TypeError as exc:  # pragma: no cover - guarded by the field check above
        raise InvalidFaults(str(exc)) from exc


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    """How the emulator listens and what it accepts.

    Attributes:
        host: interface to listen on (keep 127.0.0.1 unless you mean to expose it).
        port: TCP port; 0 picks a free one (read it from ``Emulator.base_url``).
        token: the only ``Access-Token`` accepted (others are answered 40105, none 40104).
        pixel_code: the only ``event_source_id`` accepted (others are answered 40001).
        record_path: file to append accepted events to, as JSON lines; ``None``: memory only.
        max_event_age_s: oldest accepted ``event_time``, in seconds before now.
        max_future_s: how far in the future ``event_time`` may be (clock skew), in seconds.
        max_events_in_memory: accepted events kept for ``events()`` (oldest dropped first);
            ``None`` keeps all. Statistics count every event regardless.
        max_body_bytes: largest request body accepted (HTTP 413 above it).
        seed: seed of the fault generator (unless ``FaultConfig.seed`` is set).
        faults: faults active from the start.
    """

    host: str = "127.0.0.1"
    port: int = 0
    token: str = "test-token"  # noqa: S105 - the emulator's own default, not a secret
    pixel_code: str = "TESTPIXEL"
    record_path: str | None = None
    max_event_age_s: int = 7 * 86400
    max_future_s: int = 300
    max_events_in_memory: int | None = None
    max_body_bytes: int = 32 * 1024 * 1024
    seed: int = 0
    faults: FaultConfig = field(default_factory=FaultConfig)

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be between 0 and 65535, got {self.port}")
        for name in ("max_event_age_s", "max_future_s", "max_body_bytes"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.max_events_in_memory is not None and self.max_events_in_memory < 0:
            raise ValueError("max_events_in_memory must be >= 0 (or None to keep every event)")

    def __repr__(self) -> str:
        # The token never appears in a repr (logs, tracebacks).
        return (
            f"EmulatorConfig(host={self.host!r}, port={self.port}, token='***', "
            f"pixel_code={self.pixel_code!r}, record_path={self.record_path!r}, "
            f"max_event_age_s={self.max_event_age_s}, seed={self.seed}, faults={self.faults!r})"
        )
