"""The chart's monitoring objects: the PrometheusRule and the Grafana dashboard ConfigMap.

Both are off by default and turned on by ``ci/monitoring-values.yaml`` (ServiceMonitor scraping,
the default selector) and ``ci/hpa-values.yaml`` (annotation scraping, a custom selector, some
alerts off). Alerts and panels may only query metrics that exist today: those listed in the
metric reference of docs/metrics.md, which tests/consumer/test_telemetry.py keeps equal to what
the connector exports.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import helm_python as helm
import jsonschema
import pytest
import yaml

from tests.deploy.chart import (
    CHART_DIR,
    NAMESPACE,
    ROOT,
    Manifest,
    documented_metrics,
    load_values,
    loaded_chart,
    merged,
    of_kind,
    only,
    queried_metrics,
    render,
    required_values,
)

MONITORING = CHART_DIR / "ci" / "monitoring-values.yaml"
HPA = CHART_DIR / "ci" / "hpa-values.yaml"
DASHBOARD_FILE = CHART_DIR / "dashboards" / "tiktok-capi.json"
ALERTS = {
    "destinationPaused": "TikTokDestinationPaused",
    "deadLetterRate": "TikTokDeadLetterRate",
    "lagGrowing": "TikTokConsumerLagGrowing",
    "noDeliveries": "TikTokNoDeliveries",
    "requestErrors": "TikTokRequestErrors",
    "slowRequests": "TikTokSlowRequests",
    "rebalanceStorm": "TikTokRebalanceStorm",
}
DURATION = (
    r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
)
STRINGS = {"type": "object", "additionalProperties": {"type": "string"}}
# spec of monitoring.coreos.com/v1 PrometheusRule, after the openAPIV3Schema of the Prometheus
# Operator's CRD (monitoring.coreos.com_prometheusrules.yaml, v0.82), stricter in one way: the
# API server prunes unknown fields silently, this refuses them so a typo cannot vanish.
RULE_SPEC_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "groups": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "interval": {"type": "string", "pattern": DURATION},
                    "labels": STRINGS,
                    "limit": {"type": "integer"},
                    "rules": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["expr"],
                            "properties": {
                                "alert": {"type": "string"},
                                "record": {"type": "string"},
                                "expr": {"type": ["string", "integer"]},
                                "for": {"type": "string", "pattern": DURATION},
                                "keep_firing_for": {"type": "string", "pattern": DURATION},
                                "labels": STRINGS,
                                "annotations": STRINGS,
                            },
                        },
                    },
                },
            },
        }
    },
}


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with loaded_chart() as loaded:
        yield loaded


def _rules(manifests: list[Manifest]) -> dict[str, dict[str, Any]]:
    rule = only(manifests, "PrometheusRule")
    (group,) = rule["spec"]["groups"]
    return {r["alert"]: r for r in group["rules"]}


def _dashboard(manifests: list[Manifest]) -> tuple[Manifest, dict[str, Any]]:
    maps = [
        m for m in of_kind(manifests, "ConfigMap") if m["metadata"]["name"].endswith("-dashboard")
    ]
    assert len(maps) == 1
    ((key, text),) = maps[0]["data"].items()
    assert key.endswith(".json")
    return maps[0], json.loads(text)


def _exprs(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in dashboard["panels"] for t in p["targets"]]


# ------------------------------------------------------------------------- PrometheusRule


def test_rule_matches_the_crd_schema(chart: helm.Chart) -> None:
    for path in (MONITORING, HPA):
        rule = only(render(chart, load_values(path)), "PrometheusRule")
        assert rule["apiVersion"] == "monitoring.coreos.com/v1"
        jsonschema.validate(rule["spec"], RULE_SPEC_SCHEMA)


def test_rule_has_every_alert_of_the_metrics_guide(chart: helm.Chart) -> None:
    values = load_values(MONITORING)
    manifests = render(chart, values)
    rules = _rules(manifests)
    assert set(rules) == set(ALERTS.values())
    rule = only(manifests, "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert rule["metadata"]["namespace"] == NAMESPACE
    for alert in rules.values():
        assert alert["labels"]["severity"] in {"critical", "warning"}
        assert alert["labels"]["team"] == "data-platform"
        assert (
            alert["annotations"]["runbook_url"] == values["metrics"]["prometheusRule"]["runbookUrl"]
        )
        assert alert["annotations"]["summary"] and alert["annotations"]["description"]


def test_alerts_query_only_documented_metrics(chart: helm.Chart) -> None:
    documented = documented_metrics()
    assert len(documented) >= 18, "docs/metrics.md lost its metric reference"
    for path in (MONITORING, HPA):
        for name, alert in _rules(render(chart, load_values(path))).items():
            used = queried_metrics(alert["expr"])
            assert used, name
            assert used <= documented, f"{name} queries undocumented {used - documented}"


def test_alerts_select_only_this_release(chart: helm.Chart) -> None:
    """Every metric selector names the release's namespace and metrics Service (the default),
    or the user's selector: two releases never alert on each other's series."""
    manifests = render(chart, load_values(MONITORING))
    service = only(manifests, "Service")["metadata"]["name"]
    default = f'namespace="{NAMESPACE}", service="{service}"'
    custom = load_values(HPA)["metrics"]["prometheusRule"]["selector"]
    for rules, selector in (
        (_rules(manifests), default),
        (_rules(render(chart, load_values(HPA))), custom),
    ):
        for name, alert in rules.items():
            selectors = re.findall(r"tiktok_capi_\w+\{([^}]*)\}", alert["expr"])
            assert selectors and len(selectors) == len(
                re.findall(r"tiktok_capi_\w+", alert["expr"])
            )
            assert all(s.startswith(selector) for s in selectors), name


def test_alert_thresholds_and_durations_come_from_values(chart: helm.Chart) -> None:
    rules = _rules(render(chart, load_values(MONITORING)))
    dead = rules["TikTokDeadLetterRate"]
    assert dead["expr"].rstrip().endswith("> 0.5") and dead["for"] == "5m"
    assert "[5m]" in dead["expr"]
    lag = rules["TikTokConsumerLagGrowing"]
    assert "> 250000" in lag["expr"] and "[30m]" in lag["expr"] and lag["for"] == "15m"
    slow = rules["TikTokSlowRequests"]
    assert "histogram_quantile(0.95," in slow["expr"] and slow["expr"].rstrip().endswith("> 2.5")
    assert rules["TikTokRequestErrors"]["expr"].rstrip().endswith("> 0.05")
    assert rules["TikTokDestinationPaused"]["labels"]["severity"] == "critical"


def test_lag_alert_watches_the_source_topic_only(chart: helm.Chart) -> None:
    """Retry tiers hold records back on purpose: their lag is not work to catch up on."""
    values = load_values(MONITORING)
    lag = _rules(render(chart, values))["TikTokConsumerLagGrowing"]["expr"]
    source = values["kafka"]["sourceTopic"]
    assert lag.count(f'topic="{source}"') == 2


def test_alerts_can_be_turned_off(chart: helm.Chart) -> None:
    rules = _rules(render(chart, load_values(HPA)))
    assert set(rules) == set(ALERTS.values()) - {"TikTokNoDeliveries", "TikTokSlowRequests"}


def test_alert_values_cover_every_alert() -> None:
    defaults = yaml.safe_load((CHART_DIR / "values.yaml").read_text(encoding="utf-8"))
    alerts = defaults["metrics"]["prometheusRule"]["alerts"]
    assert set(alerts) == set(ALERTS)
    assert all(a["enabled"] is True for a in alerts.values())
    assert defaults["metrics"]["prometheusRule"]["enabled"] is False


def test_prometheus_templates_survive_helm(chart: helm.Chart) -> None:
    """`{{ $labels.x }}` reaches Prometheus as written: Helm must not have evaluated it."""
    rules = _rules(render(chart, load_values(MONITORING)))
    summary = rules["TikTokDestinationPaused"]["annotations"]["summary"]
    assert "{{ $labels.pod }}" in summary and "{{ $labels.state }}" in summary


def test_every_promql_expression_parses(chart: helm.Chart) -> None:
    parser = pytest.importorskip(
        "promql_parser", reason="add promql-parser to the dev extras to parse the expressions"
    )
    exprs = [
        a["expr"]
        for path in (MONITORING, HPA)
        for a in _rules(render(chart, load_values(path))).values()
    ]
    _, dashboard = _dashboard(render(chart, load_values(MONITORING)))
    # Grafana replaces its variables before the query reaches Prometheus.
    for expr in _exprs(dashboard):
        exprs.append(expr.replace("$__rate_interval", "5m").replace("$", ""))
    for expr in exprs:
        parser.parse(expr)


# ---------------------------------------------------------------------- Grafana dashboard


def test_dashboard_file_is_valid_json() -> None:
    dashboard = json.loads(DASHBOARD_FILE.read_text(encoding="utf-8"))
    assert dashboard["panels"] and dashboard["templating"]["list"]
    assert isinstance(dashboard["schemaVersion"], int)


def test_dashboard_queries_only_documented_metrics() -> None:
    dashboard = json.loads(DASHBOARD_FILE.read_text(encoding="utf-8"))
    documented = documented_metrics()
    queries = _exprs(dashboard) + [
        v["query"]["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"
    ]
    for query in queries:
        used = queried_metrics(query)
        assert used and used <= documented, f"{query} queries undocumented {used - documented}"


def test_dashboard_shows_what_an_operator_looks_for() -> None:
    dashboard = json.loads(DASHBOARD_FILE.read_text(encoding="utf-8"))
    used = set().union(*(queried_metrics(e) for e in _exprs(dashboard)))
    assert used >= {
        # throughput
        "tiktok_capi_records_consumed_total",
        "tiktok_capi_events_delivered_total",
        "tiktok_capi_events_skipped_total",
        "tiktok_capi_events_retried_total",
        "tiktok_capi_events_dead_lettered_total",
        # lag, errors by code, latency, destination, in flight
        "tiktok_capi_consumer_lag",
        "tiktok_capi_requests_total",
        "tiktok_capi_request_duration_seconds",
        "tiktok_capi_destination_state",
        "tiktok_capi_in_flight_events",
        "tiktok_capi_in_flight_requests",
    }
    exprs = "\n".join(_exprs(dashboard))
    assert "sum by (outcome, code) (rate(tiktok_capi_requests_total" in exprs
    assert "sum by (tier, error_class) (rate(tiktok_capi_events_retried_total" in exprs
    assert "histogram_quantile(0.99" in exprs


def test_dashboard_panels_are_well_formed() -> None:
    dashboard = json.loads(DASHBOARD_FILE.read_text(encoding="utf-8"))
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert variables == {"datasource", "namespace", "service", "pod"}
    for panel in dashboard["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"}
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs))
        for target in panel["targets"]:
            # Every query is scoped by the variables, so one release's panels show one release.
            assert 'namespace="$namespace", service="$service", pod=~"$pod"' in target["expr"]


def test_dashboard_configmap_for_the_sidecar(chart: helm.Chart) -> None:
    values = load_values(MONITORING)
    manifests = render(chart, values)
    config_map, dashboard = _dashboard(manifests)
    board = values["metrics"]["grafanaDashboard"]
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["namespace"] == board["namespace"]
    assert config_map["metadata"]["annotations"] == {"grafana_folder": board["folder"]}
    assert 8 <= len(dashboard["uid"]) <= 40
    # Its variables open on this release.
    current = {v["name"]: v["current"] for v in dashboard["templating"]["list"]}
    service = only(manifests, "Service")["metadata"]["name"]
    assert current["namespace"]["value"] == NAMESPACE
    assert current["service"]["value"] == service
    # Otherwise it is the chart's file as written.
    shipped = json.loads(DASHBOARD_FILE.read_text(encoding="utf-8"))
    assert dashboard["panels"] == shipped["panels"]


def test_dashboard_label_and_folder_are_configurable(chart: helm.Chart) -> None:
    values = merged(
        load_values(MONITORING),
        {
            "metrics": {
                "grafanaDashboard": {
                    "label": "dashboards",
                    "labelValue": "tiktok",
                    "folder": "",
                    "namespace": "",
                }
            }
        },
    )
    config_map, _ = _dashboard(render(chart, values))
    assert config_map["metadata"]["labels"]["dashboards"] == "tiktok"
    assert "grafana_dashboard" not in config_map["metadata"]["labels"]
    assert "annotations" not in config_map["metadata"]
    assert config_map["metadata"]["namespace"] == NAMESPACE


def test_dashboards_of_two_releases_never_collide(chart: helm.Chart) -> None:
    """The sidecar writes every key into one folder and Grafana keys dashboards by uid: two
    releases (or one release name in two namespaces) need distinct keys, uids and titles."""
    values = load_values(MONITORING)
    seen: set[tuple[str, str, str]] = set()
    for name, namespace in (("shop", "streaming"), ("brand", "streaming"), ("shop", "staging")):
        out = chart.render(values, name=name, namespace=namespace, is_install=True)
        text = next(t for path, t in out.items() if path.endswith("grafana-dashboard.yaml"))
        config_map = yaml.safe_load(text)
        ((key, body),) = config_map["data"].items()
        dashboard = json.loads(body)
        seen.add((key, dashboard["uid"], dashboard["title"]))
    assert len({s[0] for s in seen}) == len({s[1] for s in seen}) == len({s[2] for s in seen}) == 3


def test_dashboard_and_rule_are_off_by_default(chart: helm.Chart) -> None:
    manifests = render(chart, required_values())
    assert of_kind(manifests, "PrometheusRule") == []
    assert not [
        m for m in of_kind(manifests, "ConfigMap") if m["metadata"]["name"].endswith("-dashboard")
    ]


def test_metrics_guide_lists_the_charts_alerts(chart: helm.Chart) -> None:
    """docs/metrics.md names the chart's alerts and quotes its first rule as rendered; the
    chart owns the expressions, the guide must not drift from them."""
    text = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    values = merged(
        required_values(),
        {"metrics": {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True}}},
    )
    rule = only(render(chart, values), "PrometheusRule")
    (group,) = rule["spec"]["groups"]
    listed = set(re.findall(r"^\| `(TikTok\w+)` \|", text, re.M))
    assert listed == {r["alert"] for r in group["rules"]} == set(ALERTS.values())
    block = re.search(r"```yaml\n(.*?)```", text, re.S)
    assert block is not None
    (example_group,) = yaml.safe_load(block.group(1))["groups"]
    assert example_group["name"] == group["name"]
    (example,) = example_group["rules"]
    first = group["rules"][0]
    assert example["alert"] == first["alert"]
    assert example["expr"] == first["expr"]
    assert example["for"] == first["for"]
    assert example["labels"].items() <= first["labels"].items()
