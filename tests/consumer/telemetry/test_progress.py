"""The periodic progress line and the totals at exit."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.consumer.core_support import (
    make_settings,
    produce_events,
    running,
    sample_events,
    settings_env,
)
from tests.fixtures.waiting import wait_for
from tiktok_capi.consumer.telemetry.progress import ProgressReporter, log_totals, progress_line
from tiktok_capi.consumer.telemetry.stats import ConnectorStats


def stats(**values: Any) -> ConnectorStats:
    return ConnectorStats(**values)


def test_the_line_counts_what_happened_since_the_last_one() -> None:
    before = stats(consumed=100, delivered={"Pageview": 60}, skipped={"unmapped_event": 30})
    now = stats(
        consumed=1_350,
        delivered={"Pageview": 900, "AddToCart": 100},
        skipped={"unmapped_event": 200, "no_consent": 20},
        retried={1: 25},
        dead_lettered={"invalid_event": 3},
        in_flight=4_000,
        lag={("cdp", 0): 1_000, ("cdp", 1): 250, ("cdp.g.retry.1", 0): 300},
    )
    message, fields = progress_line(before, now, 60.2, "cdp")
    assert message == (
        "progress (last 60s): 1,250 consumed, 940 delivered, 190 skipped, 25 retried, "
        "3 dead-lettered; lag 1,250 (+300 waiting in retry tiers), 4,000 in flight"
    )
    assert fields == {
        "consumed": 1_250,
        "delivered": 940,
        "skipped": 190,
        "retried": 25,
        "dead_lettered": 3,
        "lag": 1_250,
        "retry_backlog": 300,
        "in_flight": 4_000,
        "interval_s": 60.2,
    }


def test_the_reporter_logs_at_info_every_interval(caplog: pytest.LogCaptureFixture) -> None:
    consumed = iter(range(0, 10_000, 10))

    def snapshot() -> ConnectorStats:
        return stats(consumed=next(consumed))

    caplog.set_level(logging.INFO, logger="tiktok_capi.consumer.telemetry.progress")
    reporter = ProgressReporter(snapshot, 0.05, "cdp")
    reporter.start()
    try:
        wait_for(lambda: len(caplog.records) >= 2, timeout=10, what="two progress lines")
    finally:
        reporter.stop()
    first = caplog.records[0]
    assert first.levelno == logging.INFO
    assert first.getMessage().startswith("progress (last 0s): 10 consumed")
    assert first.consumed == 10  # type: ignore[attr-defined]


def test_totals_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tiktok_capi.consumer.telemetry.progress")
    log_totals(
        stats(consumed=5_000, delivered={"Pageview": 3_979}, skipped={"x": 1_021}, requests=5,
              started_at=1000.0),
        now=1010.0,
    )  # fmt: skip
    [record] = caplog.records
    assert record.getMessage() == (
        "totals (10s): 5,000 consumed, 3,979 delivered, 1,021 skipped, 0 retried, "
        "0 dead-lettered, 5 requests"
    )
    assert record.delivered == 3_979  # type: ignore[attr-defined]


@pytest.mark.integration
def test_a_running_connector_reports_progress_and_totals(
    broker: Any, emulator: Any, caplog: pytest.LogCaptureFixture
) -> None:
    topic = broker.unique_topic("progress", partitions=2)
    group = broker.unique_group("progress")
    stream = produce_events(broker, topic, sample_events(60, seed=21, prefix="progress"))
    env = settings_env(broker, emulator, topic, group, PROGRESS_INTERVAL="200ms")
    caplog.set_level(logging.INFO, logger="tiktok_capi.consumer.telemetry.progress")

    def lines() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.getMessage().startswith("progress")]

    with running(make_settings(env)) as connector:
        wait_for(
            lambda: connector.connector.stats().consumed >= 60,
            timeout=60,
            what="the stream consumed",
        )
        seen = len(lines())
        wait_for(lambda: len(lines()) > seen, timeout=10, what="a progress line after the work")
    reported = sum(getattr(r, "consumed", 0) for r in lines())
    assert reported == 60
    totals = [r for r in caplog.records if r.getMessage().startswith("totals")]
    assert len(totals) == 1
    assert totals[0].consumed == 60  # type: ignore[attr-defined]
    assert totals[0].delivered == len(stream.expected)  # type: ignore[attr-defined]
