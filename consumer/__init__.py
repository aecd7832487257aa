"""The streaming side of tiktok-capi: Kafka in, TikTok Events API out (everything with I/O).

The folders read as the flow: ``kafka`` (records off the cluster), ``decode`` (bytes to events),
``loop`` (the poll loop and its steps), ``delivery`` (the TikTok side), ``failures`` (retry tiers
and dead letters), ``offsets`` (the one committer); beside them ``config``, ``telemetry``,
``commands`` and ``demo`` (docs/architecture.md draws it). To run a connector from Python::

    from tiktok_capi.consumer import Connector, load_settings

    connector = Connector(load_settings(os.environ))
    status = connector.run()          # until connector.stop() (thread- and signal-safe)

The names below are imported on first use, so ``tiktok-capi --help`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tiktok_capi.consumer.app import Connector, ConnectorStats
    from tiktok_capi.consumer.config.settings import ConfigError, Settings, load_settings
    from tiktok_capi.consumer.status import ExitStatus

__all__ = ["ConfigError", "Connector", "ConnectorStats", "ExitStatus", "Settings", "load_settings"]

_WHERE = {
    "Connector": "tiktok_capi.consumer.app",
    "ConnectorStats": "tiktok_capi.consumer.app",
    "ConfigError": "tiktok_capi.consumer.config.settings",
    "Settings": "tiktok_capi.consumer.config.settings",
    "load_settings": "tiktok_capi.consumer.config.settings",
    "ExitStatus": "tiktok_capi.consumer.status",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
