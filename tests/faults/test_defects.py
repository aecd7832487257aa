"""Issue 12's defects that show from outside, each a test that failed on the code before its fix.

Each test names its defect's number in a comment with what the test reported on the unfixed
code (read once there, when the fault matrix was written against it). The unit-level tests of
the same fixes live beside the code they fix (tests/consumer/...); these drive the installed
`tiktok-capi run` and check the whole invariant: nothing lost, stuck or leaked.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import time
from collections.abc import Callable

import pytest

from tests.faults.scale import scaled
from tests.faults.scenario import FaultRun
from tests.fixtures.accounting import ANY_REASON, Expectation
from tests.fixtures.processes import cmdline
from tests.fixtures.proxied_broker import ProxiedBroker
from tests.fixtures.waiting import WaitTimeout, wait_for, watch

pytestmark = pytest.mark.integration

# The 60 s (make soak); 12 s is still 4 times the tier delays (1 s + 2 s) and the
# in-process retries together: long enough for the defect to show.
OUTAGE_S = scaled(12.0, 60.0)
STALL_S = scaled(15.0, 20.0)
CUT_S = 4.0  # shorter than the 6 s session timeout: the member need not lose its partitions
# The Helm chart's memory limit for the pod (connector + decode workers): above it, OOM-killed.
MEMORY_LIMIT = 768 * 1024 * 1024
HELD_EVENTS = 1500  # of 400 KB, the figures: ~600 MB of events in flight
MEMORY_WINDOW_S = 15.0  # enough for today's connector to take all of them in


# Issue 12 defect 1, before its fix: decode workers outlive a connector SIGKILLed while they start.
def test_workers_do_not_outlive_a_connector_killed_while_they_start(
    fault_run: Callable[..., FaultRun],
) -> None:
    run = fault_run(partitions=1)
    run.produce_events(run.storefront(200, seed=21))
    for attempt in range(3):
        connector = run.start(f"killed-{attempt + 1}", DECODE_WORKERS="2")
        wait_for(connector.workers, timeout=30, interval=0.01, what="a decode worker to spawn")
        connector.kill()
        connector.wait(10)
    left = run.connectors.wait_none_left(5)  # a worker checks its parent every second
    assert not left, "left running after SIGKILL: " + "; ".join(
        f"{pid}: {' '.join(cmdline(pid))[:80]}" for pid in left
    )
    run.start("final")
    run.wait_settled(60)
    run.finish()


# Issue 12 defect 2, before its fix: a TikTok outage dead-letters the stream and /readyz stays 200.
def test_an_outage_dead_letters_nothing_and_turns_readiness_off(
    fault_run: Callable[..., FaultRun],
) -> None:
    run = fault_run(partitions=2)
    run.produce_events(run.storefront(1000, seed=22))
    connector = run.start(BATCH_SIZE="100", SEND_RETRY_ATTEMPTS="3")
    run.wait_more_deliveries(200, "deliveries before the outage")
    run.emulator.stop()  # nothing listens: connections are refused
    run.produce_events(run.storefront(1000, seed=23), label="during the outage")
    readiness = watch(connector.ready, duration=OUTAGE_S, interval=0.25)
    during = run.report()
    assert during.dead_lettered == 0, f"the outage dead-lettered good events: {during.summary()}"
    assert False in readiness, "/readyz stayed 200 through the whole outage"
    run.emulator.start()  # same port, same record
    run.notes["outage_s"] = OUTAGE_S
    run.wait_settled(90)
    run.finish()


# Issue 12 defect 3, before its fix: a decode worker that dies crashes the poll loop
# (BrokenProcessPool).
def test_a_killed_decode_worker_does_not_stop_the_connector(
    fault_run: Callable[..., FaultRun],
) -> None:
    run = fault_run(partitions=2)
    run.produce_events(run.storefront(1000, seed=24))
    connector = run.start(DECODE_WORKERS="2")
    run.wait_more_deliveries(100, "deliveries to start")
    [victim, *_] = wait_for(connector.workers, timeout=10, what="the decode workers")
    os.kill(victim, signal.SIGKILL)  # as the OOM killer does
    run.produce_events(run.storefront(1000, seed=25), label="after the kill")
    run.wait_settled(60)
    run.finish()


# Issue 12 defect 4, before its fix: a record too large for the producer crashes the loop on
# its dead-letter write.
def test_oversized_records_are_dead_lettered_without_crashing(
    fault_run: Callable[..., FaultRun],
) -> None:
    # TikTok refuses requests over 2 MiB here (413): the 5 MB event must be dead-lettered too.
    run = fault_run(partitions=1, max_body_bytes=2 * 1024 * 1024)
    rng = random.Random(26)
    anywhere = Expectation(dead_letter_reasons=frozenset({ANY_REASON}))
    run.produce_events(run.storefront(200, seed=26), label="before")
    run.produce_values([rng.randbytes(1_200_000)], anywhere, label="1.2 MB undecodable")
    run.produce_values([rng.randbytes(10_000_000)], anywhere, label="10 MB undecodable")
    big = run.storefront(1, seed=27)[0]
    big.setdefault("properties", {})["description"] = "x" * 5_000_000
    run.produce_events([big], may_dead_letter=(ANY_REASON,), label="5 MB string in an event")
    run.produce_events(run.storefront(200, seed=28), label="after")
    run.start(BATCH_SIZE="100")
    run.wait_settled(60)
    report = run.finish()
    assert report.dead_lettered >= 2


UNCLASSIFIED = {
    "a proxy's 407": (
        407,
        "<html><body><h1>407 Proxy Authentication Required</h1></body></html>",
        "text/html",
    ),
    "a 400 without a TikTok body": (400, "Bad Request", "text/plain"),
    "40002 naming no event": (
        200,
        '{"code": 40002, "message": "Invalid parameters", "data": {}}',
        "application/json",
    ),
    "an unknown 4xxxx code": (
        200,
        '{"code": 41999, "message": "Something new", "data": {}}',
        "application/json",
    ),
}


# Issue 12 defect 8, before its fix: answers that cannot be classified dead-letter good events.
def test_unclassified_answers_do_not_dead_letter_good_events(
    fault_run: Callable[..., FaultRun],
) -> None:
    run = fault_run(partitions=1)
    run.produce_events(run.storefront(100, seed=29), label="warm-up")
    connector = run.start(BATCH_SIZE="50")
    run.wait_settled(60)
    emulator = run.emulator
    dead_letters: dict[str, int] = {}
    for seed, (kind, (status, body, content_type)) in enumerate(UNCLASSIFIED.items(), start=30):
        answered = emulator.stats()["faults"].get("answer", 0)
        emulator.set_faults(
            answer_rate=1.0,
            answer_status=status,
            answer_body=body,
            answer_content_type=content_type,
        )
        run.produce_events(run.storefront(200, seed=seed), label=kind)
        # A short window of these answers (40 of them, or 5 s), then TikTok answers normally.
        wait_for(
            lambda a=answered: emulator.stats()["faults"].get("answer", 0) > a,
            timeout=30,
            what=f"the first {kind}",
        )
        opened = time.monotonic()
        wait_for(
            lambda a=answered, o=opened: (
                emulator.stats()["faults"].get("answer", 0) >= a + 40 or time.monotonic() - o > 5
            ),
            timeout=30,
            what=f"a window of {kind}",
        )
        emulator.set_faults()
        run.wait_settled(60)
        dead_letters[kind] = run.report().dead_lettered - sum(dead_letters.values())
    run.notes["unclassified_dead_letters"] = dead_letters
    assert connector.running
    report = run.finish(check=False)
    assert not any(dead_letters.values()), f"good events dead-lettered per answer: {dead_letters}"
    report.assert_ok()


# Issue 12 defect 9, before its fix: in-flight memory is bounded by record count, not bytes.
def test_memory_is_bounded_by_bytes_during_an_outage(fault_run: Callable[..., FaultRun]) -> None:
    run = fault_run(partitions=2)
    run.emulator.set_faults(error_5xx_rate=1.0)
    events = run.storefront(HELD_EVENTS, seed=40)
    for event in events:  # 400 KB records; the padding is a part the mapping does not read
        event["integrations"] = {"All": True, "padding": "y" * 400_000}
    run.produce_events(events)
    # Every batch keeps retrying in-process (every 2 s at most) for the whole window: what the
    # connector takes in stays in its memory.
    connector = run.start(
        BATCH_SIZE="100",
        SEND_RETRY_ATTEMPTS="30",
        SEND_RETRY_BACKOFF="500ms",
        SEND_RETRY_MAX_BACKOFF="2s",
    )
    wait_for(lambda: run.emulator.stats()["requests"] >= 4, timeout=60, what="failing requests")
    with contextlib.suppress(WaitTimeout):  # the defect: memory passes the pod's limit
        wait_for(
            lambda: connector.sample_rss() > MEMORY_LIMIT,
            timeout=MEMORY_WINDOW_S,
            interval=0.2,
            what="memory to pass the limit",
        )
    peak = connector.peak_rss
    run.notes["outage_peak_rss_mb"] = round(peak / 2**20)
    assert peak < MEMORY_LIMIT, (
        f"{HELD_EVENTS} x 400 KB events in flight reached {peak / 2**20:.0f} MiB, over the chart's"
        f" {MEMORY_LIMIT / 2**20:.0f} MiB limit"
    )
    run.emulator.set_faults()
    run.wait_settled(120)
    # Catching up afterwards holds no more live data, but glibc kept the freed record buffers:
    # 878 MiB before consumer/malloc.py fixed its mmap threshold.
    after = run.peak_rss()
    run.notes["catch_up_peak_rss_mb"] = round(after / 2**20)
    assert after < MEMORY_LIMIT, f"catching up reached {after / 2**20:.0f} MiB"
    run.finish()


# Issue 12 defect 10, before its fix: OTEL_SDK_DISABLED=true removes every tiktok_capi_*
# metric from /metrics.
def test_metrics_survive_otel_sdk_disabled(fault_run: Callable[..., FaultRun]) -> None:
    run = fault_run(partitions=1)
    run.produce_events(run.storefront(200, seed=41))
    connector = run.start(OTEL_SDK_DISABLED="true")
    run.wait_settled(60)
    metrics = connector.metrics()
    run.finish()
    assert "tiktok_capi_events_delivered" in metrics, metrics[:500]


# Issue 12 defect 11, before its fix: a silent broker stall leaves /readyz 200.
def test_a_silent_broker_stall_turns_readiness_off(
    fault_run: Callable[..., FaultRun], proxied_broker: ProxiedBroker
) -> None:
    run = fault_run(partitions=2, broker_helper=proxied_broker.helper)
    run.emulator.set_faults(latency_ms=30)
    run.produce_events(run.storefront(3000, seed=42))
    connector = run.start(BATCH_SIZE="100")
    run.wait_more_deliveries(300, "deliveries before the stall")
    proxied_broker.proxy.stall()
    readiness = watch(connector.ready, duration=STALL_S, interval=0.25)
    proxied_broker.proxy.resume()
    run.notes["stall_s"] = STALL_S
    assert False in readiness, f"/readyz stayed 200 through a {STALL_S:g} s broker stall"
    run.wait_settled(90)
    run.finish()


# Issue 12 defect 12, before its fix: a synchronous commit blocks the poll loop while the
# group coordinator is away.
def test_the_poll_loop_keeps_ticking_while_the_broker_is_cut(
    fault_run: Callable[..., FaultRun], proxied_broker: ProxiedBroker
) -> None:
    run = fault_run(partitions=2, broker_helper=proxied_broker.helper)
    # Paced: deliveries (and so commits) go on through the cut.
    run.emulator.set_faults(latency_ms=100)
    run.produce_events(run.storefront(3000, seed=43))
    # /livez fails when the loop has not ticked for LIVENESS_TIMEOUT: a loop that only polls,
    # never blocking, ticks every 0.1 s whatever the broker does.
    connector = run.start(BATCH_SIZE="50", MAX_IN_FLIGHT_REQUESTS="2", LIVENESS_TIMEOUT="2s")
    run.wait_more_deliveries(300, "deliveries before the cut")
    proxied_broker.proxy.cut("reset")
    liveness = watch(lambda: connector.get("/livez").status, duration=CUT_S, interval=0.2)
    proxied_broker.proxy.restore()
    run.notes["cut_s"] = CUT_S
    assert set(liveness) == {200}, f"/livez during a {CUT_S:g} s cut: {liveness}"
    run.wait_settled(60)
    run.finish()
