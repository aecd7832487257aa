"""Producing from a command or a test: wait for room in librdkafka's queue instead of failing.

For the one-shot producers (``tiktok-capi produce``, ``dlq replay``, the demo's dataset, test
fixtures and benchmarks): a full local queue means "serve delivery reports, then try again".
The poll loop never uses this (it must not block); its writes go through
:class:`~tiktok_capi.consumer.failures.producer.FailureProducer`, which parks them instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from confluent_kafka import Producer

__all__ = ["QUEUE_FULL_WAIT_S", "produce_waiting"]

QUEUE_FULL_WAIT_S: Final = 0.1
"""How long a full queue is served (``poll``) between two tries."""


def produce_waiting(
    producer: Producer,
    topic: str,
    value: bytes | None,
    *,
    key: bytes | None = None,
    headers: Sequence[tuple[str, str | bytes | None]] | None = None,
    partition: int | None = None,
    on_delivery: Callable[[Any, Any], None] | None = None,
) -> None:
    """Queue one record, serving delivery reports while librdkafka's queue is full."""
    kwargs: dict[str, Any] = {}
    if key is not None:
        kwargs["key"] = key
    if headers:
        kwargs["headers"] = list(headers)
    if partition is not None:
        kwargs["partition"] = partition
    if on_delivery is not None:
        kwargs["on_delivery"] = on_delivery
    while True:
        try:
            producer.produce(topic, value, **kwargs)
            return
        except BufferError:  # the local queue is full: let deliveries drain it
            producer.poll(QUEUE_FULL_WAIT_S)
