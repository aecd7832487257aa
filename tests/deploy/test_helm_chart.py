"""The Helm chart renders (Helm's Go engine), lints strictly and validates for current Kubernetes.

Rendered for the required values and for every ``ci/*.yaml`` (which together turn on every
optional feature). Built-in kinds are validated with kubernetes-validate's strict schemas; the
custom resources (ServiceMonitor, ScaledObject, PrometheusRule) have no schema there and are
checked structurally below and in test_helm_monitoring.py.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml
from kubernetes_validate import utils as kv

from tests.deploy.chart import (
    CHART_DIR,
    CI_VALUES,
    CUSTOM_KINDS,
    KUBE_VERSIONS,
    NAMESPACE,
    Manifest,
    load_values,
    loaded_chart,
    merged,
    of_kind,
    only,
    render,
    render_text,
    required_values,
)
from tiktok_capi.consumer.config.settings import OPTIONS, parse_duration

CI_IDS = [p.stem for p in CI_VALUES]


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with loaded_chart() as loaded:
        yield loaded


@pytest.fixture(scope="module", params=CI_VALUES, ids=CI_IDS)
def case(
    request: pytest.FixtureRequest, chart: helm.Chart
) -> tuple[dict[str, Any], list[Manifest]]:
    values = load_values(request.param)
    return values, render(chart, values)


def _container(manifests: list[Manifest]) -> dict[str, Any]:
    containers = only(manifests, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def _config(manifests: list[Manifest]) -> dict[str, str]:
    maps = [m for m in of_kind(manifests, "ConfigMap") if "KAFKA_BOOTSTRAP_SERVERS" in m["data"]]
    assert len(maps) == 1
    return maps[0]["data"]


def test_ci_values_exist() -> None:
    assert {p.name for p in CI_VALUES} >= {
        "default-values.yaml",
        "keda-values.yaml",
        "hpa-values.yaml",
        "monitoring-values.yaml",
    }


@pytest.mark.parametrize("values_file", CI_VALUES, ids=CI_IDS)
def test_lint_strict_is_clean(values_file: Path) -> None:
    report = helm.lint(CHART_DIR, load_values(values_file), strict=True, kube_version="v1.31.0")
    assert report["errors"] == []
    # severity 2 = warning, 3 = error; strict treats warnings as failures.
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_lint_reports_missing_required_values() -> None:
    report = helm.lint(CHART_DIR, {}, strict=True)
    problems = " ".join(m["error"] for m in report["messages"] if m["severity"] >= 2)
    assert report["errors"] or problems
    assert "partitions" in problems or "partitions" in " ".join(report["errors"])


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_every_manifest_validates(
    case: tuple[dict[str, Any], list[Manifest]], version: str
) -> None:
    _, manifests = case
    for manifest in manifests:
        if (manifest["apiVersion"], manifest["kind"]) in CUSTOM_KINDS:
            with pytest.raises(kv.SchemaNotFoundError):
                kv.validate(manifest, version, strict=True)
            continue
        kv.validate(manifest, version, strict=True)


def test_kube_versions_are_shipped_by_kubernetes_validate() -> None:
    shipped = set(kv.all_versions())
    assert set(KUBE_VERSIONS) <= shipped


def test_optional_features_are_off_by_default(chart: helm.Chart) -> None:
    manifests = render(chart, load_values(CHART_DIR / "ci" / "default-values.yaml"))
    kinds = sorted(m["kind"] for m in manifests)
    assert kinds == ["ConfigMap", "Deployment", "PodDisruptionBudget", "Secret", "ServiceAccount"]


def test_ci_values_turn_on_every_optional_template(chart: helm.Chart) -> None:
    rendered: set[str] = set()
    for path in CI_VALUES:
        rendered |= {
            Path(name).name
            for name, text in render_text(chart, load_values(path)).items()
            if text.strip()
        }
    templates = {p.name for p in (CHART_DIR / "templates").glob("*.yaml")}
    assert templates <= rendered


def _token_ref(values: dict[str, Any], manifests: list[Manifest]) -> dict[str, str]:
    """Secret name and key the token comes from: an env secretKeyRef, or (accessTokenFromFile)
    the Secret volume mounted where TIKTOK_ACCESS_TOKEN_FILE points."""
    container = _container(manifests)
    env = {e["name"]: e for e in container["env"]}
    if not values["tiktok"].get("accessTokenFromFile", True):  # on by default
        assert "TIKTOK_ACCESS_TOKEN_FILE" not in env
        token_env = env["TIKTOK_ACCESS_TOKEN"]
        assert "value" not in token_env
        return dict(token_env["valueFrom"]["secretKeyRef"])
    assert "TIKTOK_ACCESS_TOKEN" not in env
    path = Path(env["TIKTOK_ACCESS_TOKEN_FILE"]["value"])
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == str(path.parent)]
    # No subPath: the kubelet only updates whole-volume mounts when the Secret changes.
    assert "subPath" not in mount and mount["readOnly"] is True
    pod = only(manifests, "Deployment")["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])["secret"]
    (item,) = volume["items"]
    assert item["path"] == path.name
    assert volume["defaultMode"] == 0o440 and pod["securityContext"]["fsGroup"]
    return {"name": volume["secretName"], "key": item["key"]}


def test_access_token_only_in_a_secret(case: tuple[dict[str, Any], list[Manifest]]) -> None:
    values, manifests = case
    ref = _token_ref(values, manifests)
    tiktok = values["tiktok"]
    if tiktok.get("existingSecret"):
        assert ref["name"] == tiktok["existingSecret"]
        assert not [s for s in of_kind(manifests, "Secret") if ref["key"] in s.get("data", {})]
    else:
        secret = only(manifests, "Secret")
        assert ref["name"] == secret["metadata"]["name"]
        assert base64.b64decode(secret["data"][ref["key"]]).decode() == tiktok["accessToken"]


def test_secrets_never_in_a_configmap_or_env_literal(
    case: tuple[dict[str, Any], list[Manifest]],
) -> None:
    values, manifests = case
    secret_envs = {o.env for o in OPTIONS if o.secret}
    literals = [
        v
        for v in (
            values["tiktok"].get("accessToken"),
            values.get("schemaRegistry", {}).get("basicAuthUserInfo"),
        )
        if v
    ]
    for manifest in manifests:
        if manifest["kind"] == "Secret":
            continue
        text = repr(manifest)
        for literal in literals:
            assert literal not in text, f"a secret value appears in {manifest['kind']}"
    for config_map in of_kind(manifests, "ConfigMap"):
        assert not secret_envs & set(config_map["data"])
    for env in _container(manifests)["env"]:
        if env["name"].endswith("_FILE"):
            continue  # a path into a mounted Secret (test_access_token_only_in_a_secret)
        if env["name"] in secret_envs or any(
            w in env["name"] for w in ("TOKEN", "PASSWORD", "SECRET")
        ):
            assert "value" not in env and "secretKeyRef" in env["valueFrom"], env["name"]


def test_configmap_is_valid_connector_configuration(
    case: tuple[dict[str, Any], list[Manifest]],
) -> None:
    """Every key is a variable `tiktok-capi run` knows, and the whole set loads."""
    from tiktok_capi.consumer.config.settings import load_settings

    _, manifests = case
    data = _config(manifests)
    known = {o.env for o in OPTIONS}
    for name in data:
        assert name in known or name.startswith("KAFKA_"), f"{name} is not a tiktok-capi setting"
    settings = load_settings({**data, "TIKTOK_ACCESS_TOKEN": "x"})
    assert settings.process.health_port == _container(manifests)["ports"][0]["containerPort"]


def test_every_setting_reachable_from_the_chart(chart: helm.Chart) -> None:
    """Across the CI values, every connector variable is set somewhere (HEALTH_HOST excepted:
    it must stay 0.0.0.0 for the kubelet's probes)."""
    reached: set[str] = set()
    for path in CI_VALUES:
        manifests = render(chart, load_values(path))
        reached |= set(_config(manifests))
        reached |= {e["name"] for e in _container(manifests)["env"]}
    assert {o.env for o in OPTIONS} - reached == {"HEALTH_HOST"}


def test_kafka_properties_become_kafka_env(chart: helm.Chart) -> None:
    from tiktok_capi.consumer.config.settings import load_settings

    values = load_values(CHART_DIR / "ci" / "keda-values.yaml")
    data = _config(render(chart, values))
    settings = load_settings({**data, "TIKTOK_ACCESS_TOKEN": "x"})
    expected = {k: str(v) for k, v in values["kafka"]["properties"].items()}
    assert dict(settings.kafka.properties) == expected


def test_event_map_is_mounted_and_parses(chart: helm.Chart) -> None:
    import json

    from tiktok_capi.mapping.events import parse_event_map

    manifests = render(chart, load_values(CHART_DIR / "ci" / "keda-values.yaml"))
    event_map = next(m for m in of_kind(manifests, "ConfigMap") if "event-map.json" in m["data"])
    parse_event_map(json.loads(event_map["data"]["event-map.json"]))
    path = _config(manifests)["EVENT_MAP_FILE"]
    mounts = {m["mountPath"]: m["name"] for m in _container(manifests)["volumeMounts"]}
    assert mounts[str(Path(path).parent)] == "event-map"


def test_probes_on_the_health_port(case: tuple[dict[str, Any], list[Manifest]]) -> None:
    _, manifests = case
    container = _container(manifests)
    assert container["ports"] == [
        {
            "name": "health",
            "containerPort": int(_config(manifests)["HEALTH_PORT"]),
            "protocol": "TCP",
        }
    ]
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "health"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    # /livez answers 200 before the loop's first tick, so only /readyz can tell start-up is over.
    assert container["startupProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    assert container["args"] == ["run"]


def test_startup_probe_allows_a_slow_start(case: tuple[dict[str, Any], list[Manifest]]) -> None:
    values, manifests = case
    probe = _container(manifests)["startupProbe"]
    # Group join, topic creation, a slow broker: minutes, not seconds, before a restart.
    assert probe["periodSeconds"] * probe["failureThreshold"] >= 300
    for key, value in values.get("startupProbe", {}).items():
        assert probe[key] == value


def test_no_service_links(case: tuple[dict[str, Any], list[Manifest]]) -> None:
    """Kubernetes would inject KAFKA_PORT=tcp://... for a Service named kafka, which the
    KAFKA_* passthrough hands to librdkafka."""
    _, manifests = case
    assert only(manifests, "Deployment")["spec"]["template"]["spec"]["enableServiceLinks"] is False


def test_security_contexts(case: tuple[dict[str, Any], list[Manifest]]) -> None:
    _, manifests = case
    pod = only(manifests, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    ctx = _container(manifests)["securityContext"]
    assert ctx["runAsNonRoot"] is True
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"] == {"drop": ["ALL"]}
    tmp = next(v for v in pod["volumes"] if v["name"] == "tmp")
    assert "emptyDir" in tmp
    assert {"name": "tmp", "mountPath": "/tmp"} in _container(manifests)["volumeMounts"]
    resources = _container(manifests)["resources"]
    assert resources["requests"]["memory"] and resources["limits"]["memory"]


def test_termination_grace_is_drain_plus_margin(
    case: tuple[dict[str, Any], list[Manifest]],
) -> None:
    values, manifests = case
    pod = only(manifests, "Deployment")["spec"]["template"]["spec"]
    drain = parse_duration(_config(manifests)["SHUTDOWN_GRACE"])
    margin = values.get("terminationGraceMarginSeconds", 10)
    assert margin >= 5
    assert pod["terminationGracePeriodSeconds"] == drain + margin


def test_topology_spread_across_zones_and_nodes_by_default(chart: helm.Chart) -> None:
    manifests = render(chart, required_values())
    pod = only(manifests, "Deployment")["spec"]["template"]
    constraints = pod["spec"]["topologySpreadConstraints"]
    assert [c["topologyKey"] for c in constraints] == [
        "topology.kubernetes.io/zone",
        "kubernetes.io/hostname",
    ]
    for constraint in constraints:
        # A preference: a single-zone cluster still schedules every replica.
        assert constraint["whenUnsatisfiable"] == "ScheduleAnyway"
        assert constraint["maxSkew"] == 1
        selector = constraint["labelSelector"]["matchLabels"]
        assert selector == only(manifests, "Deployment")["spec"]["selector"]["matchLabels"]
        assert selector.items() <= pod["metadata"]["labels"].items()


def test_topology_spread_is_overridable(chart: helm.Chart) -> None:
    keda = only(render(chart, load_values(CHART_DIR / "ci" / "keda-values.yaml")), "Deployment")
    (constraint,) = keda["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert constraint["topologyKey"] == "topology.kubernetes.io/zone"
    hpa = only(render(chart, load_values(CHART_DIR / "ci" / "hpa-values.yaml")), "Deployment")
    assert "topologySpreadConstraints" not in hpa["spec"]["template"]["spec"]


def test_retry_and_dead_letter_topics_private_to_the_group(
    case: tuple[dict[str, Any], list[Manifest]],
) -> None:
    values, manifests = case
    config = _config(manifests)
    own = values.get("config", {})
    prefix = f"{config['SOURCE_TOPIC']}.{config['KAFKA_GROUP_ID']}"
    assert config["RETRY_TOPIC"] == (own.get("RETRY_TOPIC") or f"{prefix}.retry")
    assert config["DLQ_TOPIC"] == (own.get("DLQ_TOPIC") or f"{prefix}.dlq")


def test_two_releases_on_one_topic_share_no_retry_topic(chart: helm.Chart) -> None:
    """A second pixel (or a staging copy) on the same source topic must not consume the first
    one's retry tiers nor dead-letter into its topic."""

    def topics(release: str) -> set[str]:
        out = chart.render(required_values(), name=release, namespace=NAMESPACE, is_install=True)
        text = next(t for path, t in out.items() if path.endswith("/configmap.yaml"))
        data = yaml.safe_load(text)["data"]
        return {data["RETRY_TOPIC"], data["DLQ_TOPIC"]}

    first, second = topics("shop-eu"), topics("shop-us")
    assert len(first) == len(second) == 2 and not first & second


def test_token_from_file_is_on_by_default(chart: helm.Chart) -> None:
    """The connector re-reads TIKTOK_ACCESS_TOKEN_FILE: a rotated Secret needs no restart."""
    manifests = render(chart, required_values())
    env = {e["name"] for e in _container(manifests)["env"]}
    assert "TIKTOK_ACCESS_TOKEN_FILE" in env and "TIKTOK_ACCESS_TOKEN" not in env
    off = render(chart, merged(required_values(), {"tiktok": {"accessTokenFromFile": False}}))
    env = {e["name"] for e in _container(off)["env"]}
    assert "TIKTOK_ACCESS_TOKEN" in env and "TIKTOK_ACCESS_TOKEN_FILE" not in env


def test_replicas_never_above_partitions(case: tuple[dict[str, Any], list[Manifest]]) -> None:
    values, manifests = case
    partitions = values["kafka"]["partitions"]
    deployment = only(manifests, "Deployment")
    autoscalers = of_kind(manifests, "ScaledObject") + of_kind(manifests, "HorizontalPodAutoscaler")
    if autoscalers:
        assert "replicas" not in deployment["spec"]
    else:
        assert deployment["spec"]["replicas"] <= partitions
    for scaled in of_kind(manifests, "ScaledObject"):
        assert scaled["spec"]["maxReplicaCount"] <= partitions
    for hpa in of_kind(manifests, "HorizontalPodAutoscaler"):
        assert hpa["spec"]["maxReplicas"] <= partitions
    assert len(autoscalers) <= 1


def test_pdb_selects_the_pods(case: tuple[dict[str, Any], list[Manifest]]) -> None:
    _, manifests = case
    labels = only(manifests, "Deployment")["spec"]["template"]["metadata"]["labels"]
    selector = only(manifests, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"]
    assert selector.items() <= labels.items()


def test_scaled_object_scales_on_source_topic_lag(chart: helm.Chart) -> None:
    values = load_values(CHART_DIR / "ci" / "keda-values.yaml")
    manifests = render(chart, values)
    scaled = only(manifests, "ScaledObject")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    assert spec["scaleTargetRef"]["name"] == only(manifests, "Deployment")["metadata"]["name"]
    assert spec["maxReplicaCount"] == values["kafka"]["partitions"]
    assert 0 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "kafka"
    config = _config(manifests)
    assert trigger["metadata"]["consumerGroup"] == config["KAFKA_GROUP_ID"]
    assert trigger["metadata"]["topic"] == config["SOURCE_TOPIC"]
    assert trigger["metadata"]["bootstrapServers"] == config["KAFKA_BOOTSTRAP_SERVERS"]
    assert trigger["metadata"]["allowIdleConsumers"] == "false"
    assert all(isinstance(v, str) for v in trigger["metadata"].values())
    assert trigger["authenticationRef"] == {"name": "kafka-sasl-keda"}


def test_service_monitor_scrapes_metrics(chart: helm.Chart) -> None:
    manifests = render(chart, load_values(CHART_DIR / "ci" / "keda-values.yaml"))
    monitor = only(manifests, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    service = only(manifests, "Service")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["namespaceSelector"] == {
        "matchNames": [service["metadata"]["namespace"]]
    }
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == service["spec"]["ports"][0]["name"] == "health"
    assert endpoint["path"] == "/metrics"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_network_policy_allows_health_in_and_listed_ports_out(chart: helm.Chart) -> None:
    manifests = render(chart, load_values(CHART_DIR / "ci" / "keda-values.yaml"))
    policy = only(manifests, "NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert policy["ingress"][0]["ports"] == [{"port": "health", "protocol": "TCP"}]
    egress_ports = {p["port"] for rule in policy["egress"] for p in rule["ports"]}
    assert {53, 9096, 443, 8081} <= egress_ports


def test_config_change_rolls_the_pods(chart: helm.Chart) -> None:
    base = load_values(CHART_DIR / "ci" / "default-values.yaml")
    changed = {**base, "config": {"BATCH_SIZE": "500"}}

    def checksum(values: dict[str, Any]) -> str:
        deployment = only(render(chart, values), "Deployment")
        return str(deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"])

    assert checksum(base) != checksum(changed)
