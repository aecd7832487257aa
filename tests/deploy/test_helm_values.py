"""values.yaml, values.schema.json and the render-time rules, derived from the settings.

The `config` block lists the connector's tuning variables: its keys, defaults and the schema's
descriptions must match `tiktok_capi.consumer.config.settings.OPTIONS`, so the chart cannot drift
from the code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import helm_python as helm
import pytest
import yaml

from tests.deploy.chart import (
    CHART_DIR,
    chart_owned_env,
    loaded_chart,
    merged,
    only,
    render,
    required_values,
)
from tiktok_capi.consumer.config.settings import OPTIONS

VALUES_TEXT = (CHART_DIR / "values.yaml").read_text(encoding="utf-8")
VALUES = yaml.safe_load(VALUES_TEXT)
SCHEMA = json.loads((CHART_DIR / "values.schema.json").read_text(encoding="utf-8"))
BY_ENV = {o.env: o for o in OPTIONS}
# Blocks handed to Kubernetes verbatim: Kubernetes documents their fields.
VERBATIM = {
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "topologySpreadConstraints",
    "resources",
    "podSecurityContext",
    "securityContext",
    "strategy",
}


@pytest.fixture(scope="module", autouse=True)
def quiet_helm() -> Iterator[None]:
    # `fail` messages are logged by the Go side during lint; keep test output clean.
    helm.disable_logging()
    yield


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with loaded_chart() as loaded:
        yield loaded


def test_config_block_lists_every_tuning_option() -> None:
    owned = chart_owned_env()
    assert owned <= set(BY_ENV), (
        "the chart sets a variable tiktok_capi.consumer.config.settings does not know"
    )
    tuning = {o.env for o in OPTIONS if o.env not in owned and not o.env.startswith("KAFKA_")}
    assert set(VALUES["config"]) == tuning
    assert {o.env for o in OPTIONS} == owned | tuning | {
        "KAFKA_BOOTSTRAP_SERVERS",
        "KAFKA_GROUP_ID",
    }


def test_config_defaults_match_the_connector() -> None:
    for name, value in VALUES["config"].items():
        assert value == (BY_ENV[name].default or ""), name


def test_no_secret_in_config_block() -> None:
    assert not {o.env for o in OPTIONS if o.secret} & set(VALUES["config"])


def test_schema_describes_config_as_settings_do() -> None:
    config = SCHEMA["properties"]["config"]
    assert config["additionalProperties"] is False
    assert set(config["properties"]) == set(VALUES["config"])
    for name, prop in config["properties"].items():
        assert prop == {"type": "string", "description": BY_ENV[name].doc}, name


def test_schema_covers_every_top_level_value() -> None:
    assert SCHEMA["additionalProperties"] is False
    assert set(VALUES) <= set(SCHEMA["properties"])


def test_default_values_match_the_schema(chart: helm.Chart) -> None:
    chart.validate_schema(required_values())
    assert chart.values["replicaCount"] == 1


def _keys_without_comment(text: str) -> list[str]:
    """Keys of values.yaml with no comment line right above them (verbatim blocks excepted)."""
    missing: list[str] = []
    parents: list[tuple[int, str]] = []
    previous = ""
    for line in text.splitlines():
        match = re.match(r"^( *)([A-Za-z][\w.-]*):", line)
        if match:
            indent, key = len(match.group(1)), match.group(2)
            while parents and parents[-1][0] >= indent:
                parents.pop()
            inside_verbatim = any(p in VERBATIM for _, p in parents)
            if not previous.lstrip().startswith("#") and not inside_verbatim:
                missing.append(".".join([p for _, p in parents] + [key]))
            parents.append((indent, key))
        if line.strip():
            previous = line
    return missing


def test_every_value_is_commented() -> None:
    assert _keys_without_comment(VALUES_TEXT) == []


def test_image_tag_defaults_to_app_version(chart: helm.Chart) -> None:
    def image(values: dict[str, Any]) -> str:
        deployment = only(render(chart, values), "Deployment")
        return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])

    app_version = chart.metadata["appVersion"]
    assert image(required_values()) == f"tiktok-capi:{app_version}"
    assert image(merged(required_values(), {"image": {"tag": "9.9.9"}})) == "tiktok-capi:9.9.9"


def test_existing_secret_means_no_chart_secret(chart: helm.Chart) -> None:
    values = merged(required_values(), {"tiktok": {"accessToken": "", "existingSecret": "tok"}})
    manifests = render(chart, values)
    assert [m for m in manifests if m["kind"] == "Secret"] == []


def test_group_id_defaults_to_release_full_name(chart: helm.Chart) -> None:
    manifests = render(chart, required_values())
    config = next(m for m in manifests if m["kind"] == "ConfigMap")["data"]
    assert config["KAFKA_GROUP_ID"] == only(manifests, "Deployment")["metadata"]["name"]


# Each override of the required values must be refused, with a message naming the problem.
REFUSED = {
    "replicas-above-partitions": ({"replicaCount": 7}, "must not exceed kafka.partitions"),
    "keda-max-above-partitions": (
        {"autoscaling": {"keda": {"enabled": True, "maxReplicaCount": 7}}},
        "maxReplicaCount (7) must not exceed kafka.partitions (6)",
    ),
    "hpa-max-above-partitions": (
        {"autoscaling": {"hpa": {"enabled": True, "maxReplicas": 8}}},
        "maxReplicas (8) must not exceed kafka.partitions (6)",
    ),
    "keda-and-hpa": (
        {"autoscaling": {"keda": {"enabled": True}, "hpa": {"enabled": True}}},
        "mutually exclusive",
    ),
    "termination-margin-too-small": (
        {"terminationGraceMarginSeconds": 4},
        "terminationGraceMarginSeconds",
    ),
    # Replaced by the margin: terminationGracePeriodSeconds is derived from the drain now.
    "termination-set-directly": (
        {"terminationGracePeriodSeconds": 40},
        "terminationGracePeriodSeconds",
    ),
    "no-token": ({"tiktok": {"accessToken": ""}}, "access token is required"),
    "token-twice": ({"tiktok": {"existingSecret": "s"}}, "not both"),
    "token-in-config": ({"config": {"TIKTOK_ACCESS_TOKEN": "t"}}, "TIKTOK_ACCESS_TOKEN"),
    "owned-in-config": ({"config": {"SHUTDOWN_GRACE": "5s"}}, "SHUTDOWN_GRACE"),
    "kafka-in-config": ({"config": {"KAFKA_SASL_USERNAME": "u"}}, "KAFKA_SASL_USERNAME"),
    "unknown-config": ({"config": {"BATCH_SIZ": "10"}}, "BATCH_SIZ"),
    "password-property": ({"kafka": {"properties": {"sasl.password": "p"}}}, "looks secret"),
    "jaas-property": ({"kafka": {"properties": {"sasl.jaas.config": "x"}}}, "looks secret"),
    "reserved-property": ({"kafka": {"properties": {"enable.auto.commit": "true"}}}, "managed by"),
    "literal-secret-env": (
        {"extraEnv": [{"name": "KAFKA_SASL_PASSWORD", "value": "p"}]},
        "secretKeyRef",
    ),
    "no-partitions": ({"kafka": {"partitions": None}}, "partitions"),
    "zero-partitions": ({"kafka": {"partitions": 0}}, "partitions"),
    "service-monitor-without-metrics": (
        {"metrics": {"enabled": False, "serviceMonitor": {"enabled": True}}},
        "metrics.enabled",
    ),
    "rule-without-metrics": (
        {"metrics": {"enabled": False, "prometheusRule": {"enabled": True, "selector": 'job="x"'}}},
        "metrics.prometheusRule.enabled needs metrics.enabled",
    ),
    "dashboard-without-metrics": (
        {"metrics": {"enabled": False, "grafanaDashboard": {"enabled": True}}},
        "metrics.grafanaDashboard.enabled needs metrics.enabled",
    ),
    # The default selector matches the metrics Service's series: without one, alerts never fire.
    "rule-selecting-nothing": (
        {"metrics": {"prometheusRule": {"enabled": True}}},
        "set metrics.prometheusRule.selector",
    ),
    "alert-duration": (
        {"metrics": {"prometheusRule": {"alerts": {"lagGrowing": {"for": "15 minutes"}}}}},
        "for",
    ),
    "token-file-without-fs-group": (
        {"tiktok": {"accessTokenFromFile": True}, "podSecurityContext": {"fsGroup": None}},
        "fsGroup",
    ),
    "token-file-in-config": (
        {"config": {"TIKTOK_ACCESS_TOKEN_FILE": "/t"}},
        "TIKTOK_ACCESS_TOKEN_FILE",
    ),
    "group-id-not-a-topic-name": (
        {"kafka": {"groupId": "tiktok capi/shop"}},
        "not a valid Kafka topic name",
    ),
}


@pytest.mark.parametrize("override,message", REFUSED.values(), ids=REFUSED.keys())
def test_render_refuses(chart: helm.Chart, override: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmError) as excinfo:
        render(chart, merged(required_values(), override))
    assert message in str(excinfo.value)


def test_replicas_equal_to_partitions_render(chart: helm.Chart) -> None:
    manifests = render(chart, merged(required_values(), {"replicaCount": 6}))
    assert only(manifests, "Deployment")["spec"]["replicas"] == 6


def test_values_example_in_operations_guide_renders(chart: helm.Chart) -> None:
    from tests.deploy.chart import ROOT

    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    examples = [yaml.safe_load(b) for b in blocks if b.lstrip().startswith("# values")]
    assert examples, "docs/operations.md lost its values example"
    for example in examples:
        manifests = render(chart, example)
        deployment = only(manifests, "Deployment")
        assert deployment["spec"]["replicas"] <= example["kafka"]["partitions"]
