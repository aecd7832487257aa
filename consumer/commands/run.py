"""`tiktok-capi run` — the connector: consume Kafka, deliver to TikTok, commit after success.

Configured by environment variables only (see docs/configuration.md). Exit status: 0 after a
clean shutdown (SIGTERM/SIGINT), 1 when start-up fails (topics, broker), 2 for a bad
configuration (one line on stderr per problem, naming the variable: a missing or invalid value,
an unknown KAFKA_* property, an unreadable event map — all found before the health port opens —
or retry topics that hold records another consumer group wrote), 3 when the destination was
stopped (the dead-letter limit was exceeded, or a fatal Kafka error).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from tiktok_capi.consumer.status import ExitStatus

DESCRIPTION = """\
Run the connector: a Kafka consumer-group member that reads Avro-encoded CDP (Segment-spec)
events from SOURCE_TOPIC (and its retry tiers), maps them to TikTok Events API 2.0 events,
delivers them in batches, and commits offsets only once every record up to them is delivered,
skipped, or written to a retry or dead-letter topic.

Configured by environment variables: KAFKA_BOOTSTRAP_SERVERS, TIKTOK_ACCESS_TOKEN and
TIKTOK_PIXEL_CODE are required; every option is listed in docs/configuration.md. Any librdkafka
property can be given as KAFKA_<PROPERTY> (KAFKA_SESSION_TIMEOUT_MS=6000).

SIGTERM or SIGINT stops fetching, drains in-flight deliveries within SHUTDOWN_GRACE, commits and
leaves the group. Exit status: 0 clean shutdown, 1 start-up failure, 2 bad configuration
(including retry topics another consumer group writes to), 3 destination stopped (dead-letter
limit, fatal Kafka error).
"""


def register(subparsers: Any) -> None:
    """Add the `run` sub-command."""
    parser = subparsers.add_parser(
        "run",
        help="run the connector (configured by environment variables)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Entry point of `tiktok-capi run`; returns the exit status."""
    from tiktok_capi.consumer.config.settings import ConfigError, load_settings

    try:
        settings = load_settings(os.environ)
    except ConfigError as exc:
        for problem in str(exc).splitlines():
            print(f"tiktok-capi run: configuration error: {problem}", file=sys.stderr)
        return ExitStatus.USAGE
    return serve(settings)


def serve(settings: Any) -> int:
    """Run a connector for ``settings`` with logs, telemetry, health port and signals.

    SIGTERM and SIGINT are handled from the first moment on: during start-up (an unreachable
    broker, topics being created) they end it at once with status 0.
    """
    import faulthandler
    import logging
    import signal

    from tiktok_capi.consumer.app import Connector
    from tiktok_capi.consumer.collector import tune_collector
    from tiktok_capi.consumer.malloc import large_records_seen
    from tiktok_capi.consumer.telemetry import logs
    from tiktok_capi.consumer.telemetry.health_state import HealthState

    tune_collector()  # consumed records do not set off collections (consumer/collector.py)
    process = settings.process
    logs.configure(
        process.log_level, process.log_format, repeat_interval_s=process.log_repeat_interval_s
    )
    logs.register_secret(settings.tiktok.access_token.get_secret_value())
    for value in settings.inputs.secrets():  # the schema registry's credentials
        logs.register_secret(value)
    redacted = settings.kafka.redacted_properties()
    for key, value in settings.kafka.properties.items():
        if redacted[key] != value:  # a secret-looking property (password, key, ...)
            logs.register_secret(value)
    log = logging.getLogger(__name__)
    # Freed record-sized buffers go back to the system once records are that large
    # (consumer/malloc.py).
    connector = Connector(settings, health=HealthState(), on_large_record=large_records_seen)

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("received %s: shutting down", signal.Signals(signum).name)
        connector.stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    # `kill -USR1 <pid>` writes every thread's stack to stderr (file, line, function: no values),
    # to see where a connector that does not stop is waiting.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:
        return _serve(settings, connector)
    finally:
        faulthandler.unregister(signal.SIGUSR1)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        logs.flush_repeats()


def _serve(settings: Any, connector: Any) -> int:
    import logging

    from confluent_kafka import KafkaException

    from tiktok_capi.consumer.collector import freeze_startup_heap
    from tiktok_capi.consumer.config.files import InputFileError
    from tiktok_capi.consumer.decode.registry import RegistryConfigError
    from tiktok_capi.consumer.failures.ownership import ForeignRecordsError
    from tiktok_capi.consumer.kafka.topics import TopicSetupError
    from tiktok_capi.consumer.telemetry import setup as telemetry
    from tiktok_capi.consumer.telemetry.health import HealthServer
    from tiktok_capi.mapping import EventMapError, compiled

    log = logging.getLogger(__name__)
    try:
        connector.prepare()  # configuration errors before the health port opens
    except EventMapError as exc:
        print(f"tiktok-capi run: configuration error: EVENT_MAP_FILE: {exc}", file=sys.stderr)
        return ExitStatus.USAGE
    except (InputFileError, RegistryConfigError) as exc:  # they name their variable
        print(f"tiktok-capi run: configuration error: {exc}", file=sys.stderr)
        return ExitStatus.USAGE
    handle = telemetry.setup(settings.process)
    connector.prime_metrics()  # every metric at zero before the first scrape
    server = HealthServer(
        settings.process.health_host,
        settings.process.health_port,
        connector.health,
        settings.process.liveness_timeout_s,
        settings.process.metrics_enabled,
    )
    try:
        port = server.start()
    except OSError as exc:
        process = settings.process
        log.error("cannot serve health on %s:%d: %s", process.health_host, process.health_port, exc)
        handle.shutdown()
        return ExitStatus.FAILED
    log.info("health and metrics on %s:%d", settings.process.health_host, port)
    log.info("mapping: %s", "compiled with mypyc" if compiled() else "pure Python")
    freeze_startup_heap()
    try:
        status: int = connector.run()
        return status
    except TopicSetupError as exc:
        log.error("cannot start: %s", exc)
        return ExitStatus.FAILED
    except ForeignRecordsError as exc:  # RETRY_TOPIC shared with another group: configuration
        log.error("cannot start: %s", exc)
        return ExitStatus.USAGE
    except KafkaException as exc:  # a KAFKA_* value librdkafka only refuses in a client
        log.error("cannot start: Kafka client configuration rejected: %s", exc.args[0])
        return ExitStatus.USAGE
    finally:
        server.stop()
        handle.shutdown()
