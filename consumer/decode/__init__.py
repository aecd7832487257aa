"""Decoding: record bytes become events, then TikTok events, inline or in worker processes.

``codec`` reads the bundled Avro layout (``fast`` is its direct reader) and registry-framed
values (``registry``), raising the ``errors`` tree; ``transform`` is the per-record work
(decode, map, JSON-encode); ``pool`` runs it behind one ``Decoding`` interface, inline or in
``DECODE_WORKERS`` processes that are replaced when they die.
"""

__all__ = ["codec", "errors", "fast", "pool", "registry", "transform"]
