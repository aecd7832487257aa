"""The Avro schemas of tiktok-capi and their golden examples.

``cdp_event.avsc`` is the schema of the CDP events the connector consumes (the reader schema of
every decode); see ``schemas/README.md`` for its design and ``schemas/examples/`` for events with
their encoded bytes.
"""

from tiktok_capi.schemas.loader import (
    CDP_EVENT_SCHEMA_PATH,
    EXAMPLES_DIR,
    SCHEMAS_DIR,
    cdp_event_schema,
)

__all__ = ["CDP_EVENT_SCHEMA_PATH", "EXAMPLES_DIR", "SCHEMAS_DIR", "cdp_event_schema"]
