"""`tiktok-capi produce` — encode Segment-spec JSON lines as Avro and produce them to a topic.

For demos, tests and users replaying events. Each line of the input is one JSON object; it is
encoded with the project's schema (plain Avro, or the Confluent wire format after registering
the schema when a registry URL is given) and produced with the key ``userId`` (else
``anonymousId``), so one user's events stay in order on one partition. A bad line is reported on
stderr by line number (its content is never echoed: it may hold PII) and makes the exit status 1;
the other lines are still produced.

:func:`produce_events` is the same thing as a library call (the demo and the benchmarks use it).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any, cast

__all__ = ["ProduceSummary", "event_key", "produce_events", "producer_config", "register"]

DESCRIPTION = """\
Read Segment-spec events, one JSON object per line, from FILE (or stdin; a .gz file is
decompressed), encode them as Avro with the project's schema and produce them to TOPIC, keyed by
userId (else anonymousId). With --schema-registry-url the schema is registered under
TOPIC-value and values are in the Confluent wire format (what `tiktok-capi run` expects when
SCHEMA_REGISTRY_URL is set); without it values are plain Avro.

Extra librdkafka properties come from the environment as KAFKA_<PROPERTY>, dots written as
underscores (e.g. KAFKA_SECURITY_PROTOCOL=SASL_SSL), as for `tiktok-capi run`.
Exit status: 0 when every line was produced; 1 when a line was bad or a delivery failed (the
broker unreachable for 30 s); 2 on a usage, configuration or schema registry error.

Example, with the shipped sample storefront dataset:
  tiktok-capi produce --topic cdp-events --rebase-timestamps \\
      $(python -c 'from tiktok_capi.consumer.demo.storefront import SAMPLE_PATH as p; print(p)')
"""


@dataclass
class ProduceSummary:
    """What one produce run did."""

    produced: int = 0
    failed: int = 0
    bad_lines: list[int] = field(default_factory=list)
    per_partition: Counter[int] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        """True when every event was produced and acknowledged."""
        return not self.failed and not self.bad_lines


def register(subparsers: Any) -> None:
    """Add the `produce` sub-command."""
    parser = subparsers.add_parser(
        "produce",
        help="encode Segment JSON lines as Avro and produce them to a topic",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--topic", required=True, help="topic to produce to")
    parser.add_argument(
        "--bootstrap-servers",
        default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"),
        help="Kafka bootstrap servers (default: $KAFKA_BOOTSTRAP_SERVERS)",
    )
    parser.add_argument(
        "--schema-registry-url",
        default=os.environ.get("SCHEMA_REGISTRY_URL"),
        help="register the schema here and use the Confluent wire format "
        "(default: $SCHEMA_REGISTRY_URL; unset = plain Avro)",
    )
    parser.add_argument(
        "--subject", help="registry subject (default: TOPIC-value, the topic name strategy)"
    )
    parser.add_argument(
        "--rebase-timestamps",
        action="store_true",
        help="shift every event's timestamps so that the latest one is now (the TikTok API "
        "refuses events older than 7 days); reads the whole input first",
    )
    parser.add_argument(
        "file", nargs="?", default="-", help="JSON-lines file, .gz allowed (default: stdin)"
    )
    parser.set_defaults(func=_run)


def producer_config(bootstrap_servers: str, env: Mapping[str, str]) -> dict[str, Any]:
    """librdkafka producer config: acknowledged writes plus ``KAFKA_*`` properties from ``env``.

    Raises:
        ConfigError: a ``KAFKA_*`` variable sets a property tiktok-capi manages.
    """
    from tiktok_capi.consumer.config import kafka as kafka_config
    from tiktok_capi.consumer.config.settings import load_kafka_settings

    settings = load_kafka_settings({**env, "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers})
    properties = settings.properties
    conf = kafka_config.producer_config(settings)
    conf["client.id"] = properties.get("client.id", "tiktok-capi-produce")
    # A replay tool needs acknowledged writes, not exactly-once retries; idempotence costs a
    # producer-id round trip at start (half a second on Tansu). KAFKA_ENABLE_IDEMPOTENCE wins.
    conf["enable.idempotence"] = properties.get("enable.idempotence", False)
    # Fail a delivery after 30 s rather than librdkafka's 5 minutes: this is an interactive tool.
    conf.setdefault("message.timeout.ms", 30000)
    return conf


def event_key(event: Mapping[str, Any]) -> bytes | None:
    """The record key of ``event``: its userId, else its anonymousId, else none."""
    for name in ("userId", "anonymousId"):
        value = event.get(name)
        if value is not None and value != "":
            return (value if isinstance(value, str) else str(value)).encode()
    return None


def produce_events(
    events: Iterable[Mapping[str, Any]],
    *,
    topic: str,
    config: Mapping[str, Any],
    schema_id: int | None = None,
    on_bad_event: Callable[[int, str], None] | None = None,
    flush_timeout: float = 60.0,
) -> ProduceSummary:
    """Encode and produce ``events`` to ``topic``, flush, and count the acknowledged ones.

    Args:
        events: Segment-spec events (JSON objects).
        topic: destination topic.
        config: librdkafka producer config (see :func:`producer_config`).
        schema_id: registry id to frame values with (Confluent wire format); ``None`` for
            plain Avro.
        on_bad_event: called with the 1-based index and a PII-free reason of an event that
            cannot be encoded (it is skipped and counted in ``bad_lines``).
        flush_timeout: seconds to wait for outstanding deliveries at the end.
    """
    from confluent_kafka import KafkaError, Message, Producer

    from tiktok_capi.consumer.decode.codec import EncodeError, encode_event, frame
    from tiktok_capi.consumer.kafka.produce import produce_waiting

    summary = ProduceSummary()

    def on_delivery(err: KafkaError | None, msg: Message) -> None:
        if err is None:
            summary.produced += 1
            summary.per_partition[msg.partition() or 0] += 1
        else:
            summary.failed += 1

    producer = Producer(dict(config))
    header = frame(schema_id, b"") if schema_id is not None else b""
    for index, event in enumerate(events, start=1):
        try:
            value = header + encode_event(event)
        except EncodeError as exc:
            summary.bad_lines.append(index)
            if on_bad_event is not None:
                on_bad_event(index, str(exc))
            continue
        produce_waiting(producer, topic, value, key=event_key(event), on_delivery=on_delivery)
        producer.poll(0)
    remaining = producer.flush(flush_timeout)
    summary.failed += remaining
    return summary


def _open(path: str) -> IO[bytes]:
    if path == "-":
        return sys.stdin.buffer
    if path.endswith(".gz"):
        import gzip

        return cast(IO[bytes], gzip.open(path, "rb"))
    return open(path, "rb")


def _parse_lines(
    stream: IO[bytes], bad: list[tuple[int, str]]
) -> Iterator[tuple[int, dict[str, Any]]]:
    import json
    import re

    import orjson

    # orjson reads integers beyond 64 bits as floats (silently rounded); the standard library
    # keeps them exact, so the encoder can refuse them instead.
    long_number = re.compile(rb"\d{20}")

    def reject_constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            if long_number.search(line):
                event = json.loads(line, parse_constant=reject_constant)
            else:
                event = orjson.loads(line)
        except ValueError:  # orjson.JSONDecodeError and json.JSONDecodeError are ValueErrors
            bad.append((number, "not valid JSON"))
            continue
        if not isinstance(event, dict):
            bad.append((number, "not a JSON object"))
            continue
        yield number, event


def _run(args: argparse.Namespace) -> int:
    from tiktok_capi.consumer.config.settings import ConfigError

    if not args.bootstrap_servers:
        print(
            "produce: --bootstrap-servers or KAFKA_BOOTSTRAP_SERVERS is required", file=sys.stderr
        )
        return 2
    try:
        config = producer_config(args.bootstrap_servers, os.environ)
    except ConfigError as exc:
        print(f"produce: {exc}", file=sys.stderr)
        return 2
    if args.file != "-" and not os.path.exists(args.file):
        print(f"produce: cannot read {args.file}: no such file", file=sys.stderr)
        return 2

    schema_id: int | None = None
    if args.schema_registry_url:
        schema_id = _register(args.schema_registry_url, args.subject or f"{args.topic}-value")
        if schema_id is None:
            return 2

    try:
        stream = _open(args.file)
    except OSError as exc:
        print(f"produce: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2

    bad: list[tuple[int, str]] = []
    with stream:
        numbered: Iterable[tuple[int, dict[str, Any]]] = _parse_lines(stream, bad)
        if args.rebase_timestamps:
            from tiktok_capi.consumer.demo.storefront import rebase_timestamps

            loaded = list(numbered)
            events = rebase_timestamps([e for _, e in loaded], datetime.now(UTC))
            numbered = zip([n for n, _ in loaded], events, strict=True)
        line_numbers: list[int] = []

        def events_of(items: Iterable[tuple[int, dict[str, Any]]]) -> Iterator[dict[str, Any]]:
            for number, event in items:
                line_numbers.append(number)
                yield event

        def on_bad_event(index: int, reason: str) -> None:
            bad.append((line_numbers[index - 1], reason))

        summary = produce_events(
            events_of(numbered), topic=args.topic, config=config, schema_id=schema_id,
            on_bad_event=on_bad_event,
        )  # fmt: skip

    for number, reason in sorted(bad):
        print(f"produce: line {number}: {reason}; skipped", file=sys.stderr)
    partitions = ", ".join(f"{p}: {n}" for p, n in sorted(summary.per_partition.items()))
    print(
        f"produced {summary.produced} events to {args.topic}"
        + (f" (per partition {partitions})" if partitions else "")
        + (f"; {len(bad)} bad lines" if bad else "")
        + (f"; {summary.failed} deliveries failed" if summary.failed else "")
    )
    return 1 if bad or summary.failed else 0


def _register(url: str, subject: str) -> int | None:
    from tiktok_capi.consumer.config.settings import ConfigError, load_input_settings
    from tiktok_capi.consumer.decode.codec import RegistryUnavailable, bundled_schema_text
    from tiktok_capi.consumer.decode.registry import (
        RegistryConfigError,
        SchemaRegistry,
        SchemaRejected,
    )

    try:  # the same SCHEMA_REGISTRY_* credentials and TLS settings as the connector
        inputs = load_input_settings({**os.environ, "SCHEMA_REGISTRY_URL": url})
        with SchemaRegistry.from_settings(inputs) as registry:
            schema_id = registry.register(subject, bundled_schema_text())
    except (ConfigError, RegistryConfigError) as exc:
        print(f"produce: {exc}", file=sys.stderr)
        return None
    except (RegistryUnavailable, SchemaRejected) as exc:
        print(f"produce: schema registration failed: {exc}", file=sys.stderr)
        return None
    print(f"registered the schema under {subject!r} as id {schema_id}", file=sys.stderr)
    return schema_id
