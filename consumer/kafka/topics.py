"""Creates the retry tier and dead-letter topics at start-up when they are missing.

New topics get the source topic's partition count, so the tiers spread over as many consumers as
the source does, and a replication factor of ``min(3, brokers)`` unless told otherwise. Existing
topics are left as they are (a different partition count is logged, not changed).

Reading the cluster's metadata waits in short slices (:func:`read_metadata`), so a stop request
(SIGTERM, Ctrl-C) ends the wait at once instead of after the whole timeout, and a failure names
each bootstrap address with the likely cause (:mod:`.reach`) — soon as a warning, and in the error
when the timeout is spent.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from tiktok_capi.consumer.kafka.reach import diagnose

__all__ = ["StartupCancelled", "TopicSetupError", "ensure_topics", "read_metadata"]

log = logging.getLogger(__name__)

_LEGAL_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_SLICE_S = 0.5  # how long one metadata attempt blocks: the delay before a stop is noticed
_WARN_AFTER_S = 5.0


class TopicSetupError(RuntimeError):
    """The topics cannot be checked or created: the message says which and why."""


class StartupCancelled(Exception):
    """A stop was requested while start-up waited for the cluster."""


def _never() -> bool:
    return False


def read_metadata(
    client: Any,
    timeout: float,
    *,
    stopping: Callable[[], bool] = _never,
    on_slow: Callable[[BaseException], None] | None = None,
    warn_after: float = _WARN_AFTER_S,
    topic: str | None = None,
) -> Any:
    """``client.list_topics()``, retried in short slices until it answers or ``timeout`` passes.

    Args:
        client: an AdminClient, Consumer or Producer.
        timeout: seconds in all.
        stopping: polled between slices; when true, :class:`StartupCancelled` is raised.
        on_slow: called once with the last error when ``warn_after`` seconds passed without an
            answer (to say early what is wrong).
        warn_after: see ``on_slow``.
        topic: ask for this topic only (what ``list_topics(topic)`` does).

    Raises:
        KafkaException: the last error, when ``timeout`` passed without an answer.
        StartupCancelled: ``stopping()`` turned true.
    """
    from confluent_kafka import KafkaException

    started = time.monotonic()
    deadline = started + timeout
    warned = on_slow is None
    while True:
        if stopping():
            raise StartupCancelled
        remaining = deadline - time.monotonic()
        try:
            if topic is None:
                return client.list_topics(timeout=max(0.01, min(_SLICE_S, remaining)))
            return client.list_topics(topic, timeout=max(0.01, min(_SLICE_S, remaining)))
        except KafkaException as exc:
            if time.monotonic() >= deadline:
                raise
            if not warned and time.monotonic() - started >= warn_after:
                warned = True
                assert on_slow is not None
                on_slow(exc)


def _admin(conf: dict[str, Any]) -> Any:
    from confluent_kafka.admin import AdminClient

    return AdminClient(conf)


def ensure_topics(
    admin_conf: dict[str, Any],
    source_topic: str,
    topics: Sequence[str],
    *,
    timeout: float = 30,
    replication_factor: int | None = None,
    admin_factory: Callable[[dict[str, Any]], Any] = _admin,
    stopping: Callable[[], bool] = _never,
) -> list[str]:
    """Create those of ``topics`` that do not exist yet; returns the names created.

    Args:
        admin_conf: librdkafka admin configuration (``kafka_config.admin_config``).
        source_topic: the topic whose partition count new topics copy; it must exist.
        topics: retry tier and dead-letter topics.
        timeout: seconds for the metadata request and for the creation.
        replication_factor: of new topics; default ``min(3, number of brokers)``.
        admin_factory: builds the admin client (a seam for tests).
        stopping: polled while waiting for the cluster; true ends start-up.

    Raises:
        TopicSetupError: the cluster cannot be reached (the message names each bootstrap
            address and the likely cause), the source topic does not exist (or is not visible
            to these credentials), or a topic cannot be created (authorisation, policy, ...).
        StartupCancelled: ``stopping()`` turned true while waiting for the cluster.
    """
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

    illegal = [t for t in topics if not _LEGAL_NAME.match(t) or t in (".", "..")]
    if illegal:
        raise TopicSetupError(
            f"illegal topic names {illegal!r}: use at most 249 of letters, digits, '.', '_', '-'"
        )
    if replication_factor is not None and replication_factor < 1:
        raise TopicSetupError(f"replication factor must be at least 1, got {replication_factor}")
    admin = admin_factory(admin_conf)
    bootstrap = str(admin_conf.get("bootstrap.servers", ""))
    protocol = str(admin_conf.get("security.protocol", "plaintext"))

    def slow(exc: BaseException) -> None:
        log.warning(
            "cannot reach the Kafka cluster yet (%s): %s; retrying for up to %.0fs",
            _error_text(exc),
            diagnose(bootstrap, protocol),
            timeout,
        )

    try:
        metadata = read_metadata(admin, timeout, stopping=stopping, on_slow=slow)
    except KafkaException as exc:
        raise TopicSetupError(
            f"cannot reach the Kafka cluster within {timeout:.0f}s ({_error_text(exc)}): "
            + diagnose(bootstrap, protocol)
        ) from exc
    source = metadata.topics.get(source_topic)
    if source is None or source.error is not None or not source.partitions:
        raise TopicSetupError(
            f"source topic {source_topic!r} does not exist (or these credentials cannot see it); "
            "create it first"
        )
    partitions = len(source.partitions)
    replicas = replication_factor or max(1, min(3, len(metadata.brokers)))
    wanted = list(dict.fromkeys(t for t in topics if t != source_topic))
    missing: list[str] = []
    for name in wanted:
        existing = metadata.topics.get(name)
        if existing is None or existing.error is not None or not existing.partitions:
            missing.append(name)
        elif len(existing.partitions) != partitions:
            log.warning(
                "topic %s has %d partitions, source topic %s has %d",
                name,
                len(existing.partitions),
                source_topic,
                partitions,
            )
    if not missing:
        return []
    futures = admin.create_topics(
        [NewTopic(t, num_partitions=partitions, replication_factor=replicas) for t in missing],
        operation_timeout=timeout,
        request_timeout=timeout,
    )
    created: list[str] = []
    failures: list[str] = []
    for name, future in futures.items():
        try:
            future.result(timeout=timeout)
        except KafkaException as exc:
            error = exc.args[0]
            if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue  # another replica created it first
            failures.append(f"{name}: {error.str() if isinstance(error, KafkaError) else error}")
            continue
        except Exception as exc:  # a timeout of the future itself
            failures.append(f"{name}: {exc}")
            continue
        log.info(
            "created topic %s (%d partitions, replication factor %d)", name, partitions, replicas
        )
        created.append(name)
    if failures:
        raise TopicSetupError(
            "cannot create topics (create them yourself or grant CreateTopics, or set "
            "CREATE_TOPICS=false): " + "; ".join(sorted(failures))
        )
    return sorted(created, key=wanted.index)


def _error_text(exc: BaseException) -> str:
    error = exc.args[0] if exc.args else exc
    describe = getattr(error, "str", None)
    return str(describe()) if callable(describe) else str(error)
