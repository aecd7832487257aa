"""Any Avro writer schema -> a reader compiled for it, giving the values the mapping reads.

The decoder for records written with a user's own schema (from their registry, or
``AVRO_SCHEMA_FILE``). Decoding uses the writer schema alone: no resolution against a reader
schema the user never agreed to. Values come out as the mapping can use them:

======================================  ==================================================
Avro                                    value
======================================  ==================================================
record, map                             ``dict`` (a null field or map value is *absent*)
array                                   ``list`` (null items stay, as ``None``)
union                                   the value of its branch
enum                                    the symbol (``str``)
``string`` (also ``uuid``)              ``str``
``timestamp-millis``/``-micros``        timezone-aware ``datetime`` (UTC)
``local-timestamp-millis``/``-micros``  naive ``datetime`` (the mapping reads it as UTC)
``date``                                timezone-aware ``datetime``: that day, 00:00 UTC
``time-millis``/``-micros``             ``datetime.time``
``decimal`` (bytes or fixed)            ``float`` (``int`` when the scale is 0)
bytes, fixed                            ``bytes``
======================================  ==================================================

Why generated code: fastavro's ``schemaless_reader`` reads a nested storefront schema in about
60 µs (it calls ``read`` on a file object per value), 4-5x the bundled fast path. A reader
generated once per schema as straight-line Python over ``bytes`` (the technique of
:mod:`.fast`, written by a program) reads it in about a third of that (figures:
docs/performance.md). The generated source never embeds schema text except through ``repr``
of names and symbols, so a hostile schema cannot inject code. In the compiled build a string
field is a call of a compiled reader (:mod:`.fields`) instead, which costs less than its
interpreted bytecode. Records of recursive types, and nesting deeper than Python's block limit,
go through generated functions that call each other. fastavro still parses and validates every
schema, and the tests check the reader against it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Final
from uuid import UUID

from fastavro import parse_schema

from tiktok_capi.consumer.decode.errors import DecodeError
from tiktok_capi.consumer.decode.fast import read_long
from tiktok_capi.consumer.decode.fields import COMPILED, put_optional_string, put_string

__all__ = ["AvroReader", "full_name", "plain_values"]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE: Final = datetime(1970, 1, 1)
_PRIMITIVES: Final = frozenset(
    {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
)
# Python allows 20 nested blocks and 100 indentation levels per function: past these depths
# the generated code continues in a function of its own.
_MAX_BLOCKS: Final = 8
_MAX_INDENT: Final = 24
# An array block cannot hold more items than bytes are left (plus slack for zero-byte items).
_ZERO_SIZE_SLACK: Final = 4096
# Union indexes below 64 are one varint byte (zigzag 2 * index < 0x80).
_ONE_BYTE_UNION: Final = 64


class _Bad(Exception):
    """The bytes are not a value of the schema (not a truncation)."""


def _bad() -> Any:
    raise _Bad


def _at(base: datetime, value: int, days: int, micros: int, millis: int) -> datetime | int:
    try:  # timedelta's positional arguments: keyword ones cost a dict per value
        return base + timedelta(days, 0, micros, millis)
    except OverflowError:  # beyond year 9999: the mapping notes it and uses the current time
        return value


def _millis(value: int) -> datetime | int:
    return _at(_EPOCH, value, 0, 0, value)


def _micros(value: int) -> datetime | int:
    return _at(_EPOCH, value, 0, value, 0)


def _local_millis(value: int) -> datetime | int:
    return _at(_EPOCH_NAIVE, value, 0, 0, value)


def _local_micros(value: int) -> datetime | int:
    return _at(_EPOCH_NAIVE, value, 0, value, 0)


def _days(value: int) -> datetime | int:
    return _at(_EPOCH, value, value, 0, 0)


def _time_micros(value: int) -> time:
    if not 0 <= value < 86_400_000_000:
        raise _Bad
    seconds, micros = divmod(value, 1_000_000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return time(hour, minute, second, micros)


def _time_millis(value: int) -> time:
    return _time_micros(value * 1000)


_LONG_LOGICAL: Final = {
    "timestamp-millis": "_millis",
    "timestamp-micros": "_micros",
    "local-timestamp-millis": "_local_millis",
    "local-timestamp-micros": "_local_micros",
}
_INT_LOGICAL: Final = {"date": "_days", "time-millis": "_time_millis"}
_LONG_ONLY: Final = {"time-micros": "_time_micros"}

_NAMESPACE: Final[dict[str, Any]] = {
    "_long": read_long,
    "_Bad": _Bad,
    "_bad": _bad,
    "_double": struct.Struct("<d").unpack_from,
    "_float": struct.Struct("<f").unpack_from,
    "_millis": _millis,
    "_micros": _micros,
    "_local_millis": _local_millis,
    "_local_micros": _local_micros,
    "_days": _days,
    "_time_millis": _time_millis,
    "_time_micros": _time_micros,
    "_from_bytes": int.from_bytes,
    "_put_string": put_string,
    "_put_optional_string": put_optional_string,
}

Store = Callable[[int, str], None]


def _is_string(schema: Any) -> bool:
    return schema == "string" or (isinstance(schema, Mapping) and schema.get("type") == "string")


class _Function:
    """The lines of one generated function, with its own local names."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lines: list[str] = []
        self.count = 0

    def local(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)


class _Generator:
    """Generates the reader of one parsed (fastavro) schema; ``named`` resolves type names."""

    def __init__(self, named: Mapping[str, Any]) -> None:
        self.named = named
        self.functions: list[_Function] = []
        self.by_key: dict[Any, str] = {}
        self.inlining: list[str] = []

    # -- functions ---------------------------------------------------------------------------
    def function_for(self, schema: Any, key: Any) -> str:
        """The name of a generated ``f(data, pos) -> (value, pos)`` reading ``schema``."""
        name = self.by_key.get(key)
        if name is not None:
            return name
        function = _Function(f"_read{len(self.functions)}")
        self.functions.append(function)
        self.by_key[key] = function.name
        function.emit(1, "end = len(data)")
        result = function.local("v")
        function.emit(1, f"{result} = None")

        def store(indent: int, expr: str) -> None:
            function.emit(indent, f"{result} = {expr}")

        saved, self.inlining = self.inlining, []
        self.value(function, 1, 0, schema, store, lambda indent: None)
        self.inlining = saved
        function.emit(1, f"return {result}, pos")
        return function.name

    def call(self, f: _Function, indent: int, schema: Any, key: Any, store: Store) -> None:
        name = self.function_for(schema, key)
        value = f.local("v")
        f.emit(indent, f"{value}, pos = {name}(data, pos)")
        store(indent, value)

    def source(self) -> str:
        parts = []
        for function in self.functions:
            parts.append(f"def {function.name}(data, pos):")
            parts.extend(function.lines)
        return "\n".join(parts) + "\n"

    # -- values ------------------------------------------------------------------------------
    def varint(self, f: _Function, indent: int, target: str) -> None:
        f.emit(indent, f"{target} = data[pos]")
        f.emit(indent, "pos += 1")
        f.emit(indent, f"if {target} >= 0x80:")
        f.emit(indent + 1, f"{target}, pos = _long(data, pos, {target})")

    def length(self, f: _Function, indent: int) -> str:
        """Read a byte length; returns the local holding where the bytes stop."""
        size = f.local("n")
        self.varint(f, indent, size)
        f.emit(indent, f"if {size} & 1:")
        f.emit(indent + 1, "raise _Bad")
        stop = f.local("s")
        f.emit(indent, f"{stop} = pos + ({size} >> 1)")
        return stop

    def value(
        self,
        f: _Function,
        indent: int,
        blocks: int,
        schema: Any,
        store: Store,
        store_null: Callable[[int], None],
    ) -> None:
        """Emit code that reads one ``schema`` value and hands its expression to ``store``."""
        if isinstance(schema, str) and schema not in _PRIMITIVES:
            named = self.named.get(schema)
            if named is None:
                raise ValueError(f"unknown type {schema!r}")
            schema = named
        if isinstance(schema, list):
            self.union(f, indent, blocks, schema, store, store_null)
            return
        if isinstance(schema, str):
            kind, logical, attrs = schema, None, {}
        else:
            kind = schema.get("type")
            if isinstance(kind, list | dict):
                self.value(f, indent, blocks, kind, store, store_null)
                return
            logical = schema.get("logicalType")
            attrs = schema
        if kind in ("record", "error"):
            self.record(f, indent, blocks, attrs, store)
        elif kind == "null":
            store_null(indent)
        elif kind == "string":
            stop = self.length(f, indent)
            store(indent, f"data[pos:{stop}].decode()")
            f.emit(indent, f"pos = {stop}")
        elif kind == "bytes":
            stop = self.length(f, indent)
            store(indent, self.decimal(f"data[pos:{stop}]", logical, attrs))
            f.emit(indent, f"pos = {stop}")
        elif kind == "fixed":
            size = int(attrs["size"])
            store(indent, self.decimal(f"data[pos:pos + {size}]", logical, attrs))
            f.emit(indent, f"pos += {size}")
            f.emit(indent, "if pos > end:")
            f.emit(indent + 1, "raise IndexError")
        elif kind in ("int", "long"):
            raw = f.local("n")
            self.varint(f, indent, raw)
            expr = f"({raw} >> 1) ^ -({raw} & 1)"
            convert = _INT_LOGICAL if kind == "int" else {**_INT_LOGICAL, **_LONG_ONLY}
            helper = _LONG_LOGICAL.get(str(logical)) if kind == "long" else None
            helper = helper or convert.get(str(logical))
            store(indent, f"{helper}({expr})" if helper else expr)
        elif kind == "boolean":
            store(indent, "data[pos] != 0")
            f.emit(indent, "pos += 1")
        elif kind in ("double", "float"):
            width = 8 if kind == "double" else 4
            store(indent, f"_{kind}(data, pos)[0]")
            f.emit(indent, f"pos += {width}")
        elif kind == "enum":
            symbols = tuple(str(s) for s in attrs["symbols"])
            raw = f.local("n")
            self.varint(f, indent, raw)
            f.emit(indent, f"if {raw} & 1 or {raw} >= {2 * len(symbols)}:")
            f.emit(indent + 1, "raise _Bad")
            store(indent, f"{symbols!r}[{raw} >> 1]")
        elif kind == "array":
            self.array(f, indent, blocks, attrs["items"], store)
        elif kind == "map":
            self.map(f, indent, blocks, attrs["values"], store)
        else:
            raise ValueError(f"unsupported Avro type {kind!r}")

    @staticmethod
    def decimal(expr: str, logical: object, attrs: Mapping[str, Any]) -> str:
        if logical != "decimal":
            return expr
        scale = int(attrs.get("scale", 0))
        number = f"_from_bytes({expr}, 'big', signed=True)"
        return number if scale == 0 else f"{number} / {10**scale}"

    def union(
        self,
        f: _Function,
        indent: int,
        blocks: int,
        branches: Sequence[Any],
        store: Store,
        store_null: Callable[[int], None],
    ) -> None:
        raw = f.local("u")
        if len(branches) <= _ONE_BYTE_UNION:
            # Every branch index fits the varint's first byte: a longer one is a bad index.
            f.emit(indent, f"{raw} = data[pos]")
            f.emit(indent, "pos += 1")
        else:
            self.varint(f, indent, raw)
        for index, branch in enumerate(branches):
            f.emit(indent, f"{'if' if index == 0 else 'elif'} {raw} == {2 * index}:")
            before = len(f.lines)
            self.value(f, indent + 1, blocks, branch, store, store_null)
            if len(f.lines) == before:
                f.emit(indent + 1, "pass")
        f.emit(indent, "else:")
        f.emit(indent + 1, "raise _Bad")

    def record(
        self, f: _Function, indent: int, blocks: int, schema: Mapping[str, Any], store: Store
    ) -> None:
        name = str(schema.get("name", ""))
        if name in self.inlining or blocks >= _MAX_BLOCKS or indent >= _MAX_INDENT:
            self.call(f, indent, schema, name or id(schema), store)
            return
        self.inlining.append(name)
        out = f.local("r")
        f.emit(indent, f"{out} = {{}}")
        for field in schema["fields"]:
            key = repr(str(field["name"]))
            if self.string_field(f, indent, out, key, field["type"]):
                continue

            def put(i: int, expr: str, out: str = out, key: str = key) -> None:
                f.emit(i, f"{out}[{key}] = {expr}")

            self.value(f, indent, blocks, field["type"], put, lambda i: None)
        self.inlining.pop()
        store(indent, out)

    @staticmethod
    def string_field(f: _Function, indent: int, out: str, key: str, schema: Any) -> bool:
        """Emit a call of a compiled string reader for a string field, where there is one."""
        if not COMPILED:
            return False
        if _is_string(schema):
            f.emit(indent, f"pos = _put_string(data, pos, {out}, {key})")
            return True
        if isinstance(schema, list) and len(schema) == 2 and "null" in schema:
            branch = 1 - schema.index("null")
            if _is_string(schema[branch]):
                f.emit(indent, f"pos = _put_optional_string(data, pos, {out}, {key}, {branch})")
                return True
        return False

    def blocks(self, f: _Function, indent: int, out: str) -> str:
        """Emit the block loop header of an array or map; returns the count's local."""
        count = f.local("c")
        f.emit(indent, "while True:")
        self.varint(f, indent + 1, count)
        f.emit(indent + 1, f"if {count} == 0:")
        f.emit(indent + 2, "break")
        f.emit(indent + 1, f"if {count} & 1:")  # a negative count: its byte size follows
        skipped = f.local("b")
        self.varint(f, indent + 2, skipped)
        f.emit(indent + 1, f"{count} = ({count} + 1) >> 1 if {count} & 1 else {count} >> 1")
        f.emit(indent + 1, f"if {count} > end - pos + {_ZERO_SIZE_SLACK}:")
        f.emit(indent + 2, "raise _Bad")
        return count

    def array(self, f: _Function, indent: int, blocks: int, items: Any, store: Store) -> None:
        if blocks + 2 > _MAX_BLOCKS or indent >= _MAX_INDENT:
            self.call(f, indent, {"type": "array", "items": items}, ("array", id(items)), store)
            return
        out = f.local("a")
        f.emit(indent, f"{out} = []")
        count = self.blocks(f, indent, out)
        f.emit(indent + 1, f"for _ in range({count}):")

        def append(i: int, expr: str) -> None:
            f.emit(i, f"{out}.append({expr})")

        def append_null(i: int) -> None:
            f.emit(i, f"{out}.append(None)")

        self.value(f, indent + 2, blocks + 2, items, append, append_null)
        store(indent, out)

    def map(self, f: _Function, indent: int, blocks: int, values: Any, store: Store) -> None:
        if blocks + 2 > _MAX_BLOCKS or indent >= _MAX_INDENT:
            self.call(f, indent, {"type": "map", "values": values}, ("map", id(values)), store)
            return
        out = f.local("m")
        f.emit(indent, f"{out} = {{}}")
        count = self.blocks(f, indent, out)
        f.emit(indent + 1, f"for _ in range({count}):")
        key = f.local("k")
        stop = self.length(f, indent + 2)
        f.emit(indent + 2, f"{key} = data[pos:{stop}].decode()")
        f.emit(indent + 2, f"pos = {stop}")

        def put(i: int, expr: str) -> None:
            f.emit(i, f"{out}[{key}] = {expr}")

        self.value(f, indent + 2, blocks + 2, values, put, lambda i: None)
        store(indent, out)


def plain_values(value: Any) -> Any:
    """What the generated reader gives for a ``value`` fastavro decoded (with its logical types).

    For records fastavro reads (object container files, Avro's JSON encoding in `tiktok-capi
    map`): ``None`` in a dict is left out, ``Decimal`` becomes a number, ``UUID`` text and a
    ``date`` that day at 00:00 UTC.
    """
    if isinstance(value, dict):
        return {k: plain_values(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [plain_values(v) for v in value]
    if isinstance(value, Decimal):
        # As the reader: a scale of 0 gives an int, any other scale a float.
        return int(value) if value.as_tuple().exponent == 0 else float(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value


def full_name(schema: Any) -> str | None:
    """The full name of a parsed (fastavro) named schema, else ``None``."""
    if isinstance(schema, Mapping):
        name = schema.get("name")
        return name if isinstance(name, str) else None
    return None


class AvroReader:
    """Reads values written with one Avro writer schema (parsed once; reused per record).

    Args:
        schema: the writer schema, as JSON-decoded data.
        references: schemas it names (registry references), in dependency order.

    Raises:
        ValueError: not a valid Avro schema (the message says why, never a record's data).
    """

    __slots__ = ("_read", "parsed", "source")

    def __init__(self, schema: Any, references: Sequence[Any] = ()) -> None:
        named: dict[str, Any] = {}
        try:
            for reference in references:
                parse_schema(reference, named_schemas=named)
            self.parsed: Any = parse_schema(schema, named_schemas=named)
        except Exception as exc:  # fastavro raises several types for invalid schemas
            raise ValueError(f"not a valid Avro schema ({type(exc).__name__}: {exc})") from None
        generator = _Generator(named)
        entry = generator.function_for(self.parsed, "<root>")
        self.source = generator.source()
        namespace = dict(_NAMESPACE)
        try:
            exec(compile(self.source, "<avro reader>", "exec"), namespace)
        except (SyntaxError, RecursionError, MemoryError) as exc:
            raise ValueError(f"schema too large to read ({type(exc).__name__})") from None
        self._read: Callable[[bytes, int], tuple[Any, int]] = namespace[entry]

    def read(self, data: bytes, start: int = 0) -> Any:
        """The value in ``data[start:]``.

        Raises:
            DecodeError: ``truncated`` (the bytes end inside the value) or ``garbage`` (not a
                value of this schema, or bytes left over after it).
        """
        try:
            value, pos = self._read(data, start)
        except (IndexError, struct.error):
            raise DecodeError("truncated", "the record ends before its Avro value") from None
        # OverflowError: a decimal beyond a float's range (its precision says it cannot be).
        except (
            _Bad,
            UnicodeDecodeError,
            ValueError,
            OverflowError,
            RecursionError,
            MemoryError,
        ) as exc:
            raise DecodeError(
                "garbage", f"not Avro of the writer schema ({type(exc).__name__})"
            ) from None
        if pos != len(data):
            if pos > len(data):
                raise DecodeError("truncated", "the record ends before its Avro value")
            raise DecodeError("garbage", "bytes left over after the Avro record")
        return value
