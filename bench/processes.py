"""The processes under test, started as users start them: ``tiktok-capi emulate`` and ``run``.

:class:`EmulatorProcess` is the TikTok side (one per suite run: it is reset and its faults set
between runs over its control endpoints). :class:`Connector` is one ``tiktok-capi run``
configured by environment variables (docs/configuration.md), with its health port on a known
loopback port so the suite can read its Prometheus counters (records consumed, resolved).
Each child runs in a session of its own, so a run that must be cut short (memory cap, timeout)
ends the connector and its decode workers together.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Mapping, Sequence
from typing import IO, Any

from bench.internals import (
    METRIC_CONSUMED,
    METRICS_RESOLVED,
    connector_command,
    emulator_command,
    free_port,
)

__all__ = [
    "PIXEL",
    "TOKEN",
    "Connector",
    "EmulatorProcess",
    "exit_on_sigterm",
    "get_json",
    "post_json",
]

TOKEN = "bench-token"  # noqa: S105 - the local emulator's throwaway token
PIXEL = "BENCHPIXEL"


def exit_on_sigterm() -> None:
    """Make SIGTERM unwind like Ctrl-C, so every process the benchmark started is stopped.

    The broker, the emulator and the connectors run in sessions of their own: without this, a
    benchmark killed with SIGTERM would leave them running.
    """

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


def get_json(url: str, timeout: float = 5.0) -> Any:
    """GET ``url`` and parse its JSON body."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def post_json(url: str, body: Mapping[str, Any], timeout: float = 5.0) -> Any:
    """POST ``body`` as JSON to ``url`` and parse the answer."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def _wait_http(url: str, process: subprocess.Popen[bytes], what: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"{what} exited with status {process.returncode}") from None
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not answer on {url}") from None
            time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes], timeout_s: float, stacks: bool = False) -> int:
    """SIGTERM, wait; then SIGKILL to the whole session (workers included). The exit status.

    ``stacks``: before the SIGKILL, SIGUSR1 (the connector writes its threads' stacks to stderr).
    """
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            pass
        if stacks:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGUSR1)
            with contextlib.suppress(subprocess.TimeoutExpired):
                return process.wait(2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    return process.wait()


class EmulatorProcess:
    """``tiktok-capi emulate`` on a free loopback port (or another command serving the same API).

    Args:
        command: replaces the ``tiktok-capi emulate`` command line; ``{port}`` is substituted.
        env: its environment (default: this process's).
    """

    def __init__(
        self, command: Sequence[str] | None = None, env: Mapping[str, str] | None = None
    ) -> None:
        self._env = dict(env) if env is not None else None
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        if command is None:
            self._command = emulator_command(self.port, TOKEN, PIXEL)
        else:
            self._command = [part.replace("{port}", str(self.port)) for part in command]
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> EmulatorProcess:
        self._process = subprocess.Popen(
            self._command,
            env=self._env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            _wait_http(f"{self.url}/_emulator/health", self._process, "the emulator", 30)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        """The emulator's process id."""
        assert self._process is not None
        return self._process.pid

    def stats(self) -> dict[str, Any]:
        """``GET /_emulator/stats``."""
        stats: dict[str, Any] = get_json(f"{self.url}/_emulator/stats")
        return stats

    def prepare(self, latency_ms: float = 0.0) -> None:
        """Forget counters and deduplication keys; set the answer latency (no other fault)."""
        post_json(f"{self.url}/_emulator/reset", {})
        post_json(f"{self.url}/_emulator/faults", {"latency_ms": latency_ms} if latency_ms else {})

    def stop(self) -> int:
        """Stop the emulator; its exit status (0 when it was not running)."""
        process, self._process = self._process, None
        return _stop(process, 10) if process is not None else 0


class Connector:
    """One ``tiktok-capi run`` process.

    Args:
        env: the complete environment (the build's, plus the connector's variables); its
            ``HEALTH_PORT`` is replaced by a free port the suite scrapes.
    """

    def __init__(self, env: Mapping[str, str]) -> None:
        self.health_port = free_port()
        self.env = {**env, "HEALTH_PORT": str(self.health_port), "HEALTH_HOST": "127.0.0.1"}
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self.exit_status: int | None = None

    def start(self) -> None:
        """Start the process (returns at once; it joins the group in the background)."""
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        self._process = subprocess.Popen(
            connector_command(),
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        """The connector's process id."""
        assert self._process is not None
        return self._process.pid

    def alive(self) -> bool:
        """Whether the process still runs."""
        return self._process is not None and self._process.poll() is None

    def metrics(self) -> dict[str, float] | None:
        """Prometheus samples summed over labels (name -> value); None when not answering."""
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.health_port}/metrics", timeout=5
            ) as response:
                text = response.read().decode()
        except OSError:
            return None
        sums: dict[str, float] = {}
        for line in text.splitlines():
            if not line or line[0] == "#":
                continue
            name_part, _, value = line.rpartition(" ")
            name = name_part.split("{", 1)[0]
            try:
                sums[name] = sums.get(name, 0.0) + float(value)
            except ValueError:
                continue
        return sums

    def counts(self) -> tuple[int, int] | None:
        """``(records consumed, records resolved)`` from the metrics; None when not answering."""
        sums = self.metrics()
        if sums is None:
            return None
        resolved = sum(sums.get(name, 0.0) for name in METRICS_RESOLVED)
        return int(sums.get(METRIC_CONSUMED, 0.0)), int(resolved)

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM and wait (SIGKILL to its session after ``timeout_s``); the exit status."""
        process, self._process = self._process, None
        if process is not None:
            self.exit_status = _stop(process, timeout_s, stacks=True)
        return self.exit_status if self.exit_status is not None else 0

    def kill(self) -> None:
        """End the connector and its workers at once (a run cut short)."""
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
        self.stop(5)

    def stderr_tail(self, limit: int = 3000) -> str:
        """The end of what the process wrote on stderr."""
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-limit:]

    def close(self) -> None:
        """Stop if needed and release the stderr file."""
        self.stop()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
