"""Render and lint the Helm chart with Helm's own Go engine (helm-python-sdk, no helm binary).

Everything here is offline: no cluster, no network. Helpers return parsed manifests so tests
can assert on them as data.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = ROOT / "helm" / "tiktok-capi"
CI_VALUES = sorted((CHART_DIR / "ci").glob("*.yaml"))
RELEASE = "shop"
NAMESPACE = "streaming"

# Kubernetes versions the rendered manifests are validated against: the oldest still in
# upstream support when the chart was written, and the newest kubernetes-validate ships.
KUBE_VERSIONS = ("1.31.0", "1.37.0")

# Custom resources have no schema in kubernetes-validate; tests check them structurally.
CUSTOM_KINDS = frozenset(
    {
        ("monitoring.coreos.com/v1", "ServiceMonitor"),
        ("monitoring.coreos.com/v1", "PrometheusRule"),
        ("keda.sh/v1alpha1", "ScaledObject"),
    }
)

Manifest = dict[str, Any]


def load_values(path: Path) -> dict[str, Any]:
    """A values file as a dict (what `helm -f FILE` passes)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def required_values() -> dict[str, Any]:
    """The smallest values that render: ci/default-values.yaml."""
    return load_values(CHART_DIR / "ci" / "default-values.yaml")


@contextmanager
def loaded_chart() -> Iterator[helm.Chart]:
    """The chart loaded by Helm; closed on exit."""
    chart = helm.Chart.load(CHART_DIR)
    try:
        yield chart
    finally:
        chart.close()


def render_text(chart: helm.Chart, values: dict[str, Any]) -> dict[str, str]:
    """Template path -> rendered text, as `helm template` would write (NOTES.txt excluded)."""
    out = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    return {path: text for path, text in out.items() if not path.endswith("NOTES.txt")}


def render(chart: helm.Chart, values: dict[str, Any]) -> list[Manifest]:
    """Every rendered Kubernetes object, parsed."""
    manifests: list[Manifest] = []
    for text in render_text(chart, values).values():
        manifests.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return manifests


def only(manifests: list[Manifest], kind: str) -> Manifest:
    """The single object of ``kind``."""
    found = [m for m in manifests if m["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    """Every object of ``kind``."""
    return [m for m in manifests if m["kind"] == kind]


def merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``base`` deep-merged with ``override`` (override wins), like Helm's value coalescing."""
    result = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


def chart_owned_env() -> frozenset[str]:
    """Environment variables the chart sets from dedicated values (parsed from _validate.tpl)."""
    text = (CHART_DIR / "templates" / "_validate.tpl").read_text(encoding="utf-8")
    match = re.search(r"\$owned := list ((?:\"[A-Z_]+\" ?)+)", text)
    assert match is not None, "_validate.tpl lost its $owned list"
    return frozenset(re.findall(r"\"([A-Z_]+)\"", match.group(1)))


def documented_metrics() -> frozenset[str]:
    """Prometheus names of the metric reference tables in docs/metrics.md (what exists today)."""
    text = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    return frozenset(re.findall(r"^\| `(tiktok_capi_\w+)` \|", text, re.M))


def queried_metrics(promql: str) -> set[str]:
    """tiktok_capi metrics a PromQL expression reads; histogram series by their family name
    (no documented metric itself ends in _bucket, _sum or _count)."""
    return {
        re.sub(r"_(bucket|sum|count)$", "", n) for n in re.findall(r"\btiktok_capi_\w+", promql)
    }
