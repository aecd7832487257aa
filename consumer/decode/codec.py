"""Avro bytes <-> CDP event dicts, with the bundled schema or a Confluent Schema Registry.

Where bytes off Kafka become an event (and, for `tiktok-capi produce`, the reverse). Two
wire formats:

- plain Avro binary written with the bundled schema (``schemas/cdp_event.avsc``): no registry;
- the Confluent wire format (magic byte 0, 4-byte big-endian schema id, Avro binary): the
  writer schema is fetched from the registry by id, cached, and resolved against the bundled
  reader schema, so events written with an older or newer compatible version decode.

The schema types the identity fields and carries the free-form parts as JSON text, so a decoded
event equals the JSON object that was encoded (see ``schemas/README.md``).

Exceptions, by what the caller does next (defined in :mod:`.errors`)::

    Exception
     ├── DecodeError          dead-letter this record (``.reason`` says why); never retry it
     ├── RegistryUnavailable  back off and retry the same record later; never dead-letter
     └── ValueError
          └── EncodeError     the event cannot be encoded (not JSON-like); report it
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any, Final, Protocol

import orjson
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError
from fastavro.schema import to_parsing_canonical_form

from tiktok_capi.consumer.decode.errors import (
    DecodeError,
    DecodeReason,
    EncodeError,
    RegistryUnavailable,
)
from tiktok_capi.consumer.decode.fast import has_bundled_layout, read_event
from tiktok_capi.schemas.loader import cdp_event_schema

if TYPE_CHECKING:
    from tiktok_capi.consumer.config.settings import KafkaSettings

__all__ = [
    "MAGIC_BYTE",
    "BundledDecoder",
    "DecodeError",
    "DecodeReason",
    "Decoder",
    "EncodeError",
    "RegistryDecoder",
    "RegistryUnavailable",
    "SchemaSource",
    "bundled_schema",
    "bundled_schema_text",
    "encode_event",
    "encode_event_framed",
    "frame",
    "make_decoder",
    "to_record",
]

MAGIC_BYTE: Final = 0
_HEADER_SIZE: Final = 5

# Typed top-level fields: kept as Avro strings when the event's value is a string.
_TYPED: Final = ("type", "event", "name", "messageId", "userId", "anonymousId", "timestamp")
# Free-form parts: any JSON value, carried as JSON text.
_SECTIONS: Final = ("properties", "context", "traits", "integrations")
_EXTRA: Final = "extra"
_FIELDS: Final = frozenset(_TYPED + _SECTIONS)


class Decoder(Protocol):
    """Turns one Kafka record value into a CDP event dict."""

    def decode(self, value: bytes | None) -> dict[str, Any]:
        """Decode ``value``.

        Raises:
            DecodeError: the record is undecodable (dead-letter it).
            RegistryUnavailable: the writer schema could not be fetched now (retry later).
        """
        ...


class SchemaSource(Protocol):
    """Where writer schemas come from (a schema registry client)."""

    def get_schema(self, schema_id: int) -> str:
        """Avro schema text of ``schema_id``.

        Raises:
            DecodeError: ``unknown_schema_id`` (the id does not exist) or
                ``incompatible_schema`` (not an Avro schema).
            RegistryUnavailable: transient failure.
        """
        ...


# --- the bundled schema ---------------------------------------------------------------------------
@cache
def bundled_schema() -> Any:
    """The bundled CDP event schema, parsed by fastavro (the reader schema)."""
    return parse_schema(cdp_event_schema())


@cache
def bundled_schema_text() -> str:
    """The bundled schema in Avro's parsing canonical form (what gets registered)."""
    text: str = to_parsing_canonical_form(cdp_event_schema())
    return text


# --- encoding -------------------------------------------------------------------------------------
def _json_text(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError as exc:
        raise EncodeError(f"value is not JSON-encodable: {type(exc).__name__}") from None


def to_record(event: Mapping[str, Any]) -> dict[str, Any]:
    """The Avro record (a dict of the schema's fields) that carries ``event``."""
    record: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in event.items():
        if key in _FIELDS:
            if key in _SECTIONS:
                record[key] = _json_text(value)
            elif isinstance(value, str):
                record[key] = value
            else:
                extra[key] = value
        else:
            if not isinstance(key, str):
                raise EncodeError("event keys must be strings")
            extra[key] = value
    record[_EXTRA] = _json_text(extra) if extra else ""
    for key in _SECTIONS:
        record.setdefault(key, "")  # JSON text is never empty: "" means the key is absent
    return record


def encode_event(event: Mapping[str, Any]) -> bytes:
    """Encode ``event`` as plain Avro binary with the bundled schema.

    Raises:
        EncodeError: the event is not a JSON-like object.
    """
    if not isinstance(event, Mapping):
        raise EncodeError("an event must be a JSON object")
    buffer = io.BytesIO()
    try:
        schemaless_writer(buffer, bundled_schema(), to_record(event))
    except EncodeError:
        raise
    except (UnicodeEncodeError, ValueError, TypeError) as exc:
        raise EncodeError(f"event cannot be encoded: {type(exc).__name__}") from None
    return buffer.getvalue()


def frame(schema_id: int, payload: bytes) -> bytes:
    """Prefix Avro ``payload`` with the Confluent header (magic byte 0 + schema id)."""
    return bytes((MAGIC_BYTE,)) + schema_id.to_bytes(4, "big") + payload


def encode_event_framed(event: Mapping[str, Any], schema_id: int) -> bytes:
    """Encode ``event`` in the Confluent wire format under registry id ``schema_id``."""
    return frame(schema_id, encode_event(event))


# --- decoding -------------------------------------------------------------------------------------
def _from_record(record: Mapping[str, Any]) -> dict[str, Any]:
    event: dict[str, Any] = {}
    get = record.get
    for key in _TYPED:
        value = get(key)
        if value is not None:
            event[key] = value
    loads = orjson.loads
    for key in _SECTIONS:
        text = get(key)
        if text:
            event[key] = loads(text)
    text = get(_EXTRA)
    if text:
        extra = loads(text)
        if not isinstance(extra, dict):
            raise DecodeError("garbage", "field 'extra' is not a JSON object")
        event.update(extra)
    return event


def _read(payload: bytes | memoryview, writer: Any, reader: Any) -> dict[str, Any]:
    """Decode one Avro body; every failure becomes a :class:`DecodeError`."""
    buffer = io.BytesIO(payload)
    try:
        record = schemaless_reader(buffer, writer, reader)
        if buffer.tell() != len(payload):
            raise DecodeError("garbage", "bytes left over after the Avro record")
        if not isinstance(record, dict):
            raise DecodeError("garbage", "the Avro value is not a record")
        return _from_record(record)
    except DecodeError:
        raise
    except EOFError:
        raise DecodeError("truncated", "the record ends before its Avro value") from None
    except orjson.JSONDecodeError:
        raise DecodeError("garbage", "a JSON field of the record is not valid JSON") from None
    except SchemaResolutionError:
        raise DecodeError(
            "incompatible_schema", "the writer schema does not resolve to the reader schema"
        ) from None
    except Exception as exc:  # fastavro raises many types on garbage: translate them all
        raise DecodeError(
            "garbage", f"not Avro of the expected schema ({type(exc).__name__})"
        ) from None


def _check_present(value: bytes | None) -> bytes:
    if not value:
        raise DecodeError("empty", "the record has no value (tombstone or empty)")
    return value


class BundledDecoder:
    """Decodes plain Avro binary written with the bundled schema (no registry)."""

    __slots__ = ("_schema",)

    def __init__(self) -> None:
        self._schema = bundled_schema()

    def decode(self, value: bytes | None) -> dict[str, Any]:
        """See :meth:`Decoder.decode`."""
        data = _check_present(value)
        if type(data) is bytes:
            event = read_event(data)
            if event is not None:
                return event
        return _read(data, self._schema, None)

    def close(self) -> None:
        """Nothing to release (same interface as :class:`RegistryDecoder`)."""


class RegistryDecoder:
    """Decodes the Confluent wire format; writer schemas come from ``source`` and are cached.

    A writer schema identical to the bundled one decodes directly; any other is resolved
    against the bundled reader schema (Avro schema resolution: new fields take their defaults,
    fields the reader does not know are dropped).
    """

    __slots__ = ("_reader", "_reader_canonical", "_source", "_writers")

    def __init__(self, source: SchemaSource) -> None:
        self._source = source
        self._reader = bundled_schema()
        self._reader_canonical = bundled_schema_text()
        # schema id -> (parsed writer schema, reader schema or None when they are the same,
        # whether the writer is laid out like the bundled schema: the fast path reads it)
        self._writers: dict[int, tuple[Any, Any, bool]] = {}

    def decode(self, value: bytes | None) -> dict[str, Any]:
        """See :meth:`Decoder.decode`."""
        data = _check_present(value)
        if data[0] != MAGIC_BYTE:
            raise DecodeError(
                "wrong_magic_byte", f"first byte is {data[0]}, not the Confluent magic byte 0"
            )
        if len(data) < _HEADER_SIZE:
            raise DecodeError("truncated", "the record is shorter than the 5-byte header")
        schema_id = int.from_bytes(data[1:_HEADER_SIZE], "big")
        writer, reader, fast = self._writers.get(schema_id) or self._load(schema_id)
        if fast and type(data) is bytes:
            event = read_event(data, _HEADER_SIZE)
            if event is not None:
                return event
        return _read(memoryview(data)[_HEADER_SIZE:], writer, reader)

    def close(self) -> None:
        """Release the schema source's connections when it has any (a registry client)."""
        close = getattr(self._source, "close", None)
        if callable(close):
            close()

    def _load(self, schema_id: int) -> tuple[Any, Any, bool]:
        text = self._source.get_schema(schema_id)
        try:
            parsed_json = orjson.loads(text)
            writer = parse_schema(parsed_json)
            canonical = to_parsing_canonical_form(parsed_json)
        except Exception:
            raise DecodeError(
                "incompatible_schema", f"schema {schema_id} is not a valid Avro schema"
            ) from None
        if not isinstance(writer, dict) or writer.get("type") != "record":
            raise DecodeError("incompatible_schema", f"schema {schema_id} is not an Avro record")
        same = canonical == self._reader_canonical
        entry = (writer, None if same else self._reader, same and has_bundled_layout(writer))
        self._writers[schema_id] = entry
        return entry


def make_decoder(settings: KafkaSettings) -> Decoder:
    """The decoder ``settings`` call for: registry-framed when SCHEMA_REGISTRY_URL is set."""
    if settings.schema_registry_url:
        from tiktok_capi.consumer.decode.registry import SchemaRegistryClient

        return RegistryDecoder(
            SchemaRegistryClient(settings.schema_registry_url, auth=settings.schema_registry_auth)
        )
    return BundledDecoder()
