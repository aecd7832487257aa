"""The `tiktok-capi` sub-commands, one module each (see ``tiktok_capi.consumer.cli``).

``run`` is the connector; ``produce``, ``map``, ``dlq``, ``emulate`` and ``demo`` are the tools
around it. Each module has ``register(subparsers)`` and imports what it needs only when it runs,
so ``--help`` stays fast.
"""

__all__ = ["demo", "dlq", "emulate", "map", "produce", "run"]
