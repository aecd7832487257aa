"""telemetry.setup: Prometheus and OTLP wiring, resource, and the exported metric names.

OpenTelemetry's global providers can be set once per process, so tests in this process use
``install_global=False`` with private registries; the global path runs in a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from tests.fixtures.otlp import OtlpCollector
from tiktok_capi.consumer.telemetry.setup import Telemetry, otlp_signals, setup

ROOT = Path(__file__).resolve().parents[3]


class MetricsOn:
    metrics_enabled = True


class MetricsOff:
    metrics_enabled = False


@pytest.fixture
def clean_otel_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)


@pytest.fixture
def private(clean_otel_env: None) -> Iterator[tuple[Telemetry, CollectorRegistry]]:
    registry = CollectorRegistry()
    telemetry = setup(MetricsOn(), registry=registry, install_global=False)
    yield telemetry, registry
    telemetry.shutdown()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, (False, False)),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, (True, True)),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": " "}, (False, False)),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, (False, True)),
        ({"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://x/v1/metrics"}, (True, False)),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_TRACES_EXPORTER": "none"},
            (True, False),
        ),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_METRICS_EXPORTER": "none"},
            (False, True),
        ),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_SDK_DISABLED": "true"}, (False, False)),
    ],
)
def test_otlp_signals_follow_the_standard_variables(
    env: dict[str, str], expected: tuple[bool, bool]
) -> None:
    assert otlp_signals(env) == expected


def test_prometheus_reader_feeds_the_registry(
    private: tuple[Telemetry, CollectorRegistry],
) -> None:
    telemetry, registry = private
    assert telemetry.prometheus and not telemetry.otlp_metrics and not telemetry.otlp_traces
    assert telemetry.tracer_provider is None
    meter = telemetry.meter_provider.get_meter("tiktok_capi")
    meter.create_counter("tiktok_capi.records.consumed", unit="{record}").add(
        5, {"topic": "cdp-events"}
    )
    text = generate_latest(registry).decode()
    assert 'tiktok_capi_records_consumed_total{topic="cdp-events"} 5.0' in text
    assert 'service_name="tiktok-capi"' in text  # target_info carries the resource
    assert "otel_scope_name" not in text


def test_metrics_disabled_registers_nothing(clean_otel_env: None) -> None:
    registry = CollectorRegistry()
    telemetry = setup(MetricsOff(), registry=registry, install_global=False)
    try:
        telemetry.meter_provider.get_meter("t").create_counter("x").add(1)
        assert generate_latest(registry) == b""
    finally:
        telemetry.shutdown()


def test_otel_sdk_disabled_keeps_the_prometheus_metrics(
    clean_otel_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 12, defect 10: the SDK handed out no-op meters and /metrics lost every series.
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    registry = CollectorRegistry()
    telemetry = setup(MetricsOn(), registry=registry, install_global=False)
    try:
        assert not telemetry.otlp_metrics and not telemetry.otlp_traces
        assert telemetry.tracer_provider is None
        counter = telemetry.meter_provider.get_meter("tiktok_capi").create_counter("tiktok_capi.x")
        counter.add(3)
        assert "tiktok_capi_x_total 3.0" in generate_latest(registry).decode()
        assert os.environ["OTEL_SDK_DISABLED"] == "true"  # left as it was
    finally:
        telemetry.shutdown()


def test_shutdown_unregisters_and_is_idempotent(clean_otel_env: None) -> None:
    registry = CollectorRegistry()
    telemetry = setup(MetricsOn(), registry=registry, install_global=False)
    telemetry.meter_provider.get_meter("t").create_counter("gone").add(1)
    telemetry.shutdown()
    telemetry.shutdown()
    assert b"gone" not in generate_latest(registry)


def test_service_name_and_resource_attributes_from_env(
    clean_otel_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "capi-eu")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=staging")
    telemetry = setup(MetricsOff(), registry=CollectorRegistry(), install_global=False)
    telemetry.shutdown()
    assert telemetry.resource.attributes["service.name"] == "capi-eu"
    assert telemetry.resource.attributes["deployment.environment"] == "staging"


def test_service_name_from_resource_attributes(
    clean_otel_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs")
    telemetry = setup(MetricsOff(), registry=CollectorRegistry(), install_global=False)
    telemetry.shutdown()
    assert telemetry.resource.attributes["service.name"] == "from-attrs"


def test_otlp_exports_metrics_and_spans_to_the_endpoint(
    clean_otel_env: None, monkeypatch: pytest.MonkeyPatch, collector: OtlpCollector
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{collector.server_port}")
    telemetry = setup(MetricsOff(), registry=CollectorRegistry(), install_global=False)
    try:
        assert telemetry.otlp_metrics and telemetry.otlp_traces
        assert telemetry.tracer_provider is not None
        telemetry.meter_provider.get_meter("t").create_counter("tiktok_capi.requests").add(1)
        tracer = telemetry.tracer_provider.get_tracer("t")
        with tracer.start_as_current_span("tiktok.track") as span:
            span.set_attribute("tiktok.batch_size", 3)
    finally:
        telemetry.shutdown()  # flushes both exporters
    assert sorted(set(collector.paths)) == ["/v1/metrics", "/v1/traces"]


# --- the global path, in a subprocess: what Prometheus scrapes from /metrics ---------------

_SCRAPE = """
import httpx
from tiktok_capi.consumer.telemetry import metrics as m
from tiktok_capi.consumer.telemetry.health import HealthServer
from tiktok_capi.consumer.telemetry.health_state import HealthState
from tiktok_capi.consumer.telemetry.setup import setup

class S:
    metrics_enabled = True

telemetry = setup(S())
assert setup(S()) is telemetry
for name in m.__all__:
    inst = getattr(m, name)
    if isinstance(inst, str):
        continue
    attrs = {"topic": "cdp-events", "partition": 0}
    for method in ("add", "record", "set"):
        if hasattr(inst, method):
            getattr(inst, method)(1, attrs)
            break
with HealthServer("127.0.0.1", 0, HealthState(), 60.0, True) as health:
    text = httpx.get(f"http://127.0.0.1:{health.port}/metrics", timeout=10).text
telemetry.shutdown()
print(text)
"""


def _scrape(**otel: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(otel)
    result = subprocess.run(
        [sys.executable, "-c", _SCRAPE],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def exported() -> str:
    return _scrape()


def exported_families(text: str) -> dict[str, str]:
    families = {}
    for line in text.splitlines():
        if line.startswith("# TYPE tiktok_capi"):
            _, _, name, kind = line.split()
            families[name] = kind
    return families


def declared_names() -> list[str]:
    import re

    source = (ROOT / "consumer" / "telemetry" / "metrics.py").read_text()
    return re.findall(r'create_\w+\(\s*"(tiktok_capi\.[\w.]+)"', source)


def test_every_declared_instrument_is_exported(exported: str) -> None:
    families = exported_families(exported)
    assert len(families) == len(declared_names()) > 0
    assert families["tiktok_capi_records_consumed_total"] == "counter"
    assert families["tiktok_capi_request_duration_seconds"] == "histogram"
    assert families["tiktok_capi_destination_state"] == "gauge"
    assert 'tiktok_capi_records_consumed_total{partition="0",topic="cdp-events"} 1.0' in exported


def test_every_instrument_is_exported_with_otel_sdk_disabled(exported: str) -> None:
    disabled = _scrape(OTEL_SDK_DISABLED="true")
    assert exported_families(disabled) == exported_families(exported)


def test_every_metric_is_documented(exported: str) -> None:
    doc = (ROOT / "docs" / "metrics.md").read_text()
    missing = [name for name in declared_names() if f"`{name}`" not in doc]
    missing += [name for name in exported_families(exported) if f"`{name}`" not in doc]
    assert not missing, f"add these to docs/metrics.md: {missing}"


def test_request_latency_buckets_suit_seconds(exported: str) -> None:
    assert 'tiktok_capi_request_duration_seconds_bucket{le="0.05"' in exported
    assert 'tiktok_capi_batch_size_bucket{le="1000.0"' in exported


def test_documented_alerts_parse_and_use_exported_metrics(exported: str) -> None:
    import re

    import yaml

    doc = (ROOT / "docs" / "metrics.md").read_text()
    block = re.search(r"```yaml\n(.*?)```", doc, re.S)
    assert block is not None
    rules = yaml.safe_load(block.group(1))["groups"][0]["rules"]
    families = exported_families(exported)
    for rule in rules:
        for name in re.findall(r"tiktok_capi_\w+", rule["expr"]):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            assert base in families, f"alert {rule['alert']} uses unknown metric {name}"
