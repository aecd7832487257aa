"""Wiring: settings in, a running connector out.

:class:`Connector` builds every part from :class:`~tiktok_capi.consumer.config.settings.Settings` —
decoder, mapping settings, HTTP sender, retry tiers, retry/dead-letter producer, consumer — creates
missing retry and dead-letter topics, and runs the poll loop
(:mod:`tiktok_capi.consumer.loop.pipeline`) on the calling thread.
`tiktok-capi run`, the demo, the benchmark and the integration tests all drive it::

    connector = Connector(load_settings(os.environ))
    threading.Thread(target=connector.run).start()
    ...
    connector.stop()          # graceful: drain, commit, leave the group
    print(connector.stats())
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Final, get_args

from tiktok_capi.consumer.config.kafka import admin_config, consumer_config, producer_config
from tiktok_capi.consumer.config.settings import Settings
from tiktok_capi.consumer.decode.errors import DecodeReason
from tiktok_capi.consumer.decode.pool import Decoding, make_decoding
from tiktok_capi.consumer.decode.transform import Transformer, make_transformer
from tiktok_capi.consumer.delivery.base import ErrorClass, Sender
from tiktok_capi.consumer.failures.limit import DlqLimiter
from tiktok_capi.consumer.failures.ownership import check_retry_topics
from tiktok_capi.consumer.failures.producer import FailureProducer
from tiktok_capi.consumer.failures.router import REASON_TOO_LARGE
from tiktok_capi.consumer.failures.tiers import REASON_RETRIES_EXHAUSTED, RetryTiers
from tiktok_capi.consumer.kafka.source import Source
from tiktok_capi.consumer.kafka.topics import StartupCancelled, ensure_topics
from tiktok_capi.consumer.kafka.watch import BrokerWatch
from tiktok_capi.consumer.loop.pipeline import Pipeline, PipelineConfig
from tiktok_capi.consumer.status import ExitStatus
from tiktok_capi.consumer.telemetry.health_state import HealthState
from tiktok_capi.consumer.telemetry.prime import KnownValues, prime_metrics
from tiktok_capi.consumer.telemetry.progress import ProgressReporter, log_totals
from tiktok_capi.consumer.telemetry.stats import ConnectorStats, StatsRecorder
from tiktok_capi.mapping import SKIP_REASONS

__all__ = ["Connector", "ConnectorStats"]

log = logging.getLogger(__name__)

# Why records are dead-lettered (the `reason` attribute), for the zero series at start-up.
_DEAD_LETTER_REASONS: Final = (
    "decode_error",
    "invalid_event",
    "mapping_error",
    REASON_RETRIES_EXHAUSTED,
    REASON_TOO_LARGE,
)


class Connector:
    """One consumer-group member delivering the source topic (and its retry tiers) to TikTok.

    Args:
        settings: the validated configuration.
        health: shared with the health HTTP port; a private one when omitted.
        sender: the delivery side; an :class:`~tiktok_capi.consumer.delivery.sender.HttpSender`
            when omitted (then the connector closes it).
        on_large_record: called once, at the first record of ``LARGE_RECORD_BYTES`` or more
            (``serve`` fixes the allocator's mmap threshold then: consumer/malloc.py).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        health: HealthState | None = None,
        sender: Sender | None = None,
        on_large_record: Callable[[], object] | None = None,
    ) -> None:
        self.settings = settings
        self._on_large_record = on_large_record
        self.health = health if health is not None else HealthState()
        self._sender = sender
        self._stats = StatsRecorder()
        self._lock = threading.RLock()  # stop() may run in a signal handler
        self._pipeline: Pipeline | None = None
        self._transformer: Transformer | None = None
        self._event_names: frozenset[str] = frozenset()
        self._stopped = False

    def prepare(self) -> None:
        """Build what only the configuration decides (the event map), before anything connects.

        `tiktok-capi run` calls it before it opens the health port, so a bad event map is a
        configuration error; :meth:`run` calls it too (idempotent).

        Raises:
            mapping.EventMapError: the event-map file is missing or invalid.
        """
        if self._transformer is None:
            transformer = make_transformer(self.settings)
            event_map = transformer.mapping.event_map
            self._event_names = frozenset(rule.event for rule in event_map.values())
            self._transformer = transformer

    def prime_metrics(self) -> None:
        """Put every metric on `/metrics` at zero (after telemetry is set up; idempotent)."""
        self.prepare()
        tiers = RetryTiers.from_settings(self.settings.kafka)
        prime_metrics(
            KnownValues(
                source_topic=self.settings.kafka.source_topic,
                tier_topics=tiers.topics,
                event_names=self._event_names,
                skip_reasons=SKIP_REASONS,
                decode_reasons=get_args(DecodeReason),
                dead_letter_reasons=_DEAD_LETTER_REASONS,
                error_classes=get_args(ErrorClass),
            )
        )

    def run(self) -> int:
        """Run until :meth:`stop`; returns the exit status (0 after a clean shutdown).

        Raises:
            tiktok_capi.consumer.kafka.topics.TopicSetupError: topics cannot be checked or created.
            tiktok_capi.consumer.failures.ownership.ForeignRecordsError: the retry topics hold
                records another consumer group wrote.
            mapping.EventMapError: the event-map file is invalid.
            tiktok_capi.consumer.config.files.InputFileError: SOURCE_FIELDS_FILE or
                AVRO_SCHEMA_FILE cannot be used.
            tiktok_capi.consumer.decode.registry.RegistryConfigError: the registry options do
                not go together, or its client refused them (e.g. an unreadable certificate).
        """
        settings = self.settings
        tiers = RetryTiers.from_settings(settings.kafka)
        self.prime_metrics()
        transformer = self._transformer
        assert transformer is not None
        conf = consumer_config(settings.kafka)
        try:
            self._set_up_topics(tiers, conf)
        except StartupCancelled:
            log.info("stopped during start-up")
            return ExitStatus.OK
        self.health.set_broker_reachable(True)
        owns_sender = self._sender is None
        sender = self._sender if self._sender is not None else _http_sender(settings)
        # librdkafka logs go through Python logging (structured, JSON), not raw lines on stderr.
        producer = FailureProducer(
            {**producer_config(settings.kafka), "logger": logging.getLogger("librdkafka.producer")}
        )
        topics = [settings.kafka.source_topic, *tiers.topics]
        decoding: Decoding | None = None
        try:
            decoding = make_decoding(settings, transformer)
            pipeline = Pipeline(
                PipelineConfig.from_settings(settings),
                source_factory=lambda listener: Source(
                    conf, topics, listener, self.health, on_lag=self._stats.set_lag
                ),
                decoding=decoding,
                sender=sender,
                tiers=tiers,
                producer=producer,
                limiter=DlqLimiter(settings.kafka.dlq_max_per_minute),
                health=self.health,
                stats=self._stats,
                on_large_record=self._on_large_record,
            )
        except BaseException:
            if decoding is not None:
                decoding.close()
            producer.close(0)
            if owns_sender:
                sender.close()
            raise
        with self._lock:
            self._pipeline = pipeline
            if self._stopped:
                pipeline.request_stop()
        log.info(
            "consuming %s (+%d retry tiers) as group %s; delivering to pixel %s",
            settings.kafka.source_topic,
            len(tiers.topics),
            settings.kafka.group_id,
            settings.tiktok.pixel_code,
        )
        reporter = ProgressReporter(
            self._stats.snapshot, settings.process.progress_interval_s, settings.kafka.source_topic
        )
        watch = BrokerWatch(
            {**admin_config(settings.kafka), "logger": logging.getLogger("librdkafka.admin")},
            settings.kafka.source_topic,
            self.health,
            settings.kafka.broker_stall_timeout_s,
        )
        reporter.start()
        watch.start()
        try:
            return pipeline.run()
        finally:
            watch.stop()
            reporter.stop()
            log_totals(self._stats.snapshot())
            if owns_sender:
                sender.close()

    def _set_up_topics(self, tiers: RetryTiers, conf: dict[str, Any]) -> None:
        """Create missing tiers, then check no other group writes to them (stop-aware)."""
        settings = self.settings

        def stopping() -> bool:
            return self._stopped

        if settings.kafka.create_topics:
            admin_conf = {
                **admin_config(settings.kafka),
                "logger": logging.getLogger("librdkafka.admin"),
            }
            created = ensure_topics(
                admin_conf, settings.kafka.source_topic, tiers.all_topics, stopping=stopping
            )
            if created:
                log.info("created topics: %s", ", ".join(created))
        check_conf = {k: v for k, v in conf.items() if k != "statistics.interval.ms"}
        check_conf["logger"] = logging.getLogger("librdkafka.consumer")
        check_retry_topics(check_conf, tiers.topics, settings.kafka.group_id, stopping=stopping)

    def stop(self) -> None:
        """Ask for a graceful shutdown; returns at once (thread- and signal-safe)."""
        with self._lock:
            self._stopped = True
            pipeline = self._pipeline
        if pipeline is not None:
            pipeline.request_stop()

    def stats(self) -> ConnectorStats:
        """A snapshot of the counters (thread-safe)."""
        return self._stats.snapshot()


def _http_sender(settings: Settings) -> Sender:
    from tiktok_capi.consumer.delivery.sender import HttpSender

    return HttpSender(settings.tiktok)
