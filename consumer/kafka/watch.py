"""Whether the broker answers at all: a watch for the silent stall that librdkafka cannot see.

A broker that holds its connections open and answers nothing (a hung process, a load balancer or
network path that black-holes traffic) looks healthy to librdkafka for a long time: sockets are
up, so no error is raised until ``socket.timeout.ms`` (a minute) has passed for a request, and the
poll loop, which cannot tell an idle topic from a stalled broker, keeps consuming nothing. Before
issue 12 such a stall left ``/readyz`` at 200.

:class:`BrokerWatch` asks the cluster for the source topic's metadata every half of
``BROKER_STALL_TIMEOUT`` from a thread of its own, over an admin client of its own (so neither
the poll loop nor its consumer ever waits for it). A request unanswered for ``BROKER_STALL_TIMEOUT``
marks the broker *not answering* in the health state (readiness 503 with the reason); the next
answer clears it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Final

from tiktok_capi.consumer.telemetry.health_state import HealthState

__all__ = ["BrokerWatch"]

log = logging.getLogger(__name__)

_JOIN_S: Final = 5.0


def _admin(conf: dict[str, Any]) -> Any:
    from confluent_kafka.admin import AdminClient

    return AdminClient(conf)


class BrokerWatch:
    """Checks, off the poll loop, that the broker answers metadata requests.

    Args:
        admin_conf: librdkafka admin configuration (``config.kafka.admin_config``).
        topic: the topic whose metadata is asked for (the source topic).
        health: told whether the broker answers.
        timeout_s: ``BROKER_STALL_TIMEOUT``: how long a request may go unanswered; the watch
            asks every half of it.
        admin_factory: builds the admin client (a seam for tests).
    """

    def __init__(
        self,
        admin_conf: dict[str, Any],
        topic: str,
        health: HealthState,
        timeout_s: float,
        *,
        admin_factory: Callable[[dict[str, Any]], Any] = _admin,
    ) -> None:
        self._conf = admin_conf
        self._topic = topic
        self._health = health
        self._timeout = timeout_s
        self._factory = admin_factory
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start watching (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="tiktok-capi-broker-watch", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop watching; returns within a few seconds even while a request hangs."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(_JOIN_S)

    def check(self, admin: Any) -> bool:
        """One metadata request; records and returns whether the broker answered in time."""
        try:
            admin.list_topics(topic=self._topic, timeout=self._timeout)
        except Exception as exc:  # KafkaException(_TIMED_OUT, _TRANSPORT, ...): no answer
            reason = (
                f"broker not answering: no metadata answer within {self._timeout:g}s "
                f"({exc.args[0] if exc.args else exc})"
            )
            if self._health.snapshot().broker_answering:
                log.error("%s; readiness off until it answers", reason)
            self._health.set_broker_answering(False, reason)
            return False
        if not self._health.snapshot().broker_answering:
            log.warning("the broker answers again")
        self._health.set_broker_answering(True)
        return True

    def _run(self) -> None:
        try:
            admin = self._factory(self._conf)
        except Exception:  # a configuration the admin client refuses: the consumer says why
            log.exception("broker watch could not start")
            return
        while not self._stop.wait(self._timeout / 2):
            self.check(admin)
