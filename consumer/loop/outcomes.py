"""Outcomes: what a finished delivery means for each of its records.

::

    Delivered event ─▶ BatchOutcome
      delivered ─▶ resolved
      invalid   ─▶ failure router: dead-letter (reason invalid_event)
      failed    ─▶ kept here, "suspect"; the loop is told why (the circuit breaker opens)
      held      ─▶ kept here; the loop is told why (it pauses consumption and holds the
                   destination for auth)
    release_held(outage=True)  ─▶ every kept event, in ``BATCH_SIZE`` batches, back to the loop
    release_held(outage=False) ─▶ the suspect events to the failure router (next retry tier;
                                  after the last, the dead-letter topic), the rest to the loop

A batch failing past the sender's retry budget is first taken for a destination-wide failure:
TikTok answering the first probe is what makes it a failure of those events
(:mod:`~tiktok_capi.consumer.delivery.destination`), so an outage never walks records through
the retry tiers into the dead-letter topic. Everything here runs on the poll loop. Nothing here
commits, sends or pauses: resolving a record only lets the committer move past it, and the loop
sends what this returns.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from itertools import groupby

import orjson

from tiktok_capi.consumer.delivery.base import BatchOutcome, ErrorInfo
from tiktok_capi.consumer.failures.router import FailureRouter
from tiktok_capi.consumer.failures.tiers import FailureInfo
from tiktok_capi.consumer.loop.batcher import Batch
from tiktok_capi.consumer.telemetry.metrics import EVENTS_DELIVERED
from tiktok_capi.consumer.telemetry.stats import StatsRecorder
from tiktok_capi.consumer.telemetry.tally import STRAIGHT_THROUGH, Tally

__all__ = ["Outcomes", "Pause"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Pause:
    """Why a finished delivery pauses the destination (the loop acts on it).

    ``refused``: TikTok refused the token, the pixel or a setting (``paused_auth``); otherwise
    the batch failed past the retry budget and the circuit breaker opens (``down``).
    """

    error: ErrorInfo
    refused: bool


class Outcomes:
    """Turns delivery outcomes into resolutions, failure routes and held events.

    Args:
        router: where invalid and failed events go.
        stats: counters for the connector's stats.
        batch_size: ``BATCH_SIZE``, for re-batching held events.
        wall_clock: epoch seconds, what failures are written at.
        tally: where the counts for metrics go (the loop's; by default straight through).
    """

    def __init__(
        self,
        router: FailureRouter,
        stats: StatsRecorder,
        batch_size: int,
        wall_clock: Callable[[], float] = time.time,
        tally: Tally = STRAIGHT_THROUGH,
    ) -> None:
        self._tally = tally
        self._router = router
        self._stats = stats
        self._batch_size = batch_size
        self._wall_clock = wall_clock
        self._held: list[Batch] = []  # not sent, or refused for auth: sent again on recovery
        self._suspect: list[tuple[Batch, ErrorInfo]] = []  # failed past the budget, and why
        self.closing = False
        """Set at shutdown: the sender was closed, so ``held`` no longer means it is down."""

    @property
    def held(self) -> int:
        """Events kept while the destination is not running (suspect ones included)."""
        return sum(len(part) for part in self._held) + sum(len(p) for p, _ in self._suspect)

    def hold(self, batch: Batch) -> None:
        """Keep ``batch`` until the destination works again (it is not sent now)."""
        if batch.events:
            self._held.append(batch)

    def forget_revoked(self) -> None:
        """Drop held events of retired trackers (after a revocation)."""
        for part in self._held:
            part.keep(lambda t: t.active)
        self._held = [part for part in self._held if part.events]
        for part, _ in self._suspect:
            part.keep(lambda t: t.active)
        self._suspect = [(part, why) for part, why in self._suspect if part.events]

    def on_delivered(self, batch: Batch, future: Future[BatchOutcome]) -> Pause | None:
        """Resolve, dead-letter, retry or hold the events of ``batch`` by its outcome.

        Events of trackers retired meanwhile are ignored. A sender that raised (it promises
        not to) counts as a transient failure of the whole batch: nothing is lost.

        Returns:
            Why the destination should pause, when it should (events were kept): TikTok
            refused the batch (auth), or the batch failed past the retry budget (the circuit
            breaker). The loop then pauses consumption and holds or suspects the destination.
        """
        try:
            outcome = future.result()
        except Exception as exc:  # the sender promises not to raise; never lose the records
            log.exception("sender failed unexpectedly; records held for the circuit breaker")
            error = ErrorInfo("transient", f"sender error: {type(exc).__name__}")
            outcome = BatchOutcome(failed=tuple(range(len(batch))), failure=error)
        trackers = batch.trackers
        offsets = batch.offsets
        if outcome.delivered:
            names = batch.names
            delivered = outcome.delivered
            if len(delivered) == len(trackers):  # the whole batch (the common case)
                start = 0
                for tracker, run in groupby(trackers):  # by runs of one partition
                    end = start + len(list(run))
                    if tracker.active:
                        tracker.resolve_run(offsets[start:end])
                    start = end
                by_name = Counter(names)
            else:
                for i in delivered:
                    tracker = trackers[i]
                    if tracker.active:
                        tracker.resolve(offsets[i])
                by_name = Counter([names[i] for i in delivered])
            tally = self._tally
            for name, count in by_name.items():
                tally.add(EVENTS_DELIVERED, count, "event_name", name)
            self._stats.delivered(by_name, outcome.requests)
        elif outcome.requests:
            self._stats.delivered({}, outcome.requests)
        if outcome.invalid:
            now = self._wall_clock()
            router = self._router
            for i, error in outcome.invalid:
                if trackers[i].active:
                    self._log_event(batch, i, "rejected by TikTok as invalid", error)
                    failure = FailureInfo.from_error(error)
                    router.dead_letter(
                        trackers[i], offsets[i], batch.messages[i], "invalid_event", failure, now
                    )
        if outcome.failed and not self.closing:  # (at shutdown they stay unresolved)
            why = outcome.failure or ErrorInfo("transient", "delivery failed")
            suspect = Batch(batch.started)
            suspect.extend(batch, outcome.failed)
            suspect.keep(lambda t: t.active)
            if suspect.events:
                self._suspect.append((suspect, why))
                return Pause(why, refused=False)
        if outcome.held and not self.closing:
            held = Batch(batch.started)
            held.extend(batch, outcome.held)
            held.keep(lambda t: t.active)
            self.hold(held)
            refusal = outcome.destination_down or ErrorInfo("auth", "destination refused it")
            return Pause(refusal, refused=True)
        return None

    def release_held(self, outage: bool) -> list[Batch]:
        """The destination works again: the events to send again, in ``BATCH_SIZE`` batches.

        Args:
            outage: a probe had failed first, so the destination was down and the suspect
                events are sent again; ``False``: TikTok answered at once, so their failure was
                their own and they go to the next retry tier.
        """
        held, self._held = self._held, []
        suspect, self._suspect = self._suspect, []
        if outage:
            held.extend(part for part, _ in suspect)
        else:
            self._retry(suspect)
        batches: list[Batch] = []
        merged: Batch | None = None
        for part in held:
            part.keep(lambda t: t.active)
            for i in range(len(part)):
                if merged is None:
                    merged = Batch(part.started)
                merged.extend(part, (i,))
                if len(merged) >= self._batch_size:
                    batches.append(merged)
                    merged = None
        if merged is not None:
            batches.append(merged)
        return batches

    def _retry(self, suspect: list[tuple[Batch, ErrorInfo]]) -> None:
        """Send events whose failure was their own to the next retry tier."""
        now = self._wall_clock()
        for part, why in suspect:
            failure = FailureInfo.from_error(why)
            for i, tracker in enumerate(part.trackers):
                if tracker.active:
                    self._router.retry(tracker, part.offsets[i], part.messages[i], failure, now)

    def _log_event(self, batch: Batch, i: int, what: str, error: ErrorInfo) -> None:
        try:
            event_id = orjson.loads(batch.events[i]).get("event_id")
        except orjson.JSONDecodeError:  # pragma: no cover - we encoded it ourselves
            event_id = None
        tracker = batch.trackers[i]
        log.warning(
            "event %s at %s[%d]@%d %s: %s (code %s)",
            event_id,
            tracker.topic,
            tracker.partition,
            batch.offsets[i],
            what,
            error.message,
            error.code,
            extra={
                "topic": tracker.topic,
                "partition": tracker.partition,
                "offset": batch.offsets[i],
                "event_id": event_id,
            },
        )
