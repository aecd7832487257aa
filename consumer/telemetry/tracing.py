"""Links from a delivery request's span to the records it carries.

Upstream producers that trace their writes put W3C trace context in each record's headers
(``traceparent``, optionally ``tracestate``). Following OpenTelemetry's messaging conventions,
the span of the request that delivers a batch links to the creation context of its records, so a
trace of the producing application leads to the TikTok request that delivered its event.

Links are built only while a tracer provider is installed (OTLP traces on) and at most
:data:`MAX_LINKS` per batch: nothing is paid on the hot path otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from opentelemetry import trace
from opentelemetry.trace import Link
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = ["MAX_LINKS", "record_links", "tracing_enabled"]

MAX_LINKS: Final = 128
_PROPAGATOR: Final = TraceContextTextMapPropagator()


def tracing_enabled() -> bool:
    """Whether an SDK tracer provider is installed (spans are recorded and exported)."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def _headers(message: Any) -> Sequence[tuple[str, bytes]] | None:
    headers = getattr(message, "headers", None)
    if callable(headers):  # confluent_kafka.Message
        headers = headers()
    return headers


def record_links(messages: Sequence[Any], limit: int = MAX_LINKS) -> list[Link]:
    """Links to the trace context found in the records' headers (at most ``limit``).

    Records without a valid ``traceparent`` header contribute nothing; never raises on
    malformed headers.
    """
    links: list[Link] = []
    for message in messages:
        headers = _headers(message)
        if not headers:
            continue
        carrier: dict[str, str] = {}
        for name, value in headers:
            if name in ("traceparent", "tracestate") and value:
                carrier[name] = value.decode("ascii", "replace")
        if "traceparent" not in carrier:
            continue
        context = trace.get_current_span(_PROPAGATOR.extract(carrier)).get_span_context()
        if context.is_valid:
            links.append(Link(context))
            if len(links) >= limit:
                break
    return links
