"""The circuit breaker: a destination-wide failure holds and pauses, one of events retries.

Issue 12, defect 2: with nothing listening (or every request a 5xx, or timeouts) each batch was
taken for failing events, so records walked the retry tiers into the dead-letter topic and
``/readyz`` stayed ready.
"""

from __future__ import annotations

from collections.abc import Sequence

from tests.consumer.loop.test_pipeline import TOPIC, Harness, values
from tiktok_capi.consumer.delivery.base import BatchOutcome, ErrorInfo
from tiktok_capi.consumer.telemetry.health_state import DestinationState

REFUSED = ErrorInfo("transient", "connection error (ConnectError: [Errno 111] Connection refused)")


def failing(events: Sequence[bytes]) -> BatchOutcome:
    """What the sender reports when every request of a batch failed past the retry budget."""
    return BatchOutcome(failed=tuple(range(len(events))), failure=REFUSED, requests=5)


def test_an_outage_pauses_reports_not_ready_and_dead_letters_nothing() -> None:
    h = Harness(partitions=2, batch_size=5)
    h.sender.answer = failing
    h.sender.probe_error = REFUSED  # the probe finds nothing listening either
    h.produce(0, values(0, 12))
    h.produce(1, values(100, 8))
    h.start()
    h.wait(lambda: h.health.snapshot().destination is DestinationState.DOWN, "the breaker")
    h.wait(lambda: h.sender.probes >= 3, "probes while down")
    ready, reason = h.health.ready()
    assert not ready and reason.startswith("destination down: ")
    assert "Connection refused" in reason
    assert h.source is not None and "destination" in h.source.paused
    assert h.outcomes.written == [], "an outage must not route records to the tiers or the DLQ"
    assert h.pipeline.in_flight == 20  # held, uncommitted
    h.sender.answer = None
    h.sender.probe_ok = True  # TikTok is back
    h.wait(lambda: len(h.sender.delivered) == 20, "the held events to be sent again")
    h.wait(lambda: h.health.snapshot().destination is DestinationState.RUNNING, "running")
    h.wait(
        lambda: h.source is not None and h.source.committed() == {(TOPIC, 0): 12, (TOPIC, 1): 8},
        "the commit of everything",
    )
    assert "destination" not in h.source.paused
    assert h.stop() == 0
    assert h.outcomes.written == []


def test_a_batch_failing_while_tiktok_answers_the_probe_goes_to_the_retry_tier() -> None:
    h = Harness(partitions=1, batch_size=4)

    def answer(events: Sequence[bytes]) -> BatchOutcome:  # m-2 makes TikTok fail, always
        if any(b'"m-2"' in e for e in events):
            return failing(events)
        return BatchOutcome(delivered=tuple(range(len(events))), requests=1)

    h.sender.answer = answer
    h.sender.probe_ok = True
    h.produce(0, values(0, 4))
    h.start()
    h.wait(lambda: len(h.outcomes.written) == 4, "the failed batch in the retry tier")
    assert {route.tier for _, route in h.outcomes.written} == {1}
    assert {r.offset for r, _ in h.outcomes.written} == {0, 1, 2, 3}
    assert h.sender.probes == 1
    h.wait(lambda: h.health.snapshot().destination is DestinationState.RUNNING, "running")
    h.sender.answer = None
    h.produce(0, values(4, 4))
    h.wait(lambda: len(h.sender.delivered) == 4, "later batches")
    assert h.stop() == 0


def test_a_token_refused_after_the_outage_still_pauses_for_auth() -> None:
    h = Harness(partitions=1, batch_size=5)
    h.sender.answer = failing
    h.sender.probe_error = REFUSED
    h.produce(0, values(0, 5))
    h.start()
    h.wait(lambda: h.health.snapshot().destination is DestinationState.DOWN, "the breaker")
    h.wait(lambda: h.sender.probes >= 2, "a failed probe: the destination is down")
    h.sender.answer = None
    h.sender.probe_ok = True
    h.wait(lambda: len(h.sender.delivered) == 5, "the held events")
    down = ErrorInfo("auth", "access token expired", code=40105)
    h.sender.answer = lambda events: BatchOutcome(
        held=tuple(range(len(events))), destination_down=down, requests=1
    )
    h.sender.probe_ok = False
    h.sender.probe_error = down
    h.produce(0, values(5, 5))
    h.wait(lambda: h.health.snapshot().destination is DestinationState.PAUSED_AUTH, "auth")
    h.sender.answer = None
    h.sender.probe_ok = True
    h.wait(lambda: len(h.sender.delivered) == 10, "the events held for auth")
    assert h.stop() == 0
    assert h.outcomes.written == []
