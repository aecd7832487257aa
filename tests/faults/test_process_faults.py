"""The connector process dying or being stopped mid-stream.

SIGKILL at random moments of the delivery (a crash, an OOM kill, a lost node), several times in
one run: every restart re-delivers at most the unresolved tail, with the same event_id, and no
process outlives a killed connector. SIGTERM while TikTok answers slowly and a large window is in
flight: the connector exits within its grace period and the next run delivers what was not
acknowledged. (A SIGKILL while the decode workers are still starting is issue-12 defect 1:
``test_defects.py``.)
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import pytest

from tests.faults.scale import scaled
from tests.faults.scenario import FaultRun
from tests.fixtures.waiting import wait_for

pytestmark = pytest.mark.integration

KILLS = scaled(3, 8)
# A killed member's partitions move once its session expires: half the tests' usual 6 s
# halves that wait at every restart (heartbeats stay every 500 ms).
KILLED = {"BATCH_SIZE": "50", "MAX_IN_FLIGHT_REQUESTS": "1", "KAFKA_SESSION_TIMEOUT_MS": "3000"}
GRACE_S = 3.0


def test_sigkill_at_random_moments_several_times(fault_run: Callable[..., FaultRun]) -> None:
    run = fault_run(partitions=2)
    # Paced (~800 events/s): every kill lands in the middle of the stream.
    run.emulator.set_faults(latency_ms=60)
    run.produce_events(run.storefront(scaled(4000, 10_000), seed=6))
    rng = random.Random(20261)
    moments = []
    for kill in range(KILLS):
        connector = run.start(**KILLED)
        # A random point of the delivery: after 50-600 more events reached TikTok.
        moment = rng.randint(50, 600)
        moments.append(moment)
        run.wait_more_deliveries(moment, f"{moment} more deliveries before kill {kill + 1}")
        connector.kill()
        assert connector.wait(10) < 0
        wait_for(
            lambda c=connector: not c.tree(),
            timeout=10,
            what=f"the killed connector's workers to exit (kill {kill + 1})",
            describe=connector.tree,
        )
    run.notes.update(kills=KILLS, kills_after_deliveries=moments)
    run.emulator.set_faults()
    run.start(KAFKA_SESSION_TIMEOUT_MS=KILLED["KAFKA_SESSION_TIMEOUT_MS"])
    run.wait_settled(120)
    report = run.finish()
    assert report.lost == 0 and report.dead_lettered == 0
    assert report.delivered == sum(1 for p in run.produced if p.expect.delivered_as)


def test_sigterm_with_a_large_window_in_flight_and_tiktok_slow(
    fault_run: Callable[..., FaultRun],
) -> None:
    run = fault_run(partitions=2)
    run.emulator.set_faults(latency_ms=2500)
    run.produce_events(run.storefront(4000, seed=7))
    first = run.start(
        "first", BATCH_SIZE="250", MAX_IN_FLIGHT_REQUESTS="4", SHUTDOWN_GRACE=f"{GRACE_S:g}s"
    )
    wait_for(
        lambda: run.emulator.stats()["requests"] >= 6,
        timeout=60,
        what="several slow requests in flight",
    )
    asked = time.monotonic()
    first.terminate()
    # Grace for the requests in flight, plus leaving the group and closing the clients.
    assert first.wait(GRACE_S + 10) == 0
    run.notes["sigterm_exit_s"] = round(time.monotonic() - asked, 1)
    assert first.logged("shutting down")
    # Its workers end with it (the resource tracker a moment later).
    wait_for(lambda: not first.tree(), timeout=5, what="the first run's processes to end")
    assert not run.report().settled, "the first run finished everything: nothing to re-deliver"
    run.emulator.set_faults()
    run.start("second")
    run.wait_settled(90)
    report = run.finish()
    assert report.lost == 0 and report.dead_lettered == 0
