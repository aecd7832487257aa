"""The emulator with a receipt clock, for the latency-under-load scenario.

    python -m bench.receiver --port PORT --token T --pixel-code P --out FILE

The emulator records what it accepts but not when (request ids carry whole seconds only), and
the benchmark adds nothing to ``emulator/``. So this process serves the very same emulator
(same validation, same garbage-collector tuning as ``tiktok-capi emulate``) and, for every
accepted request, notes the wall-clock time its body arrived and, for each event whose
``event_id`` carries a produce time (:meth:`bench.dataset.Pool.stamped`), the delay from
produce to receipt. On SIGTERM it writes those delays (seconds, float64, native byte order)
to ``--out`` as pairs (produce time in Unix seconds, delay in seconds; float64, native byte
order) and exits; the first stdout line is the base URL, as with ``emulate``.
"""

from __future__ import annotations

import argparse
import array
import re
import signal
import sys
import threading
import time
from typing import Any

from bench.dataset import produce_time_us
from bench.internals import TRACK_PATH, Emulator, EmulatorConfig, tuned_for_serving

__all__ = ["main"]

_EVENT_ID = re.compile(rb'"event_id":"([^"]{45})"')
_OK = b'{"code":0,'


class _TimedEmulator(Emulator):
    """Notes (produce time, produce -> receipt delay) of accepted events (thread-safe)."""

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.delays = array.array("d")
        self._lock = threading.Lock()

    def post(self, path: str, headers: Any, body: bytes) -> Any:
        received_us = time.time_ns() // 1000
        reply = super().post(path, headers, body)
        if path == TRACK_PATH and getattr(reply, "body", b"").startswith(_OK):
            pairs: list[float] = []
            for event_id in _EVENT_ID.findall(body):
                produced_us = produce_time_us(event_id)
                if produced_us is not None:
                    pairs += (produced_us / 1e6, (received_us - produced_us) / 1e6)
            with self._lock:
                self.delays.extend(pairs)
        return reply


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.receiver", description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", required=True)
    parser.add_argument("--pixel-code", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    config = EmulatorConfig(
        port=args.port, token=args.token, pixel_code=args.pixel_code, max_events_in_memory=100_000
    )
    emulator = _TimedEmulator(config)
    with emulator, tuned_for_serving():
        print(emulator.base_url, flush=True)
        while not stop.wait(0.5):
            pass
    with open(args.out, "wb") as out:
        emulator.delays.tofile(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
