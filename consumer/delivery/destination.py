"""The destination's state and its circuit breaker: running, paused for auth, down, stopped.

The poll loop owns the state; a probe thread ends a pause. Two things open the breaker:

- **auth** — TikTok refused the token, the pixel or a setting (:meth:`Destination.hold`): the
  state becomes ``paused_auth`` and the token is probed every ``AUTH_PROBE_INTERVAL``.
- **a destination-wide failure** — a batch whose requests kept failing transiently (nothing
  listening, DNS failing, every answer a 5xx, timeouts, throttling, unclassified answers) past
  the sender's in-process retry budget (:meth:`Destination.suspect`). One batch is enough to
  *suspect* the destination, never enough to blame its events: the state becomes ``down`` and a
  probe (an empty request, :meth:`~tiktok_capi.consumer.delivery.base.Sender.probe`) is sent at
  once. If TikTok answers it, the failure was the batch's own (say, a payload that makes TikTok
  fail), and its events go on to the retry tiers; if not, the destination is down: the probe
  goes on with a backoff (1 s, 2 s, 4 s... up to ``AUTH_PROBE_INTERVAL``) and the held events
  are sent again once it answers.

Either way, while not running readiness is false with the reason, the
``tiktok_capi.destination.state`` metric says which state, consumption is paused (the loop
decides that: it pauses before it reports the state) and nothing held is routed anywhere, so
an outage of any length dead-letters nothing. When the probe succeeds the thread calls
``on_recovered(outage)`` (the poll loop puts a ``DestinationRecovered`` event on its queue;
``outage`` says whether a probe had failed first); the loop then resumes, calls
:meth:`Destination.recovered` and re-sends or routes the held events.
:meth:`Destination.stop` is final (dead-letter limit, fatal errors).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Final

from tiktok_capi.consumer.delivery.base import ErrorInfo, Sender
from tiktok_capi.consumer.telemetry.health_state import DestinationState, HealthState
from tiktok_capi.consumer.telemetry.metrics import DESTINATION_PROBES, DESTINATION_STATE

__all__ = ["PROBE_FIRST_BACKOFF_S", "Destination"]

log = logging.getLogger(__name__)

PROBE_FIRST_BACKOFF_S: Final = 1.0
"""Wait before the second probe of a destination found down; doubles up to the interval."""
_JOIN_S: Final = 30.0


def _record_state(state: DestinationState) -> None:
    for candidate in DestinationState:
        DESTINATION_STATE.set(1 if candidate is state else 0, {"state": candidate.value})


def _describe(error: ErrorInfo) -> str:
    reason = f"{error.error_class}: {error.message}"
    return reason if error.code is None else f"{reason} (code {error.code})"


class Destination:
    """State of the TikTok destination, owned by the poll loop; the probe runs on its own thread.

    Args:
        sender: probed with :meth:`~tiktok_capi.consumer.delivery.base.Sender.probe` while paused.
        health: receives the state (readiness).
        on_recovered: called from the probe thread when a probe succeeded, with ``True`` when
            an earlier probe of the same pause had failed (the destination was really down).
        probe_interval_s: seconds between two probes for auth; the longest backoff when down.
    """

    def __init__(
        self,
        sender: Sender,
        health: HealthState,
        on_recovered: Callable[[bool], None],
        probe_interval_s: float,
    ) -> None:
        self._sender = sender
        self._health = health
        self._on_recovered = on_recovered
        self._interval = probe_interval_s
        self._closing = threading.Event()
        self._prober: threading.Thread | None = None
        self.state = DestinationState.RUNNING
        self.reason = ""
        health.set_destination(DestinationState.RUNNING)
        _record_state(DestinationState.RUNNING)

    @property
    def running(self) -> bool:
        """True when events may be sent."""
        return self.state is DestinationState.RUNNING

    def hold(self, error: ErrorInfo) -> None:
        """TikTok refused the token, pixel or a setting: pause and probe (idempotent)."""
        if not self._open(DestinationState.PAUSED_AUTH, error):
            return
        log.error(
            "TikTok refused the token or pixel; consumption paused, probing every %gs: %s",
            self._interval,
            self.reason,
            extra={"tiktok_code": error.code, "request_id": error.request_id},
        )
        self._start_probe(first_wait_s=self._interval, backoff=False)

    def suspect(self, error: ErrorInfo) -> None:
        """A batch failed past the retry budget: pause and probe at once (idempotent).

        The first probe's answer decides: TikTok answers, so the failure was the batch's own
        (``on_recovered(False)``); or it does not, and the destination is down until a later
        probe answers (``on_recovered(True)``).
        """
        if not self._open(DestinationState.DOWN, error):
            return
        log.warning(
            "TikTok failed a whole batch past the retry budget (%s); consumption paused while a "
            "probe checks whether the destination is down",
            self.reason,
            extra={"tiktok_code": error.code, "request_id": error.request_id},
        )
        self._start_probe(first_wait_s=0.0, backoff=True)

    def recovered(self) -> bool:
        """The probe succeeded: back to running. False when the state moved on meanwhile."""
        if self.state not in (DestinationState.PAUSED_AUTH, DestinationState.DOWN):
            return False
        self._join_prober()
        was = self.state
        self.state = DestinationState.RUNNING
        self.reason = ""
        self._health.set_destination(DestinationState.RUNNING)
        _record_state(DestinationState.RUNNING)
        if was is DestinationState.PAUSED_AUTH:
            log.warning("TikTok accepts the token again; resuming consumption")
        else:
            log.warning("TikTok answers again; resuming consumption")
        return True

    def stop(self, reason: str) -> None:
        """Stop for good (the process is shutting down with an error)."""
        if self.state is DestinationState.STOPPED:
            return
        self.state = DestinationState.STOPPED
        self.reason = reason
        self._health.set_destination(DestinationState.STOPPED, reason)
        _record_state(DestinationState.STOPPED)
        self.close()

    def close(self) -> None:
        """End the probe thread, if any (close the sender first: that aborts a probe request)."""
        self._closing.set()
        self._join_prober()

    # ----------------------------------------------------------------------------- internals
    def _open(self, state: DestinationState, error: ErrorInfo) -> bool:
        if self.state is not DestinationState.RUNNING:
            return False
        self.state = state
        self.reason = _describe(error)
        if state is DestinationState.DOWN:
            self.reason = f"TikTok unreachable or failing as a whole: {self.reason}"
        self._health.set_destination(state, self.reason)
        _record_state(state)
        return True

    def _start_probe(self, *, first_wait_s: float, backoff: bool) -> None:
        self._join_prober()  # a finished probe of an earlier pause
        self._prober = threading.Thread(
            target=self._probe,
            args=(first_wait_s, backoff),
            name="tiktok-capi-probe",
            daemon=True,
        )
        self._prober.start()

    def _join_prober(self) -> None:
        prober, self._prober = self._prober, None
        if prober is not None and prober is not threading.current_thread():
            prober.join(timeout=_JOIN_S)

    def _probe(self, wait_s: float, backoff: bool) -> None:
        failures = 0
        while not self._closing.wait(wait_s):
            try:
                error = self._sender.probe()
            except Exception:  # a bug in the probe must not end the pause silently
                log.exception("destination probe failed")
                error = ErrorInfo("transient", "the probe raised")
            if error is None:
                DESTINATION_PROBES.add(1, {"result": "up"})
                self._on_recovered(failures > 0)
                return
            failures += 1
            down = error.error_class not in ("auth", "misconfigured")
            DESTINATION_PROBES.add(1, {"result": "down" if down else "refused"})
            if backoff:
                wait_s = min(self._interval, PROBE_FIRST_BACKOFF_S * 2 ** min(failures - 1, 30))
            else:
                wait_s = self._interval
            log.log(
                logging.ERROR if failures == 1 else logging.WARNING,
                "TikTok %s (probe %d): %s; next probe in %gs",
                "is down" if down else "still refuses the token or pixel",
                failures,
                _describe(error),
                wait_s,
                extra={"tiktok_code": error.code},
            )
