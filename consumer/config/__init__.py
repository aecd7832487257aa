"""Configuration: what `tiktok-capi` reads from the environment, declared once per option.

The first thing a process does and the bottom layer everything else may import. ``settings``
holds the sections (Kafka, TikTok, mapping, process) and the loaders that report every problem
at once; ``options`` the declaration helper; ``values`` the parsers and ``SecretStr``;
``kafka`` turns the Kafka section into librdkafka dictionaries (the only place dotted keys are
written); ``reference`` renders docs/configuration.md from the declarations.
"""

__all__ = ["kafka", "options", "reference", "settings", "values"]
