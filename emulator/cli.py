"""Running the emulator in the foreground until SIGTERM or SIGINT (``tiktok-capi emulate``).

The first line on stdout is the base URL and nothing else, so scripts can read it:

    url=$(tiktok-capi emulate --port 0 | head -n1)
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import TextIO

from tiktok_capi.emulator.config import EmulatorConfig
from tiktok_capi.emulator.gctune import tuned_for_serving
from tiktok_capi.emulator.service import Emulator

__all__ = ["serve"]


def serve(
    config: EmulatorConfig,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Serve until SIGTERM/SIGINT (or until ``stop`` is set); returns the exit status.

    Prints the base URL on ``out`` (stdout) at start-up, a how-to and a summary of the counters
    on ``err`` (stderr). The access token is never printed. While serving, the garbage collector
    is tuned for it (`emulator.gctune`); the previous settings are restored on return.
    """
    out = out or sys.stdout
    err = err or sys.stderr
    stop = stop or threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():

        def on_signal(signum: int, frame: FrameType | None) -> None:
            stop.set()

        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, on_signal)
    try:
        emulator = Emulator(config)
        try:
            emulator.start()
        except OSError as exc:
            emulator.stop()
            print(
                f"tiktok-capi emulate: cannot start on {config.host}:{config.port}: {exc}",
                file=err,
            )
            return 1
        recording = config.record_path is not None
        with emulator, tuned_for_serving():
            print(emulator.base_url, file=out, flush=True)
            print(
                f"TikTok Events API emulator: POST {emulator.track_url}\n"
                f"  pixel code {config.pixel_code}; send the configured token in Access-Token\n"
                f"  stats: GET {emulator.base_url}/_emulator/stats; "
                f"faults: POST {emulator.base_url}/_emulator/faults\n"
                + (f"  recording accepted events to {config.record_path}\n" if recording else "")
                + "  stop with Ctrl-C or SIGTERM",
                file=err,
                flush=True,
            )
            while not stop.wait(1.0):
                pass
            stats = emulator.stats()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    print(
        f"emulator stopped: {stats['requests']} requests, {stats['accepted_events']} events "
        f"accepted ({stats['unique_events']} unique, {stats['duplicates']} duplicates), "
        f"rejections by code {stats['rejections_by_code']}, faults {stats['faults']}",
        file=err,
        flush=True,
    )
    return 0
