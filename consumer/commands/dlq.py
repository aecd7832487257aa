"""`tiktok-capi dlq` — look into the dead-letter topic and replay it.

``dlq inspect`` prints one line per dead-letter record from its ``tiktok-capi.*`` headers (where
it came from, why it failed, how often) — never the record's value, which holds user data.

``dlq replay`` re-publishes dead-letter records (original key and value bytes, the user's own
headers, plus ``tiktok-capi.replayed-from``) to the source topic, so `run` delivers them again once
the cause is fixed. It remembers its progress in a consumer group of its own on the dead-letter
topic, committed only after the broker acknowledged the replayed records: an interrupted replay
resumes where it stopped, and a second replay does not repeat the first.

Kafka settings come from the same environment variables as `run` (``KAFKA_BOOTSTRAP_SERVERS``,
``SOURCE_TOPIC``, ``DLQ_TOPIC``, ``KAFKA_*``); the TikTok ones are not needed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from confluent_kafka import Consumer, Message

    from tiktok_capi.consumer.config.settings import KafkaSettings


def register(subparsers: Any) -> None:
    """Add the `dlq` sub-command with `inspect` and `replay`."""
    parser = subparsers.add_parser(
        "dlq",
        help="inspect or replay the dead-letter topic",
        description="Inspect or replay the dead-letter topic. Kafka settings come from the same "
        "environment variables as `run` (KAFKA_BOOTSTRAP_SERVERS, SOURCE_TOPIC, DLQ_TOPIC, "
        "KAFKA_*); TikTok settings are not needed. See docs/retries.md.",
    )
    parser.set_defaults(func=lambda args: _usage(parser))
    commands = parser.add_subparsers(dest="dlq_command", metavar="ACTION")

    inspect = commands.add_parser(
        "inspect",
        help="print one line per dead-letter record (never its value)",
        description="Print one line per dead-letter record, from its headers: partition/offset, "
        "original topic/partition/offset, reason, error class, TikTok code and request_id, "
        "attempts, first failure and the (PII-free) error message. Values are never printed.",
    )
    inspect.add_argument("--topic", help="topic to read (default: DLQ_TOPIC)")
    inspect.add_argument(
        "--limit", type=_non_negative, default=100, help="records to show, 0 = all (default 100)"
    )
    inspect.add_argument("--json", action="store_true", help="one JSON object per line")
    inspect.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        help="seconds to wait for the end of the topic (default 10)",
    )
    inspect.set_defaults(func=_inspect)

    replay = commands.add_parser(
        "replay",
        help="re-publish dead-letter records to the source topic",
        description="Re-publish dead-letter records (original key and value, headers without "
        "tiktok-capi.* plus tiktok-capi.replayed-from) to the source topic. Progress is "
        "committed in a consumer group of its own after the broker acknowledged each batch, so "
        "an interrupted replay resumes and a second replay does not repeat the first.",
    )
    replay.add_argument("--to-topic", help="destination topic (default: SOURCE_TOPIC)")
    replay.add_argument("--topic", help="dead-letter topic to read (default: DLQ_TOPIC)")
    replay.add_argument(
        "--limit", type=_non_negative, default=0, help="records to replay, 0 = all (default)"
    )
    replay.add_argument(
        "--group", help="consumer group remembering progress (default: {KAFKA_GROUP_ID}.dlq-replay)"
    )
    replay.add_argument(
        "--batch", type=_positive, default=1000, help="records per acknowledged batch (1000)"
    )
    replay.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        help="seconds to wait for records when none arrive (default 10)",
    )
    replay.set_defaults(func=_replay)


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _settings_or_exit(command: str) -> KafkaSettings | None:
    from tiktok_capi.consumer.config.settings import ConfigError, load_kafka_settings

    try:
        return load_kafka_settings(os.environ)
    except ConfigError as exc:
        for problem in str(exc).splitlines():
            print(f"tiktok-capi dlq {command}: configuration error: {problem}", file=sys.stderr)
        return None


def _reader(settings: KafkaSettings, group: str) -> Consumer:
    from confluent_kafka import Consumer

    from tiktok_capi.consumer.config.kafka import consumer_config

    conf = consumer_config(settings, group_id=group)
    conf.pop("statistics.interval.ms", None)
    conf["enable.partition.eof"] = True
    return Consumer(conf)


def _partitions(consumer: Consumer, topic: str, timeout: float) -> list[int]:
    metadata = consumer.list_topics(timeout=timeout)
    found = metadata.topics.get(topic)
    if found is None or found.error is not None or not found.partitions:
        raise LookupError(f"topic {topic!r} does not exist")
    return sorted(found.partitions)


def _read(consumer: Consumer, partitions: int, idle_timeout: float) -> Iterator[list[Message]]:
    """Batches of records until every partition reached its end (or nothing came for a while)."""
    from confluent_kafka import KafkaError, KafkaException

    at_end: set[int] = set()
    last_progress = time.monotonic()
    while len(at_end) < partitions:
        if time.monotonic() - last_progress > idle_timeout:
            print("tiktok-capi dlq: stopped waiting for more records", file=sys.stderr)
            return
        batch: list[Message] = []
        for msg in consumer.consume(num_messages=500, timeout=0.2):
            error = msg.error()
            if error is None:
                batch.append(msg)
                at_end.discard(msg.partition() or 0)
            elif error.code() == KafkaError._PARTITION_EOF:
                at_end.add(msg.partition() or 0)
                last_progress = time.monotonic()
            else:
                raise KafkaException(error)
        if batch:
            last_progress = time.monotonic()
            yield batch


def _msg_headers(msg: Message) -> list[tuple[str, str | bytes | None]]:
    headers = msg.headers()
    if headers is None:
        return []
    return list(headers.items()) if isinstance(headers, dict) else list(headers)


def _header_text(msg: Message, name: str) -> str | None:
    found: str | None = None
    for key, value in _msg_headers(msg):
        if key == name and value is not None:
            found = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return found


def describe(msg: Message) -> dict[str, Any]:
    """What `inspect` shows of one dead-letter record: its headers, never its value."""
    from tiktok_capi.consumer.failures import tiers as rt

    def text(name: str) -> str | None:
        return _header_text(msg, name)

    original = None
    if text(rt.HEADER_ORIGINAL_TOPIC) is not None:
        original = (
            f"{text(rt.HEADER_ORIGINAL_TOPIC)}/{text(rt.HEADER_ORIGINAL_PARTITION)}"
            f"@{text(rt.HEADER_ORIGINAL_OFFSET)}"
        )
    return {
        "partition": msg.partition(),
        "offset": msg.offset(),
        "original": original,
        "reason": text(rt.HEADER_REASON),
        "error_class": text(rt.HEADER_ERROR_CLASS),
        "code": text(rt.HEADER_TIKTOK_CODE),
        "request_id": text(rt.HEADER_TIKTOK_REQUEST_ID),
        "attempts": text(rt.HEADER_ATTEMPT),
        "first_failure": text(rt.HEADER_FIRST_FAILURE),
        "failed_at": text(rt.HEADER_FAILED_AT),
        "message": text(rt.HEADER_ERROR_MESSAGE),
        "value_bytes": len(msg.value() or b""),
    }


def _line(info: Mapping[str, Any]) -> str:
    def show(key: str) -> str:
        value = info[key]
        return "-" if value is None else str(value)

    return (
        f"{info['partition']}:{info['offset']} original={show('original')} "
        f"reason={show('reason')} class={show('error_class')} code={show('code')} "
        f"request_id={show('request_id')} attempts={show('attempts')} "
        f"first_failure={show('first_failure')} message={json.dumps(info['message'] or '')}"
    )


def _inspect(args: argparse.Namespace) -> int:
    from confluent_kafka import OFFSET_BEGINNING, KafkaException, TopicPartition

    settings = _settings_or_exit("inspect")
    if settings is None:
        return 2
    topic = args.topic or settings.dlq_topic
    consumer = _reader(settings, f"{settings.group_id}.dlq-inspect")
    shown = 0
    reasons: Counter[str] = Counter()
    try:
        partitions = _partitions(consumer, topic, args.timeout)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        for batch in _read(consumer, len(partitions), args.timeout):
            for msg in batch:
                info = describe(msg)
                print(json.dumps(info) if args.json else _line(info))
                reasons[info["reason"] or "-"] += 1
                shown += 1
                if args.limit and shown >= args.limit:
                    break
            if args.limit and shown >= args.limit:
                break
    except (KafkaException, LookupError) as exc:
        print(f"tiktok-capi dlq inspect: {_error_text(exc)}", file=sys.stderr)
        return 1
    finally:
        consumer.close()  # never commits: inspect leaves no trace
    summary = ", ".join(f"{reason}={n}" for reason, n in sorted(reasons.items())) or "none"
    print(f"{shown} dead-letter records from {topic} ({summary})", file=sys.stderr)
    return 0


def _error_text(exc: BaseException) -> str:
    error = exc.args[0] if exc.args else exc
    describe_error = getattr(error, "str", None)
    return str(describe_error()) if callable(describe_error) else str(error)


def _replay(args: argparse.Namespace) -> int:
    from confluent_kafka import KafkaException

    settings = _settings_or_exit("replay")
    if settings is None:
        return 2
    source = args.topic or settings.dlq_topic
    target = args.to_topic or settings.source_topic
    group = args.group or f"{settings.group_id}.dlq-replay"
    if target == source:
        print(
            "tiktok-capi dlq replay: --to-topic must differ from the dead-letter topic",
            file=sys.stderr,
        )
        return 2
    try:
        replayed = Replay(settings, source, target, group, args.batch).run(args.limit, args.timeout)
    except (KafkaException, LookupError, ReplayError) as exc:
        print(f"tiktok-capi dlq replay: {_error_text(exc)}", file=sys.stderr)
        return 1
    print(f"replayed {replayed} records from {source} to {target} (progress in group {group})")
    return 0


class ReplayError(RuntimeError):
    """The broker refused some replayed records; progress is committed up to the first one."""


class Replay:
    """Copies dead-letter records to ``target`` in acknowledged batches, then commits them."""

    def __init__(self, settings: KafkaSettings, source: str, target: str, group: str, batch: int):
        self.settings = settings
        self.source = source
        self.target = target
        self.group = group
        self.batch = batch

    def run(self, limit: int, idle_timeout: float) -> int:
        """Replay up to ``limit`` records (0 = all); returns how many were replayed."""
        from confluent_kafka import OFFSET_BEGINNING, Producer, TopicPartition

        from tiktok_capi.consumer.config.kafka import producer_config

        consumer = _reader(self.settings, self.group)
        conf = producer_config(self.settings)
        conf.setdefault("partitioner", "murmur2_random")
        conf["client.id"] = "tiktok-capi-dlq-replay"
        producer = Producer(conf)
        replayed = 0
        try:
            partitions = _partitions(consumer, self.source, idle_timeout)
            target_partitions = set(_partitions(consumer, self.target, idle_timeout))
            committed = consumer.committed(
                [TopicPartition(self.source, p) for p in partitions], timeout=idle_timeout
            )
            consumer.assign(
                [
                    TopicPartition(self.source, tp.partition, tp.offset)
                    if tp.offset >= 0
                    else TopicPartition(self.source, tp.partition, OFFSET_BEGINNING)
                    for tp in committed
                ]
            )
            pending: list[Message] = []
            for batch in _read(consumer, len(partitions), idle_timeout):
                for msg in batch:
                    if limit and replayed + len(pending) >= limit:
                        break
                    pending.append(msg)
                    if len(pending) >= self.batch:
                        replayed += self._copy(consumer, producer, pending, target_partitions)
                        pending = []
                if limit and replayed + len(pending) >= limit:
                    break
            if pending:
                replayed += self._copy(consumer, producer, pending, target_partitions)
        finally:
            producer.flush(5)
            consumer.close()
        return replayed

    def _copy(
        self, consumer: Consumer, producer: Any, messages: list[Message], targets: set[int]
    ) -> int:
        """Produce ``messages``, wait for every acknowledgement, commit; returns the count."""
        from confluent_kafka import TopicPartition

        from tiktok_capi.consumer.failures.tiers import (
            HEADER_ORIGINAL_PARTITION,
            HEADER_ORIGINAL_TOPIC,
            HEADER_PREFIX,
            HEADER_REPLAYED_FROM,
        )
        from tiktok_capi.consumer.kafka.produce import produce_waiting

        failed: dict[int, int] = {}  # dead-letter partition -> lowest offset not acknowledged

        def report(partition: int, offset: int) -> Any:
            def on_delivery(err: Any, _msg: Any) -> None:
                if err is not None:
                    failed[partition] = min(offset, failed.get(partition, offset))

            return on_delivery

        for msg in messages:
            partition, offset = msg.partition() or 0, msg.offset() or 0
            headers = [(k, v) for k, v in _msg_headers(msg) if not k.startswith(HEADER_PREFIX)]
            headers.append((HEADER_REPLAYED_FROM, f"{self.source}/{partition}@{offset}".encode()))
            target_partition: int | None = None
            # Back to the partition it came from, next to the events of the same key.
            if _header_text(msg, HEADER_ORIGINAL_TOPIC) == self.target:
                original = _header_text(msg, HEADER_ORIGINAL_PARTITION)
                if original is not None and original.isdigit() and int(original) in targets:
                    target_partition = int(original)
            produce_waiting(
                producer,
                self.target,
                msg.value(),
                key=msg.key(),
                headers=headers,
                partition=target_partition,
                on_delivery=report(partition, offset),
            )
        remaining = producer.flush(60)
        if remaining:
            raise ReplayError(f"{remaining} replayed records were not acknowledged in time")
        next_offsets: dict[int, int] = {}
        for msg in messages:
            partition, offset = msg.partition() or 0, msg.offset() or 0
            next_offsets[partition] = max(next_offsets.get(partition, 0), offset + 1)
        next_offsets.update(failed)  # resume at the first record the broker refused
        consumer.commit(
            offsets=[TopicPartition(self.source, p, o) for p, o in next_offsets.items()],
            asynchronous=False,
        )
        if failed:
            raise ReplayError(
                f"the broker refused records of {self.source} partitions {sorted(failed)}; "
                "progress is committed up to them, run replay again to retry"
            )
        return len(messages)
