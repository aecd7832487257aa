"""The broker's network breaking: connections cut and restored through a TCP proxy.

The broker advertises the proxy's address, so every connection of every client (the connector's
consumer and producer, the test's own) goes through it. Cutting resets them all and refuses new
ones for a while; the connector must reconnect, commit what it resolved and lose nothing. (A
*silent* stall, where connections stay open and nothing moves, is issue-12 defect 11:
``test_defects.py``.)
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.faults.scale import scaled
from tests.faults.scenario import FaultRun
from tests.fixtures.proxied_broker import ProxiedBroker
from tests.fixtures.waiting import wait_for, watch

pytestmark = pytest.mark.integration

# The 20 s cuts (make soak), shortened around the test's 6 s session timeout: the first
# is shorter (the member keeps its partitions and reconnects), the second longer (the coordinator
# expels it; it rejoins and re-reads from its last commit): the two behaviours a 20 s cut has
# against session timeouts below or above it.
CUTS_S = scaled((3.0, 8.0), (3.0, 20.0, 20.0))


def test_broker_connections_cut_and_restored_twice(
    fault_run: Callable[..., FaultRun], proxied_broker: ProxiedBroker
) -> None:
    run = fault_run(partitions=2, broker_helper=proxied_broker.helper)
    # Paced so that each slice is still on its way when the cut comes.
    run.emulator.set_faults(latency_ms=100)
    connector = run.start(BATCH_SIZE="50", MAX_IN_FLIGHT_REQUESTS="2")
    proxy = proxied_broker.proxy
    cut_connections = 0
    for cut, duration in enumerate(CUTS_S, start=1):
        label = f"slice {cut}"
        run.produce_events(run.storefront(1500, seed=90 + cut), label=label)
        run.wait_more_deliveries(200, f"deliveries before cut {cut}")
        cut_connections += proxy.cut("reset")
        watch(run.check_alive, duration=duration)
        proxy.restore()
        wait_for(run.delivered(label), timeout=60, what=f"{label} delivered after the cut")
    run.notes.update(broker_cuts_s=list(CUTS_S), connections_cut=cut_connections)
    assert connector.running
    run.wait_settled(60)
    report = run.finish()
    assert cut_connections >= len(CUTS_S)
    assert report.lost == 0 and report.dead_lettered == 0
