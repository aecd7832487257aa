"""The Avro schemas of tiktok-capi and their golden examples.

``cdp_event.avsc`` is the schema of the CDP events the connector consumes (the reader schema of
every decode); see ``schemas/README.md`` for its design and ``schemas/examples/`` for events with
their encoded bytes.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any, Final

__all__ = ["CDP_EVENT_SCHEMA_PATH", "EXAMPLES_DIR", "SCHEMAS_DIR", "cdp_event_schema"]

SCHEMAS_DIR: Final = Path(__file__).resolve().parent
CDP_EVENT_SCHEMA_PATH: Final = SCHEMAS_DIR / "cdp_event.avsc"
EXAMPLES_DIR: Final = SCHEMAS_DIR / "examples"


@cache
def _schema_text() -> str:
    return CDP_EVENT_SCHEMA_PATH.read_text(encoding="utf-8")


def cdp_event_schema() -> dict[str, Any]:
    """The CDP event schema as a fresh JSON object (not parsed by fastavro)."""
    schema: dict[str, Any] = json.loads(_schema_text())
    return schema
