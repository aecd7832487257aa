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

from tiktok_capi.consumer.config.kafka import admin_config, consumer_config, producer_config
from tiktok_capi.consumer.config.settings import Settings
from tiktok_capi.consumer.decode.codec import make_decoder
from tiktok_capi.consumer.decode.pool import Decoding, make_decoding
from tiktok_capi.consumer.decode.transform import Transformer, mapping_settings
from tiktok_capi.consumer.delivery.base import Sender
from tiktok_capi.consumer.failures.limit import DlqLimiter
from tiktok_capi.consumer.failures.producer import FailureProducer
from tiktok_capi.consumer.failures.tiers import RetryTiers
from tiktok_capi.consumer.kafka.source import Source
from tiktok_capi.consumer.kafka.topics import ensure_topics
from tiktok_capi.consumer.kafka.watch import BrokerWatch
from tiktok_capi.consumer.loop.pipeline import Pipeline, PipelineConfig
from tiktok_capi.consumer.telemetry.health_state import HealthState
from tiktok_capi.consumer.telemetry.stats import ConnectorStats, StatsRecorder

__all__ = ["Connector", "ConnectorStats"]

log = logging.getLogger(__name__)


class Connector:
    """One consumer-group member delivering the source topic (and its retry tiers) to TikTok.

    Args:
        settings: the validated configuration.
        health: shared with the health HTTP port; a private one when omitted.
        sender: the delivery side; an :class:`~tiktok_capi.consumer.delivery.sender.HttpSender` when
        omitted (then
            the connector closes it).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        health: HealthState | None = None,
        sender: Sender | None = None,
    ) -> None:
        self.settings = settings
        self.health = health if health is not None else HealthState()
        self._sender = sender
        self._stats = StatsRecorder()
        self._lock = threading.RLock()  # stop() may run in a signal handler
        self._pipeline: Pipeline | None = None
        self._stopped = False

    def run(self) -> int:
        """Run until :meth:`stop`; returns the exit status (0 after a clean shutdown).

        Raises:
            tiktok_capi.consumer.kafka.topics.TopicSetupError: topics cannot be checked or created.
            mapping.EventMapError: the event-map file is invalid.
        """
        settings = self.settings
        tiers = RetryTiers.from_settings(settings.kafka)
        transformer = Transformer(make_decoder(settings.kafka), mapping_settings(settings.mapping))
        if settings.kafka.create_topics:
            admin_conf = {
                **admin_config(settings.kafka),
                "logger": logging.getLogger("librdkafka.admin"),
            }
            created = ensure_topics(admin_conf, settings.kafka.source_topic, tiers.all_topics)
            if created:
                log.info("created topics: %s", ", ".join(created))
        self.health.set_broker_reachable(True)
        owns_sender = self._sender is None
        sender = self._sender if self._sender is not None else _http_sender(settings)
        # librdkafka logs go through Python logging (structured, JSON), not raw lines on stderr.
        producer = FailureProducer(
            {**producer_config(settings.kafka), "logger": logging.getLogger("librdkafka.producer")}
        )
        topics = [settings.kafka.source_topic, *tiers.topics]
        conf = consumer_config(settings.kafka)
        decoding: Decoding | None = None
        try:
            decoding = make_decoding(settings, transformer)
            pipeline = Pipeline(
                PipelineConfig.from_settings(settings),
                source_factory=lambda listener: Source(conf, topics, listener, self.health),
                decoding=decoding,
                sender=sender,
                tiers=tiers,
                producer=producer,
                limiter=DlqLimiter(settings.kafka.dlq_max_per_minute),
                health=self.health,
                stats=self._stats,
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
        watch = BrokerWatch(
            {**admin_config(settings.kafka), "logger": logging.getLogger("librdkafka.admin")},
            settings.kafka.source_topic,
            self.health,
            settings.kafka.broker_stall_timeout_s,
        )
        watch.start()
        try:
            return pipeline.run()
        finally:
            watch.stop()
            if owns_sender:
                sender.close()

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
