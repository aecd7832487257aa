"""The poll loop's metric counts reach OpenTelemetry summed, once per interval."""

from __future__ import annotations

from tests.fixtures.clock import ManualClock
from tiktok_capi.consumer.telemetry.tally import Tally


class Recorded:
    def __init__(self) -> None:
        self.adds: list[tuple[int, dict[str, str] | None]] = []

    def add(self, amount: int, attributes: dict[str, str] | None = None) -> None:
        self.adds.append((amount, attributes))


def test_counts_are_summed_per_attribute_and_published_when_the_interval_is_over() -> None:
    clock, delivered, in_flight = ManualClock(), Recorded(), Recorded()
    tally = Tally(1.0, clock)
    for name in ["Purchase", "ViewContent", "Purchase"]:
        tally.add(delivered, 10, "event_name", name)
    tally.add(in_flight, 30)
    tally.add(in_flight, -30)  # back where it was: nothing to publish
    tally.flush_due()
    assert delivered.adds == []  # not yet: one add per interval, not per batch
    clock.advance(1.0)
    tally.flush_due()
    assert sorted(delivered.adds, key=str) == [
        (10, {"event_name": "ViewContent"}),
        (20, {"event_name": "Purchase"}),
    ]
    assert in_flight.adds == []
    tally.add(delivered, 5, "event_name", "Purchase")
    clock.advance(0.5)
    tally.flush_due()
    assert len(delivered.adds) == 2  # the next interval started at the last flush
    tally.flush()  # shutdown: whatever is pending, now
    assert delivered.adds[-1] == (5, {"event_name": "Purchase"})


def test_an_interval_of_zero_passes_every_add_through() -> None:
    consumed = Recorded()
    tally = Tally(0)
    tally.add(consumed, 3, "topic", "events")
    tally.add(consumed, 4)
    assert consumed.adds == [(3, {"topic": "events"}), (4, None)]
