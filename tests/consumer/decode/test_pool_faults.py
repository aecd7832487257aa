"""PoolDecoding under faults: workers never outlive the connector, a dead worker is survived.

Issue 12, defects 1 (workers outlived a SIGKILLed connector: a worker that started after its
parent died waited for a parent change that never came) and 3 (a dead worker crashed the loop:
the next ``submit`` raised ``BrokenProcessPool``).
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import Future
from pathlib import Path

import pytest

from tests.fixtures.processes import alive
from tests.fixtures.waiting import wait_for
from tiktok_capi.consumer.config.settings import Settings, load_settings
from tiktok_capi.consumer.decode.codec import BundledDecoder, encode_event
from tiktok_capi.consumer.decode.pool import PoolDecoding
from tiktok_capi.consumer.decode.transform import MAPPED, Result, Transformer, mapping_settings
from tiktok_capi.consumer.loop.chunk import Chunk

_ENV = {
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
    "TIKTOK_ACCESS_TOKEN": "t",
    "TIKTOK_PIXEL_CODE": "P",
}


def _settings() -> Settings:
    return load_settings(_ENV)


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_worker_whose_parent_is_already_gone_exits_at_once() -> None:
    # The watch is given the connector's pid; a worker re-parented before it started sees a
    # different parent from the first check on and must not wait for a change.
    code = (
        "from tiktok_capi.consumer.decode.pool import _exit_with_parent;"
        f"_exit_with_parent({_dead_pid()}, 0.05)"
    )
    process = subprocess.Popen([sys.executable, "-c", code])
    try:
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_workers_exit_when_the_connector_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "connector.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys, time
            from tiktok_capi.consumer.config.settings import load_settings
            from tiktok_capi.consumer.decode.codec import BundledDecoder
            from tiktok_capi.consumer.decode.pool import PoolDecoding
            from tiktok_capi.consumer.decode.transform import Transformer, mapping_settings

            if __name__ == "__main__":
                settings = load_settings({_ENV!r})
                pool = PoolDecoding(
                    settings, 2, Transformer(BundledDecoder(), mapping_settings(settings.mapping))
                )
                print(*pool._executor._processes, flush=True)
                time.sleep(120)
            """
        )
    )
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        workers = [int(pid) for pid in process.stdout.readline().split()]
        assert len(workers) == 2 and all(alive(pid) for pid in workers)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        wait_for(
            lambda: not any(alive(pid) for pid in workers),
            timeout=15,
            what="the orphaned workers to exit",
        )
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()  # type: ignore[union-attr]


def _chunk(n: int) -> Chunk:
    chunk = Chunk(time.time())
    chunk.values = [
        encode_event({"type": "page", "messageId": f"m-{i}", "anonymousId": f"a-{i}"})
        for i in range(n)
    ]
    return chunk


def _decode(pool: PoolDecoding, chunk: Chunk) -> list[Result]:
    """Submit ``chunk`` and collect it as the poll loop does (resubmitting when asked)."""
    done: queue.SimpleQueue[tuple[Chunk, Future[list[Result]]]] = queue.SimpleQueue()

    def post(work: Chunk, future: Future[list[Result]]) -> None:
        done.put((work, future))

    pool.submit(chunk, post)
    results: list[Result] = []
    outstanding = 1
    while outstanding:
        work, future = done.get(timeout=120)
        outstanding -= 1
        got = pool.collect(work, future, lambda again: pool.submit(again, post))
        if got is None:
            outstanding += 1 if work.attempts == 1 else len(work.values)
        else:
            results.extend(got)
    return results


@pytest.mark.parametrize("workers", [1])
def test_a_killed_worker_is_replaced_and_the_next_submit_works(workers: int) -> None:
    settings = _settings()
    transformer = Transformer(BundledDecoder(), mapping_settings(settings.mapping))
    pool = PoolDecoding(settings, workers, transformer)
    try:
        assert [r[0] for r in _decode(pool, _chunk(3))] == [MAPPED] * 3
        executor = pool._executor
        assert executor is not None
        for pid in list(executor._processes):  # an OOM kill
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: executor._broken, timeout=20, what="the pool to notice the dead worker")
        # Before the fix this submit raised BrokenProcessPool out of the poll loop.
        assert [r[0] for r in _decode(pool, _chunk(4))] == [MAPPED] * 4
        assert pool.restarts == 1
    finally:
        pool.close()
