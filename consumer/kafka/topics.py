"""Creates the retry tier and dead-letter topics at start-up when they are missing.

New topics get the source topic's partition count, so the tiers spread over as many consumers as
the source does, and a replication factor of ``min(3, brokers)`` unless told otherwise. Existing
topics are left as they are (a different partition count is logged, not changed).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["TopicSetupError", "ensure_topics"]

log = logging.getLogger(__name__)

_LEGAL_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


class TopicSetupError(RuntimeError):
    """The topics cannot be checked or created: the message says which and why."""


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
) -> list[str]:
    """Create those of ``topics`` that do not exist yet; returns the names created.

    Args:
        admin_conf: librdkafka admin configuration (``kafka_config.admin_config``).
        source_topic: the topic whose partition count new topics copy; it must exist.
        topics: retry tier and dead-letter topics.
        timeout: seconds for the metadata request and for the creation.
        replication_factor: of new topics; default ``min(3, number of brokers)``.
        admin_factory: builds the admin client (a seam for tests).

    Raises:
        TopicSetupError: the cluster cannot be reached, the source topic does not exist (or is
            not visible to these credentials), or a topic cannot be created (authorisation,
            policy, ...).
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
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise TopicSetupError(f"cannot read the cluster's topics: {exc.args[0]}") from exc
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
