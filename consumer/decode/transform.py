"""Record values -> encoded TikTok events: decode, field paths, map, JSON-encode (the work).

:class:`Transformer` is the per-record work of the connector, in the calling thread; the
:mod:`~tiktok_capi.consumer.decode.pool` runs it inline or in worker processes (what that costs
per record: docs/performance.md). One compact result per value (compact because results cross
the process boundary):

- ``(MAPPED, event_name, json_bytes)`` — the element of the request's ``data`` array;
- ``(SKIPPED, reason)`` — the mapping does not send it;
- ``(UNDECODABLE, reason, message)`` — dead-letter it (``decode_error``);
- ``(MAPPING_FAILED, message)`` — a mapping bug; dead-letter it (``mapping_error``);
- ``(REGISTRY_DOWN, message)`` — the schema registry could not answer: try again later.

Messages are PII-free (the codec never quotes content; mapping failures carry the type only).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import orjson

from tiktok_capi.consumer.config.files import load_source_fields
from tiktok_capi.consumer.config.settings import MappingOptions, Settings
from tiktok_capi.consumer.decode.codec import (
    DecodeError,
    Decoder,
    RegistryUnavailable,
)
from tiktok_capi.consumer.decode.formats import make_decoder
from tiktok_capi.mapping import (
    DEFAULT_EVENT_MAP,
    Mapped,
    MappingSettings,
    load_event_map,
    map_event,
)
from tiktok_capi.mapping.fieldpaths import FieldPaths, remap

__all__ = [
    "MAPPED",
    "MAPPING_FAILED",
    "REGISTRY_DOWN",
    "SKIPPED",
    "UNDECODABLE",
    "Result",
    "Transformer",
    "make_transformer",
    "mapping_settings",
]

MAPPED: Final = 0
SKIPPED: Final = 1
UNDECODABLE: Final = 2
MAPPING_FAILED: Final = 3
REGISTRY_DOWN: Final = 4

Result = tuple[Any, ...]


def mapping_settings(settings: MappingOptions) -> MappingSettings:
    """The mapping's settings: event map (defaults + ``EVENT_MAP_FILE``), phone region, the
    destination's names in ``integrations`` and the consent categories.

    Raises:
        mapping.EventMapError: the event-map file is invalid.
    """
    event_map = load_event_map(settings.event_map_file) if settings.event_map_file else None
    return MappingSettings(
        event_map=event_map or DEFAULT_EVENT_MAP,
        default_phone_region=settings.phone_default_region.upper(),
        integration_names=settings.integration_names,
        consent_categories=settings.consent_categories,
        consent_required=settings.consent_required,
    )


def make_transformer(settings: Settings) -> Transformer:
    """The transformer ``settings`` call for: their decoder, mapping and field paths.

    Raises:
        mapping.EventMapError: the event-map file is invalid.
        InputFileError: SOURCE_FIELDS_FILE or AVRO_SCHEMA_FILE cannot be used.
        RegistryConfigError: the schema registry options cannot be used.
    """
    fields = settings.mapping.source_fields_file
    paths = load_source_fields(fields) if fields else None
    return Transformer(make_decoder(settings.inputs), mapping_settings(settings.mapping), paths)


class Transformer:
    """Decode (+ field paths) + map + encode, in the calling thread."""

    __slots__ = ("_decode", "_decoder", "_mapping", "_paths")

    @property
    def mapping(self) -> MappingSettings:
        """The mapping's settings (the event map, phone region, switches)."""
        return self._mapping

    def __init__(
        self, decoder: Decoder, mapping: MappingSettings, paths: FieldPaths | None = None
    ) -> None:
        self._decoder = decoder
        self._decode = decoder.decode
        self._mapping = mapping
        self._paths = paths or None

    def close(self) -> None:
        """Release the decoder's connections (the schema registry client's)."""
        close = getattr(self._decoder, "close", None)
        if callable(close):
            close()

    def run(self, values: Sequence[bytes | None], now: float) -> list[Result]:
        """One result per value, in order."""
        decode = self._decode
        mapping = self._mapping
        paths = self._paths
        dumps = orjson.dumps
        out: list[Result] = []
        append = out.append
        for value in values:
            try:
                event = decode(value)
            except DecodeError as exc:
                append((UNDECODABLE, exc.reason, str(exc)))
                continue
            except RegistryUnavailable as exc:
                append((REGISTRY_DOWN, str(exc)))
                continue
            except Exception as exc:  # a decoder that missed a case: this record is garbage,
                # the rest of the chunk is not (the message names no data, it may be PII)
                append((UNDECODABLE, "garbage", f"the decoder failed ({type(exc).__name__})"))
                continue
            try:
                if paths is not None:
                    event = remap(event, paths)
                result = map_event(event, mapping, now)
                if isinstance(result, Mapped):
                    append((MAPPED, result.event_name, dumps(result.event)))
                else:
                    append((SKIPPED, result.reason))
            except Exception as exc:  # a mapping bug (or an unserialisable value) must not
                # stop the stream, nor fail the other records of the chunk
                append((MAPPING_FAILED, f"mapping failed: {type(exc).__name__}"))
        return out
