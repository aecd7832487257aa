"""Where the schema files are and how to load them (imported by the codec).

Kept apart from ``schemas/__init__.py`` so that it also works when ``schemas`` is imported as a
namespace package (some editable installs do that).
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
