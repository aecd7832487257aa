"""Destination alone: hold, probe on its own thread, recover, stop; what health reports."""

from __future__ import annotations

import threading

from tiktok_capi.consumer.delivery.base import BatchOutcome, ErrorInfo
from tiktok_capi.consumer.delivery.destination import Destination
from tiktok_capi.consumer.telemetry.health_state import DestinationState, HealthState

DOWN = ErrorInfo("auth", "access token revoked", code=40105, request_id="r-1")


class ProbedSender:
    """A sender whose probe fails until ``ok`` is set; counts probes."""

    def __init__(self) -> None:
        self.ok = threading.Event()
        self.probes = 0
        self.probed = threading.Event()

    def encode(self, events: object) -> bytes:
        raise AssertionError("the destination only probes")

    def deliver(self, events: object, links: object = (), body: object = None) -> BatchOutcome:
        raise AssertionError("the destination only probes")

    def probe(self) -> ErrorInfo | None:
        self.probes += 1
        self.probed.set()
        return None if self.ok.is_set() else DOWN

    def close(self) -> None:
        pass


def _destination() -> tuple[Destination, ProbedSender, HealthState, threading.Event]:
    sender, health, recovered = ProbedSender(), HealthState(), threading.Event()
    destination = Destination(
        sender, health, lambda _outage: recovered.set(), probe_interval_s=0.001
    )
    return destination, sender, health, recovered


def test_running_at_first() -> None:
    destination, _, health, _ = _destination()
    assert destination.running
    assert health.snapshot().destination is DestinationState.RUNNING


def test_hold_pauses_reports_the_reason_and_probes_until_it_works() -> None:
    destination, sender, health, recovered = _destination()
    destination.hold(DOWN)
    assert not destination.running
    snapshot = health.snapshot()
    assert snapshot.destination is DestinationState.PAUSED_AUTH
    assert "access token revoked" in snapshot.destination_reason
    assert "40105" in snapshot.destination_reason
    assert sender.probed.wait(5) and not recovered.is_set()
    sender.ok.set()
    assert recovered.wait(5), "the probe thread reports the recovery"
    assert destination.recovered() is True
    assert destination.running
    assert health.snapshot().destination is DestinationState.RUNNING
    destination.close()


def test_hold_twice_starts_one_probe() -> None:
    destination, _, _, _ = _destination()
    destination.hold(DOWN)
    prober = destination._prober
    destination.hold(DOWN)
    assert destination._prober is prober
    destination.close()


def test_stop_is_final() -> None:
    destination, sender, health, recovered = _destination()
    destination.hold(DOWN)
    destination.stop("more than 10 records dead-lettered in a minute")
    assert health.snapshot().destination is DestinationState.STOPPED
    sender.ok.set()
    assert destination.recovered() is False  # a late probe result changes nothing
    assert destination.state is DestinationState.STOPPED
    assert not recovered.is_set() or destination.state is DestinationState.STOPPED
