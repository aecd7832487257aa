"""`tiktok-capi run`: configuration errors are one clear line and exit status 2."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

import pytest

from tests.consumer.core_support import RunProcess
from tests.fixtures.waiting import wait_for
from tiktok_capi.consumer.cli import main

# What a connector needs besides Kafka to start: a token, a pixel, a free loopback health port.
STARTABLE = {
    "TIKTOK_ACCESS_TOKEN": "tok",
    "TIKTOK_PIXEL_CODE": "P",
    "HEALTH_PORT": "0",
    "HEALTH_HOST": "127.0.0.1",
    "LOG_FORMAT": "json",
}


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "TIKTOK_"))}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-m", "tiktok_capi.consumer", "run"],
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_missing_required_variable_is_one_line_and_exit_2() -> None:
    result = _run({"TIKTOK_ACCESS_TOKEN": "tok", "TIKTOK_PIXEL_CODE": "P"})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "KAFKA_BOOTSTRAP_SERVERS" in lines[0]


def test_bad_value_names_the_variable_and_hides_secrets() -> None:
    result = _run(
        {
            "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
            "TIKTOK_ACCESS_TOKEN": "super-secret-token-value",
            "TIKTOK_PIXEL_CODE": "P",
            "BATCH_SIZE": "5000",
        }
    )
    assert result.returncode == 2
    assert "BATCH_SIZE" in result.stderr
    assert "super-secret-token-value" not in result.stderr + result.stdout
    assert len(result.stderr.strip().splitlines()) == 1


def test_help_describes_the_configuration(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for word in ("KAFKA_BOOTSTRAP_SERVERS", "TIKTOK_ACCESS_TOKEN", "SIGTERM", "SHUTDOWN_GRACE"):
        assert word in out


@pytest.mark.integration
def test_missing_source_topic_fails_start_up_with_status_1(broker: Any) -> None:
    result = _run(
        {
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
            "SOURCE_TOPIC": f"never-created-{broker.unique_group('x')}",
            **STARTABLE,
        }
    )
    assert result.returncode == 1
    assert "cannot start" in result.stderr
    assert "does not exist" in result.stderr


def test_unknown_kafka_property_is_a_configuration_error_before_the_health_port() -> None:
    """Exit status 2 as documented, one line naming the property, nothing started."""
    result = _run(
        {
            "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
            "KAFKA_NOT_A_REAL_PROPERTY": "1",
            "KAFKA_PORT": "tcp://10.96.0.12:9092",  # a Kubernetes service link: ignored
            **STARTABLE,
        }
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("tiktok-capi run: configuration error: KAFKA_NOT_A_REAL_PROPERTY")
    assert "not.a.real.property" in line
    assert "health and metrics" not in result.stderr


def test_missing_event_map_is_a_configuration_error_before_the_health_port(tmp_path: Any) -> None:
    missing = tmp_path / "no-such-event-map.json"
    result = _run(
        {
            "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
            "EVENT_MAP_FILE": str(missing),
            **STARTABLE,
        }
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("tiktok-capi run: configuration error: EVENT_MAP_FILE")
    assert str(missing) in line and "Traceback" not in result.stderr


def test_an_unknown_phone_region_is_a_configuration_error_not_a_traceback() -> None:
    result = _run(
        {
            "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
            "PHONE_DEFAULT_REGION": "ZZ",
            **STARTABLE,
        }
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "PHONE_DEFAULT_REGION" in line and "'ZZ'" in line


def test_every_problem_is_reported_at_once() -> None:
    result = _run(
        {
            "TIKTOK_ACCESS_TOKEN": "super-secret-token-value",
            "BATCH_SIZE": "5000",
            "BATCH_LINGER": "soon",
            "LOG_LEVEL": "loud",
        }
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    named = (
        "KAFKA_BOOTSTRAP_SERVERS",
        "TIKTOK_PIXEL_CODE",
        "BATCH_SIZE",
        "BATCH_LINGER",
        "LOG_LEVEL",
    )
    for variable in named:
        assert sum(variable in line for line in lines) == 1, (variable, lines)
    assert all(line.startswith("tiktok-capi run: configuration error: ") for line in lines)
    assert "super-secret-token-value" not in result.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_a_signal_during_start_up_acts_at_once(signum: int) -> None:
    """With an unreachable broker, start-up waits 30 s for it; a signal ends the wait at once
    (Kubernetes' grace is 30 s), and the warning on the way names the address and the cause."""
    from tiktok_capi.consumer.demo.broker import free_port

    port = free_port()
    running = RunProcess(
        {
            "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}",
            **STARTABLE,
        }
    )
    warning = running.wait_for_line("cannot reach the Kafka cluster yet", timeout=25)
    assert f"127.0.0.1:{port}: connection refused: nothing listens on that port" in warning
    running.process.send_signal(signum)
    # Well inside Kubernetes' default 30 s grace: before the fix it came after the 30 s wait.
    assert running.finish(timeout=15) == 0
    assert any("stopped during start-up" in line for line in running.lines)
    assert not any("Traceback" in line for line in running.lines)


@pytest.mark.integration
def test_retry_topics_written_by_another_group_stop_start_up_with_status_2(broker: Any) -> None:
    from tiktok_capi.consumer.failures.tiers import HEADER_GROUP

    source = broker.unique_topic("shared-src")
    broker.create_topic(f"{source}.shared.retry.1")
    broker.produce(f"{source}.shared.retry.1", [b"v"], headers=[(HEADER_GROUP, b"shop-us")])
    result = _run(
        {
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
            "KAFKA_GROUP_ID": "shop-eu",
            "SOURCE_TOPIC": source,
            "RETRY_TOPIC": f"{source}.shared.retry",
            "RETRY_DELAYS": "1s",
            **STARTABLE,
        }
    )
    assert result.returncode == 2
    assert "written by consumer group 'shop-us'" in result.stderr


def test_a_dead_broker_does_not_flood_the_log() -> None:
    """librdkafka reports each reconnect attempt (~20 a second per client) and our source logged
    each error again: like lines now come once per LOG_REPEAT_INTERVAL, with a count."""
    import json

    from tiktok_capi.consumer.demo.broker import free_port

    running = RunProcess(
        {
            "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
            "CREATE_TOPICS": "false",
            "LOG_REPEAT_INTERVAL": "1s",
            **STARTABLE,
        }
    )
    running.wait_for_line("consuming", timeout=30)  # the poll loop runs, broker still down
    started = len(running.lines)
    running.wait_for_line("more like it", timeout=30)
    wait_for(  # two summaries of the poll loop's own period
        lambda: sum("more like it" in line for line in running.lines[started:]) >= 2,
        timeout=30,
        what="two repeat summaries",
    )
    running.process.send_signal(signal.SIGTERM)
    assert running.finish(timeout=30) == 0
    entries = [json.loads(line) for line in running.lines if line.startswith("{")]
    client = [e for e in entries if str(e["logger"]).startswith("librdkafka")]
    held = sum(int(e.get("repeated", 0)) for e in client)
    assert held > len(client), "most reconnect reports are held back"
    by_second: dict[str, int] = {}
    for entry in client:
        second = f"{entry['logger']}@{str(entry['ts'])[:19]}"
        by_second[second] = by_second.get(second, 0) + 1
    assert max(by_second.values()) <= 3, by_second  # before: ~20 a second per client
    # Connection failures are logged once, by librdkafka, not again by our source.
    source = [e for e in entries if e["logger"] == "tiktok_capi.consumer.kafka.source"]
    assert not [e for e in source if "Connection refused" in str(e["message"])]
