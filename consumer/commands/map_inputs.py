"""Where `tiktok-capi map` reads events from: JSON lines, Avro files, or a Kafka topic.

Each source yields ``(label, event, error)``: ``label`` says where in the input (``line 3``,
``record 7``, ``partition 0 offset 42``), and either ``event`` is the decoded event dict (the
same values the connector's decoder gives) or ``error`` says, without quoting content, why
the input is not one. Sources never raise for bad input; they raise :class:`InputError` when
the input as a whole cannot be read (a file that is not Avro, an unreachable broker).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from tiktok_capi.consumer.config.settings import InputSettings, KafkaSettings

__all__ = ["AVRO_MAGIC", "InputError", "avro_file", "avro_json_lines", "json_lines", "topic"]

AVRO_MAGIC: Final = b"Obj\x01"
_POLL_S: Final = 1.0

Item = tuple[str, dict[str, Any] | None, str | None]


class InputError(Exception):
    """The input cannot be read at all (the message says why)."""


def _json_value(line: bytes) -> tuple[object, str | None]:
    """The JSON value of ``line``, or an error message that does not echo the line."""
    import json

    import orjson

    try:
        return orjson.loads(line), None
    except orjson.JSONDecodeError as exc:
        error = f"not valid JSON: {exc.msg} (column {exc.colno})"
    try:  # what orjson refuses but Python's json accepts (e.g. NaN)
        return json.loads(line), None
    except (ValueError, RecursionError):
        return None, error


def json_lines(stream: IO[bytes]) -> Iterator[Item]:
    """Segment JSON objects, one a line (blank lines are skipped)."""
    from tiktok_capi.mapping.values import kind

    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        value, error = _json_value(line)
        if error is None and not isinstance(value, dict):
            error = f"not a JSON object (got {kind(value)})"
        yield f"line {number}", value if error is None else None, error  # type: ignore[misc]


def avro_file(stream: IO[bytes]) -> Iterator[Item]:
    """Records of an Avro object container file (the writer schema is in the file)."""
    import fastavro

    from tiktok_capi.consumer.decode.generic import plain_values

    try:
        reader = fastavro.reader(stream)
    except Exception as exc:
        raise InputError(f"not an Avro object container file ({type(exc).__name__})") from None
    number = 0
    try:
        for record in reader:
            number += 1
            if isinstance(record, dict):
                yield f"record {number}", plain_values(record), None
            else:
                yield f"record {number}", None, "not an Avro record"
    except Exception as exc:  # a damaged block: the rest of the file cannot be read
        yield f"record {number + 1}", None, f"damaged file ({type(exc).__name__})"


def avro_json_lines(stream: IO[bytes], schema_text: str) -> Iterator[Item]:
    """Records in Avro's JSON encoding, one a line (what ``kafka-avro-console-consumer``
    prints), written with ``schema_text``."""
    import json

    import fastavro

    from tiktok_capi.consumer.decode.generic import plain_values

    schema = fastavro.parse_schema(json.loads(schema_text))
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
            records = list(fastavro.json_reader(io.StringIO(text), schema))
        except Exception as exc:
            yield f"line {number}", None, f"not a record of the schema ({type(exc).__name__})"
            continue
        for record in records:
            if isinstance(record, dict):
                yield f"line {number}", plain_values(record), None
            else:
                yield f"line {number}", None, "not an Avro record"


def topic(
    kafka: KafkaSettings, inputs: InputSettings, name: str, limit: int, idle_s: float = 10.0
) -> Iterator[Item]:
    """Up to ``limit`` records of topic ``name``, from the start of each partition, decoded as
    the connector decodes them. Nothing is committed and no group is joined (partitions are
    assigned), so the connector's offsets are never touched. Stops at the end of every
    partition, or after ``idle_s`` without a record.

    Raises:
        InputError: the topic does not exist or the broker cannot be reached.
    """
    import time

    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

    from tiktok_capi.consumer.config.kafka import consumer_config
    from tiktok_capi.consumer.decode.codec import DecodeError, RegistryUnavailable
    from tiktok_capi.consumer.decode.formats import make_decoder

    decoder = make_decoder(inputs)
    consumer = Consumer({**consumer_config(kafka), "enable.partition.eof": True})
    try:
        metadata = consumer.list_topics(name, timeout=10)
        described = metadata.topics.get(name)
        if described is None or described.error is not None or not described.partitions:
            raise InputError(f"topic {name!r} not found on {kafka.bootstrap_servers}")
        partitions = sorted(described.partitions)
        consumer.assign([TopicPartition(name, p, OFFSET_BEGINNING) for p in partitions])
        at_end: set[int] = set()
        read = 0
        last = time.monotonic()
        while read < limit and len(at_end) < len(partitions):
            msg = consumer.poll(_POLL_S)
            if msg is None:
                if time.monotonic() - last > idle_s:
                    break
                continue
            last = time.monotonic()
            error = msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    at_end.add(msg.partition() or 0)
                continue
            read += 1
            label = f"partition {msg.partition()} offset {msg.offset()}"
            try:
                yield label, decoder.decode(msg.value()), None
            except DecodeError as exc:
                yield label, None, f"undecodable ({exc.reason}): {exc}"
            except RegistryUnavailable as exc:
                yield label, None, f"not decoded: {exc}"
    except Exception as exc:
        if isinstance(exc, InputError):
            raise
        from confluent_kafka import KafkaException

        if isinstance(exc, KafkaException):
            raise InputError(f"cannot read {name!r}: {exc.args[0]}") from None
        raise
    finally:
        consumer.close()
        decoder.close()
