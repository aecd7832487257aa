"""The destination's state (running, paused for auth, stopped) and the probe that ends a pause.

When TikTok refuses the token or the pixel, the poll loop calls :meth:`Destination.hold`: the state
becomes ``paused_auth`` (readiness false, ``tiktok_capi.destination.state`` metric, one error log)
and a probe thread checks the token every ``AUTH_PROBE_INTERVAL`` — off the poll loop, which keeps
polling with its partitions paused. When the probe succeeds the thread calls ``on_recovered``
(the poll loop puts a ``DestinationRecovered`` event on its queue); the poll loop then calls
:meth:`Destination.recovered`, re-sends the held events and resumes.
:meth:`Destination.stop` is final (dead-letter limit, shutdown). The loop alone decides what a
state means for its partitions (paused while not running).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from tiktok_capi.consumer.delivery.base import ErrorInfo, Sender
from tiktok_capi.consumer.telemetry.health_state import DestinationState, HealthState
from tiktok_capi.consumer.telemetry.metrics import DESTINATION_STATE

__all__ = ["Destination"]

log = logging.getLogger(__name__)


def _record_state(state: DestinationState) -> None:
    for candidate in DestinationState:
        DESTINATION_STATE.set(1 if candidate is state else 0, {"state": candidate.value})


class Destination:
    """State of the TikTok destination, owned by the poll loop; the probe runs on its own thread.

    Args:
        sender: probed with :meth:`~tiktok_capi.consumer.delivery.base.Sender.probe` while paused.
        health: receives the state (readiness).
        on_recovered: called from the probe thread when a probe succeeded.
        probe_interval_s: seconds between two probes.
    """

    def __init__(
        self,
        sender: Sender,
        health: HealthState,
        on_recovered: Callable[[], None],
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
        """The destination refused the token/pixel: pause and start probing (idempotent)."""
        if self.state is not DestinationState.RUNNING:
            return
        self.state = DestinationState.PAUSED_AUTH
        self.reason = f"{error.error_class}: {error.message}"
        if error.code is not None:
            self.reason += f" (code {error.code})"
        self._health.set_destination(DestinationState.PAUSED_AUTH, self.reason)
        _record_state(DestinationState.PAUSED_AUTH)
        log.error(
            "TikTok refused the token or pixel; consumption paused, probing every %gs: %s",
            self._interval,
            self.reason,
            extra={"tiktok_code": error.code, "request_id": error.request_id},
        )
        self._prober = threading.Thread(target=self._probe, name="tiktok-capi-probe", daemon=True)
        self._prober.start()

    def recovered(self) -> bool:
        """The probe succeeded: back to running. False when the state moved on meanwhile."""
        if self.state is not DestinationState.PAUSED_AUTH:
            return False
        self._join_prober()
        self.state = DestinationState.RUNNING
        self.reason = ""
        self._health.set_destination(DestinationState.RUNNING)
        _record_state(DestinationState.RUNNING)
        log.warning("TikTok accepts the token again; resuming consumption")
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
        """End the probe thread, if any."""
        self._closing.set()
        self._join_prober()

    def _join_prober(self) -> None:
        prober, self._prober = self._prober, None
        if prober is not None and prober is not threading.current_thread():
            prober.join(timeout=30)

    def _probe(self) -> None:
        while not self._closing.wait(self._interval):
            try:
                error = self._sender.probe()
            except Exception:  # a bug in the probe must not end the pause silently
                log.exception("destination probe failed")
                continue
            if error is None:
                self._on_recovered()
                return
            log.warning(
                "TikTok still refuses the token or pixel: %s: %s",
                error.error_class,
                error.message,
                extra={"tiktok_code": error.code},
            )
