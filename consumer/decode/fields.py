"""Readers of one Avro string field into a record dict: compiled, called by generated readers.

A user's CDP schema is mostly strings, plain or ``["null", "string"]``. In the compiled build
(mypyc) a call to :func:`put_string` costs less than the same steps as interpreted bytecode in
the reader :mod:`.generic` generates, so generated readers call these for string fields when
:data:`COMPILED`; in pure Python the inline code is faster and they are not used.

Each reads the field at ``data[pos]``, stores it under ``key`` in ``out`` (a null union branch
stores nothing: null is absent) and returns the position after it. Errors are those of the
inline code: ``IndexError`` for data that ends early, ``ValueError`` (or its subclass
``UnicodeDecodeError``) for bytes that are not a value of the field's type; a length past the
end reads short and the reader's final position check reports it.
"""

from __future__ import annotations

import types
from typing import Any, Final

from tiktok_capi.consumer.decode.fast import read_long

__all__ = ["COMPILED", "put_optional_string", "put_string"]


def put_string(data: bytes, pos: int, out: dict[str, Any], key: str) -> int:
    """Read a ``string`` into ``out[key]``; the position after it."""
    size = data[pos]
    pos += 1
    if size >= 0x80:
        size, pos = read_long(data, pos, size)
    if size & 1:  # a negative length
        raise ValueError("negative string length")
    stop = pos + (size >> 1)
    out[key] = data[pos:stop].decode()
    return stop


def put_optional_string(data: bytes, pos: int, out: dict[str, Any], key: str, branch: int) -> int:
    """Read a union of null and ``string`` whose string branch is index ``branch`` (0 or 1)."""
    index = data[pos]
    if index == 2 * branch:  # the zigzag varint of the index: one byte
        return put_string(data, pos + 1, out, key)
    if index == 2 - 2 * branch:
        return pos + 1
    raise ValueError("not a branch of the union")


# mypyc turns module functions into builtins; in pure Python they are plain functions.
COMPILED: Final = not isinstance(put_string, types.FunctionType)
