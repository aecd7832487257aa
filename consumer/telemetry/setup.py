"""OpenTelemetry SDK and exporter wiring, done once at process start.

Code records metrics and spans through the OpenTelemetry API only
(`tiktok_capi.consumer.telemetry.metrics` declares every instrument); :func:`setup` installs the SDK
behind those API proxies:

- **Prometheus** (``METRICS_ENABLED``, on by default): a ``PrometheusMetricReader`` feeding a
  prometheus_client registry, served as text on the health port's ``/metrics``
  (`tiktok_capi.consumer.telemetry.health`), not on a port of its own.
- **OTLP over HTTP** (on when ``OTEL_EXPORTER_OTLP_ENDPOINT`` — or a per-signal
  ``OTEL_EXPORTER_OTLP_{METRICS,TRACES}_ENDPOINT`` — is set): a periodic metric exporter and a
  ``BatchSpanProcessor`` for the span of each delivery request. The exporters read the standard
  variables themselves (headers, timeout, compression, ``OTEL_METRIC_EXPORT_INTERVAL``,
  ``OTEL_BSP_*``); ``OTEL_METRICS_EXPORTER=none`` / ``OTEL_TRACES_EXPORTER=none`` turn one
  signal off and ``OTEL_SDK_DISABLED=true`` turns OTLP (and spans) off altogether. It does not
  turn off ``/metrics``: Prometheus exposition is ``METRICS_ENABLED``'s business, so the meter
  provider is built as if the variable were unset (the SDK would otherwise hand out no-op
  meters and every ``tiktok_capi_*`` series would vanish).
- **Resource**: ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` are honoured; the service
  name defaults to ``tiktok-capi``.

OpenTelemetry's global providers can be set only once per process, so :func:`setup` installs
them once and returns the same :class:`Telemetry` on later calls. Tests pass
``install_global=False`` (and a private ``registry``) to get providers of their own.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from typing import Final, Protocol

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from prometheus_client import REGISTRY, CollectorRegistry

__all__ = ["DEFAULT_SERVICE_NAME", "Telemetry", "TelemetrySettings", "otlp_signals", "setup"]

log = logging.getLogger(__name__)

DEFAULT_SERVICE_NAME = "tiktok-capi"


class TelemetrySettings(Protocol):
    """The part of `tiktok_capi.consumer.config.settings.Settings` telemetry needs."""

    @property
    def metrics_enabled(self) -> bool: ...


@dataclass
class Telemetry:
    """The installed SDK: providers, the Prometheus registry, and what is exported where.

    Attributes:
        meter_provider: the SDK meter provider (global unless ``install_global=False``).
        tracer_provider: the SDK tracer provider, or ``None`` when no span exporter is on
            (spans are then the API's no-ops, which cost nothing).
        registry: the prometheus_client registry ``/metrics`` serves.
        prometheus: whether the Prometheus reader is attached.
        otlp_metrics: whether metrics are exported over OTLP.
        otlp_traces: whether spans are exported over OTLP.
    """

    meter_provider: MeterProvider
    tracer_provider: TracerProvider | None
    registry: CollectorRegistry
    prometheus: bool
    otlp_metrics: bool
    otlp_traces: bool
    resource: Resource
    _closed: bool = field(default=False, repr=False)

    def shutdown(self) -> None:
        """Flush and stop the exporters (last OTLP export, unregister from the registry).

        Idempotent; call it once at process exit. Export failures are logged, never raised.
        """
        if self._closed:
            return
        self._closed = True
        for name, provider in (("tracer", self.tracer_provider), ("meter", self.meter_provider)):
            if provider is None:
                continue
            try:
                provider.shutdown()
            except Exception:
                log.warning("telemetry: %s provider shutdown failed", name, exc_info=True)


# The SDK's default buckets (0, 5, 10, 25, ... 10000) suit milliseconds; ours are seconds and
# events per request (at most 1,000).
_SECONDS_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_BATCH_BUCKETS: Final = (1.0, 10.0, 50.0, 100.0, 250.0, 500.0, 750.0, 1000.0)
_VIEWS: Final = (
    View(
        instrument_name="tiktok_capi.request.duration",
        aggregation=ExplicitBucketHistogramAggregation(_SECONDS_BUCKETS),
    ),
    View(
        instrument_name="tiktok_capi.commit.duration",
        aggregation=ExplicitBucketHistogramAggregation(_SECONDS_BUCKETS),
    ),
    View(
        instrument_name="tiktok_capi.batch.size",
        aggregation=ExplicitBucketHistogramAggregation(_BATCH_BUCKETS),
    ),
)

_lock = threading.Lock()
_installed: Telemetry | None = None


def _truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() in ("1", "true", "yes", "on")


def otlp_signals(env: Mapping[str, str]) -> tuple[bool, bool]:
    """Which signals go to OTLP under ``env``: ``(metrics, traces)``."""
    if _truthy(env.get("OTEL_SDK_DISABLED")):
        return False, False
    generic = bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip())
    result = []
    for signal in ("METRICS", "TRACES"):
        endpoint = generic or bool(env.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT", "").strip())
        exporter = env.get(f"OTEL_{signal}_EXPORTER", "otlp").strip().lower()
        result.append(endpoint and exporter != "none")
    return result[0], result[1]


def _resource(env: Mapping[str, str]) -> Resource:
    # Resource.create reads OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES from os.environ;
    # the default service name only fills in when neither names one.
    detected = Resource.create()
    defaults: dict[str, str] = {}
    name = str(detected.attributes.get(SERVICE_NAME, ""))
    if not env.get("OTEL_SERVICE_NAME") and (not name or name.startswith("unknown_service")):
        defaults[SERVICE_NAME] = DEFAULT_SERVICE_NAME
    if SERVICE_VERSION not in detected.attributes:
        with contextlib.suppress(importlib_metadata.PackageNotFoundError):
            defaults[SERVICE_VERSION] = importlib_metadata.version("tiktok-capi")
    return detected.merge(Resource(defaults)) if defaults else detected


@contextlib.contextmanager
def _sdk_enabled() -> Iterator[None]:
    """Hide ``OTEL_SDK_DISABLED`` from the SDK while a provider reads it (at construction).

    Runs once at start-up, under :data:`_lock`; OTLP's side of the variable is decided by
    :func:`otlp_signals` instead.
    """
    hidden = os.environ.pop("OTEL_SDK_DISABLED", None)
    try:
        yield
    finally:
        if hidden is not None:
            os.environ["OTEL_SDK_DISABLED"] = hidden


def setup(
    settings: TelemetrySettings,
    *,
    env: Mapping[str, str] | None = None,
    registry: CollectorRegistry | None = None,
    install_global: bool = True,
) -> Telemetry:
    """Configure the OpenTelemetry SDK and exporters; call once at start-up.

    Args:
        settings: only ``metrics_enabled`` is read (Prometheus reader on or off).
        env: the environment that decides OTLP (default ``os.environ``). The OTLP exporters
            themselves read ``os.environ``.
        registry: prometheus_client registry for the Prometheus reader (default: the global
            ``REGISTRY``, which `tiktok_capi.consumer.telemetry.health.HealthServer` serves).
        install_global: set the global meter and tracer providers (what
        `tiktok_capi.consumer.telemetry.metrics`
            records into). With ``False`` nothing global changes: tests use the returned
            providers directly.

    Returns:
        The :class:`Telemetry`; with ``install_global`` a second call returns the first one.
    """
    global _installed
    environ = os.environ if env is None else env
    with _lock:
        if install_global and _installed is not None:
            log.debug("telemetry already configured; reusing it")
            return _installed
        telemetry = _build(settings, environ, REGISTRY if registry is None else registry)
        if install_global:
            metrics.set_meter_provider(telemetry.meter_provider)
            if telemetry.tracer_provider is not None:
                trace.set_tracer_provider(telemetry.tracer_provider)
            _installed = telemetry
    log.info(
        "telemetry: prometheus=%s otlp_metrics=%s otlp_traces=%s service=%s",
        telemetry.prometheus,
        telemetry.otlp_metrics,
        telemetry.otlp_traces,
        telemetry.resource.attributes.get(SERVICE_NAME),
    )
    return telemetry


def _build(
    settings: TelemetrySettings, env: Mapping[str, str], registry: CollectorRegistry
) -> Telemetry:
    resource = _resource(env)
    otlp_metrics, otlp_traces = otlp_signals(env)
    readers: list[MetricReader] = []
    if settings.metrics_enabled:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader

        # One meter: the otel_scope_* labels would only add noise to every series.
        readers.append(PrometheusMetricReader(scope_info_enabled=False, registry=registry))
    if otlp_metrics:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
    with _sdk_enabled():
        meter_provider = MeterProvider(resource=resource, metric_readers=readers, views=_VIEWS)
    tracer_provider: TracerProvider | None = None
    if otlp_traces:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        tracer_provider = TracerProvider(resource=resource)
        tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return Telemetry(
        meter_provider=meter_provider,
        tracer_provider=tracer_provider,
        registry=registry,
        prometheus=settings.metrics_enabled,
        otlp_metrics=otlp_metrics,
        otlp_traces=otlp_traces,
        resource=resource,
    )
