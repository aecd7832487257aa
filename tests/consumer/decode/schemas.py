"""Test helper: writer schemas served from memory (a stand-in for the registry in unit tests)."""

from __future__ import annotations

from collections.abc import Mapping

from tiktok_capi.consumer.decode.codec import DecodeError, bundled_schema_text
from tiktok_capi.consumer.decode.registry import RegisteredWriter


class StaticSchemas:
    """``writer(id)`` from a dict of Avro schema texts (any id: the bundled schema by default)."""

    def __init__(
        self, texts: Mapping[int, str] | None = None, *, json_ids: frozenset[int] = frozenset()
    ) -> None:
        self._texts = texts
        self._json = json_ids
        self.asked: list[int] = []

    def writer(self, schema_id: int) -> RegisteredWriter:
        self.asked.append(schema_id)
        if schema_id in self._json:
            return RegisteredWriter("JSON", '{"type": "object"}')
        if self._texts is None:
            return RegisteredWriter("AVRO", bundled_schema_text())
        text = self._texts.get(schema_id)
        if text is None:
            raise DecodeError("unknown_schema_id", f"schema id {schema_id} is not registered")
        return RegisteredWriter("AVRO", text)

    def close(self) -> None:
        pass


class NoSchemas(StaticSchemas):
    """Fails the test when asked."""

    def writer(self, schema_id: int) -> RegisteredWriter:
        raise AssertionError("must not be called")
