"""What the demo starts: the embedded broker, the destination, telemetry and the health server,
and the connector thread.

The destination is the TikTok Events API emulator on a loopback port (recording every accepted
event to a file) or, with ``--live``, the real Events API in test mode. Every service started
here registers its stop on the caller's `contextlib.ExitStack`.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tiktok_capi.consumer.demo import DemoError

if TYPE_CHECKING:
    from tiktok_capi.consumer.config.settings import Settings
    from tiktok_capi.consumer.demo.broker import EmbeddedBroker
    from tiktok_capi.consumer.telemetry.health_state import HealthState

SOURCE_TOPIC = "cdp-events"
PARTITIONS = 4
GROUP_ID = "tiktok-capi-demo"
DEMO_PIXEL = "CDEMOPIXEL0000000000"
RECORD_FILE = "tiktok-events.jsonl"
_LIVE_VARS = ("TIKTOK_ACCESS_TOKEN", "TIKTOK_PIXEL_CODE", "TIKTOK_TEST_EVENT_CODE")


def live_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The destination settings for ``--live``, from ``environ``.

    Raises:
        DemoError: a variable the demo needs to send in test mode is not set.
    """
    missing = [name for name in _LIVE_VARS if not environ.get(name, "").strip()]
    if missing:
        raise DemoError(
            "--live sends the demo events to the real TikTok Events API, in test mode only: set "
            + ", ".join(missing)
            + " (the test event code is on the Test Events tab of TikTok Ads Manager > Assets > "
            "Events > Web Events)"
        )
    env = {name: environ[name].strip() for name in _LIVE_VARS}
    if environ.get("TIKTOK_API_URL", "").strip():
        env["TIKTOK_API_URL"] = environ["TIKTOK_API_URL"].strip()
    return env


def demo_settings(
    bootstrap: str, destination: Mapping[str, str], *, batch_size: int = 1000
) -> Settings:
    """Connector settings for the demo: fast commits and group joins, short retry delays."""
    from tiktok_capi.consumer.config.settings import load_settings

    env = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "KAFKA_GROUP_ID": GROUP_ID,
        "SOURCE_TOPIC": SOURCE_TOPIC,
        "KAFKA_SESSION_TIMEOUT_MS": "6000",
        "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
        "COMMIT_INTERVAL": "250ms",
        "BATCH_LINGER": "50ms",
        "BATCH_SIZE": str(batch_size),
        "RETRY_DELAYS": "2s,5s",
        "SEND_RETRY_BACKOFF": "100ms",
        "SEND_RETRY_MAX_BACKOFF": "2s",
        "SHUTDOWN_GRACE": "5s",
        "HEALTH_HOST": "127.0.0.1",
        "HEALTH_PORT": "0",
        "LOG_FORMAT": "json",
        # The dataset's shoppers who declined advertising are held back (skipped as
        # no_consent), as a shop asking for consent would configure it.
        "CONSENT_CATEGORIES": "Advertising",
        **destination,
    }
    return load_settings(env)


def start_broker(output: Path, stack: contextlib.ExitStack) -> EmbeddedBroker:
    """Start the embedded broker (stopped by ``stack``), logging to ``output/broker.log``.

    Raises:
        DemoError: the broker did not start.
    """
    from tiktok_capi.consumer.demo.broker import BrokerStartError, EmbeddedBroker

    broker = EmbeddedBroker(log_path=output / "broker.log")
    stack.callback(broker.stop)
    try:
        broker.start()
    except BrokerStartError as exc:
        raise DemoError(f"the embedded broker did not start: {exc}") from exc
    return broker


def start_health(settings: Settings, stack: contextlib.ExitStack) -> tuple[HealthState, int]:
    """Set up telemetry and start the health and metrics server on a free loopback port (both
    shut down by ``stack``); returns the connector's health state and the server's port."""
    from tiktok_capi.consumer.telemetry import setup as telemetry
    from tiktok_capi.consumer.telemetry.health import HealthServer
    from tiktok_capi.consumer.telemetry.health_state import HealthState

    stack.callback(telemetry.setup(settings.process).shutdown)
    state = HealthState()
    process = settings.process
    health = HealthServer(
        process.health_host, 0, state, process.liveness_timeout_s, process.metrics_enabled
    )
    port = health.start()
    stack.callback(health.stop)
    return state, port


@dataclass
class Destination:
    """Where the demo delivers: the emulator (recording to a file) or TikTok in test mode."""

    env: dict[str, str]
    description: str
    emulator: Any = None
    record_file: Path | None = None

    def recorded(self) -> int | None:
        """Events the emulator accepted (stop it first: that flushes the record file)."""
        if self.emulator is None:
            return None
        return int(self.emulator.stats().get("accepted_events", 0))

    def faults(self) -> dict[str, int]:
        """Faults the emulator injected, by kind (requests)."""
        if self.emulator is None:
            return {}
        return {str(k): int(v) for k, v in self.emulator.stats().get("faults", {}).items()}


def start_destination(
    live: Mapping[str, str] | None, output: Path, stack: contextlib.ExitStack, *, faults: bool
) -> Destination:
    """TikTok in test mode when ``live`` is given; otherwise start the emulator (stopped by
    ``stack``), recording to ``output/tiktok-events.jsonl``, injecting faults if asked."""
    if live is not None:
        return Destination(
            dict(live),
            "the real TikTok Events API in test mode (Ads Manager > Assets > Events > "
            "Web Events > Test Events)",
        )
    from tiktok_capi.emulator.config import EmulatorConfig, FaultConfig
    from tiktok_capi.emulator.service import Emulator

    token = secrets.token_urlsafe(24)
    record_file = output / RECORD_FILE
    record_file.unlink(missing_ok=True)
    chaos = FaultConfig(throttle_rate=0.2, error_5xx_rate=0.1, retry_after_s=0, seed=7)
    emulator = Emulator(
        EmulatorConfig(
            token=token,
            pixel_code=DEMO_PIXEL,
            record_path=str(record_file),
            faults=chaos if faults else FaultConfig(),
        )
    )
    emulator.start()
    stack.callback(emulator.stop)
    env = {
        "TIKTOK_ACCESS_TOKEN": token,
        "TIKTOK_PIXEL_CODE": DEMO_PIXEL,
        "TIKTOK_API_URL": emulator.base_url,
    }
    return Destination(env, f"TikTok emulator at {emulator.base_url}", emulator, record_file)


class ConnectorThread:
    """The connector running on a daemon thread, with its failure (if any) kept for the caller."""

    def __init__(self, settings: Settings, health: Any) -> None:
        from tiktok_capi.consumer.app import Connector

        self.connector = Connector(settings, health=health)
        self.failure: BaseException | None = None
        self.patience_s = 15.0  # how long stop() waits for a graceful shutdown
        self._thread = threading.Thread(target=self._run, name="demo-connector", daemon=True)

    def _run(self) -> None:
        try:
            self.connector.run()
        except BaseException as exc:  # reported by the main thread
            self.failure = exc

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        """Graceful stop; past ``patience_s`` the daemon thread ends with the process."""
        self.connector.stop()
        if self._thread.ident is not None:
            self._thread.join(self.patience_s)
