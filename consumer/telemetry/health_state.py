"""Health state shared by the poll loop (writer) and the health HTTP port (reader).

The poll loop calls :meth:`HealthState.tick` every iteration and records assignment, broker
reachability and the destination state; `/livez` and `/readyz` read them. Thread-safe.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from enum import Enum

__all__ = ["DestinationState", "HealthSnapshot", "HealthState"]


class DestinationState(Enum):
    """Whether events are being sent to TikTok."""

    RUNNING = "running"
    PAUSED_AUTH = "paused_auth"  # token/permission failure: consumption paused, probing
    DOWN = "down"  # TikTok unreachable or failing as a whole: consumption paused, probing
    STOPPED = "stopped"  # stopped on purpose (dead-letter limit, fatal misconfiguration, shutdown)


@dataclass(frozen=True, slots=True)
class HealthSnapshot:
    """A consistent copy of the state at one moment."""

    last_tick: float | None
    assigned: bool
    waiting_for_assignment: bool
    broker_reachable: bool
    destination: DestinationState
    destination_reason: str
    broker_answering: bool = True
    broker_stall: str = ""


class HealthState:
    """Mutable health facts with a lock; cheap enough to tick on every poll."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_tick: float | None = None
        self._assigned = False
        self._waiting = True
        self._broker_reachable = False
        self._destination = DestinationState.RUNNING
        self._reason = ""
        self._broker_answering = True
        self._broker_stall = ""

    def tick(self, now: float | None = None) -> None:
        """Record that the poll loop is alive (monotonic seconds)."""
        self._last_tick = time.monotonic() if now is None else now

    def set_assignment(self, *, assigned: bool, waiting: bool) -> None:
        """Record whether partitions are assigned or the member waits for a (re)assignment."""
        with self._lock:
            self._assigned = assigned
            self._waiting = waiting

    def set_broker_reachable(self, reachable: bool) -> None:
        """Record whether the last broker interaction succeeded."""
        with self._lock:
            self._broker_reachable = reachable

    def set_broker_answering(self, answering: bool, reason: str = "") -> None:
        """Record whether the broker answers requests at all (a silent stall: ``False``)."""
        with self._lock:
            self._broker_answering = answering
            self._broker_stall = "" if answering else reason

    def set_destination(self, state: DestinationState, reason: str = "") -> None:
        """Record the destination state with a PII-free reason."""
        with self._lock:
            self._destination = state
            self._reason = reason

    def snapshot(self) -> HealthSnapshot:
        """Return the current facts."""
        with self._lock:
            return HealthSnapshot(
                self._last_tick,
                self._assigned,
                self._waiting,
                self._broker_reachable,
                self._destination,
                self._reason,
                self._broker_answering,
                self._broker_stall,
            )

    def live(self, timeout_s: float, now: float | None = None) -> tuple[bool, str]:
        """Liveness: the poll loop ticked within ``timeout_s``."""
        last = self._last_tick
        now = time.monotonic() if now is None else now
        if last is None:
            return True, "starting"
        age = now - last
        if age > timeout_s:
            return False, f"poll loop has not ticked for {age:.0f}s"
        return True, "ok"

    def ready(self) -> tuple[bool, str]:
        """Readiness: assigned (or waiting for it), broker reachable and answering, destination
        running."""
        snap = self.snapshot()
        if not snap.broker_reachable:
            return False, "broker not reachable"
        if not snap.broker_answering:
            return False, snap.broker_stall or "broker not answering"
        if snap.destination is not DestinationState.RUNNING:
            return False, f"destination {snap.destination.value}: {snap.destination_reason}"
        if not (snap.assigned or snap.waiting_for_assignment):
            return False, "no partitions assigned"
        return True, "ok"
