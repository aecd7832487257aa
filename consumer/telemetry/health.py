"""The health HTTP port: ``/livez``, ``/readyz`` and ``/metrics`` for Kubernetes and Prometheus.

- ``/livez``: 200 while the poll loop has ticked within ``LIVENESS_TIMEOUT`` (or has not started
  yet), else 503 — Kubernetes restarts a pod whose loop is stuck.
- ``/readyz``: 200 when partitions are assigned (or the member waits for an assignment), the
  broker is reachable and answering (:mod:`~tiktok_capi.consumer.kafka.watch`) and the
  destination is running (not paused for auth, not down, not stopped), else 503 with the reason.
- ``/metrics``: the Prometheus exposition of the prometheus_client registry that
  `tiktok_capi.consumer.telemetry.setup` feeds (text format, or OpenMetrics when the scraper asks
  for it); 404 when ``METRICS_ENABLED=false``.

Bodies are one short line of plain text (the reason), never PII or secrets. The server is a
stdlib ``ThreadingHTTPServer`` on a daemon thread; request logging is off.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import choose_encoder

from tiktok_capi.consumer.telemetry.health_state import HealthState

__all__ = ["HealthServer"]

log = logging.getLogger(__name__)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: HealthServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Log through `logging` (JSON), not a traceback on stderr; probes that hang up are
        not worth more than a debug line."""
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError):
            log.debug("health client went away: %s", exc)
        else:
            log.warning("health request failed", exc_info=exc)


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "tiktok-capi"
    sys_version = ""

    def do_GET(self) -> None:
        owner = self.server.owner
        path = self.path.split("?", 1)[0]
        if path == "/livez":
            ok, reason = owner.state.live(owner.liveness_timeout_s, owner.clock())
            self._text(HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE, reason)
        elif path == "/readyz":
            ok, reason = owner.state.ready()
            self._text(HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE, reason)
        elif path == "/metrics" and owner.metrics_enabled:
            encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
            try:
                body = encoder(owner.registry)
            except Exception:
                log.warning("collecting metrics for /metrics failed", exc_info=True)
                self._text(HTTPStatus.INTERNAL_SERVER_ERROR, "metrics collection failed")
                return
            self._send(HTTPStatus.OK, body, content_type)
        elif path == "/":
            links = "/livez /readyz" + (" /metrics" if owner.metrics_enabled else "")
            self._text(HTTPStatus.OK, f"tiktok-capi: {links}")
        else:
            self._text(HTTPStatus.NOT_FOUND, "not found")

    def _text(self, status: HTTPStatus, text: str) -> None:
        self._send(status, (text + "\n").encode(), "text/plain; charset=utf-8")

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request access logs (probes hit these paths every few seconds)."""


class HealthServer:
    """Serves the health endpoints for one :class:`.health_state.HealthState`.

    Args:
        host: address to bind (``HEALTH_HOST``).
        port: port to bind (``HEALTH_PORT``); 0 picks a free one, see :meth:`start`.
        state: the poll loop's health state.
        liveness_timeout_s: ``/livez`` fails when the loop has not ticked for this long.
        metrics_enabled: serve ``/metrics`` (else 404).
        registry: prometheus_client registry to expose (default: the global ``REGISTRY``).
        clock: monotonic clock compared with the loop's ticks (tests inject one).
    """

    def __init__(
        self,
        host: str,
        port: int,
        state: HealthState,
        liveness_timeout_s: float,
        metrics_enabled: bool,
        *,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host = host
        self.port = port
        self.state = state
        self.liveness_timeout_s = liveness_timeout_s
        self.metrics_enabled = metrics_enabled
        self.registry = REGISTRY if registry is None else registry
        self.clock = clock
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> int:
        """Bind and serve on a daemon thread.

        Returns:
            The port actually bound (useful with port 0).

        Raises:
            OSError: the address cannot be bound (port in use, bad host).
        """
        if self._server is not None:
            return self.port
        server_class = _Server6 if ":" in self.host else _Server
        server = server_class((self.host, self.port), _Handler)
        server.owner = self
        self._server = server
        self.port = int(server.server_address[1])
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="health-http",
            daemon=True,
        )
        self._thread.start()
        log.info("health port listening on %s:%d", self.host, self.port)
        return self.port

    def stop(self) -> None:
        """Stop serving and close the socket. Idempotent."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> HealthServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
