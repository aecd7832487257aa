"""Telemetry: metrics, traces, logs and the health port, beside the flow.

``metrics`` declares every instrument once; ``setup`` wires the OpenTelemetry SDK to Prometheus
and OTLP; ``tracing`` links delivery spans to the records they carry; ``logs`` formats and
redacts log lines; ``health`` serves /livez, /readyz and /metrics from ``health_state``;
``stats`` keeps the counters of ``Connector.stats()``.
"""

__all__ = ["health", "health_state", "logs", "metrics", "setup", "stats", "tracing"]
