"""The consumer group churning: a third member joining and leaving again and again.

Two members share 6 partitions while a third joins, takes its share, and leaves (SIGTERM),
several times, with events arriving all along: cooperative rebalancing moves partitions back and
forth (with the retry tiers subscribed too, the sticky assignor balances all 18 partitions, so
the newcomer may take every source partition), and every move must commit what was resolved and
hand over the rest, so nothing is lost and re-deliveries keep their event_id.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.faults.scale import scaled
from tests.faults.scenario import FaultRun
from tests.fixtures.waiting import wait_for

pytestmark = pytest.mark.integration

CHURNS = scaled(3, 8)
SLICE = 600  # events produced at each step of the storm
# Half the tests' usual 6 s: Tansu makes every join round wait about half of it, and a
# cooperative rebalance takes several rounds. Heartbeats stay every 500 ms.
MEMBER = {"BATCH_SIZE": "100", "KAFKA_SESSION_TIMEOUT_MS": "3000"}


def test_a_third_member_joining_and_leaving_repeatedly(
    fault_run: Callable[..., FaultRun],
) -> None:
    run = fault_run(partitions=6)
    run.emulator.set_faults(latency_ms=30)
    steady = [run.start(f"steady-{n}", **MEMBER) for n in (1, 2)]
    for member in steady:
        wait_for(
            lambda m=member: m.logged("partitions assigned"),
            timeout=40,
            what="the steady members to get partitions",
        )
    seed = 100
    for churn in range(1, CHURNS + 1):
        third = run.start(f"third-{churn}", **MEMBER)
        # Produced while the newcomer joins: the rebalance happens mid-stream.
        seed += 1
        run.produce_events(run.storefront(SLICE, seed=seed), label=f"slice-{seed}")
        wait_for(
            lambda t=third: t.logged("partitions assigned"),
            timeout=40,
            what=f"the third member to get partitions (churn {churn})",
        )
        wait_for(run.delivered(f"slice-{seed}"), timeout=60, what=f"slice {seed} delivered")
        seed += 1
        run.produce_events(run.storefront(SLICE, seed=seed), label=f"slice-{seed}")
        assert third.stop(30) == 0  # leaves while that slice is on its way
        run.check_alive()
        wait_for(run.delivered(f"slice-{seed}"), timeout=60, what=f"slice {seed} delivered")
    run.notes["rebalances"] = 2 * CHURNS
    assert all(member.running for member in steady)
    run.wait_settled(60)
    report = run.finish()
    assert report.lost == 0 and report.dead_lettered == 0
