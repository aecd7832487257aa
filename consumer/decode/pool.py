"""Where decoding runs: inline on the poll loop, or in worker processes; one interface for both.

:class:`Decoding` is what the poll loop sees: it submits a chunk of record values and gets one
result per value back, later, through the ``post`` callback it gave (called from any thread; the
loop turns it into a :class:`~tiktok_capi.consumer.loop.events.Decoded` event), then hands the
future to :meth:`Decoding.collect` on its own thread.

- :class:`InlineDecoding` runs the :class:`~tiktok_capi.consumer.decode.transform.Transformer` at
  once in the calling thread (``DECODE_WORKERS=0``).
- :class:`PoolDecoding` runs it in ``DECODE_WORKERS`` processes (``spawn``: librdkafka's threads
  must not be forked), so the poll loop only consumes, batches, resolves and commits.

A worker that dies (OOM-killed, crashed) never takes the loop with it and never loses a record:
the pool is started again and the chunks it held are decoded again; a chunk that breaks the pool
twice is decoded one record at a time, and a record that alone breaks it twice is dead-lettered
as ``worker_crashed``. When processes cannot be started at all, decoding goes on inline.
Workers exit within a second of their parent's death (even a SIGKILL): nobody else would stop
them.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Final, Protocol, Self, TypeVar

from tiktok_capi.consumer.collector import freeze_startup_heap, tune_collector
from tiktok_capi.consumer.config.settings import Settings
from tiktok_capi.consumer.decode.transform import (
    UNDECODABLE,
    Result,
    Transformer,
    make_transformer,
)

__all__ = [
    "REASON_WORKER_CRASHED",
    "DecodeWork",
    "Decoding",
    "InlineDecoding",
    "PoolDecoding",
    "make_decoding",
]

log = logging.getLogger(__name__)

REASON_WORKER_CRASHED: Final = "worker_crashed"
_PARENT_WATCH_S: Final = 1.0
_START_TIMEOUT_S: Final = 120.0


class DecodeWork(Protocol):
    """A chunk of record values on its way through decoding (the loop's ``Chunk``)."""

    values: list[bytes | None]
    now: float
    attempts: int

    def split(self) -> list[Self]:
        """One chunk per value, each with this chunk's ``now`` and ``attempts``."""
        ...


W = TypeVar("W", bound=DecodeWork)


class Decoding(Protocol):
    """Decodes, maps and encodes chunks of record values; inline or in worker processes."""

    def submit(self, work: W, post: Callable[[W, Future[list[Result]]], None]) -> None:
        """Start on ``work``; ``post(work, future)`` is called (any thread) once it is done."""
        ...

    def collect(
        self, work: W, future: Future[list[Result]], resubmit: Callable[[W], None]
    ) -> list[Result] | None:
        """The results of ``work`` (one per value), or ``None`` when they come later.

        ``None`` means the work was handed to ``resubmit`` again (whole, or one chunk per
        record: a worker died) or dropped (shutdown): its records stay unresolved meanwhile.
        """
        ...

    def close(self) -> None:
        """Stop; chunks still pending are cancelled (their records stay uncommitted)."""
        ...


def _done(results: list[Result]) -> Future[list[Result]]:
    future: Future[list[Result]] = Future()
    future.set_result(results)
    return future


class InlineDecoding:
    """Runs the transformer at once, in the poll loop's thread."""

    def __init__(self, transformer: Transformer) -> None:
        self._transformer = transformer

    def submit(self, work: W, post: Callable[[W, Future[list[Result]]], None]) -> None:
        """Decode ``work`` now; ``post`` is called before this returns."""
        post(work, _done(self._transformer.run(work.values, work.now)))

    def collect(
        self, work: W, future: Future[list[Result]], resubmit: Callable[[W], None]
    ) -> list[Result] | None:
        """The results (inline work never fails: the transformer catches per record)."""
        return future.result()

    def close(self) -> None:
        """Release the transformer's connections (the schema registry client's)."""
        self._transformer.close()


# --- worker side ----------------------------------------------------------------------------------
_worker: Transformer | None = None


def _init_worker(settings: Settings, parent: int) -> None:
    global _worker
    # Ctrl-C reaches the whole process group: the parent decides when workers stop. SIGTERM is
    # left as it is, so a supervisor that signals every process can stop an orphan.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(
        target=_exit_with_parent, args=(parent,), name="parent-watch", daemon=True
    ).start()
    _worker = make_transformer(settings)
    tune_collector()
    freeze_startup_heap()


def _exit_with_parent(parent: int, interval_s: float = _PARENT_WATCH_S) -> None:
    """End this worker once ``parent`` (the connector's pid) is no longer its parent.

    The parent's pid comes from the parent itself, so a worker that starts after its parent died
    (re-parented to init or a subreaper) exits at once instead of waiting for a change that never
    comes. PR_SET_PDEATHSIG would fire when the *thread* that started the pool ends, which is not
    the connector's lifetime.
    """
    while os.getppid() == parent:
        time.sleep(interval_s)
    os._exit(0)


def _run_in_worker(values: list[bytes | None], now: float) -> list[Result]:
    assert _worker is not None, "worker not initialised"
    return _worker.run(values, now)


def _warm_up() -> float:
    return time.time()


# --- parent side ----------------------------------------------------------------------------------
class PoolDecoding:
    """``workers`` processes running the transformer on chunks of values.

    Processes are started with ``spawn``, which imports the parent's ``__main__`` module in each
    worker: a script that embeds the connector needs the usual ``if __name__ == "__main__":``
    guard.

    Args:
        settings: each worker builds its own decoder (and registry cache) and mapping from it.
        workers: number of processes (at least 1).
        inline: runs the work here when processes cannot be started again.

    Raises:
        Exception: the workers could not start (the caller may decode inline instead).
    """

    def __init__(self, settings: Settings, workers: int, inline: Transformer) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers
        self._settings = settings
        self._inline = inline
        self._closed = False
        self._executor: ProcessPoolExecutor | None = self._start()
        self.restarts = 0

    def _start(self) -> ProcessPoolExecutor:
        executor = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self._settings, os.getpid()),
        )
        try:  # start (and initialise) the processes now rather than on the first records
            for future in [executor.submit(_warm_up) for _ in range(self.workers)]:
                future.result(timeout=_START_TIMEOUT_S)
        except BaseException:
            executor.shutdown(wait=False, cancel_futures=True)
            raise
        return executor

    def submit(self, work: W, post: Callable[[W, Future[list[Result]]], None]) -> None:
        """Send ``work`` to a worker (or, with the pool gone for good, decode it here)."""
        for _ in range(2):  # a broken pool is started again once per submit
            executor = self._executor
            if executor is None:
                break
            try:
                future = executor.submit(_run_in_worker, work.values, work.now)
            except (BrokenProcessPool, RuntimeError):  # broken; or shut down under us
                self._restart()
                continue
            future.add_done_callback(lambda f: post(work, f))
            return
        post(work, _done(self._inline.run(work.values, work.now)))

    def collect(
        self, work: W, future: Future[list[Result]], resubmit: Callable[[W], None]
    ) -> list[Result] | None:
        """The results of ``work``, or ``None`` after submitting it again (a worker died)."""
        if future.cancelled() or self._closed:
            return None  # shutting down: the records stay unresolved and uncommitted
        error = future.exception()
        if error is None:
            return future.result()
        work.attempts += 1
        log.warning(
            "a decode worker failed on a chunk of %d record(s) (%s: %s; attempt %d)",
            len(work.values),
            type(error).__name__,
            error,
            work.attempts,
        )
        if work.attempts == 1:
            resubmit(work)
        elif len(work.values) > 1:
            for single in work.split():
                resubmit(single)
        else:
            return [(UNDECODABLE, REASON_WORKER_CRASHED, "a decode worker died on it twice")]
        return None

    def close(self) -> None:
        """Stop the workers (pending chunks are cancelled)."""
        self._closed = True
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        self._inline.close()

    def _restart(self) -> ProcessPoolExecutor | None:
        """Replace a broken pool; ``None`` (decode inline from now on) when that fails."""
        old, self._executor = self._executor, None
        if old is not None:
            old.shutdown(wait=False, cancel_futures=True)
        if self._closed:
            return None
        self.restarts += 1
        try:
            self._executor = self._start()
        except Exception as exc:
            log.error("decode workers could not be started again (%s); decoding inline", exc)
            return None
        log.warning("decode worker pool started again (restart %d)", self.restarts)
        return self._executor


def make_decoding(settings: Settings, transformer: Transformer) -> Decoding:
    """Worker processes for ``DECODE_WORKERS`` > 0 (inline when they cannot start), else inline."""
    if settings.process.decode_workers:
        try:
            return PoolDecoding(settings, settings.process.decode_workers, transformer)
        except Exception as exc:  # e.g. no way to start processes here: slower, not broken
            log.warning("decode workers could not start (%s); decoding in the poll loop", exc)
    return InlineDecoding(transformer)
