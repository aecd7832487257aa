"""Which format a record value is in, and the reader for it: record by record.

A topic may mix formats (docs/inputs.md), so each value is looked at on its own:

- **Confluent-framed** (with ``SCHEMA_REGISTRY_URL``: magic byte 0, a 4-byte schema id, the
  body): the registry's schema for that id decides. ``AVRO``: a version of the bundled
  ``tiktok_capi.CdpEvent`` reads with the bundled fast path (resolved when it differs), any
  other schema with a reader generated for it (:mod:`.generic`). ``JSON`` (JSON Schema): the
  body is Segment JSON text.
- **Anything else** reads as ``VALUE_FORMAT`` says: ``avro`` -> plain Avro of
  ``AVRO_SCHEMA_FILE`` (or of the bundled schema); ``json`` -> a Segment JSON object.

A plain Avro record whose first byte is 0 (its first field a null union branch, say) cannot be
told from a framed one while a registry is configured: it is read as framed.

Readers are built once per schema id and kept; a schema that cannot be read is remembered as
such, so its records are dead-lettered without asking again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

import orjson

from tiktok_capi.consumer.config.files import InputFileError, load_avro_schema
from tiktok_capi.consumer.decode.codec import (
    BUNDLED_NAME,
    MAGIC_BYTE,
    BundledDecoder,
    DecodeError,
    bundled_reader,
)
from tiktok_capi.consumer.decode.generic import AvroReader, full_name
from tiktok_capi.consumer.decode.registry import RegisteredWriter, SchemaRegistry

if TYPE_CHECKING:
    from tiktok_capi.consumer.config.settings import InputSettings

__all__ = ["RecordDecoder", "WriterSource", "avro_reader", "make_decoder", "read_json"]

_HEADER_SIZE: Final = 5

Reader = Callable[[bytes, int], dict[str, Any]]


class WriterSource(Protocol):
    """Where writer schemas come from by id (:class:`~.registry.SchemaRegistry`)."""

    def writer(self, schema_id: int) -> RegisteredWriter:
        """See :meth:`~.registry.SchemaRegistry.writer`."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def read_json(data: bytes, start: int = 0) -> dict[str, Any]:
    """The Segment JSON object in ``data[start:]``.

    Raises:
        DecodeError: ``not_json`` (not UTF-8 JSON) or ``not_an_object`` (JSON, not an object).
    """
    try:
        value = orjson.loads(memoryview(data)[start:] if start else data)
    except orjson.JSONDecodeError:
        raise DecodeError("not_json", "the value is not JSON text") from None
    if type(value) is not dict:
        raise DecodeError("not_an_object", f"the JSON value is not an object ({_kind(value)})")
    return value


def _kind(value: object) -> str:
    return "an array" if isinstance(value, list) else type(value).__name__


def avro_reader(schema_text: str, references: tuple[str, ...] = ()) -> Reader:
    """The reader of Avro bodies written with ``schema_text`` (any schema).

    Raises:
        DecodeError: ``incompatible_schema`` (not a valid Avro schema).
    """
    try:
        schema = orjson.loads(schema_text)
        refs = [orjson.loads(text) for text in references]
    except orjson.JSONDecodeError:
        raise DecodeError("incompatible_schema", "the writer schema is not JSON") from None
    if not references and isinstance(schema, dict):
        name, namespace = schema.get("name"), schema.get("namespace")
        full = name if not namespace or "." in str(name) else f"{namespace}.{name}"
        if full == BUNDLED_NAME:
            return bundled_reader(schema_text)
    try:
        generic = AvroReader(schema, refs)
    except ValueError as exc:
        raise DecodeError(
            "incompatible_schema", f"the writer schema cannot be read: {exc}"
        ) from None
    name = full_name(generic.parsed) or "the value"
    read = generic.read

    def read_object(data: bytes, start: int) -> dict[str, Any]:
        value = read(data, start)
        if type(value) is not dict:
            raise DecodeError("not_an_object", f"{name} is not an Avro record ({_kind(value)})")
        return value

    return read_object


def _failing(error: DecodeError) -> Reader:
    def fail(data: bytes, start: int) -> dict[str, Any]:
        raise DecodeError(error.reason, str(error))

    return fail


class RecordDecoder:
    """Decodes each record value by its format (see the module docstring).

    Args:
        value_format: ``VALUE_FORMAT`` (how values that are not framed read).
        pinned: reader of plain Avro values (``AVRO_SCHEMA_FILE``); ``None``: the bundled one.
        registry: where framed values' schemas come from; ``None``: no value is framed.
    """

    __slots__ = ("_plain", "_readers", "_registry", "_unframed_reason")

    def __init__(
        self,
        value_format: Literal["avro", "json"] = "avro",
        *,
        pinned: Reader | None = None,
        registry: WriterSource | None = None,
    ) -> None:
        self._registry = registry
        self._readers: dict[int, Reader] = {}
        if value_format == "json":
            self._plain: Reader = read_json
        elif pinned is not None:
            self._plain = pinned
        else:
            self._plain = _bundled_plain
        # With a registry, an Avro value that is neither framed nor plain says so.
        self._unframed_reason = registry is not None and value_format == "avro"

    def decode(self, value: bytes | None) -> dict[str, Any]:
        """See :meth:`~.codec.Decoder.decode`."""
        if not value:
            raise DecodeError("empty", "the record has no value (tombstone or empty)")
        data = value if type(value) is bytes else bytes(value)
        if self._registry is not None and data[0] == MAGIC_BYTE:
            if len(data) < _HEADER_SIZE:
                raise DecodeError("truncated", "the record is shorter than the 5-byte header")
            schema_id = int.from_bytes(data[1:_HEADER_SIZE], "big")
            reader = self._readers.get(schema_id) or self._reader(schema_id)
            return reader(data, _HEADER_SIZE)
        try:
            return self._plain(data, 0)
        except DecodeError:
            if not self._unframed_reason:
                raise
            raise DecodeError(
                "wrong_magic_byte",
                f"first byte is {data[0]}, not the Confluent magic byte 0, and the value is not "
                "plain Avro of the pinned schema either",
            ) from None

    def _reader(self, schema_id: int) -> Reader:
        assert self._registry is not None
        writer = self._registry.writer(schema_id)  # RegistryUnavailable: nothing is cached
        try:
            reader = _reader_of(writer)
        except DecodeError as exc:
            reader = _failing(DecodeError(exc.reason, f"schema {schema_id}: {exc}"))
        self._readers[schema_id] = reader
        return reader

    def close(self) -> None:
        """Close the registry client's connections."""
        if self._registry is not None:
            self._registry.close()


def _reader_of(writer: RegisteredWriter) -> Reader:
    if writer.schema_type == "JSON":
        return read_json
    return avro_reader(writer.text, writer.references)


_BUNDLED: Final = BundledDecoder()


def _bundled_plain(data: bytes, start: int) -> dict[str, Any]:
    return _BUNDLED.decode(data)


def make_decoder(inputs: InputSettings) -> RecordDecoder:
    """The decoder ``inputs`` call for (VALUE_FORMAT, AVRO_SCHEMA_FILE, SCHEMA_REGISTRY_*).

    Raises:
        InputFileError: AVRO_SCHEMA_FILE cannot be read or used.
        RegistryConfigError: the registry options do not go together, or its client refused
            them (e.g. a missing certificate).
    """
    pinned = None
    if inputs.avro_schema_file:
        text = load_avro_schema(inputs.avro_schema_file)
        try:
            pinned = avro_reader(text)
        except DecodeError as exc:
            raise InputFileError(f"AVRO_SCHEMA_FILE={inputs.avro_schema_file}: {exc}") from None
    registry = SchemaRegistry.from_settings(inputs) if inputs.schema_registry_url else None
    value_format: Literal["avro", "json"] = "json" if inputs.value_format == "json" else "avro"
    return RecordDecoder(value_format, pinned=pinned, registry=registry)
