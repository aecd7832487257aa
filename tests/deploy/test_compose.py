"""docker-compose.yml: valid against the Compose specification, and consistent with the code.

The consumer's variables must be settings `tiktok-capi run` knows
(tiktok_capi.consumer.config.settings.OPTIONS or the KAFKA_* passthrough) and load; the project
services' commands must parse with the real CLI parser; the names, topics, URLs, tokens and ports
the services share must agree.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.deploy.chart import ROOT
from tiktok_capi.consumer.cli import build_parser
from tiktok_capi.consumer.config.settings import OPTIONS, load_settings, parse_duration

COMPOSE_FILE = ROOT / "docker-compose.yml"
COMPOSE_TEXT = COMPOSE_FILE.read_text(encoding="utf-8")
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, Any] = COMPOSE["services"]
PROJECT_SERVICES = ("emulator", "producer", "consumer")
SITE_PACKAGES = "/opt/venv/lib/python3.11/site-packages/"


def _env(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment", {})
    assert isinstance(env, dict), "write environment as a mapping"
    return {k: str(v) for k, v in env.items()}


def _option(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


def test_valid_against_the_compose_specification() -> None:
    checker = Path(sys.executable).with_name("check-jsonschema")
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_services() -> None:
    assert set(SERVICES) == {
        "kafka",
        "kafka-setup",
        "schema-registry",
        "emulator",
        "producer",
        "consumer",
    }


def test_images_are_pinned() -> None:
    assert re.fullmatch(r"apache/kafka:\d+\.\d+\.\d+", SERVICES["kafka"]["image"])
    registry = SERVICES["schema-registry"]["image"]
    assert re.fullmatch(r"confluentinc/cp-schema-registry:\d+\.\d+\.\d+", registry)
    for name in PROJECT_SERVICES:
        assert SERVICES[name]["image"] == "tiktok-capi:local"
        assert SERVICES[name]["build"]["context"] == "."


def test_kafka_runs_single_node_kraft() -> None:
    env = _env("kafka")
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"1@kafka:{_port(env, 'CONTROLLER')}"
    assert "ZOOKEEPER" not in " ".join(env)


def _port(kafka_env: dict[str, str], listener: str) -> str:
    listeners = dict(item.split("://") for item in kafka_env["KAFKA_LISTENERS"].split(","))
    return listeners[listener].rsplit(":", 1)[1]


def test_consumer_variables_are_known_settings_and_load() -> None:
    env = _env("consumer")
    known = {o.env for o in OPTIONS}
    unknown = [k for k in env if k not in known and not k.startswith("KAFKA_")]
    assert unknown == []
    assert {o.env for o in OPTIONS if o.required} <= set(env)
    settings = load_settings(env)
    assert settings.inputs.schema_registry_url is not None, "the consumer reads registry values"


def test_every_consumer_variable_is_commented() -> None:
    lines = COMPOSE_TEXT.splitlines()
    start = lines.index("  consumer:")
    for name in _env("consumer"):
        index = next(i for i in range(start, len(lines)) if lines[i].strip().startswith(f"{name}:"))
        assert lines[index - 1].strip().startswith("#"), f"{name} has no comment"


def test_every_service_is_commented() -> None:
    lines = COMPOSE_TEXT.splitlines()
    for name in SERVICES:
        index = lines.index(f"  {name}:")
        body = lines[index + 1 : index + 4]
        assert any(line.strip().startswith("#") for line in body), f"{name} has no comment"


def test_consumer_reaches_the_other_services() -> None:
    env = _env("consumer")
    kafka_env = _env("kafka")
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == f"kafka:{_port(kafka_env, 'INTERNAL')}"
    assert f"INTERNAL://{env['KAFKA_BOOTSTRAP_SERVERS']}" in kafka_env["KAFKA_ADVERTISED_LISTENERS"]

    emulate = SERVICES["emulator"]["command"]
    api = urlsplit(env["TIKTOK_API_URL"])
    assert (api.hostname, str(api.port)) == ("emulator", _option(emulate, "--port"))
    assert env["TIKTOK_ACCESS_TOKEN"] == _option(emulate, "--token")
    assert env["TIKTOK_PIXEL_CODE"] == _option(emulate, "--pixel-code")

    registry = urlsplit(env["SCHEMA_REGISTRY_URL"])
    listener = urlsplit(_env("schema-registry")["SCHEMA_REGISTRY_LISTENERS"])
    assert (registry.hostname, registry.port) == ("schema-registry", listener.port)


def test_producer_fills_the_topic_the_consumer_reads() -> None:
    env = _env("consumer")
    produce = SERVICES["producer"]["command"]
    setup = SERVICES["kafka-setup"]["command"]
    assert _option(produce, "--topic") == env["SOURCE_TOPIC"] == _option(setup, "--topic")
    assert _option(produce, "--bootstrap-servers") == env["KAFKA_BOOTSTRAP_SERVERS"]
    assert _option(produce, "--schema-registry-url") == env["SCHEMA_REGISTRY_URL"]


def test_producer_reads_the_dataset_shipped_in_the_image() -> None:
    path = SERVICES["producer"]["command"][-1]
    assert path.startswith(SITE_PACKAGES)
    installed = path[len(SITE_PACKAGES) :]
    assert installed.startswith("tiktok_capi/"), "the project installs under tiktok_capi/"
    relative = installed[len("tiktok_capi/") :]
    assert relative.startswith("consumer/demo/data/")
    assert (ROOT / relative).is_file(), f"{relative} is not in the repository"
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "python -m venv /opt/venv" in dockerfile and "python:3.11." in dockerfile


@pytest.mark.parametrize("service", PROJECT_SERVICES)
def test_commands_parse_with_the_cli(service: str) -> None:
    command = SERVICES[service]["command"]
    try:
        args = build_parser().parse_args(command)
    except SystemExit as exc:  # argparse reports a usage error by exiting
        pytest.fail(f"`tiktok-capi {' '.join(command)}` does not parse: exit {exc.code}")
    assert args.command == command[0]


def test_start_order_waits_on_health_and_completion() -> None:
    def depends(service: str) -> dict[str, str]:
        return {k: v["condition"] for k, v in SERVICES[service]["depends_on"].items()}

    assert depends("kafka-setup") == {"kafka": "service_healthy"}
    assert depends("schema-registry") == {"kafka": "service_healthy"}
    assert depends("producer") == {
        "kafka-setup": "service_completed_successfully",
        "schema-registry": "service_healthy",
    }
    assert depends("consumer") == {
        "kafka-setup": "service_completed_successfully",
        "schema-registry": "service_healthy",
        "emulator": "service_healthy",
    }
    for service in SERVICES.values():
        for target, condition in service.get("depends_on", {}).items():
            if condition["condition"] == "service_healthy":
                assert "test" in SERVICES[target]["healthcheck"], target


def test_consumer_health_port_and_shutdown() -> None:
    consumer = SERVICES["consumer"]
    env = _env("consumer")
    port = env["HEALTH_PORT"]
    assert consumer["ports"] == [f"127.0.0.1:{port}:{port}"]
    assert f"127.0.0.1:{port}/readyz" in " ".join(consumer["healthcheck"]["test"])
    assert parse_duration(consumer["stop_grace_period"]) > parse_duration(env["SHUTDOWN_GRACE"])


def test_project_services_are_hardened() -> None:
    for name in PROJECT_SERVICES:
        service = SERVICES[name]
        assert service["read_only"] is True
        assert service["tmpfs"] == ["/tmp"]
        assert service["cap_drop"] == ["ALL"]
        assert "user" not in service, "the image's non-root user applies"


def test_ports_bind_to_loopback_only() -> None:
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), name
