"""telemetry.health: /livez, /readyz and /metrics over a real loopback socket."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter

from tiktok_capi.consumer.telemetry.health import HealthServer
from tiktok_capi.consumer.telemetry.health_state import DestinationState, HealthState


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def state() -> HealthState:
    return HealthState()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def server(state: HealthState, clock: Clock, registry: CollectorRegistry) -> Iterator[HealthServer]:
    health = HealthServer("127.0.0.1", 0, state, 30.0, True, registry=registry, clock=clock)
    health.start()
    yield health
    health.stop()


def get(server: HealthServer, path: str, **kwargs: object) -> httpx.Response:
    with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=5) as client:
        return client.get(path, **kwargs)  # type: ignore[arg-type]


def test_start_returns_the_bound_port(server: HealthServer) -> None:
    assert server.port > 0
    assert get(server, "/").status_code == 200


def test_live_before_the_first_tick(server: HealthServer) -> None:
    response = get(server, "/livez")
    assert response.status_code == 200
    assert response.text.strip() == "starting"


def test_live_while_ticking_then_not_when_stuck(
    server: HealthServer, state: HealthState, clock: Clock
) -> None:
    state.tick(clock.now)
    clock.now += 29
    assert get(server, "/livez").status_code == 200
    clock.now += 2
    response = get(server, "/livez")
    assert response.status_code == 503
    assert "not ticked for 31s" in response.text
    state.tick(clock.now)
    assert get(server, "/livez").status_code == 200


def test_not_ready_until_broker_reachable(server: HealthServer, state: HealthState) -> None:
    response = get(server, "/readyz")
    assert response.status_code == 503
    assert "broker not reachable" in response.text
    state.set_broker_reachable(True)  # waiting for assignment counts as ready
    assert get(server, "/readyz").status_code == 200
    state.set_assignment(assigned=True, waiting=False)
    assert get(server, "/readyz").text.strip() == "ok"


def test_not_ready_without_assignment(server: HealthServer, state: HealthState) -> None:
    state.set_broker_reachable(True)
    state.set_assignment(assigned=False, waiting=False)
    response = get(server, "/readyz")
    assert response.status_code == 503
    assert "no partitions assigned" in response.text


def test_not_ready_while_destination_paused_for_auth(
    server: HealthServer, state: HealthState
) -> None:
    state.set_broker_reachable(True)
    state.set_assignment(assigned=True, waiting=False)
    state.set_destination(DestinationState.PAUSED_AUTH, "TikTok code 40001")
    response = get(server, "/readyz")
    assert response.status_code == 503
    assert "paused_auth" in response.text and "40001" in response.text
    state.set_destination(DestinationState.RUNNING)
    assert get(server, "/readyz").status_code == 200


def test_metrics_exposes_the_registry(server: HealthServer, registry: CollectorRegistry) -> None:
    counter = Counter("demo_things", "Things.", ["kind"], registry=registry)
    counter.labels(kind="a").inc(3)
    response = get(server, "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'demo_things_total{kind="a"} 3.0' in response.text


def test_metrics_openmetrics_on_request(server: HealthServer, registry: CollectorRegistry) -> None:
    Counter("demo_om", "Things.", registry=registry).inc()
    response = get(
        server, "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")


def test_metrics_404_when_disabled(state: HealthState) -> None:
    with HealthServer("127.0.0.1", 0, state, 30.0, False) as health:
        assert get(health, "/metrics").status_code == 404
        assert get(health, "/livez").status_code == 200


def test_unknown_path_is_404(server: HealthServer) -> None:
    assert get(server, "/nope").status_code == 404


def test_stop_is_idempotent_and_frees_the_port(state: HealthState) -> None:
    health = HealthServer("127.0.0.1", 0, state, 30.0, True)
    port = health.start()
    health.stop()
    health.stop()
    again = HealthServer("127.0.0.1", port, state, 30.0, True)
    assert again.start() == port
    again.stop()


def test_port_in_use_is_an_oserror(server: HealthServer, state: HealthState) -> None:
    clash = HealthServer("127.0.0.1", server.port, state, 30.0, True)
    with pytest.raises(OSError):
        clash.start()
    clash.stop()


def test_a_failing_collector_is_a_500_and_a_log_line(
    server: HealthServer, registry: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        def collect(self) -> list[object]:
            raise RuntimeError("collector broke")

    registry.register(Broken())  # type: ignore[arg-type]
    with caplog.at_level("WARNING", logger="tiktok_capi.consumer.telemetry.health"):
        response = get(server, "/metrics")
        assert get(server, "/livez").status_code == 200  # still serving
    assert response.status_code == 500
    assert any("/metrics failed" in r.getMessage() for r in caplog.records)
