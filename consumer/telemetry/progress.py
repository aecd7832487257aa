"""A progress line every ``PROGRESS_INTERVAL`` and the totals at exit, at info level.

What an operator tailing the log wants to see without a dashboard: the records consumed,
delivered, skipped, retried and dead-lettered since the last line, the lag and what is in
flight::

    progress (last 60s): 52,000 consumed, 41,200 delivered, 10,700 skipped, 100 retried,
    0 dead-lettered; lag 1,250 (+300 waiting in retry tiers), 4,000 in flight

The numbers are also fields of the JSON line (``consumed``, ``delivered``, ... ``lag``,
``retry_backlog``, ``in_flight``, ``interval_s``). :class:`ProgressReporter` runs on a thread of
its own and only reads :class:`~.stats.ConnectorStats` snapshots.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from tiktok_capi.consumer.telemetry.stats import ConnectorStats

__all__ = ["ProgressReporter", "log_totals", "progress_line"]

log = logging.getLogger(__name__)


def _counts(stats: ConnectorStats) -> dict[str, int]:
    return {
        "consumed": stats.consumed,
        "delivered": stats.delivered_total,
        "skipped": stats.skipped_total,
        "retried": stats.retried_total,
        "dead_lettered": stats.dead_lettered_total,
    }


def progress_line(
    before: ConnectorStats, now: ConnectorStats, seconds: float, source_topic: str
) -> tuple[str, dict[str, Any]]:
    """The message and the fields of one progress line, from two snapshots."""
    earlier, later = _counts(before), _counts(now)
    delta = {name: later[name] - earlier[name] for name in later}
    lag = sum(n for (topic, _), n in now.lag.items() if topic == source_topic)
    backlog = sum(n for (topic, _), n in now.lag.items() if topic != source_topic)
    message = (
        f"progress (last {seconds:.0f}s): {delta['consumed']:,} consumed, "
        f"{delta['delivered']:,} delivered, {delta['skipped']:,} skipped, "
        f"{delta['retried']:,} retried, {delta['dead_lettered']:,} dead-lettered; "
        f"lag {lag:,} (+{backlog:,} waiting in retry tiers), {now.in_flight:,} in flight"
    )
    fields: dict[str, Any] = {
        **delta,
        "lag": lag,
        "retry_backlog": backlog,
        "in_flight": now.in_flight,
        "interval_s": round(seconds, 1),
    }
    return message, fields


def log_totals(stats: ConnectorStats, now: float | None = None) -> None:
    """Log what the connector did since it started (at exit)."""
    uptime = (time.time() if now is None else now) - stats.started_at
    counts = _counts(stats)
    log.info(
        "totals (%.0fs): %s consumed, %s delivered, %s skipped, %s retried, %s dead-lettered, "
        "%s requests",
        uptime,
        f"{counts['consumed']:,}",
        f"{counts['delivered']:,}",
        f"{counts['skipped']:,}",
        f"{counts['retried']:,}",
        f"{counts['dead_lettered']:,}",
        f"{stats.requests:,}",
        extra={**counts, "requests": stats.requests, "uptime_s": round(uptime, 1)},
    )


class ProgressReporter:
    """Logs a progress line every ``interval_s`` until :meth:`stop`.

    Args:
        snapshot: returns the connector's current stats (thread-safe).
        interval_s: ``PROGRESS_INTERVAL``.
        source_topic: lag of other topics (retry tiers) is reported apart.
        clock: monotonic seconds.
    """

    def __init__(
        self,
        snapshot: Callable[[], ConnectorStats],
        interval_s: float,
        source_topic: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._snapshot = snapshot
        self._interval = interval_s
        self._source = source_topic
        self._clock = clock
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the reporting thread."""
        self._thread = threading.Thread(target=self._run, name="tiktok-capi-progress", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """End the thread (no last line: the totals follow)."""
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5)

    def _run(self) -> None:
        before, since = self._snapshot(), self._clock()
        while not self._stopping.wait(self._interval):
            now, at = self._snapshot(), self._clock()
            message, fields = progress_line(before, now, at - since, self._source)
            log.info("%s", message, extra=fields)
            before, since = now, at
