"""Helpers of the streaming-core integration tests: events, a connector in a thread, waiting."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from tests.fixtures.processes import QUICK_RUN
from tests.fixtures.waiting import wait_for
from tiktok_capi.consumer.app import Connector
from tiktok_capi.consumer.config.settings import Settings, load_settings
from tiktok_capi.consumer.decode.codec import encode_event
from tiktok_capi.consumer.demo.storefront import generate
from tiktok_capi.mapping import Mapped, MappingSettings, map_event


@dataclass
class Stream:
    """Events produced to a topic and what the mapping says should reach TikTok."""

    topic: str
    events: list[dict[str, Any]]
    positions: list[tuple[int, int]]  # (partition, offset) of each event, by index
    expected: dict[str, dict[str, Any]]  # event_id -> TikTok event, for events that map

    @property
    def ends(self) -> dict[int, int]:
        """Partition -> one past the last offset (from the delivery reports)."""
        ends: dict[int, int] = {}
        for partition, offset in self.positions:
            ends[partition] = max(ends.get(partition, 0), offset + 1)
        return ends


def sample_events(n: int, seed: int = 1, prefix: str = "e") -> list[dict[str, Any]]:
    """``n`` realistic storefront events with unique message ids."""
    events = list(generate(n, seed=seed, now=datetime.now(UTC)))
    for i, event in enumerate(events):
        event["messageId"] = f"{prefix}-{i}"
    return events


def expected_events(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """event_id -> the TikTok event the mapping makes of each event (skipped ones left out)."""
    now = time.time()
    expected: dict[str, dict[str, Any]] = {}
    for event in events:
        result = map_event(event, MappingSettings(), now)
        if isinstance(result, Mapped):
            expected[result.event_id] = orjson.loads(orjson.dumps(result.event))
    return expected


def produce_events(broker: Any, topic: str, events: list[dict[str, Any]]) -> Stream:
    """Avro-encode ``events`` and produce them keyed by user; returns the stream's facts."""
    values = [encode_event(e) for e in events]
    keys = [str(e.get("userId") or e.get("anonymousId") or i).encode() for i, e in
            enumerate(events)]  # fmt: skip
    positions = broker.produce(topic, values, keys=keys)
    return Stream(topic, events, positions, expected_events(events))


def settings_env(
    broker: Any, emulator: Any, topic: str, group: str, **extra: str
) -> dict[str, str]:
    """Environment of a connector for ``topic``/``group`` against the broker and emulator."""
    env = {
        **QUICK_RUN,
        "COMMIT_INTERVAL": "1s",
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
        "KAFKA_GROUP_ID": group,
        "SOURCE_TOPIC": topic,
        "RETRY_DELAYS": "1s,2s",
        "TIKTOK_ACCESS_TOKEN": emulator.token,
        "TIKTOK_PIXEL_CODE": emulator.pixel_code,
        "TIKTOK_API_URL": emulator.base_url,
    }
    env.update(extra)
    return env


def make_settings(env: Mapping[str, str]) -> Settings:
    return load_settings(env)


class ConnectorThread:
    """A :class:`Connector` running on a thread of the test process."""

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        self.connector = Connector(settings, **kwargs)
        self.status: int | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="connector", daemon=True)

    def _run(self) -> None:
        try:
            self.status = self.connector.run()
        except BaseException as exc:  # surfaced by stop()
            self.error = exc

    def start(self) -> ConnectorThread:
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> int | None:
        self.connector.stop()
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError("connector did not stop")
        if self.error is not None:
            raise self.error
        return self.status

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()


@contextmanager
def running(settings: Settings, **kwargs: Any) -> Iterator[ConnectorThread]:
    """Run a connector for the duration of the block; it must stop cleanly (status 0)."""
    thread = ConnectorThread(settings, **kwargs).start()
    try:
        yield thread
    finally:
        status = thread.stop()
    assert status == 0, f"connector exited with {status}"


def start_process(env: Mapping[str, str], log_path: Any) -> subprocess.Popen[bytes]:
    """`tiktok-capi run` as a subprocess (stderr to ``log_path``)."""
    full = dict(os.environ)
    full.update(env)
    log = open(log_path, "ab")  # noqa: SIM115 - closed by the caller via finish()
    process = subprocess.Popen(
        [sys.executable, "-m", "tiktok_capi.consumer", "run"],
        env=full,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
    )
    process._core_log = log  # type: ignore[attr-defined]
    return process


def finish(process: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    """Wait for ``process`` (killing it past ``timeout``) and close its log file."""
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise
    finally:
        process._core_log.close()  # type: ignore[attr-defined]


def delivered_ids(emulator: Any) -> set[str]:
    return {e["event_id"] for e in emulator.events()}


def headers_of(message: Any) -> dict[str, str]:
    return {k: v.decode() for k, v in (message.headers() or [])}


class RunProcess:
    """`tiktok-capi run` in the background, its stderr lines collected as they come.

    Args:
        env: variables on top of ``os.environ`` (without the caller's ``KAFKA_*`` and
            ``TIKTOK_*``, so only what the test says configures it).
    """

    def __init__(self, env: Mapping[str, str]) -> None:
        full = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "TIKTOK_"))}
        full.update(env)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tiktok_capi.consumer", "run"],
            env=full,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)

    def wait_for_line(self, text: str, timeout: float) -> str:
        """The first line containing ``text``; fails at the deadline or when the process ends."""

        def found() -> str | None:
            for line in self.lines:
                if text in line:
                    return line
            if self.process.poll() is not None:
                raise AssertionError(f"exited without {text!r}: {''.join(self.lines)[-3000:]}")
            return None

        line: str = wait_for(found, timeout=timeout, what=f"a line with {text!r}")
        return line

    def health_port(self, timeout: float = 30) -> int:
        """The port of /livez, /readyz and /metrics, from the start-up log line."""
        line = self.wait_for_line("health and metrics on", timeout)
        match = re.search(r"health and metrics on [^\s:]+:(\d+)", line)
        assert match is not None, line
        return int(match.group(1))

    def finish(self, timeout: float) -> int:
        """Wait for the exit status (killing the process past ``timeout``)."""
        try:
            return self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self._reader.join(5)
            if self.process.stderr is not None:
                self.process.stderr.close()

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then :meth:`finish`."""
        self.process.send_signal(signal.SIGTERM)
        return self.finish(timeout)
