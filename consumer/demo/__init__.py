"""The parts of `tiktok-capi demo` (the command itself is `tiktok_capi.consumer.commands.demo`).

- `dataset`: the shipped storefront dataset, its times moved to now, produced to the broker.
- `services`: the destination (emulator or TikTok in test mode), the connector settings and the
  connector thread.
- `progress`: the progress line, and waiting until the stream is drained.
- `summary`: the summary's numbers, its table and ``summary.json``.
"""

from __future__ import annotations


class DemoError(Exception):
    """The demo cannot run as asked; the message says what to do."""
