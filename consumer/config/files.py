"""Files that options name (AVRO_SCHEMA_FILE, SOURCE_FIELDS_FILE): read and checked at start.

The settings hold the paths (like ``EVENT_MAP_FILE``); the connector and `tiktok-capi map` read
the files once when they start, and a bad file stops them with :class:`InputFileError`, one line
naming the variable, the file and what is wrong (for a field-path table: the entry), never on
the first record.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tiktok_capi.mapping.fieldpaths import FieldPathError, FieldPaths, parse_field_paths

__all__ = ["InputFileError", "load_avro_schema", "load_source_fields"]


class InputFileError(ValueError):
    """A file an option names cannot be used; the message names the option and the file."""


def _read(variable: str, path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputFileError(f"{variable}={path}: cannot read it: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InputFileError(f"{variable}={path}: not UTF-8 text") from None


def load_avro_schema(path: str, variable: str = "AVRO_SCHEMA_FILE") -> str:
    """The text of the Avro schema file (``.avsc``) at ``path``, checked with fastavro.

    Raises:
        InputFileError: unreadable, not JSON, or not a valid Avro schema.
    """
    from fastavro import parse_schema

    text = _read(variable, path)
    try:
        parse_schema(json.loads(text))
    except json.JSONDecodeError as exc:
        raise InputFileError(
            f"{variable}={path}: not JSON: {exc.msg} (line {exc.lineno})"
        ) from None
    except Exception as exc:  # fastavro raises several types for an invalid schema
        raise InputFileError(f"{variable}={path}: not a valid Avro schema: {exc}") from None
    return text


def load_source_fields(path: str, variable: str = "SOURCE_FIELDS_FILE") -> FieldPaths:
    """The field-path table at ``path`` (docs/inputs.md): YAML for ``.yaml``/``.yml``, else JSON.

    Raises:
        InputFileError: unreadable, not JSON/YAML, or an invalid entry (named).
    """
    text = _read(variable, path)
    data: Any
    if path.endswith((".yaml", ".yml")):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark is not None else ""
            raise InputFileError(f"{variable}={path}: not valid YAML{where}") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputFileError(
                f"{variable}={path}: not JSON: {exc.msg} (line {exc.lineno})"
            ) from None
    try:
        return parse_field_paths(data)
    except FieldPathError as exc:
        raise InputFileError(f"{variable}={path}: {exc}") from None
