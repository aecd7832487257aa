"""The Dockerfile, checked statically (no Docker engine): multi-stage, pinned, non-root,
read-only friendly, `tiktok-capi run` as entrypoint, health port exposed."""

from __future__ import annotations

import re

import pytest

from tests.deploy.chart import ROOT
from tests.deploy.dockerfile_lint import lint, parse
from tiktok_capi.consumer.config.settings import OPTIONS

DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
INSTRUCTIONS = parse(DOCKERFILE)
FINAL = [i for i in INSTRUCTIONS if i.stage == INSTRUCTIONS[-1].stage]


def _last(keyword: str) -> str:
    return [i for i in FINAL if i.keyword == keyword][-1].args


def test_dockerfile_passes_every_rule() -> None:
    assert lint(DOCKERFILE) == []


def test_entrypoint_is_the_cli_running_the_connector() -> None:
    entry = [i for i in FINAL if i.keyword == "ENTRYPOINT"][-1].exec_form()
    cmd = [i for i in FINAL if i.keyword == "CMD"][-1].exec_form()
    assert entry == ["tiktok-capi"]
    assert cmd == ["run"]


def test_runs_as_uid_10001_matching_the_chart() -> None:
    assert _last("USER") == "10001:10001"


def test_exposes_the_default_health_port() -> None:
    default = next(o.default for o in OPTIONS if o.env == "HEALTH_PORT")
    assert default in _last("EXPOSE").split()


def test_read_only_root_friendly_environment() -> None:
    env = " ".join(i.args for i in FINAL if i.keyword == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "HOME=/tmp" in env
    assert _last("WORKDIR") == "/tmp"


def test_python_311_slim_base() -> None:
    arg = next(i.args for i in INSTRUCTIONS if i.keyword == "ARG" and "PYTHON_IMAGE" in i.args)
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11\.\d+-slim(-\w+)?", arg)


def test_builds_every_package_from_pyproject() -> None:
    copied = {i.args.split()[0].rstrip("/") for i in INSTRUCTIONS if i.keyword == "COPY"}
    assert {"mapping", "consumer", "emulator", "schemas"} <= copied
    dockerignore = (ROOT / ".dockerignore").read_text(encoding="utf-8")
    for needed in ("pyproject.toml", "README.md", "mapping/", "consumer/", "emulator/", "schemas/"):
        assert f"!{needed}" in dockerignore
    # The in-tree PEP 517 backend (pyproject's backend-path) and setup.py build the wheel.
    assert {"setup.py", "build_backend"} <= {
        word.rstrip("/") for i in INSTRUCTIONS if i.keyword == "COPY" for word in i.args.split()
    }
    assert "!setup.py" in dockerignore and "!build_backend/" in dockerignore


def test_builder_compiles_mapping_and_runtime_has_no_compiler() -> None:
    builder = [i for i in INSTRUCTIONS if i.stage != INSTRUCTIONS[-1].stage]
    assert any(i.keyword == "ARG" and i.args == "TIKTOK_CAPI_MYPYC=1" for i in builder)
    runs = " ".join(i.args for i in builder if i.keyword == "RUN")
    assert "apt-get install" in runs and re.search(r"\bgcc\b", runs) and "libc6-dev" in runs
    assert "pip wheel" in runs and "mapping.compiled()" in runs
    final = " ".join(i.args for i in FINAL if i.keyword in ("RUN", "ENV", "ARG"))
    assert "gcc" not in final and "apt-get install" not in final
    assert "TIKTOK_CAPI_MYPYC" not in final  # nothing compiles at run time


def test_healthcheck_probes_livez() -> None:
    health = [i for i in FINAL if i.keyword == "HEALTHCHECK"][-1]
    assert "/livez" in " ".join(health.exec_form() or [])


GOOD = """\
ARG BASE=python:3.11.9-slim
FROM ${BASE} AS build
RUN pip install --no-cache-dir x
FROM ${BASE}
LABEL org.opencontainers.image.title=x
ENV PYTHONDONTWRITEBYTECODE=1
COPY --from=build /opt /opt
WORKDIR /app
USER 10001
EXPOSE 8080
ENTRYPOINT ["tiktok-capi"]
CMD ["run"]
"""

# Each mutation of GOOD must trigger exactly the named rule.
BAD = {
    "DL3007": GOOD.replace("3.11.9-slim", "latest"),
    "DL3002": GOOD.replace("USER 10001", "USER root"),
    "entrypoint": GOOD.replace('CMD ["run"]', "CMD run"),
    "expose": GOOD.replace("EXPOSE 8080", "EXPOSE 9000"),
    "DL3020": GOOD.replace("WORKDIR /app", "WORKDIR /app\nADD https://example.com/x.tgz /x"),
    "secret-env": GOOD.replace("ENV PYTHON", "ENV TIKTOK_ACCESS_TOKEN=abc PYTHON"),
    "DL3009": GOOD.replace(
        "WORKDIR /app",
        "WORKDIR /app\nRUN apt-get update && apt-get install -y --no-install-recommends tini",
    ),
    "DL3015": GOOD.replace(
        "WORKDIR /app",
        "WORKDIR /app\nRUN apt-get update \\\n && apt-get install -y tini \\\n"
        " && rm -rf /var/lib/apt/lists/*",
    ),
    "DL3042": GOOD.replace("--no-cache-dir ", ""),
    "DL3004": GOOD.replace("WORKDIR /app", "WORKDIR /app\nRUN sudo true"),
    "DL3000": GOOD.replace("WORKDIR /app", "WORKDIR app"),
    "bytecode": GOOD.replace("ENV PYTHONDONTWRITEBYTECODE=1\n", ""),
    "oci-labels": GOOD.replace("LABEL org.opencontainers.image.title=x\n", ""),
    "multi-stage": "FROM python:3.11.9-slim\n"
    + GOOD.split("FROM ${BASE}\n", 1)[1].replace("COPY --from=build /opt /opt\n", ""),
}


def test_rules_accept_a_good_example() -> None:
    assert lint(GOOD) == []


@pytest.mark.parametrize("rule,text", BAD.items(), ids=BAD.keys())
def test_each_rule_fires(rule: str, text: str) -> None:
    assert {f.rule for f in lint(text)} == {rule}


def test_parser_joins_continuations_and_tracks_stages() -> None:
    parsed = parse("FROM a:1.0 AS x\nRUN a \\\n  # note\n  && b\nFROM b:2.0\nUSER 1\n")
    assert [(i.keyword, i.args, i.stage) for i in parsed] == [
        ("FROM", "a:1.0 AS x", 0),
        ("RUN", "a && b", 0),
        ("FROM", "b:2.0", 1),
        ("USER", "1", 1),
    ]
