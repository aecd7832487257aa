"""SOURCE_FIELDS_FILE and AVRO_SCHEMA_FILE: read at start; a bad file is named with its problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from tiktok_capi.consumer.config.files import InputFileError, load_avro_schema, load_source_fields
from tiktok_capi.mapping.fieldpaths import remap


def test_yaml_and_json_tables(tmp_path: Path) -> None:
    yaml_file = tmp_path / "fields.yaml"
    yaml_file.write_text("event: event_name\ncontext.traits.email:\n  - user.email\n  - email\n")
    json_file = tmp_path / "fields.json"
    json_file.write_text('{"event": "event_name", "context.traits.email": ["user.email", "email"]}')
    event = {"event_name": "Order Completed", "email": "a@example.com"}
    for path in (yaml_file, json_file):
        out = remap(dict(event), load_source_fields(str(path)))
        assert out["event"] == "Order Completed"
        assert out["context"] == {"traits": {"email": "a@example.com"}}


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("f.yaml", "event: [unclosed\n", "not valid YAML (line"),
        ("f.json", "{", "not JSON"),
        ("f.yaml", "contxt.ip: ip\n", "entry 'contxt.ip'"),
        ("f.json", '["event"]', "must be an object"),
    ],
)
def test_a_bad_table_names_the_variable_file_and_entry(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputFileError) as info:
        load_source_fields(str(path))
    assert str(info.value).startswith(f"SOURCE_FIELDS_FILE={path}: ")
    assert message in str(info.value)


def test_missing_files(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match=r"SOURCE_FIELDS_FILE=.*cannot read"):
        load_source_fields(str(tmp_path / "nope.yaml"))
    with pytest.raises(InputFileError, match=r"AVRO_SCHEMA_FILE=.*cannot read"):
        load_avro_schema(str(tmp_path / "nope.avsc"))


def test_schema_file_must_be_avro(tmp_path: Path) -> None:
    path = tmp_path / "s.avsc"
    path.write_text('{"type": "record", "name": "R", "fields": []}')
    assert load_avro_schema(str(path)).startswith("{")
    path.write_text('{"type": "wat"}')
    with pytest.raises(InputFileError, match="not a valid Avro schema"):
        load_avro_schema(str(path))
