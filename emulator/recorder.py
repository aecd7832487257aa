"""Appending accepted events to a JSON-lines file without slowing the emulator down.

Writes go through a large buffer and are flushed at most once a second (and on close), so a
1,000-event request costs one buffered write, not a thousand syscalls.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

__all__ = ["Recorder"]

_BUFFER_BYTES = 1 << 20
_FLUSH_EVERY_S = 1.0


class Recorder:
    """Appends JSON lines to ``path``; thread-safe.

    Args:
        path: the file to append to (created if missing; existing lines are kept).
        monotonic: clock deciding when to flush.
    """

    def __init__(self, path: str, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._file = open(path, "ab", buffering=_BUFFER_BYTES)  # noqa: SIM115 - closed in close()
        self._flushed_at = monotonic()

    def write(self, lines: Iterable[bytes]) -> None:
        """Append ``lines`` (each one JSON object ending with a newline)."""
        chunk = b"".join(lines)
        with self._lock:
            if self._file.closed:
                return
            self._file.write(chunk)
            now = self._monotonic()
            if now - self._flushed_at >= _FLUSH_EVERY_S:
                self._file.flush()
                self._flushed_at = now

    def flush(self) -> None:
        """Push buffered lines to the file now."""
        with self._lock:
            if not self._file.closed:
                self._file.flush()
                self._flushed_at = self._monotonic()

    def close(self) -> None:
        """Flush and close the file (idempotent)."""
        with self._lock:
            if not self._file.closed:
                self._file.close()
