"""docs/configuration.md, generated from the declarations (a test keeps the file in step).

python -m tiktok_capi.consumer.config.reference > docs/configuration.md
"""

from __future__ import annotations

import sys
from typing import Final

from tiktok_capi.consumer.config.kafka import CONSUMER_DEFAULTS, PRODUCER_DEFAULTS
from tiktok_capi.consumer.config.settings import OPTIONS

__all__ = ["render_reference"]

_TITLES: Final = {
    "kafka": "Kafka: cluster, group, topics, retry tiers",
    "inputs": "Inputs: value formats, a pinned schema, the Schema Registry",
    "tiktok": "TikTok: the destination",
    "mapping": "Mapping: what is sent",
    "process": "Process: workers, memory, health, logs",
}

_STANDARD: Final = (
    (
        "`OTEL_SERVICE_NAME`",
        "`tiktok-capi`",
        "Service name of metrics and traces (OpenTelemetry resource).",
    ),
    (
        "`OTEL_RESOURCE_ATTRIBUTES`",
        "—",
        "Extra resource attributes, `key=value,...` (e.g. `deployment.environment=prod`).",
    ),
    (
        "`OTEL_EXPORTER_OTLP_ENDPOINT`",
        "—",
        "When set, metrics and traces are also exported over OTLP/HTTP to this collector "
        "(e.g. `http://otel-collector:4318`); `OTEL_EXPORTER_OTLP_{METRICS,TRACES}_ENDPOINT` "
        "for one signal only, `OTEL_EXPORTER_OTLP_HEADERS` and `OTEL_EXPORTER_OTLP_TIMEOUT` as "
        "the OpenTelemetry specification defines them.",
    ),
    (
        "`OTEL_METRIC_EXPORT_INTERVAL`",
        "`60000`",
        "Milliseconds between two OTLP metric exports.",
    ),
    (
        "`OTEL_BSP_*`",
        "SDK defaults",
        "The batch span processor's queue and delay (`OTEL_BSP_SCHEDULE_DELAY`, ...).",
    ),
    (
        "`OTEL_METRICS_EXPORTER` / `OTEL_TRACES_EXPORTER`",
        "`otlp`",
        "`none` switches one OTLP signal off.",
    ),
    (
        "`OTEL_SDK_DISABLED`",
        "`false`",
        "`true`: no OTLP export at all (the Prometheus `/metrics` port is governed by "
        "`METRICS_ENABLED` alone).",
    ),
    (
        "`HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY`",
        "—",
        "Proxy for requests to TikTok (and the Schema Registry), read by httpx; `NO_PROXY` lists "
        "hosts reached directly.",
    ),
    (
        "`SSL_CERT_FILE` / `SSL_CERT_DIR`",
        "system CAs",
        "CA bundle for verifying TikTok's (or a proxy's) TLS certificate.",
    ),
)


def render_reference() -> str:
    """The configuration reference as Markdown (the body of docs/configuration.md)."""
    lines = [
        "# Configuration reference",
        "",
        "`tiktok-capi run` is configured by environment variables, validated at start-up: a "
        "missing or bad value stops the process with exit status 2 and one line per problem, "
        "each naming its variable. Generated from the declarations in "
        "`consumer/config/settings.py` by `python -m tiktok_capi.consumer.config.reference`; do "
        "not edit by hand.",
    ]
    section = ""
    for option in OPTIONS:
        if option.section != section:
            section = option.section
            lines += [
                "",
                f"## {_TITLES[section]}",
                "",
                "| variable | default | meaning |",
                "|---|---|---|",
            ]
        default = (
            "**required**"
            if option.required
            else (f"`{option.default}`" if option.default else "—")
        )
        lines.append(f"| `{option.env}` | {default} | {option.doc} |")
    lines += [
        "",
        "## librdkafka properties",
        "",
        "Any librdkafka property can be passed as `KAFKA_<PROPERTY>`, upper-cased with dots "
        "written as underscores: `KAFKA_SESSION_TIMEOUT_MS=6000` sets `session.timeout.ms`, "
        "`KAFKA_SECURITY_PROTOCOL=SASL_SSL`, `KAFKA_SASL_MECHANISM=SCRAM-SHA-512`, "
        "`KAFKA_SASL_USERNAME`, `KAFKA_SASL_PASSWORD`, `KAFKA_SSL_CA_LOCATION`, ... "
        "They apply to the consumer, the producer (retry and dead-letter topics) and the admin "
        "client. Values of keys that look secret (password, secret, token, key) are never "
        "logged. `enable.auto.commit`, `enable.auto.offset.store`, `group.id` and "
        "`bootstrap.servers` are managed by tiktok-capi, and the producer always writes with "
        "`acks=all` and `enable.idempotence=true`.",
        "",
        "Each `KAFKA_*` variable is checked at start-up against the librdkafka the process links "
        "(its own property table, so always the running version's): a property librdkafka does "
        "not have, or a value it refuses, is a configuration error naming the variable (exit "
        "status 2, before anything connects). Variables shaped like Kubernetes service links "
        "are not properties and are ignored: for a Service named `kafka` (or `kafka-headless`, "
        "...) in the namespace, Kubernetes injects `KAFKA_SERVICE_HOST`, `KAFKA_SERVICE_PORT`, "
        "`KAFKA_SERVICE_PORT_<PORT NAME>`, `KAFKA_PORT=tcp://10.96.0.12:9092` and "
        "`KAFKA_PORT_<N>_<TCP|UDP|SCTP>[_PROTO|_PORT|_ADDR]`; no librdkafka property has those "
        "shapes (`*.port`, `*.service.host`, `*.service.port`). The Helm chart also turns "
        "service links off (`enableServiceLinks: false`).",
        "",
        "Defaults tiktok-capi sets where librdkafka's do not suit it (any `KAFKA_*` variable "
        "overrides them; the reasons are in `consumer/config/kafka.py`):",
        "",
        "| client | property | tiktok-capi default |",
        "|---|---|---|",
    ]
    for client, defaults in (("consumer", CONSUMER_DEFAULTS), ("producer", PRODUCER_DEFAULTS)):
        lines += [f"| {client} | `{key}` | `{value}` |" for key, value in defaults.items()]
    lines += [
        "",
        "## Standard variables",
        "",
        "Read by the libraries tiktok-capi uses, as their own documentation defines them "
        "(metrics and traces: docs/metrics.md).",
        "",
        "| variable | default | meaning |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {default} | {doc} |" for name, default, doc in _STANDARD]
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(render_reference())
