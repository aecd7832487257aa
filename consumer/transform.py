"""Record values -> encoded TikTok events: decode, map, JSON-encode; inline or in worker processes.

Decoding Avro and mapping to TikTok cost ~30 µs per event in CPython: on one thread that caps
a process at ~30k events/s before Kafka and HTTP take their share of the GIL. With
``DECODE_WORKERS`` > 0 this step runs in separate processes (``spawn``: no fork of librdkafka's
threads), so the poll loop only consumes, batches, resolves and commits. Chunks of values go out,
one compact result per value comes back:

- ``(MAPPED, event_name, json_bytes)`` — the element of the request's ``data`` array;
- ``(SKIPPED, reason)`` — the mapping does not send it;
- ``(UNDECODABLE, reason, message)`` — dead-letter it (``decode_error``);
- ``(MAPPING_FAILED, message)`` — a mapping bug; dead-letter it (``mapping_error``);
- ``(REGISTRY_DOWN, message)`` — the schema registry could not answer: try again later.

Messages are PII-free (the codec never quotes content; mapping failures carry the type only).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Final

import orjson

from consumer.codec import DecodeError, Decoder, RegistryUnavailable, make_decoder
from consumer.settings import Settings
from mapping import DEFAULT_EVENT_MAP, Mapped, MappingSettings, load_event_map, map_event

__all__ = [
    "MAPPED",
    "MAPPING_FAILED",
    "REGISTRY_DOWN",
    "SKIPPED",
    "UNDECODABLE",
    "Result",
    "Transformer",
    "WorkerPool",
    "mapping_settings",
]

MAPPED: Final = 0
SKIPPED: Final = 1
UNDECODABLE: Final = 2
MAPPING_FAILED: Final = 3
REGISTRY_DOWN: Final = 4

Result = tuple[Any, ...]


def mapping_settings(settings: Settings) -> MappingSettings:
    """The mapping's settings: event map (defaults + ``EVENT_MAP_FILE``), phone region, the
    destination's names in ``integrations`` and the consent categories.

    Raises:
        mapping.EventMapError: the event-map file is invalid.
    """
    event_map = load_event_map(settings.event_map_file) if settings.event_map_file else None
    return MappingSettings(
        event_map=event_map or DEFAULT_EVENT_MAP,
        default_phone_region=settings.phone_default_region.upper(),
        integration_names=settings.integration_names,
        consent_categories=settings.consent_categories,
        consent_required=settings.consent_required,
    )


class Transformer:
    """Decode + map + encode, in the calling thread."""

    __slots__ = ("_decode", "_mapping")

    def __init__(self, decoder: Decoder, mapping: MappingSettings) -> None:
        self._decode = decoder.decode
        self._mapping = mapping

    def run(self, values: Sequence[bytes | None], now: float) -> list[Result]:
        """One result per value, in order."""
        decode = self._decode
        mapping = self._mapping
        dumps = orjson.dumps
        out: list[Result] = []
        append = out.append
        for value in values:
            try:
                event = decode(value)
            except DecodeError as exc:
                append((UNDECODABLE, exc.reason, str(exc)))
                continue
            except RegistryUnavailable as exc:
                append((REGISTRY_DOWN, str(exc)))
                continue
            try:
                result = map_event(event, mapping, now)
                if isinstance(result, Mapped):
                    append((MAPPED, result.event_name, dumps(result.event)))
                else:
                    append((SKIPPED, result.reason))
            except Exception as exc:  # a mapping bug (or an unserialisable value) must not
                # stop the stream, nor fail the other records of the chunk
                append((MAPPING_FAILED, f"mapping failed: {type(exc).__name__}"))
        return out


_worker: Transformer | None = None


def _init_worker(settings: Settings) -> None:
    global _worker
    # The parent decides when workers stop (Ctrl-C reaches the whole process group).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(
        target=_exit_with_parent, args=(os.getppid(),), name="parent-watch", daemon=True
    ).start()
    _worker = Transformer(make_decoder(settings), mapping_settings(settings))


def _exit_with_parent(parent: int, interval_s: float = 1.0) -> None:
    """End this worker once its parent is gone (e.g. SIGKILLed): nobody else would stop it.

    Polling the parent id works wherever the worker runs; PR_SET_PDEATHSIG would fire when the
    *thread* that started the pool ends, which is not the connector's lifetime.
    """
    while os.getppid() == parent:
        time.sleep(interval_s)
    os._exit(0)


def _run_in_worker(values: list[bytes | None], now: float) -> list[Result]:
    assert _worker is not None, "worker not initialised"
    return _worker.run(values, now)


def _warm_up() -> float:
    return time.time()


class WorkerPool:
    """``workers`` processes running :class:`Transformer` on chunks of values.

    Processes are started with ``spawn`` (librdkafka's threads must not be forked), which
    imports the parent's ``__main__`` module in each worker: a script that embeds the connector
    needs the usual ``if __name__ == "__main__":`` guard.

    Args:
        settings: each worker builds its own decoder (and registry cache) and mapping from it.
        workers: number of processes (at least 1).

    Raises:
        Exception: a worker could not start (the caller may fall back to decoding inline).
    """

    def __init__(self, settings: Settings, workers: int) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers
        self._executor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(settings,),
        )
        # Start (and initialise) the processes now rather than on the first records.
        for future in [self._executor.submit(_warm_up) for _ in range(workers)]:
            future.result(timeout=120)

    def submit(self, values: list[bytes | None], now: float) -> Future[list[Result]]:
        """Transform ``values`` in a worker; the future's result has one entry per value."""
        return self._executor.submit(_run_in_worker, values, now)

    def close(self) -> None:
        """Stop the workers (pending chunks are cancelled)."""
        self._executor.shutdown(wait=True, cancel_futures=True)
