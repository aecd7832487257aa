"""A broker that stalls silently (connections open, nothing answered): seen, survived, resumed.

Issue 12, defects 11 (a silent stall left /readyz at 200) and 12 (a synchronous interval commit
held the poll loop while the coordinator did not answer: more than four minutes, measured). The
stall is a real one: the broker process is stopped (SIGSTOP), so the kernel keeps its sockets
open and accepts connections while nothing is read or answered, then continued (SIGCONT).
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest

from tests.consumer.core_support import (
    delivered_ids,
    make_settings,
    produce_events,
    running,
    sample_events,
    settings_env,
)
from tests.fixtures.waiting import wait_for
from tiktok_capi.consumer.telemetry.health_state import HealthState

pytestmark = pytest.mark.integration


def test_a_silent_broker_stall_turns_readiness_off_and_never_blocks_the_loop(
    isolated_broker: Any, emulator: Any
) -> None:
    broker = isolated_broker
    topic = broker.unique_topic("stall", partitions=1)
    group = broker.unique_group("stall")
    # Slow answers: deliveries (and so commits) go on while the broker is stopped.
    emulator.set_faults(latency_ms=150)
    first = produce_events(broker, topic, sample_events(400, seed=31, prefix="stall"))
    health = HealthState()
    env = settings_env(broker, emulator, topic, group, BATCH_SIZE="20", BROKER_STALL_TIMEOUT="2s")
    # A session longer than the stall, as in production (45 s): the member stays in the group.
    env["KAFKA_SESSION_TIMEOUT_MS"] = "20000"
    pid = broker.embedded._process.pid
    with running(make_settings(env), health=health):
        wait_for(lambda: len(delivered_ids(emulator)) >= 20, timeout=60, what="deliveries to start")
        os.kill(pid, signal.SIGSTOP)
        try:
            wait_for(lambda: not health.ready()[0], timeout=15, what="readiness to turn off")
            assert health.ready()[1].startswith("broker not answering")
            # The loop keeps polling and resolving: before the fix the interval commit of what
            # was delivered meanwhile held it, and liveness went stale.
            stall_until = time.monotonic() + 5
            while time.monotonic() < stall_until:
                assert health.live(3.0)[0], "the poll loop stopped ticking during the stall"
                time.sleep(0.2)
        finally:
            os.kill(pid, signal.SIGCONT)
        resumed = time.monotonic()
        wait_for(lambda: health.ready()[0], timeout=30, what="readiness to come back")
        more = produce_events(broker, topic, sample_events(20, seed=32, prefix="after"))
        # Measured here: delivered 0.6 s after the stall ended. A stall longer than
        # session.timeout.ms costs a group rejoin on top (12 s with Tansu's 6 s sessions).
        wait_for(
            lambda: set(more.expected) <= delivered_ids(emulator),
            timeout=20,
            what="consumption to resume soon after the stall",
        )
        assert time.monotonic() - resumed < 20
        committed = broker.wait_committed(group, topic, more.ends, timeout=60)
        assert committed == more.ends
    assert set(first.expected) <= delivered_ids(emulator)
