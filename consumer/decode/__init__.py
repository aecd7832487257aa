"""Decoding: record bytes become events, then TikTok events, inline or in worker processes.

``formats`` decides per record how a value reads: ``codec`` for the bundled Avro layout
(``fast`` is its direct reader), ``generic`` for any other Avro writer schema (a reader
generated per schema), JSON with orjson; writer schemas by id come from ``registry``
(Confluent's client), and everything raises the ``errors`` tree. ``transform`` is the
per-record work (decode, field paths, map, JSON-encode); ``pool`` runs it behind one
``Decoding`` interface, inline or in ``DECODE_WORKERS`` processes that are replaced when they
die.
"""

__all__ = ["codec", "errors", "fast", "formats", "generic", "pool", "registry", "transform"]
