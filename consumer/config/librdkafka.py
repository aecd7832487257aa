"""Asking the linked librdkafka whether a property exists and accepts a value, without a client.

``KAFKA_*`` variables become librdkafka properties (:mod:`.settings`). Checking them at start-up,
before anything connects, turns a typo or a stray variable into a configuration error naming it
(exit status 2) instead of a client that refuses to start later. The judge is the librdkafka the
process actually links, so the list of properties is always the one of the running version: each
property is set on a scratch configuration object (``rd_kafka_conf_set``), which validates the
name and the value without creating a client, connecting or starting a thread.

confluent-kafka does not expose that function, so it is called through :mod:`ctypes` via the
extension module's handle (its symbol lookup covers the librdkafka it links). Where that is not
possible (a build without the symbol), :func:`property_problem` answers ``None`` and the client
itself refuses a bad property when it is created.
"""

from __future__ import annotations

import ctypes
import functools
from typing import Final

__all__ = ["property_problem"]

_CONF_UNKNOWN: Final = -2
_CONF_INVALID: Final = -1
# Setting these has effects beyond the scratch object (plugins are loaded as they are set).
_NOT_TRIED: Final = frozenset({"plugin.library.paths"})


class _Library:
    def __init__(self, lib: ctypes.CDLL) -> None:
        self.conf_new = lib.rd_kafka_conf_new
        self.conf_new.restype = ctypes.c_void_p
        self.conf_new.argtypes = []
        self.conf_set = lib.rd_kafka_conf_set
        self.conf_set.restype = ctypes.c_int
        self.conf_set.argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_size_t,
        ]
        self.conf_destroy = lib.rd_kafka_conf_destroy
        self.conf_destroy.restype = None
        self.conf_destroy.argtypes = [ctypes.c_void_p]


@functools.cache
def _library() -> _Library | None:
    try:
        from confluent_kafka import cimpl

        return _Library(ctypes.CDLL(cimpl.__file__))
    except (ImportError, OSError, AttributeError):  # pragma: no cover - platform dependent
        return None


def property_problem(name: str, value: str) -> str | None:
    """Why librdkafka would refuse ``name=value``; ``None`` when it accepts it (or cannot say).

    Returns:
        ``"unknown"`` for a property librdkafka does not have, else librdkafka's own message
        about the value (which never quotes the value itself).
    """
    lib = _library()
    if lib is None or name in _NOT_TRIED:
        return None
    conf = lib.conf_new()
    if not conf:  # pragma: no cover - out of memory
        return None
    errstr = ctypes.create_string_buffer(512)
    try:
        result = lib.conf_set(conf, name.encode(), value.encode(), errstr, len(errstr))
    finally:
        lib.conf_destroy(conf)
    if result == _CONF_UNKNOWN:
        return "unknown"
    if result == _CONF_INVALID:
        return errstr.value.decode("utf-8", "replace") or "invalid value"
    return None
